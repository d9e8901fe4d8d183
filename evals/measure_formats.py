"""The bundled articles as PDF and as Word files answer the bundled questions as the .txt originals do, and
quotes from the PDFs name the right page.

Writes each bundled article as a PDF (fpdf2, DejaVu Sans, 3 paragraphs a page) and as a .docx (python-docx),
indexes the three folders with the real embedding model, runs the bundled suite (evals/questions.jsonl) on each,
and checks the page of every citation of the PDF run against the page its paragraph was written on.

    python -m evals.measure_formats        (needs the dev extra: fpdf2; and Debian's fonts-dejavu-core)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core
PER_PAGE = 3  # paragraphs per PDF page
QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"


def to_pdf(text: str, target: Path, *, title: str = "", author: str = "", encrypt: str = "") -> list[int]:
    """The article as a PDF, PER_PAGE paragraphs a page; returns the page each paragraph starts on."""
    from fpdf import FPDF

    if not FONT.is_file():
        raise RuntimeError(f"{FONT} is needed to write the PDFs: `apt-get install fonts-dejavu-core` (make test does it)")
    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.set_font("DejaVu", size=11)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password=encrypt)
    pages = []
    for i, para in enumerate(text.split("\n\n")):
        if i % PER_PAGE == 0:
            pdf.add_page()
        pages.append(pdf.page_no())
        pdf.multi_cell(0, 6, para)
        pdf.ln(4)
    pdf.output(str(target))
    return pages


def to_docx(text: str, target: Path, *, title: str = "") -> None:
    """The article as a Word file, one paragraph per paragraph."""
    from docx import Document

    doc = Document()
    if title:
        doc.core_properties.title = title
    for para in text.split("\n\n"):
        doc.add_paragraph(para)
    doc.save(str(target))


def main() -> None:
    from evals.results import save
    from rag import Assistant, Settings
    from rag import evaluate as ev
    from rag.embed import load_embedder
    from rag.load import bundled_corpus, load_articles

    originals = sorted(load_articles([bundled_corpus()]).articles, key=lambda a: a.path)
    embedder = load_embedder()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = {"txt": bundled_corpus(), "pdf": root / "pdf", "docx": root / "docx"}
        expected_pages: dict[str, list[tuple[str, int]]] = {}  # doc_id -> (paragraph, page)
        for kind in ("pdf", "docx"):
            folders[kind].mkdir()
            for article in originals:
                target = folders[kind] / f"{Path(article.path).stem}.{kind}"
                if kind == "pdf":
                    starts = to_pdf(article.text, target)
                    expected_pages[article.doc_id] = list(zip(article.text.split("\n\n"), starts, strict=True))
                else:
                    to_docx(article.text, target)
        results = {}
        for kind, folder in folders.items():
            started = time.perf_counter()
            a = Assistant(settings=Settings(index_dir=root / f"index-{kind}", quiet=True), embedder=embedder,
                          auto_build=False)
            a.index([folder], progress=False)
            metrics = ev.evaluate(a, QUESTIONS, progress=False)["metrics"]
            results[kind] = (a, metrics)
            print(f"{kind:5} answer accuracy {metrics['answer_accuracy']:.3f}  false refusals "
                  f"{metrics.get('false_refusal_rate', float('nan')):.3f}  ({time.perf_counter() - started:.0f} s)")
        a = results["pdf"][0]
        right = total = 0
        for line in QUESTIONS.read_text().splitlines():
            import json

            question = json.loads(line)["question"]
            for c in a.ask(question).citations:
                page = next((p for para, p in expected_pages.get(c.doc_id, []) if c.quote in para), None)
                if page is None:
                    continue  # a quote spanning two paragraphs; its first page is still checked by the tests
                total += 1
                right += c.page == page
        print(f"pdf   citations naming the right page: {right}/{total}")
        txt = results["txt"][1]["answer_accuracy"]
        for kind in ("pdf", "docx"):
            print(f"{kind:5} accuracy difference from .txt: {results[kind][1]['answer_accuracy'] - txt:+.3f}")
        keys = ("answer_accuracy", "false_refusal_rate", "abstention_recall", "citation_gold_precision")
        save("measure_formats", {"formats": [{"format": kind} | {k: results[kind][1].get(k) for k in keys}
                                             for kind in results],
                                 "pdf_pages_right": right, "pdf_pages_checked": total})


if __name__ == "__main__":
    main()
