"""OCR: the bundled articles as scanned, image-only PDFs, read back by OCR.

Each bundled article is written as a PDF (fpdf2, as evals/measure_formats.py does), each page rendered to a
gray image and made "scanned" (200 dpi, turned by half a degree, speckled with noise, slightly blurred), and
the images put back together as a PDF without a text layer. Then:

1. Engines, on the same pages: Debian's tesseract (what `rag` uses) and rapidocr-onnxruntime (models in its
   wheel; measured when installed: `pip install rapidocr-onnxruntime`): character error rate (edit distance /
   length, whitespace runs made one space) against each page's text in the original PDF, and seconds per page,
   beside reading the text layer of the original PDFs.
2. The bundled suite (evals/questions.jsonl) answered from the OCR'd scans and from the .txt originals in the
   same run, with the real embedding model: answer accuracy and its difference (target: within 0.03).
3. Bad files: a corrupt image, a 10,000 x 10,000 image, an encrypted scan and a 500-page scan: the reason each
   gets, the time and the peak memory of this process (a page at a time).

    python -m evals.measure_ocr [--no-suite] [--no-bad]      (needs tesseract-ocr and the dev extra)
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from evals.measure_formats import FONT, QUESTIONS, to_pdf

SCAN_DPI = 200


def levenshtein(a: str, b: str) -> int:
    """Edit distance, a row at a time in numpy (insertions by a running minimum)."""
    if not a or not b:
        return max(len(a), len(b))
    target = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(b) + 1)
    previous = offsets.copy()
    for i, char in enumerate(a, 1):
        row = np.empty_like(previous)
        row[0] = i
        row[1:] = np.minimum(previous[:-1] + (target != ord(char)), previous[1:] + 1)
        previous = np.minimum.accumulate(row - offsets) + offsets
    return int(previous[-1])


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')).strip()


def cer(read: str, truth: str) -> float:
    truth, read = normalise(truth), normalise(read)
    return levenshtein(read, truth) / max(len(truth), 1)


def degrade(image: Any, seed: int) -> Any:
    """A clean page image made to look scanned: turned a little, speckled, softened."""
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    turned = image.convert("L").rotate(rng.uniform(-0.6, 0.6), resample=Image.BICUBIC, expand=False, fillcolor=255)
    pixels = np.asarray(turned, dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0, 12, pixels.shape)
    speckled = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    return speckled.filter(ImageFilter.GaussianBlur(0.5))


def page_images(pdf_path: Path, dpi: int = SCAN_DPI) -> list[Any]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return [pdf[i].render(scale=dpi / 72, grayscale=True).to_pil() for i in range(len(pdf))]
    finally:
        pdf.close()


def save_scan(images: list[Any], target: Path, dpi: int = SCAN_DPI) -> None:
    """Images as a PDF of pictures, no text layer (what a scanner writes)."""
    first, *rest = [im.convert("L") for im in images]
    first.save(target, format="PDF", save_all=True, append_images=rest, resolution=dpi)


def to_scan(text: str, target: Path, *, degraded: bool = True, seed: int = 0) -> list[str]:
    """The text as a scanned PDF (written as a PDF, its pages rendered and made scan-like); returns each page's
    text as the original PDF holds it (the OCR's ground truth)."""
    from pypdf import PdfReader

    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "clean.pdf"
        to_pdf(text, clean)
        truth = [page.extract_text() or "" for page in PdfReader(str(clean)).pages]
        images = page_images(clean)
    if degraded:
        images = [degrade(im, seed * 1000 + i) for i, im in enumerate(images)]
    save_scan(images, target)
    return truth


def to_image(text: str, target: Path, *, size: tuple[int, int] = (1700, 500), font_size: int = 36) -> None:
    """One line or a few lines of text as a page image (PNG, JPEG or TIFF by the name)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), font_size)
    draw.multiline_text((40, 40), text, fill=0, font=font, spacing=14)
    image.save(target)


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def engines(scans: list[tuple[Path, list[str]]], originals: list[Path]) -> list[dict[str, Any]]:
    from rag.documents import read_pdf
    from rag.ocr import read_image

    rows = []
    images = [(im, truth) for path, truths in scans for im, truth in zip(page_images(path), truths, strict=True)]
    started = time.perf_counter()
    errors = [cer(read_image(im), truth) for im, truth in images]
    seconds = (time.perf_counter() - started) / len(images)
    rows.append({"engine": "tesseract", "pages": len(images), "cer": round(float(np.mean(errors)), 4),
                 "cer_worst_page": round(float(np.max(errors)), 4), "s_per_page": round(seconds, 2)})
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        print("rapidocr-onnxruntime is not installed: only tesseract measured")
    else:
        engine = RapidOCR()
        engine(np.asarray(images[0][0].convert("RGB")))  # loads its models
        started = time.perf_counter()
        errors = []
        for im, truth in images:
            found, _ = engine(np.asarray(im.convert("RGB")))
            errors.append(cer("\n".join(r[1] for r in (found or [])), truth))
        seconds = (time.perf_counter() - started) / len(images)
        rows.append({"engine": "rapidocr-onnxruntime", "pages": len(images), "cer": round(float(np.mean(errors)), 4),
                     "cer_worst_page": round(float(np.max(errors)), 4), "s_per_page": round(seconds, 2)})
    pages = 0
    started = time.perf_counter()
    for path in originals:
        pages += len(read_pdf(path.read_bytes())[0])
    rows.append({"engine": "text layer (pypdf, no OCR)", "pages": pages, "cer": 0.0, "cer_worst_page": 0.0,
                 "s_per_page": round((time.perf_counter() - started) / pages, 3)})
    return rows


def questions_for(a: Any, target: Path) -> Path:
    """The bundled questions with their evidence pointed at the OCR'd copies: an article's id is the hash of its
    text, so a copy whose text differs by one character has another id (matched here by file name); a quote OCR
    misread is left out, and a question left with no quote is scored on its answers found in the copy (as the
    public suites' questions with evidence files are). Answer accuracy does not use the evidence at all."""
    import json

    by_stem = {Path(d.path).stem: d.doc_id for d in a.documents()}
    _, snap = a.opened()
    lines = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        kept, files = [], []
        for ev in item.get("evidence", []):
            doc_id = by_stem.get(Path(ev.get("file", "")).stem)
            if doc_id and ev["quote"] in snap.texts[doc_id]:
                kept.append(ev | {"doc_id": doc_id})
            elif doc_id:
                files.append(Path(snap.docs[doc_id]["path"]).name)
        if item.get("evidence") and not kept:
            item["evidence_files"] = sorted(set(files))
        item["evidence"] = kept
        lines.append(json.dumps(item))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def suite(folders: dict[str, Path], root: Path) -> dict[str, Any]:
    from rag import Assistant, Settings
    from rag import evaluate as ev
    from rag.embed import load_embedder

    embedder = load_embedder()
    out = {}
    for kind, folder in folders.items():
        a = Assistant(settings=Settings(index_dir=root / f"index-{kind}", quiet=True, model_cache_dir=root / "cache"),
                      embedder=embedder, auto_build=False)
        started = time.perf_counter()
        a.index([folder], progress=False)
        indexed = time.perf_counter() - started
        questions = QUESTIONS if kind == "txt" else questions_for(a, root / f"questions-{kind}.jsonl")
        metrics = ev.evaluate(a, questions, progress=False)["metrics"]
        out[kind] = {"answer_accuracy": metrics["answer_accuracy"], "index_s": round(indexed, 1),
                     "false_refusal_rate": metrics.get("false_refusal_rate"),
                     "ocr_articles": sum(d.ocr for d in a.documents())}
        print(f"{kind:6} answer accuracy {metrics['answer_accuracy']:.3f}  (indexed in {indexed:.0f} s)", flush=True)
    return out


def bad_files(root: Path) -> list[dict[str, Any]]:
    from PIL import Image

    from rag.load import read_article
    from rag.ocr import OcrOptions

    folder = root / "bad"
    folder.mkdir()
    to_image("Ports of the Baltic", folder / "good.png")
    data = (folder / "good.png").read_bytes()
    (folder / "corrupt.png").write_bytes(data[: len(data) // 2])
    Image.new("L", (10_000, 10_000), 255).save(folder / "huge.png")
    from pypdf import PdfWriter

    save_scan([Image.open(folder / "good.png")], root / "scan.pdf")
    writer = PdfWriter(clone_from=str(root / "scan.pdf"))
    writer.encrypt("secret")
    writer.write(str(folder / "encrypted-scan.pdf"))
    page = Image.new("L", (400, 120), 255)
    from PIL import ImageDraw, ImageFont

    ImageDraw.Draw(page).text((20, 40), "Page of a long scan", fill=0, font=ImageFont.truetype(str(FONT), 28))
    save_scan([page] * 500, folder / "long-scan.pdf", dpi=100)
    rows = []
    for path in sorted(folder.iterdir()):
        before = peak_rss_mb()
        started = time.perf_counter()
        try:
            article = read_article(path, max_bytes=200 * 2**20, ocr=OcrOptions(cache_dir=None))
            outcome = f"read: {len(article.ocr_pages)} pages by OCR, {len(article.text):,} characters"
        except Exception as exc:  # noqa: BLE001 - every reason is reported
            outcome = f"{type(exc).__name__}: {exc}"
        rows.append({"file": path.name, "outcome": outcome, "s": round(time.perf_counter() - started, 2),
                     "peak_rss_mb": round(peak_rss_mb(), 0), "peak_rss_before_mb": round(before, 0)})
        print(f"{path.name:20} {rows[-1]['s']:7.2f} s  peak RSS {rows[-1]['peak_rss_mb']:.0f} MB  {outcome}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-suite", action="store_true", help="skip answering the bundled suite from the scans")
    parser.add_argument("--no-bad", action="store_true", help="skip the bad files")
    args = parser.parse_args()
    from evals.results import save
    from rag.load import bundled_corpus, load_articles
    from rag.ocr import engine_version, missing

    if missing():
        raise SystemExit(missing())
    originals = sorted(load_articles([bundled_corpus()]).articles, key=lambda a: a.path)
    figures: dict[str, Any] = {"engine": engine_version(), "scan_dpi": SCAN_DPI}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scans_dir, pdf_dir = root / "scans", root / "pdf"
        scans_dir.mkdir()
        pdf_dir.mkdir()
        scans = []
        for i, article in enumerate(originals):
            stem = Path(article.path).stem
            to_pdf(article.text, pdf_dir / f"{stem}.pdf")
            scans.append((scans_dir / f"{stem}.pdf", to_scan(article.text, scans_dir / f"{stem}.pdf", seed=i)))
        figures["engines"] = engines(scans, sorted(pdf_dir.iterdir()))
        for row in figures["engines"]:
            print(f"{row['engine']:28} CER {row['cer']:.4f} (worst page {row['cer_worst_page']:.4f})  "
                  f"{row['s_per_page']:.2f} s/page over {row['pages']} pages", flush=True)
        if not args.no_suite:
            figures["suite"] = suite({"txt": bundled_corpus(), "scans": scans_dir}, root)
            figures["accuracy_difference"] = round(figures["suite"]["scans"]["answer_accuracy"]
                                                   - figures["suite"]["txt"]["answer_accuracy"], 4)
            print(f"accuracy difference, scans - txt: {figures['accuracy_difference']:+.3f} (target within 0.03)")
        if not args.no_bad:
            figures["bad_files"] = bad_files(root)
    save("measure_ocr", figures)


if __name__ == "__main__":
    main()
