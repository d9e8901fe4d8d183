"""Fetching an article from a link (`rag add https://…`, the chat's URL box): once, when it is added; nothing is
fetched while answering.

Only http and https, in the link and in every redirect; at most MAX_REDIRECTS redirects; a time limit on the whole
download, not only on each read; a size limit; web pages, PDFs, Word files and plain text only. The page is kept as
a file in the uploads folder with the link recorded beside it (corpus.json), so it is re-read, not re-fetched, on
every later `rag index`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

from .errors import FetchError

MAX_REDIRECTS = 5
USER_AGENT = "rag (offline article assistant; fetches a page once when a user adds it)"
_TYPES = {  # Content-Type -> suffix the file is kept under
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/plain": ".txt",
    "text/markdown": ".md",
}


@dataclass(frozen=True)
class Fetched:
    url: str  # as given
    final_url: str  # after redirects
    name: str  # file name to keep it under (stable for the same link)
    data: bytes


def is_link(text: str) -> bool:
    """Whether a CLI argument is a link rather than a path ("scheme://…")."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", str(text)) is not None


def check_link(url: str) -> str:
    """The link, trimmed; FetchError with the reason when it is not an http(s) link to a host."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"only http and https links can be added, not {parts.scheme or 'a bare name'}")
    if not parts.hostname:
        raise FetchError("the link names no host")
    return url


def _refused(scheme: str) -> str:
    return f"refused a redirect to a {scheme} link: only http and https are followed"


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 - urllib's signature
        scheme = urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(_refused(scheme))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    # No FileHandler/FTPHandler/DataHandler: build_opener's defaults would add them.
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), _Redirects(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def file_name(url: str, suffix: str) -> str:
    """A readable, stable file name for a link: host and last path part, plus a short hash of the whole link."""
    parts = urlsplit(url)
    stem = (parts.path.rstrip("/").rsplit("/", 1)[-1] or "index").rsplit(".", 1)[0]
    base = re.sub(r"[^\w-]+", "_", f"{parts.hostname or 'link'}_{stem}").strip("_")[:80]
    return f"{base}_{hashlib.sha256(url.encode()).hexdigest()[:8]}{suffix}"


def _suffix(content_type: str, url: str) -> str:
    kind = content_type.split(";")[0].strip().lower()
    if kind in _TYPES:
        return _TYPES[kind]
    path = urlsplit(url).path.lower()
    if kind in ("", "application/octet-stream", "binary/octet-stream"):
        for suffix in (".pdf", ".docx", ".html", ".htm", ".txt", ".md"):
            if path.endswith(suffix):
                return ".html" if suffix == ".htm" else suffix
    raise FetchError(f"not a web page, PDF, Word file or text (the server says {kind or 'nothing'})")


def fetch(url: str, *, timeout: float = 20.0, max_bytes: int = 10 * 2**20) -> Fetched:
    """Download one link. `timeout` bounds the whole download (connecting, redirects, reading)."""
    url = check_link(url)
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.5",
    })
    try:
        with _opener().open(request, timeout=timeout) as response:
            headers: Message = response.headers
            suffix = _suffix(headers.get("Content-Type", ""), response.geturl())
            declared = headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"larger than {max_bytes / 2**20:g} MB ({int(declared) / 2**20:.1f} MB)")
            chunks, size = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"timed out after {timeout:g} s")
                chunk = response.read1(64 * 1024)  # what has arrived: a drip cannot hold one read open
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"larger than {max_bytes / 2**20:g} MB")
                chunks.append(chunk)
            final = response.geturl()
            charset = headers.get_content_charset()
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:  # urllib refuses these itself: a redirect loop, too many, or another scheme
            scheme = urlsplit((exc.headers or {}).get("Location", "") or "").scheme.lower()
            if scheme and scheme not in ("http", "https"):
                raise FetchError(_refused(scheme)) from None
            raise FetchError(f"too many redirects (more than {MAX_REDIRECTS}, or a loop)") from None
        raise FetchError(f"the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, FetchError):
            raise reason from None
        if isinstance(reason, TimeoutError):
            raise FetchError(f"timed out after {timeout:g} s") from None
        raise FetchError(f"could not reach the link ({reason})") from None
    except TimeoutError:
        raise FetchError(f"timed out after {timeout:g} s") from None
    except (OSError, ValueError) as exc:  # connection reset, bad status line, malformed link
        raise FetchError(f"could not fetch the link ({exc.__class__.__name__}: {exc})") from None
    data = b"".join(chunks)
    if suffix in (".html", ".txt", ".md") and charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        with contextlib.suppress(LookupError, UnicodeDecodeError):  # kept as UTF-8: reading it later does not
            data = data.decode(charset).encode("utf-8")  # depend on the server's header
    if not data.strip():
        raise FetchError("the server sent an empty page")
    return Fetched(url=url, final_url=final, name=file_name(url, suffix), data=data)
