"""Scanned PDFs and page images read by OCR (Debian's tesseract, real, on small generated scans): the text, the
pages marked as read by OCR in the article, its record and its citations; only the pages without text of a PDF
read by OCR; a cache so a folder indexed again is not read again; without tesseract, a one-line reason with the
command that installs it; bad files (corrupt, huge, encrypted, too long) skipped with their reasons."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evals.measure_formats import FONT, to_pdf
from evals.measure_ocr import cer, save_scan, to_image, to_scan
from rag import Assistant, Settings
from rag.load import load_articles, read_article
from rag.ocr import OcrOptions

from .conftest import fake_embedder

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="tesseract-ocr is not installed (make test installs it)")

REPORT = ("Baltic Grain Report\n\nGrain shipments through the port of Klaipeda rose by 12 percent in May, the "
          "harbour authority said on Tuesday.\n\nMost of the wheat was bound for Egypt and Algeria, while barley "
          "went to Saudi Arabia.\n\nThe authority expects the summer harvest to lift volumes again in August.")


def no_cache(**kw) -> OcrOptions:
    return OcrOptions(cache_dir=None, **kw)


def test_a_scanned_pdf_reads_to_its_text_and_its_pages_are_marked(tmp_path):
    truth = to_scan(REPORT, tmp_path / "report.pdf")
    article = read_article(tmp_path / "report.pdf", ocr=no_cache())
    assert article.ocr_pages == tuple(range(1, len(truth) + 1)) and article.format == "pdf"
    assert cer(article.text, REPORT) < 0.02, article.text
    assert "rose by 12 percent in May" in article.text
    assert article.title != "report"  # the scanner wrote the file name as the title: not taken for one


def test_citations_from_a_scan_say_read_by_ocr(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    to_scan(REPORT, folder / "report.pdf")
    a = Assistant(settings=Settings(index_dir=tmp_path / "index", model_cache_dir=tmp_path / "cache"),
                  embedder=fake_embedder(), auto_build=False)
    a.index([folder], progress=False)
    [info] = a.documents()
    assert info.ocr and info.format == "pdf" and info.pages >= 1
    answer = a.ask("By how much did grain shipments through Klaipeda rise in May?")
    cited = answer.citations[0]
    assert cited.ocr and cited.page == 1 and cited.page_label == "p. 1, read by OCR"
    assert "12 percent" in cited.quote


def test_only_the_pages_without_text_of_a_pdf_are_read_by_ocr(tmp_path):
    from pypdf import PdfWriter

    to_pdf("Typed cover note.\n\nThe attached pages were scanned from the harbour log.", tmp_path / "typed.pdf")
    scanned = len(to_scan(REPORT, tmp_path / "scanned.pdf"))
    writer = PdfWriter()
    writer.append(str(tmp_path / "typed.pdf"))
    writer.append(str(tmp_path / "scanned.pdf"))
    writer.write(str(tmp_path / "mixed.pdf"))
    calls = []
    article = read_article(tmp_path / "mixed.pdf", ocr=no_cache(progress=lambda done, total: calls.append((done, total))))
    assert article.text.startswith("Typed cover note.")
    assert "Klaipeda" in article.text and article.ocr_pages == tuple(range(2, 2 + scanned))
    assert calls[0] == (0, scanned) and calls[-1] == (scanned, scanned)  # the scanned pages alone were read


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tiff"])
def test_page_images_are_read(tmp_path, suffix):
    to_image("Grain shipments rose by 12 percent in May.\nMost wheat went to Egypt.", tmp_path / f"page{suffix}")
    article = read_article(tmp_path / f"page{suffix}", ocr=no_cache())
    assert "Grain shipments rose by 12 percent in May." in article.text and article.ocr_pages == (1,)


def test_a_multi_page_tiff_is_a_page_per_frame(tmp_path):
    from PIL import Image

    to_image("First page: the port of Klaipeda.", tmp_path / "one.png")
    to_image("Second page: wheat bound for Egypt.", tmp_path / "two.png")
    frames = [Image.open(tmp_path / "one.png"), Image.open(tmp_path / "two.png")]
    frames[0].save(tmp_path / "fax.tiff", save_all=True, append_images=frames[1:])
    article = read_article(tmp_path / "fax.tiff", ocr=no_cache())
    assert article.ocr_pages == (1, 2) and [p for _, p in article.pages] == [1, 2]
    assert article.text.index("Klaipeda") < article.text.index("Egypt")


def test_read_pages_are_kept_so_a_folder_indexed_again_is_not_read_again(tmp_path, monkeypatch):
    to_scan(REPORT, tmp_path / "report.pdf")
    options = OcrOptions(cache_dir=tmp_path / "cache")
    first = read_article(tmp_path / "report.pdf", ocr=options)
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # tesseract is gone: only the cache can answer
    again = read_article(tmp_path / "report.pdf", ocr=options)
    assert again.text == first.text and again.ocr_pages == first.ocr_pages


def test_without_tesseract_scans_are_skipped_with_the_command_that_installs_it(tmp_path, monkeypatch):
    folder = tmp_path / "articles"
    folder.mkdir()
    to_scan(REPORT, folder / "report.pdf")
    to_image("Grain shipments rose.", folder / "page.png")
    (folder / "note.txt").write_text("A typed note about grain shipments through the port.", encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))
    loaded = load_articles([folder], ocr=no_cache())
    reasons = {Path(s.path).name: s.reason for s in loaded.skipped}
    assert [Path(a.path).name for a in loaded.articles] == ["note.txt"]
    assert set(reasons) == {"report.pdf", "page.png"}
    assert all("apt-get install tesseract-ocr" in r and "\n" not in r for r in reasons.values()), reasons


def test_a_language_that_is_not_installed_is_named_with_its_package(tmp_path):
    from rag.errors import UnsupportedFile

    to_image("Grain shipments rose.", tmp_path / "page.png")
    with pytest.raises(UnsupportedFile, match=r"OCR language zzz is not installed \(sudo apt-get install tesseract-ocr-zzz\)"):
        read_article(tmp_path / "page.png", ocr=no_cache(languages="eng+zzz"))


def test_bad_scans_get_one_line_reasons_and_the_run_completes(tmp_path):
    from PIL import Image
    from pypdf import PdfWriter

    folder = tmp_path / "articles"
    folder.mkdir()
    to_image("Grain shipments rose by 12 percent in May.", folder / "good.png")
    data = (folder / "good.png").read_bytes()
    (folder / "corrupt.png").write_bytes(data[: len(data) // 2])
    (folder / "noise.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 10)
    Image.new("1", (10_000, 10_000), 1).save(folder / "huge.png")  # small on disk, 100 MP decoded
    save_scan([Image.open(folder / "good.png")], tmp_path / "scan.pdf")
    writer = PdfWriter(clone_from=str(tmp_path / "scan.pdf"))
    writer.encrypt("secret")
    writer.write(str(folder / "locked-scan.pdf"))
    save_scan([Image.new("L", (300, 100), 255)] * 6, folder / "long-scan.pdf", dpi=100)
    loaded = load_articles([folder], ocr=no_cache(max_pages=5))
    reasons = {Path(s.path).name: s.reason for s in loaded.skipped}
    assert [Path(a.path).name for a in loaded.articles] == ["good.png"]
    assert reasons["corrupt.png"].startswith("unreadable image")
    assert reasons["noise.jpg"].startswith("unreadable image")
    assert "10000x10000" in reasons["huge.png"] and "larger than OCR reads" in reasons["huge.png"]
    assert reasons["locked-scan.pdf"].startswith("encrypted PDF")
    assert "6 pages to read by OCR; the limit is 5" in reasons["long-scan.pdf"]
    assert all("\n" not in r and len(r) < 300 for r in reasons.values()), reasons


@pytest.mark.slow
def test_a_500_page_scan_is_read_a_page_at_a_time_with_progress(tmp_path):
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("L", (420, 110), 255)
    ImageDraw.Draw(page).text((20, 30), "Harbour log page", fill=0, font=ImageFont.truetype(str(FONT), 28))
    save_scan([page] * 500, tmp_path / "log.pdf", dpi=100)
    seen = []
    article = read_article(tmp_path / "log.pdf", max_bytes=100 * 2**20,
                           ocr=no_cache(progress=lambda done, total: seen.append((done, total))))
    assert seen[0] == (0, 500) and seen[-1] == (500, 500) and len(seen) == 501
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(article.ocr_pages) == 500
