"""Text from page images, by OCR: the pages of a PDF that have no text layer (scans, faxes, photographed pages)
and image files (.png, .jpg, .jpeg, .tif, .tiff; a multi-page TIFF is one page per frame).

The engine is Debian's tesseract (`apt-get install tesseract-ocr`, English; other languages are
`tesseract-ocr-<lang>` packages and `RAG_OCR_LANGUAGES`), run as a subprocess per page. Chosen against
rapidocr-onnxruntime 1.4.4, whose models ship in its wheel, on the same 17 scanned pages of the bundled articles
(`python -m evals.measure_ocr`, evals/README.md): character error rate 0.0001 against 0.135, 1.9 s a page
against 4.2 on 2 cores (rapidocr's models drop the spaces between many English words and misread more on a
200 dpi scan). PDF pages are rendered with pypdfium2 at 300 dpi, in gray.

Bounded: a page at a time in memory, images larger than MAX_PIXELS refused before they are decoded (a
10,000 x 10,000 image is refused, not read), at most `max_pages` pages a file, each page's OCR given
PAGE_TIMEOUT_S. What a file's pages read to is kept in a cache keyed by the file's bytes (`ocr.sqlite` in the
cache folder), so indexing the folder again does not read the scans again.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import subprocess
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UnsupportedFile
from .localdb import LocalDB

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
INSTALL = "sudo apt-get install tesseract-ocr"
DPI = 300  # PDF pages are rendered at this resolution (tesseract's own recommendation for body text)
MAX_PIXELS = 60_000_000  # a 600 dpi A3 page is ~70 MP, an A4 one ~35 MP
PAGE_TIMEOUT_S = 120.0
MAX_PAGES = 1000
ENGINE = "tesseract"

Progress = Callable[[int, int], object]  # (pages read, pages to read)


@dataclass(frozen=True)
class OcrOptions:
    languages: str = "eng"  # tesseract's -l: "eng", "eng+deu", ...
    max_pages: int = MAX_PAGES
    cache_dir: Path | None = None  # where ocr.sqlite lives; None: no cache
    progress: Progress | None = None  # called after each page of a file that needs OCR


def missing(languages: str = "eng") -> str:
    """Why OCR cannot run here ('' when it can): the one-line reason and the command that installs what is
    missing (tesseract, or one of the languages asked for)."""
    if shutil.which("tesseract") is None:
        return f"OCR is not installed (install Debian's tesseract: {INSTALL})"
    absent = [lang for lang in languages.split("+") if lang not in installed_languages()]
    if absent and installed_languages():
        return (f"OCR language {', '.join(absent)} is not installed (sudo apt-get install "
                f"{' '.join('tesseract-ocr-' + lang.replace('_', '-') for lang in absent)})")
    return ""


_LANGUAGES: dict[str, set[str]] = {}


def installed_languages() -> set[str]:
    """tesseract's installed languages (empty when it cannot say)."""
    if "l" not in _LANGUAGES:
        try:
            out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, timeout=30, check=False)
            lines = (out.stdout or b"").decode(errors="replace").splitlines()
            _LANGUAGES["l"] = {line.strip() for line in lines[1:] if line.strip()}
        except (OSError, subprocess.SubprocessError):
            return set()
    return _LANGUAGES["l"]


@functools.cache
def engine_version() -> str:
    """tesseract's first --version line (part of the cache key: another version may read a page otherwise)."""
    try:
        out = subprocess.run(["tesseract", "--version"], capture_output=True, timeout=30, check=False)
        return (out.stdout or out.stderr).decode(errors="replace").splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return "tesseract"


class OcrCache(LocalDB):
    """(file sha256, page, engine, languages) -> text."""

    SCHEMA = """CREATE TABLE IF NOT EXISTS pages (key TEXT PRIMARY KEY, text TEXT) WITHOUT ROWID;"""

    def get(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT text FROM pages WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, text: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?)", (key, text))


_CACHES: dict[Path, OcrCache] = {}
_CACHES_LOCK = threading.Lock()


def _cache(options: OcrOptions) -> OcrCache | None:
    if options.cache_dir is None:
        return None
    path = Path(options.cache_dir) / "ocr.sqlite"
    with _CACHES_LOCK:
        if path not in _CACHES:
            try:
                _CACHES[path] = OcrCache(path)
            except Exception:  # noqa: BLE001 - an unwritable cache folder costs speed, not the file
                return None
        return _CACHES[path]


def read_image(image: Any, languages: str = "eng") -> str:
    """The text of one page image (a PIL image), by tesseract."""
    if why := missing(languages):
        raise UnsupportedFile(why)
    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PNG")
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}  # one page of a bundled article: 3.0-3.5 s, 16.6-17.9 s without
    try:
        done = subprocess.run(["tesseract", "stdin", "stdout", "-l", languages, "--psm", "3"],
                              input=buffer.getvalue(), capture_output=True, timeout=PAGE_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise UnsupportedFile(f"OCR of a page took over {PAGE_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise UnsupportedFile(f"OCR failed to start ({exc.strerror or exc})") from None
    if done.returncode != 0:
        last = (done.stderr or b"").decode(errors="replace").strip().splitlines()
        raise UnsupportedFile(f"OCR failed ({last[-1][:150] if last else f'exit status {done.returncode}'})")
    return done.stdout.decode("utf-8", errors="replace")


def _pages_of(data: bytes, numbers: list[int], options: OcrOptions,
              images: Callable[[list[int]], Iterator[tuple[int, Any]]]) -> list[tuple[int, str]]:
    """(page number, text) of the given pages, from the cache or by OCR of the images `images` yields."""
    if len(numbers) > options.max_pages:
        raise UnsupportedFile(f"{len(numbers)} pages to read by OCR; the limit is {options.max_pages} a file "
                              f"(RAG_OCR_MAX_PAGES)")
    cache = _cache(options)
    digest = hashlib.sha256(data).hexdigest()
    key = {n: f"{digest}:{n}:{engine_version()}:{options.languages}" for n in numbers}
    found = {n: text for n in numbers if cache is not None and (text := cache.get(key[n])) is not None}
    todo = [n for n in numbers if n not in found]
    if todo and (why := missing(options.languages)):
        raise UnsupportedFile(why)
    done = len(found)
    if todo and options.progress is not None:
        options.progress(done, len(numbers))
    for number, image in images(todo):
        try:
            text = read_image(image, options.languages)
        finally:
            image.close()
        found[number] = text
        if cache is not None:
            cache.put(key[number], text)
        done += 1
        if options.progress is not None:
            options.progress(done, len(numbers))
    return [(n, found[n]) for n in numbers]


def _check_size(width: int, height: int, what: str) -> None:
    if width * height > MAX_PIXELS:
        raise UnsupportedFile(f"{what} of {width}x{height} pixels ({width * height / 1e6:.0f} MP) is larger than OCR "
                              f"reads ({MAX_PIXELS / 1e6:.0f} MP); scale it down to 300 dpi")


def ocr_pdf_pages(data: bytes, numbers: list[int], options: OcrOptions, password: str = "") -> list[tuple[int, str]]:
    """(page number, text) by OCR of these pages (numbered from 1) of a PDF, rendered one at a time."""
    import pypdfium2 as pdfium

    def render(todo: list[int]) -> Iterator[tuple[int, Any]]:
        if not todo:
            return
        try:
            pdf = pdfium.PdfDocument(data, password=password or None)
        except pdfium.PdfiumError as exc:
            raise UnsupportedFile(f"unreadable PDF for OCR ({str(exc)[:120]})") from None
        try:
            for number in todo:
                page = pdf[number - 1]
                try:
                    width, height = page.get_size()  # points: 1/72 inch
                    scale = DPI / 72
                    _check_size(int(width * scale), int(height * scale), f"page {number}")
                    bitmap = page.render(scale=scale, grayscale=True)
                    image = bitmap.to_pil()
                    bitmap.close()
                finally:
                    page.close()
                yield number, image
        finally:
            pdf.close()

    return _pages_of(data, numbers, options, render)


def read_image_file(data: bytes, options: OcrOptions) -> list[tuple[int, str]]:
    """(page number, text) of an image file: one page, or one per frame of a multi-page TIFF."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # sizes are checked here, before anything is decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))  # reads the header only
        with probe:
            _check_size(*probe.size, "image")
            frames = getattr(probe, "n_frames", 1)
    except UnsupportedFile:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnsupportedFile(f"unreadable image ({type(exc).__name__}: {str(exc)[:120]})") from None

    def decode(todo: list[int]) -> Iterator[tuple[int, Any]]:
        if not todo:
            return
        wanted = set(todo)
        try:
            with Image.open(io.BytesIO(data)) as image:
                for number, frame in enumerate(ImageSequence.Iterator(image), 1):
                    if number in wanted:
                        _check_size(*frame.size, f"page {number}")
                        frame.load()
                        yield number, frame.copy()
        except UnsupportedFile:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise UnsupportedFile(f"unreadable image ({type(exc).__name__}: {str(exc)[:120]})") from None

    return _pages_of(data, list(range(1, frames + 1)), options, decode)
