"""PDF and Word files: the bundled articles converted (fpdf2, python-docx) read back to the very same text and
sentences, quotes from a PDF carry their page, and bad files of each kind are skipped with a one-line reason
while the rest of the run completes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from evals.measure_formats import FONT, to_docx, to_pdf
from rag import Assistant, Settings, load
from rag.candidates import page_of
from rag.chunk import article_sentences
from rag.load import bundled_corpus, load_articles, read_article

from .conftest import fake_embedder


def originals() -> list:
    return sorted(load_articles([bundled_corpus()]).articles, key=lambda a: a.path)


@pytest.mark.parametrize("kind", ["pdf", "docx"])
def test_bundled_articles_read_back_to_the_same_text_and_sentences(tmp_path, kind):
    for original in originals():
        target = tmp_path / f"{Path(original.path).stem}.{kind}"
        (to_pdf if kind == "pdf" else to_docx)(original.text, target)
        read = read_article(target)
        assert read.text == original.text, f"{target.name}: the text differs"
        assert read.doc_id == original.doc_id and read.format == kind
        spans = article_sentences(read)
        assert [read.text[s:e] for s, e in spans] == [original.text[s:e] for s, e in article_sentences(original)]


def test_quotes_from_a_pdf_name_their_page(tmp_path):
    original = originals()[3]
    folder = tmp_path / "articles"
    folder.mkdir()
    starts = to_pdf(original.text, folder / "article.pdf", title="A PDF title", author="Pat Doe")
    read = read_article(folder / "article.pdf")
    assert read.title == "A PDF title" and read.author == "Pat Doe" and len(read.pages) == max(starts) > 1
    offset = 0
    for para, page in zip(original.text.split("\n\n"), starts, strict=True):
        found = read.text.index(para, offset)
        assert page_of(json.dumps(read.pages), found + len(para) // 2) == page, para[:60]
        offset = found

    a = Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=fake_embedder(), auto_build=False)
    a.index([folder], progress=False)
    [info] = a.documents()
    assert info.format == "pdf" and info.pages == max(starts)
    answer = a.ask("How much did trade between China and Russia reach last year?")
    cited = answer.citations[0]
    para_index = next(i for i, p in enumerate(original.text.split("\n\n")) if cited.quote in p)
    assert cited.page == starts[para_index], (cited.quote, cited.page)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_bad_files_of_each_kind_get_one_line_reasons_and_the_run_completes(tmp_path):
    from fpdf import FPDF

    folder = tmp_path / "articles"
    folder.mkdir()
    good = originals()[0]
    (folder / "good.txt").write_text(good.text, encoding="utf-8")
    to_pdf(originals()[1].text, folder / "locked.pdf", encrypt="secret")
    to_pdf(originals()[2].text, tmp_path / "whole.pdf")
    whole = (tmp_path / "whole.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 3])
    scan = FPDF()
    scan.add_page()
    scan.rect(20, 20, 100, 100, style="F")  # a page with a picture and no text layer
    scan.output(str(folder / "scan.pdf"))
    (folder / "notazip.docx").write_bytes(b"This is plain text pretending to be a Word file." * 10)
    (folder / "bomb.docx").write_bytes(_zip({"word/document.xml": b"<w/>" + b"\0" * (40 * 2**20)}))
    (folder / "empty-zip.docx").write_bytes(_zip({"hello.txt": b"hi"}))
    app = "var state = {items: []};\n" * 20000 + "document.body.innerHTML = render(state);"
    (folder / "app.html").write_text(f"<html><head><title>App</title><script>{app}</script></head>"
                                     f"<body><div id='root'></div><script>{app}</script></body></html>")

    loaded = load_articles([folder])
    reasons = {Path(s.path).name: s.reason for s in loaded.skipped}
    assert [Path(a.path).name for a in loaded.articles] == ["good.txt"]
    assert reasons["locked.pdf"].startswith("encrypted PDF")
    assert reasons["truncated.pdf"].startswith("unreadable PDF")
    assert reasons["scan.pdf"].startswith("PDF without a text layer")
    assert reasons["notazip.docx"].startswith("not a Word file")
    assert "zip bomb" in reasons["bomb.docx"]
    assert reasons["empty-zip.docx"].startswith("not a Word document")
    assert reasons["app.html"].startswith("web page without visible text")
    assert all("\n" not in r and len(r) < 300 for r in reasons.values()), reasons

    a = Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=fake_embedder(), auto_build=False)
    report = a.index([folder], progress=False)
    assert report.added == 1 and len(report.skipped) == 7


def test_an_empty_password_pdf_opens(tmp_path):
    """Encrypted with an empty user password (many PDFs are, to set permissions): it opens like any other."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.set_font("DejaVu", size=11)
    pdf.set_encryption(owner_password="owner", user_password="")
    pdf.add_page()
    pdf.multi_cell(0, 6, "Trade between China and Russia reached a record $240 billion last year.")
    pdf.output(str(tmp_path / "permissions.pdf"))
    assert read_article(tmp_path / "permissions.pdf").text == "Trade between China and Russia reached a record $240 billion last year."


@pytest.mark.integration
@pytest.mark.integration
def test_the_bundled_suite_on_pdf_and_docx_copies_answers_as_on_the_originals(tmp_path, real_embedder):
    """The bundled articles all as PDFs, and all as Word files (each made by a tool that writes its own name as
    the author), answer the bundled questions with the accuracy of the .txt originals (within 0.01)."""
    from rag import evaluate as ev

    folders = {"txt": bundled_corpus(), "pdf": tmp_path / "pdf", "docx": tmp_path / "docx"}
    for kind in ("pdf", "docx"):
        folders[kind].mkdir()
        for original in originals():
            (to_pdf if kind == "pdf" else to_docx)(original.text, folders[kind] / f"{Path(original.path).stem}.{kind}")
    questions = Path(__file__).resolve().parents[1] / "evals" / "questions.jsonl"
    scores = {}
    for kind, corpus in folders.items():
        a = Assistant(settings=Settings(index_dir=tmp_path / f"index-{kind}", quiet=True), embedder=real_embedder,
                      auto_build=False)
        a.index([corpus], progress=False)
        scores[kind] = ev.evaluate(a, questions, progress=False)["metrics"]["answer_accuracy"]
    assert abs(scores["pdf"] - scores["txt"]) <= 0.01 and abs(scores["docx"] - scores["txt"]) <= 0.01, scores


def test_file_properties_written_by_tools_are_not_taken_for_the_article(tmp_path):
    """python-docx writes "python-docx" as every file's author: the byline in the text wins, and a tool's name
    is never an author; a file title such as "Microsoft Word - draft.docx" is not a title."""
    original = next(a for a in originals() if a.author)
    to_docx(original.text, tmp_path / "a.docx")
    read = read_article(tmp_path / "a.docx")
    assert read.author == original.author and read.text == original.text
    to_docx("A short note on tin quotas.\n\nMyanmar and Laos agreed to cap tin exports.", tmp_path / "b.docx",
            title="Microsoft Word - tin-draft3.docx")
    read = read_article(tmp_path / "b.docx")
    assert read.author == "" and "Microsoft Word" not in read.title
    to_pdf("Myanmar and Laos agreed to cap tin exports at 12,500 tonnes.", tmp_path / "c.pdf", title="Tin Quotas",
           author="Microsoft Office User")
    read = read_article(tmp_path / "c.pdf")
    assert (read.title, read.author) == ("Tin Quotas", "")


def test_web_pages_are_read_to_their_main_text_on_the_extraction_benchmark():
    """On the held-out half of evals/data/extraction (real saved pages, keep/drop snippets) the reader keeps the
    main text and drops the furniture far better than reading every visible text node."""
    from evals import measure_extraction as extraction

    rows = extraction.pages(part="test")
    assert len(rows) > 100
    rag = extraction.evaluate(lambda h: load.html_to_text(h)[0], rows)["all"]
    plain = extraction.evaluate(lambda h: load.html_plain(h)[0], rows)["all"]
    assert plain.recall > 0.98 and plain.precision < 0.6  # the snippets are there to be found, and half are furniture
    assert rag.precision >= 0.85 and rag.recall >= 0.9, (rag.precision, rag.recall)
    assert rag.f1 > plain.f1 + 0.2
