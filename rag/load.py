"""Find article files and read them into cleaned `Article`s. One bad file never stops a run: it is skipped
with a one-line reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .clean import Cleaned, clean_text
from .errors import CorpusError, UnsupportedFile
from .metadata import Metadata, extract_metadata
from .ocr import IMAGE_SUFFIXES, OcrOptions
from .types import Article, SkippedFile

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", *IMAGE_SUFFIXES)
SUPPORTED_TEXT = ".txt, .md, .html, .pdf, .docx, and page images (.png, .jpg, .tiff: read by OCR)"
SIDECAR_NAME = "corpus.json"


def bundled_corpus() -> Path:
    """Folder of the five articles shipped inside the package."""
    return Path(__file__).resolve().parent / "corpus"


def safe_name(name: str) -> str:
    """A file name that stays inside the uploads folder: no folders, no leading dots, plain characters."""
    base = re.sub(r"[^\w.-]+", "_", Path(name).name).lstrip(".")
    return base[:120] or "article.txt"


def upload_problem(name: str, data: bytes | str | Path, max_bytes: float) -> str:
    """Why an uploaded file (its name as uploaded, its bytes or a path to read) cannot be kept: wrong type,
    unreadable, too large; "" when it can (its text is checked when it is read, like any other file)."""
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"not one of {SUPPORTED_TEXT}"
    if isinstance(data, bytes):
        size = len(data)
    else:
        if not Path(data).is_file():
            return "the upload could not be read; try again"
        size = Path(data).stat().st_size
    if size > max_bytes:
        return f"larger than {max_bytes / 2**20:g} MB"
    return ""


def doc_id_for(text: str) -> str:
    """Stable, content-derived id: the same cleaned text always gets the same id."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- decoding


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else the encoding charset-normalizer detects."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFile("binary file (contains NUL bytes)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise UnsupportedFile("not text in any encoding we can detect")
    # Short Western texts decode cleanly in many single-byte code pages; among the equally clean ones,
    # prefer Windows-1252 (the usual one for such files).
    least = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= least + 0.01]
    western = [m for m in tied if m.encoding in ("cp1252", "latin_1", "iso8859_15")]
    text = data.decode("cp1252", errors="replace") if western else str(tied[0])
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text)
    if printable < 0.95 * max(len(text), 1):
        raise UnsupportedFile("binary file (mostly unprintable characters)")
    return text


# ---------------------------------------------------------------- formats


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, one line per block element, plus its <title> and <meta> fields."""

    BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article",
              "blockquote", "header", "footer", "pre", "figcaption", "dd", "dt", "hr"}
    HIDDEN = {"script", "style", "noscript", "template", "svg", "head", "nav", "iframe", "form", "button"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = {k: v or "" for k, v in attrs}
            key = (a.get("name") or a.get("property") or "").lower()
            if key and a.get("content"):
                self.meta.setdefault(key, a["content"].strip())
        if tag == "title":
            self._in_title = True
        if tag in self.HIDDEN:
            self._hidden += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, dict[str, str]]:
    """A web page's main text and metadata by trafilatura (menus, cookie banners, footers, related-article lists
    and comments left out; tables kept); pages it finds no main text in (very short ones) are read whole.

    trafilatura's default mode, with navigation pruned first: chosen on half of evals/data/extraction's pages
    (evals/measure_extraction.py; favor_precision lost recall on page ledes and short pages)."""
    import trafilatura

    plain, meta = html_plain(html)
    try:
        text = trafilatura.extract(html, include_tables=True, include_comments=False, include_images=False,
                                   include_links=False, output_format="txt", with_metadata=False,
                                   prune_xpath=["//nav", "//*[@role='navigation']"])
        found = trafilatura.extract_metadata(html)
    except Exception:  # noqa: BLE001 - a page trafilatura cannot parse is read by the plain parser
        text, found = None, None
    if found is not None:
        for key, value in (("title", found.title), ("author", found.author), ("date", found.date),
                           ("publication", found.sitename)):
            if value and not meta.get(key):
                meta[key] = str(value)[:10] if key == "date" else str(value)
    return (_rejoin(text, plain) if text and text.strip() else plain), meta


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _rejoin(text: str, plain: str) -> str:
    """Join lines that trafilatura split inside one block of the page (its fallback breaks a paragraph at every
    inline element, "First\\nbold\\nparagraph."): consecutive lines are joined while together they still lie within
    one line of the plain parser's text, which breaks lines only at block elements."""
    blocks = "\n " + " \n ".join(_words(line) for line in plain.splitlines()) + " \n"
    out: list[str] = []
    for line in text.splitlines():
        if out and line.strip() and out[-1].strip():
            joined = out[-1] + " " + line.strip()
            key = _words(joined)
            if key and f" {key} " in blocks and _words(line):
                out[-1] = joined
                continue
        out.append(line.strip())
    return "\n".join(out)


def html_plain(html: str) -> tuple[str, dict[str, str]]:
    """Every visible text node of the page, one line per block element, and its <title>/<meta> fields."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    m = parser.meta
    meta = {
        "title": m.get("og:title") or parser.title.strip(),
        "author": m.get("author") or m.get("article:author") or "",
        "date": (m.get("article:published_time") or m.get("date") or "")[:10],
        "publication": m.get("og:site_name", ""),
    }
    # Inline text nodes (links, emphasis) join without a newline; only blocks break lines.
    text = "".join(parser.parts)
    return re.sub(r"[ \t]*\n[ \t]*", "\n", text), meta


_FRONT_MATTER_RE = re.compile(r"\A---\s*\n(?P<body>.*?)\n---\s*\n", re.DOTALL)


def markdown_to_text(md: str) -> tuple[str, dict[str, str]]:
    """Front matter as metadata (and a first-line `# heading` as the title when it gives none); markup removed:
    images dropped, links reduced to their text, markers gone."""
    meta: dict[str, str] = {}
    match = _FRONT_MATTER_RE.match(md)
    if match:
        for line in match.group("body").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip():
                meta[key.strip().lower()] = value.strip().strip("'\"")
        md = md[match.end():]
    heading = re.match(r"\s*#\s+(?P<title>[^\n#]+?)\s*#*\s*(?:\n|$)", md)
    if heading and not meta.get("title"):
        meta["title"] = heading.group("title")
    md = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", md)  # images
    md = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", md)  # links
    md = re.sub(r"<[^>\n]+>", "", md)  # inline HTML tags
    md = re.sub(r"^\s{0,3}#{1,6}\s+", "", md, flags=re.MULTILINE)  # heading markers
    md = re.sub(r"^\s{0,3}>\s?", "", md, flags=re.MULTILINE)  # block quotes
    md = re.sub(r"(\*\*|__)(.+?)\1", r"\2", md)
    md = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", md)
    md = re.sub(r"`([^`]+)`", r"\1", md)
    return md, meta


# ---------------------------------------------------------------- files


def load_sidecar(folder: Path) -> dict[str, dict[str, str]]:
    """`corpus.json` beside the articles: {"file.txt": {"title": …, "author": …}, …}. Bad sidecars are
    reported as a skipped file by the caller, never fatal."""
    path = folder / SIDECAR_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedFile(f"sidecar is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UnsupportedFile('sidecar must map file names to objects: {"a.txt": {"title": "…"}}')
    return {name: {k: str(v) for k, v in fields.items()} for name, fields in data.items()}


# Authors that tools and templates write into every file they make: not an article's author.
_CREATOR_DEFAULTS = {"python-docx", "microsoft office user", "microsoft word", "administrator", "admin", "user",
                     "author", "unknown", "owner", "windows user", "fpdf", "fpdf2", "reportlab", "libreoffice"}
_FILE_TITLE_JUNK = re.compile(r"^(microsoft (word|powerpoint) - |untitled\b)|\.(docx?|pdf|rtf|odt|txt)$", re.IGNORECASE)


def file_properties(meta: dict[str, str]) -> dict[str, str]:
    """A PDF's document info or a Word file's core properties without the values tools write into every file
    ("python-docx", "Microsoft Office User", "Microsoft Word - draft.docx")."""
    out = dict(meta)
    if out.get("author", "").strip().lower() in _CREATOR_DEFAULTS:
        out.pop("author")
    if _FILE_TITLE_JUNK.search(out.get("title", "").strip()):
        out.pop("title")
    return out


def read_article(path: Path, sidecar: dict[str, str] | None = None, max_bytes: int = 10 * 2**20,
                 ocr: OcrOptions | None = OcrOptions()) -> Article:
    """Read, decode, clean one file and take its metadata. Raises `UnsupportedFile` with the reason. `ocr`: how
    pages without text are read (None: they are not)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFile(f"unsupported file type {suffix or '(none)'} (supported: {SUPPORTED_TEXT})")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnsupportedFile(f"too large ({size / 2**20:.1f} MiB > {max_bytes / 2**20:.1f} MiB limit)")
        data = path.read_bytes()
    except OSError as exc:
        raise UnsupportedFile(f"unreadable: {exc.strerror or exc}") from exc
    if not data.strip():
        raise UnsupportedFile("empty file")
    file_meta: dict[str, str] = {}
    pages: tuple[tuple[int, int], ...] = ()
    by_ocr: tuple[int, ...] = ()
    if suffix == ".pdf" or suffix in IMAGE_SUFFIXES:
        cleaned, pages, file_meta, by_ocr = _read_pages(data, suffix, ocr)
    else:
        if suffix == ".docx":
            from .documents import read_docx

            raw, file_meta = read_docx(data)
        else:
            raw = decode(data)
        if suffix in (".html", ".htm"):
            raw, file_meta = html_to_text(raw)
        elif suffix in (".md", ".markdown"):
            raw, file_meta = markdown_to_text(raw)
        cleaned = clean_text(raw)
    if not cleaned.text.strip():
        if suffix in (".html", ".htm"):
            raise UnsupportedFile("web page without visible text (a page that is all script draws its text in a "
                                  "browser; save it from the browser as a complete page or as PDF)")
        raise UnsupportedFile("no article text after cleaning")
    meta = Metadata()
    if suffix in (".html", ".htm"):
        meta.fill_from(file_meta)  # the page's <title>/<meta>: the publisher's own
    elif suffix in (".pdf", ".docx"):
        # The document info / core properties name whoever made the file (often a tool's or an account's name):
        # their title goes first, their author and date only where the text names none.
        file_meta = file_properties(file_meta)
        if file_meta.get("title", "").strip().lower() in (path.stem.lower(), path.name.lower()):
            file_meta.pop("title")  # the file's own name (scanners and image tools write it): the text says more
        meta.fill_from({"title": file_meta.get("title", "")})
    from_text = extract_metadata(cleaned.text, cleaned.source)
    if from_text.author and from_text.author == file_meta.get("title", "").strip():
        from_text.author = ""  # a headline the markup names as the title is not a byline, however name-like
    meta.fill_from(from_text)
    meta.fill_from(file_meta)  # markdown front matter
    meta.fill_from(sidecar or {})
    return Article(
        doc_id=doc_id_for(cleaned.text),
        path=str(path),
        text=cleaned.text,
        title=meta.title,
        author=meta.author,
        publication=meta.publication,
        date=meta.date,
        source=meta.source,
        derived_hint=meta.derived_hint,
        format=format_of(suffix),
        pages=pages,
        ocr_pages=by_ocr,
        url=(sidecar or {}).get("url", ""),
        file_date=file_date(path),
    )


def format_of(suffix: str) -> str:
    """The format a file suffix is recorded as: ".htm" -> "html", ".markdown" -> "md", ".jpeg" -> "jpg"."""
    name = suffix.lower().lstrip(".")
    return {"htm": "html", "markdown": "md", "jpeg": "jpg", "tif": "tiff"}.get(name, name)


def file_date(path: Path) -> str:
    """The file's modification date, YYYY-MM-DD in UTC ("" when it cannot be read)."""
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date().isoformat()
    except (OSError, ValueError, OverflowError):
        return ""


def _read_pages(data: bytes, suffix: str, ocr: OcrOptions | None
                ) -> tuple[Cleaned, tuple[tuple[int, int], ...], dict[str, str], tuple[int, ...]]:
    """A PDF's or a page image's text, its lines joined back into paragraphs (across page breaks too) and
    cleaned, with where each page starts in it: ((offset, page number), ...), so that a quote's offset names its
    page; and the pages read by OCR."""
    from .documents import read_pdf, unwrap
    from .ocr import missing, read_image_file

    if suffix == ".pdf":
        pages, meta, by_ocr = read_pdf(data, ocr)
    else:
        if ocr is None:
            raise UnsupportedFile("page image: OCR is off")
        pages, meta = [(n, t) for n, t in read_image_file(data, ocr) if t.strip()], {}
        by_ocr = [n for n, _ in pages]
        if not pages:
            why = missing(ocr.languages)
            raise UnsupportedFile(f"page image without text{': ' + why if why else ' read by OCR'}")
    text, firsts = unwrap(pages)
    cleaned = clean_text(text)
    starts: list[tuple[int, int]] = []
    at = 0
    for number, line in firsts:
        probe = clean_text(line).text[:40]
        found = cleaned.text.find(probe, at) if probe else -1
        if found >= 0:
            at = found
        starts.append((at if starts else 0, number))
    return cleaned, tuple(starts), meta, tuple(by_ocr)


@dataclass
class Loaded:
    articles: list[Article] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    # Files that exist but could not be read this time: their previous index entry is kept, not removed.
    unreadable_paths: set[str] = field(default_factory=set)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every file under the given folders (hidden files and folders left out), plus the given files."""
    found: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        if not path.exists():
            raise CorpusError(f"No such file or folder: {path}")
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and name != SIDECAR_NAME:
                        found.append(Path(root) / name)
        else:
            found.append(path)
    # Absolute, but symlinks kept as named: a dangling link is reported under its own name.
    return [Path(os.path.abspath(p)) for p in found]


def load_articles(paths: Iterable[Path], max_bytes: int = 10 * 2**20, ocr: OcrOptions | None = OcrOptions(),
                  on_file: Callable[[Path], object] | None = None) -> Loaded:
    """Load every article under `paths`. Exact duplicates (same cleaned text) are skipped after the first.
    `on_file(path)` is called before each file is read (progress)."""
    out = Loaded()
    sidecars: dict[Path, dict[str, dict[str, str]]] = {}
    seen: dict[str, str] = {}
    for path in discover(paths):
        folder = path.parent
        if folder not in sidecars:
            try:
                sidecars[folder] = load_sidecar(folder)
            except UnsupportedFile as exc:
                sidecars[folder] = {}
                out.skipped.append(SkippedFile(str(folder / SIDECAR_NAME), str(exc)))
        try:
            if on_file is not None:
                on_file(path)
            article = read_article(path, sidecars[folder].get(path.name), max_bytes=max_bytes, ocr=ocr)
        except UnsupportedFile as exc:
            out.skipped.append(SkippedFile(str(path), str(exc)))
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                out.unreadable_paths.add(str(path))
            continue
        if article.doc_id in seen:
            out.skipped.append(SkippedFile(str(path), f"same text as {seen[article.doc_id]}"))
            continue
        seen[article.doc_id] = str(path)
        out.articles.append(article)
    return out
