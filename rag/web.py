"""Fetching an article from a link (`rag add https://…`, the chat's URL box): once, when it is added; nothing is
fetched while answering.

Only http and https, in the link and in every redirect; at most MAX_REDIRECTS redirects; a time limit on the whole
download, not only on each read; a size limit; web pages, PDFs, Word files and plain text only. Only public
addresses are connected to (unless `allow_private`, RAG_FETCH_ALLOW_PRIVATE=1): loopback, private, link-local
(the cloud metadata address among them), shared, multicast, reserved and unspecified addresses are refused, IPv4
and IPv6, checked on the address each connection actually goes to — for the link and for every redirect — so a
name that resolves to an inside address, a DNS answer that changes between two looks (rebinding) or a redirect
cannot reach the intranet of the machine that runs the server. Without `allow_private` no proxy from the
environment is used (the check would see the proxy's address, not the page's). The page is kept as
a file in the uploads folder with the link recorded beside it (corpus.json), so it is re-read, not re-fetched, on
every later `rag index`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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


def address_refusal(ip: str) -> str | None:
    """Why a link may not connect to this address (None: a public address it may connect to)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for test, what in (("is_unspecified", "an unspecified"), ("is_loopback", "a loopback"),
                       ("is_link_local", "a link-local"), ("is_multicast", "a multicast"),
                       ("is_private", "a private"), ("is_reserved", "a reserved")):
        if getattr(address, test):
            return f"{what} address"
    return None if address.is_global else "a non-public address"


Policy = Callable[[str], "str | None"]


def _guarded_connection(refusal: Policy) -> Callable[..., socket.socket]:
    """socket.create_connection that connects only to addresses `refusal` lets through, trying each resolved
    address in turn: the address checked is the address connected to."""

    def create_connection(address: tuple[str, int], timeout: float | None = None,
                          source_address: tuple[str, int] | None = None, *_: object) -> socket.socket:
        host, port = address
        refused: list[tuple[str, str]] = []
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            ip = str(sockaddr[0])
            reason = refusal(ip)
            if reason:
                refused.append((ip, reason))
                continue
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        if error is not None:
            raise error
        if refused:
            ip, reason = refused[0]
            shown = host if host == ip else f"{host} ({ip})"
            raise FetchError(f"refused to connect to {shown}: {reason}; links may reach public addresses only "
                             "(RAG_FETCH_ALLOW_PRIVATE=1 lifts this on a machine whose network you trust)")
        raise OSError(f"{host} resolves to no address")

    return create_connection


def _opener(allow_private: bool = False, refusal: Policy = address_refusal) -> urllib.request.OpenerDirector:
    # No FileHandler/FTPHandler/DataHandler: build_opener's defaults would add them.
    opener = urllib.request.OpenerDirector()
    if allow_private:
        connections = (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler())
    else:
        connect = _guarded_connection(refusal)

        class Guarded(http.client.HTTPConnection):
            def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - http.client's signature
                super().__init__(*args, **kwargs)
                self._create_connection = connect  # http.client sets socket.create_connection per instance

        class GuardedTLS(http.client.HTTPSConnection):
            def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - http.client's signature
                super().__init__(*args, **kwargs)
                self._create_connection = connect

        class Plain(urllib.request.HTTPHandler):
            def http_open(self, req):  # noqa: ANN001, ANN201 - urllib's signature
                return self.do_open(Guarded, req)

        class TLS(urllib.request.HTTPSHandler):
            def https_open(self, req):  # noqa: ANN001, ANN201 - urllib's signature
                return self.do_open(GuardedTLS, req, context=self._context)

        connections = (urllib.request.ProxyHandler({}), Plain(), TLS())
    for handler in (*connections, urllib.request.HTTPDefaultErrorHandler(), _Redirects(),
                    urllib.request.HTTPErrorProcessor()):
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


def fetch(url: str, *, timeout: float = 20.0, max_bytes: int = 10 * 2**20, allow_private: bool = False,
          refusal: Policy = address_refusal) -> Fetched:
    """Download one link. `timeout` bounds the whole download (connecting, redirects, reading); only public
    addresses are connected to unless `allow_private` (`refusal` says which are not)."""
    url = check_link(url)
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.5",
    })
    try:
        with _opener(allow_private, refusal).open(request, timeout=timeout) as response:
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
