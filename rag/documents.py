"""Reading PDF (pypdf) and Word .docx (python-docx) files into plain text and metadata, for rag/load.py.

Every failure is an `UnsupportedFile` with a one-line reason: an encrypted or truncated PDF, a PDF without a
text layer when OCR is not installed (`rag/ocr.py` reads pages without text), a .docx that is not a zip, or one whose parts would unpack to more than
MAX_UNPACKED bytes or at more than MAX_RATIO times their packed size (a zip bomb: checked before anything is
unpacked).
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from .errors import UnsupportedFile
from .ocr import OcrOptions, missing, ocr_pdf_pages

MAX_UNPACKED = 200 * 2**20  # bytes a .docx may unpack to
MAX_RATIO = 100  # unpacked / packed size of a .docx part above which it is refused as a zip bomb
_PDF_DATE = re.compile(r"^D?:?(\d{4})(\d{2})?(\d{2})?")


def _pdf_date(value: Any) -> str:
    match = _PDF_DATE.match(str(value or ""))
    if not match:
        return ""
    year, month, day = match.groups()
    return "-".join(p for p in (year, month, day) if p)


def read_pdf(data: bytes, ocr: OcrOptions | None = None) -> tuple[list[tuple[int, str]], dict[str, str], list[int]]:
    """(page number, text) for every page that has text, the document info's title, author and date, and the
    pages read by OCR. With `ocr`, pages without a text layer are read by OCR (only those pages); without it, or
    with no OCR installed, they are left out, and a PDF with no page of text at all is refused."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
            except Exception as exc:  # pypdf raises for unknown algorithms too
                raise UnsupportedFile(f"encrypted PDF ({exc})") from None
            if not opened:
                raise UnsupportedFile("encrypted PDF: it needs a password")
        pages = []
        blank = []
        for number, page in enumerate(reader.pages, 1):
            try:  # layout mode keeps the blank line between paragraphs
                text = page.extract_text(extraction_mode="layout") or ""
            except Exception:  # noqa: BLE001 - some pages only read in plain mode
                text = page.extract_text() or ""
            if text.strip():
                pages.append((number, text))
            else:
                blank.append(number)
        info = reader.metadata or {}
    except UnsupportedFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise UnsupportedFile(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    read_by_ocr: list[int] = []
    if blank and ocr is not None:
        try:
            scanned = ocr_pdf_pages(data, blank, ocr)
        except UnsupportedFile as exc:
            if not pages:
                raise UnsupportedFile(f"PDF without a text layer (a scan?): {exc}") from None
            scanned = []  # pages of text stay readable; the others may be blank or pictures
        read_by_ocr = [n for n, text in scanned if text.strip()]
        pages = sorted(pages + [(n, text) for n, text in scanned if text.strip()])
    if not pages:
        why = (missing(ocr.languages) or "OCR read no text on its pages") if ocr is not None else "OCR is off"
        raise UnsupportedFile(f"PDF without a text layer (a scan?): {why}")
    meta = {"title": str(info.get("/Title") or "").strip(), "author": str(info.get("/Author") or "").strip(),
            "date": _pdf_date(info.get("/CreationDate"))}
    return pages, {k: v for k, v in meta.items() if v}, read_by_ocr


_LINE_END = re.compile(r"[.!?:\"”’)\]]$")


def unwrap(pages: list[tuple[int, str]]) -> tuple[str, list[tuple[int, str]]]:
    """A PDF's lines back into paragraphs, across page breaks: a line ends its paragraph when it is blank, much
    shorter than a full line (a heading, a byline), or ends a sentence and is clearly shorter than a full line;
    otherwise the next line continues it (a
    word broken with a hyphen at the end of a line is joined without a space). A page that ends a sentence
    followed by one that starts with a capital starts a new paragraph. Returns the text and, for each
    page, its first line (to find where the page starts once the text is cleaned)."""
    lines = [(n, line.strip()) for n, text in pages for line in text.split("\n")]
    widths = sorted(len(t) for _, t in lines if t)
    full = widths[int(len(widths) * 0.75)] if widths else 0  # a typical full line
    paragraphs: list[str] = []
    current = ""
    firsts: list[tuple[int, str]] = []
    for number, line in lines:
        if line and (not firsts or firsts[-1][0] != number):
            if current and _LINE_END.search(current) and line[:1].isupper():
                paragraphs.append(current)  # a page that ends a sentence, a page that starts one: a new paragraph
                current = ""
            firsts.append((number, line))
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        if not current:
            current = line
        elif current.endswith("-") and line[:1].islower():
            current += line
        else:
            current += " " + line
        if len(line) < 0.75 * full or (_LINE_END.search(line) and len(line) < 0.85 * full):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs), firsts


def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnsupportedFile("not a Word file (.docx is a zip archive; this is not one)") from None
    total = 0
    for item in archive.infolist():
        total += item.file_size
        if total > MAX_UNPACKED:
            raise UnsupportedFile(f"refused: it would unpack to more than {MAX_UNPACKED // 2**20} MiB (a zip bomb?)")
        if item.compress_size and item.file_size / item.compress_size > MAX_RATIO and item.file_size > 2**20:
            raise UnsupportedFile(f"refused: {item.filename} is compressed {item.file_size // item.compress_size}:1 "
                                  "(a zip bomb?)")
    if "word/document.xml" not in archive.namelist():
        raise UnsupportedFile("not a Word document (no word/document.xml inside)")


def read_docx(data: bytes) -> tuple[str, dict[str, str]]:
    """The paragraphs (headings included, each its own paragraph) and the core properties' title, author and
    date; the first Title- or Heading-styled paragraph is the title when the properties have none."""
    _check_zip(data)
    from docx import Document

    try:
        doc = Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds for broken parts
        raise UnsupportedFile(f"unreadable Word file ({type(exc).__name__}: {str(exc)[:120]})") from None
    paragraphs, heading = [], ""
    for p in doc.paragraphs:
        text = p.text.strip()
        if not text:
            continue
        style = (p.style.name if p.style is not None else "") or ""
        if not heading and (style == "Title" or style.startswith("Heading")):
            heading = text
        paragraphs.append(text)
    props = doc.core_properties
    meta = {"title": (props.title or "").strip() or heading, "author": (props.author or "").strip(),
            "date": props.created.date().isoformat() if props.created else ""}
    return "\n\n".join(paragraphs), {k: v for k, v in meta.items() if v}
