"""Articles added from links (`rag add https://…`, Assistant.add_links), against a real HTTP server on loopback that
serves real saved pages from the extraction benchmark, and misbehaves on purpose: redirects to other schemes,
redirect loops, pages too large, pages that drip, wrong types, errors."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import Assistant, Settings
from rag.cli import cli
from rag.load import read_article
from rag.web import FetchError, check_link, fetch, file_name, is_link

from .conftest import fake_embedder
from .test_documents import originals, to_pdf

PAGES = Path(__file__).resolve().parents[1] / "evals" / "data" / "extraction"
PAGE_ID = "aeb-06ee193de4bd611f"  # a saved news article (VW ID.3), one of the benchmark's pages


def saved(page_id: str = PAGE_ID) -> tuple[bytes, list[str]]:
    row = next(json.loads(line) for line in (PAGES / "snippets.jsonl").open() if json.loads(line)["id"] == page_id)
    return gzip.open(PAGES / "pages" / f"{page_id}.html.gz").read(), row["keep"]


class Site(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        if self.path == "/drip":  # a byte every 0.2 s for ever: each read is quick, the whole never ends
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"<p>x</p>")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            return
        if self.path == "/huge":  # no Content-Length: the limit must hold while reading
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(3 * 1024):
                    self.wfile.write(b"<p>" + b"a" * 1020 + b"</p>")
            except OSError:
                pass
            return
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The misbehaving site on 127.0.0.1; links may reach it because RAG_FETCH_ALLOW_PRIVATE=1 (the tests of the
    address guard below use it without)."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAG_FETCH_ALLOW_PRIVATE", "1")
    page, _ = saved()
    pdf = Path(__file__).parent / "_link.pdf"
    to_pdf(originals()[0].text, pdf)
    Site.routes = {
        "/news/vw-id3.html": (200, {"Content-Type": "text/html; charset=utf-8"}, page),
        "/moved": (301, {"Location": "/news/vw-id3.html"}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/to-ftp": (302, {"Location": "ftp://127.0.0.1/secret.txt"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/logo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
        "/report.pdf": (200, {"Content-Type": "application/pdf"}, pdf.read_bytes()),
        "/big-declared": (200, {"Content-Type": "text/html"}, b"<p>" + b"b" * (2 * 2**20) + b"</p>"),
        "/latin1": (200, {"Content-Type": "text/html; charset=iso-8859-1"},
                    "<html><body><p>Caf\u00e9 owners in M\u00fcnster met the mayor on Tuesday to discuss rents "
                    "and the new parking rules.</p></body></html>".encode("latin-1")),
    }
    pdf.unlink()
    Site.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def make(tmp_path: Path, **settings: object) -> Assistant:
    return Assistant(settings=Settings(index_dir=tmp_path / "index", **settings), embedder=fake_embedder(),
                     auto_build=False)


def test_a_saved_page_is_fetched_once_read_to_its_main_text_and_kept_with_its_link(tmp_path, site):
    a = make(tmp_path)
    link = f"{site}/news/vw-id3.html"
    report = a.add_links([link])
    assert [(f.path, f.status) for f in report.files] == [(link, "added")]
    (doc,) = a.documents()
    assert doc.url == link and doc.format == "html" and Path(doc.path).parent == a.uploads_dir
    _, keep = saved()
    text = " ".join(read_article(Path(doc.path)).text.split())
    assert sum(snippet in text for snippet in keep) >= 3  # the article's own sentences, as the benchmark has them
    # Read again, not fetched again: a rebuild from the folders keeps the page and its link with the server gone.
    hits = len(Site.hits)
    report = a.index(rebuild=True, progress=False)
    assert len(Site.hits) == hits
    assert any(d.url == link for d in a.documents())
    # The same link again is the same file: unchanged, not a second article.
    assert [f.status for f in a.add_links(link).files] == ["unchanged"]
    assert len([d for d in a.documents() if d.url]) == 1
    # Removing it forgets the page and its link.
    a.remove(doc.doc_id)
    assert not Path(doc.path).exists()
    assert json.loads((a.uploads_dir / "corpus.json").read_text()) == {}


def test_redirects_are_followed_only_to_http_and_only_a_few_times(tmp_path, site):
    a = make(tmp_path)
    report = a.add_links([f"{site}/moved", f"{site}/to-file", f"{site}/to-ftp", f"{site}/loop"])
    outcome = {f.path.rsplit("/", 1)[-1]: (f.status, f.reason) for f in report.files}
    assert outcome["moved"][0] == "added"
    assert outcome["to-file"] == ("skipped", "refused a redirect to a file link: only http and https are followed")
    assert outcome["to-ftp"][1].startswith("refused a redirect to a ftp link")
    assert outcome["loop"][0] == "skipped" and "redirect" in outcome["loop"][1]
    assert len(a.documents()) == 1


def test_bad_links_get_one_line_reasons_and_the_rest_is_added(tmp_path, site):
    a = make(tmp_path, fetch_timeout=2.0, max_file_mb=1.0)
    links = ["file:///etc/passwd", "ftp://example.org/a.txt", "http://", f"{site}/logo.png", f"{site}/nowhere",
             f"{site}/big-declared", f"{site}/huge", f"{site}/drip", "http://127.0.0.1:9/closed",
             f"{site}/report.pdf", f"{site}/latin1"]
    started = time.monotonic()
    report = a.add_links(links)
    assert time.monotonic() - started < 60  # the drip is cut at the time limit; nothing hangs
    reasons = {f.path: f.reason for f in report.files if f.status == "skipped"}
    assert reasons["file:///etc/passwd"] == "only http and https links can be added, not file"
    assert reasons["ftp://example.org/a.txt"] == "only http and https links can be added, not ftp"
    assert reasons["http://"] == "the link names no host"
    assert reasons[f"{site}/logo.png"].startswith("not a web page, PDF, Word file or text (the server says image/png)")
    assert reasons[f"{site}/nowhere"] == "the server answered 404 Not Found"
    assert reasons[f"{site}/big-declared"].startswith("larger than 1 MB")
    assert reasons[f"{site}/huge"] == "larger than 1 MB"
    assert reasons[f"{site}/drip"] == "timed out after 2 s"
    assert reasons["http://127.0.0.1:9/closed"].startswith("could not reach the link")
    assert all("\n" not in r for r in reasons.values())
    added = {f.path for f in report.files if f.status == "added"}
    assert added == {f"{site}/report.pdf", f"{site}/latin1"}
    docs = {d.url: d for d in a.documents()}
    assert docs[f"{site}/report.pdf"].format == "pdf" and docs[f"{site}/report.pdf"].pages >= 1
    assert "Café owners in Münster" in Path(docs[f"{site}/latin1"].path).read_text("utf-8")


def test_link_helpers():
    assert is_link("https://example.org/a") and is_link("ftp://x") and not is_link("articles/a.txt")
    assert not is_link("C:\\articles\\a.txt")
    assert check_link("  https://example.org/a  ") == "https://example.org/a"
    with pytest.raises(FetchError, match="not javascript"):
        check_link("javascript:alert(1)")
    name = file_name("https://www.example.org/news/2024/story.html?id=3", ".html")
    assert name.startswith("www_example_org_story_") and name.endswith(".html")
    assert name != file_name("https://www.example.org/news/2024/story.html?id=4", ".html")
    with pytest.raises(FetchError):
        fetch("http://127.0.0.1:9/", timeout=2, allow_private=True)


# ---------------------------------------------------------------- only public addresses


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1",
                                "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::", "ff02::1"])
def test_inside_addresses_are_refused(ip):
    from rag.web import address_refusal

    assert address_refusal(ip), ip


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_not(ip):
    from rag.web import address_refusal

    assert address_refusal(ip) is None


def test_a_link_to_this_machine_is_refused_with_its_reason(tmp_path, site, monkeypatch):
    monkeypatch.delenv("RAG_FETCH_ALLOW_PRIVATE")
    a = make(tmp_path)
    report = a.add_links([f"{site}/news/vw-id3.html", "http://localhost:9/x", "http://[::1]:9/x",
                          "http://169.254.169.254/latest/meta-data/"])
    reasons = {f.path: f.reason for f in report.skipped}
    assert len(reasons) == 4 and report.added == 0
    assert all(r.startswith("refused to connect to") and "RAG_FETCH_ALLOW_PRIVATE" in r for r in reasons.values())
    assert "a loopback address" in reasons["http://localhost:9/x"] and "link-local" in \
        reasons["http://169.254.169.254/latest/meta-data/"]
    assert Site.hits == []  # nothing reached the server


def test_the_address_connected_to_is_checked_redirects_and_rebinding_included(site, monkeypatch):
    """With a policy that calls 127.0.0.1 "public" and 127.0.0.2 "inside" (both reach the test server's machine):
    a redirect to the inside address is refused on connect, and so is a name whose DNS answer is the inside address
    (a rebinding answer given after any earlier look) — the address checked is the address connected to."""
    import socket

    monkeypatch.delenv("RAG_FETCH_ALLOW_PRIVATE")
    port = int(site.rsplit(":", 1)[1])

    def policy(ip: str) -> str | None:
        return "an inside address" if ip == "127.0.0.2" else None

    Site.routes["/to-inside"] = (302, {"Location": f"http://127.0.0.2:{port}/news/vw-id3.html"}, b"")
    assert fetch(f"{site}/news/vw-id3.html", timeout=5, refusal=policy).data  # "public": fetched
    with pytest.raises(FetchError, match="refused to connect to 127.0.0.2: an inside address"):
        fetch(f"{site}/to-inside", timeout=5, refusal=policy)
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        return real("127.0.0.2" if host == "news.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(FetchError, match=r"refused to connect to news.example \(127.0.0.2\)"):
        fetch(f"http://news.example:{port}/news/vw-id3.html", timeout=5, refusal=policy)


def test_rag_add_takes_links_and_paths_together(tmp_path, site, monkeypatch):
    monkeypatch.setattr("rag.assistant.load_embedder", lambda *a, **k: fake_embedder())
    note = tmp_path / "note.txt"
    note.write_text(originals()[1].text, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["add", "-q", f"{site}/news/vw-id3.html", str(note), f"{site}/logo.png"])
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    assert f"skipped {site}/logo.png: not a web page" in result.output
    listing = runner.invoke(cli, ["docs"]).output
    assert "(html, " in listing and f"    from {site}/news/vw-id3.html\n" in listing  # `rag docs` names the link
    assert listing.count("    from ") == 1  # ...and only for the article that came from one
    result = runner.invoke(cli, ["add", "-q", "file:///etc/passwd"])
    assert result.exit_code != 0
    assert "only http and https links can be added" in result.output


def test_the_chat_url_box_adds_links_and_keeps_the_ones_that_failed(tmp_path, site):
    from rag import chat as ui

    chat = ui.WebChat(make(tmp_path))
    good, bad = f"{site}/news/vw-id3.html", f"{site}/to-file"
    outcome, listing, _, left = chat.add_links(f"{good}\n  {bad} ")
    assert "added" in outcome and "refused a redirect to a file link" in outcome
    assert left == bad  # what failed stays in the box to correct; what worked is cleared
    assert f'<a href="{good}" target="_blank" rel="noopener noreferrer nofollow">' in listing and "html" in listing
    outcome, _, _, left = chat.add_links("   ")
    assert "Paste a link first" in outcome and left == "   "
    evil = 'https://x.example/"><script>alert(1)</script>'
    assert "<script>" not in ui.link_html(evil) and ui.link_html("javascript:alert(1)") == "javascript:alert(1)"
