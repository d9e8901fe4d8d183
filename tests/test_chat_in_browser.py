"""The web chat for real: `python ui.py` in a subprocess (real model, real Chroma, first-run index build),
driven in a headless Chromium (Debian's `chromium`, via Playwright) and loaded by 8 concurrent HTTP clients."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from urllib.parse import urlparse

import pytest

from rag.launch import parse_auth
from rag.settings import Settings

from .helpers.web import CHROMIUM_FLAGS, chromium, free_port, start_ui, stop

pytestmark = [pytest.mark.integration, pytest.mark.browser]
QUESTION = "How much did trade between China and Russia reach last year?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python ui.py` on a free port with an empty index folder: it builds the bundled index, then serves."""
    home = tmp_path_factory.mktemp("web")
    port = free_port()
    log = home / "server.log"
    with open(log, "w") as out:
        try:
            # the URL-box test's web server is on loopback: links may reach it here (public addresses only else)
            proc = start_ui(home / "index", port, output=out, cwd=home, env={"RAG_FETCH_ALLOW_PRIVATE": "1"})
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log.read_text()[-3000:]}")
    try:
        yield f"http://127.0.0.1:{port}/", log, home
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser():
    executable = chromium()
    if executable is None:
        pytest.fail("Debian's chromium is needed for the browser tests: `apt-get install chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Watched:
    """A page that records every request and dialog; dialogs are dismissed unless `accept_dialogs` is set."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.accept_dialogs = False
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.goto(url)
        self.page.wait_for_selector("#question textarea")
        self.page.wait_for_selector("#chat")  # rendered apart from the box: on a busy machine, a moment later

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept() if self.accept_dialogs else dialog.dismiss()

    def off_machine(self) -> list[str]:
        return [u for u in self.requests if urlparse(u).hostname not in ("127.0.0.1", "localhost", None)
                and not u.startswith(("data:", "blob:"))]

    def ask(self, question: str) -> str:
        """Type, press Enter, wait for the finished answer; returns the last bot message's text."""
        page = self.page
        count = page.locator("#chat .bot").count()
        page.fill("#question textarea", question)
        page.press("#question textarea", "Enter")
        page.wait_for_function(
            """n => { const bots = document.querySelectorAll('#chat .bot');
                      return bots.length > n && !bots[bots.length - 1].innerText.includes('Searching the articles'); }""",
            arg=count, timeout=60000)
        page.wait_for_timeout(300)  # the final update (sources panel) lands with the last message
        return page.locator("#chat .bot").last.inner_text()


@pytest.fixture
def watched(browser, server):
    w = Watched(browser, server[0])
    yield w
    w.context.close()


def test_first_run_builds_the_bundled_index_with_a_message(server):
    url, log, home = server
    text = log.read_text()
    assert "building it from the bundled articles" in text and "5 articles indexed" in text, text[-2000:]
    assert (home / "index" / "chroma.sqlite3").exists()


def test_question_streams_a_cited_answer_and_opens_its_highlighted_source(watched):
    page = watched.page
    # Record every state the answer passes through, to see it stream (pending, then text, then the final).
    page.evaluate("""() => { window.__states = [];
        new MutationObserver(() => { const b = document.querySelectorAll('#chat .bot');
            if (b.length) { const t = b[b.length - 1].innerText;
                if (window.__states[window.__states.length - 1] !== t) window.__states.push(t); } })
        .observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true}); }""")
    text = watched.ask(QUESTION)
    assert "$240 billion" in text and "[1]" in text, text
    states = page.evaluate("window.__states")
    assert any("Searching the articles" in s for s in states) and len(states) >= 2, states
    page.locator("#chat a.cite").first.click()
    assert page.url.endswith("#src-1-1")
    source = page.locator("#sources #src-1-1")
    assert source.is_visible()
    mark = source.locator("mark")
    assert "$240 billion" in mark.inner_text(), "the exact quote is highlighted in the passage"
    assert mark.inner_text().strip() in text
    assert page.locator("#src-1-1:target").count() == 1, "the cited source is the target of the link"
    assert watched.off_machine() == [] and watched.dialogs == []


def test_example_questions_on_first_open_answer_when_clicked(watched):
    page = watched.page
    example = page.get_by_text("How much did trade between China and Russia reach last year?").first
    assert example.is_visible(), "example questions are shown on first open"
    example.click()
    page.wait_for_selector("#chat a.cite", timeout=60000)
    assert "$240 billion" in page.locator("#chat .bot").last.inner_text()


def test_abstention_is_an_answer_and_follow_ups_use_the_conversation(watched):
    assert "Kim Il Sung" in watched.ask("Who invaded South Korea with Soviet and Chinese support?")
    text = watched.ask("How was he related to the current North Korean leader?")
    assert "grandfather" in text, text
    assert "The articles don't say." in watched.ask("What is the capital of France?")
    assert watched.page.locator("#chat .abstain").count() == 1 and watched.page.locator("#chat .error").count() == 0


def test_upload_an_article_then_ask_about_it(watched, tmp_path):
    page = watched.page
    article = tmp_path / "lithium-deal.md"
    article.write_text("# The Lithium Accord\n\nBolivia agreed to sell 40,000 tonnes of lithium to Pyongyang "
                       "under the Lithium Accord signed in La Paz.\n", encoding="utf-8")
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_selector("#documents table")
    page.locator("#upload input[type=file]").set_input_files(str(article))
    page.wait_for_timeout(500)
    page.click("#add")
    page.wait_for_selector("#outcome table", timeout=120000)
    outcome = page.locator("#outcome").inner_text()
    assert "lithium-deal.md" in outcome and "added" in outcome, outcome
    assert "The Lithium Accord" in page.locator("#documents").inner_text()
    page.get_by_role("tab", name="Chat").click()
    text = watched.ask("How much lithium did Bolivia agree to sell to Pyongyang?")
    assert "40,000 tonnes" in text, text
    assert "The Lithium Accord" in page.locator("#sources").inner_text()


def test_remove_an_article_after_confirming(watched, tmp_path):
    page = watched.page
    article = tmp_path / "doomed.md"
    article.write_text("# The Doomed Memo\n\nA memo about tungsten quotas between Hanoi and Vientiane.\n", encoding="utf-8")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(article))
    page.wait_for_timeout(500)
    page.click("#add")
    page.wait_for_selector("#outcome table", timeout=120000)
    assert "The Doomed Memo" in page.locator("#documents").inner_text()

    def choose_and_remove() -> None:
        page.locator("#remove-choice input").click()
        page.get_by_role("option", name=re.compile("The Doomed Memo")).click()
        page.click("#remove")
        page.wait_for_timeout(1500)

    choose_and_remove()  # the confirm dialog is dismissed: nothing is removed, and the page stays usable
    assert watched.dialogs == ["Remove this article from the index?"]
    assert "Nothing removed" in page.locator("#outcome").inner_text()
    assert "The Doomed Memo" in page.locator("#documents").inner_text()
    watched.accept_dialogs = True
    choose_and_remove()
    page.wait_for_function("() => document.querySelector('#outcome').innerText.includes('Removed')")
    assert "Removed The Doomed Memo" in page.locator("#outcome").inner_text()
    assert "The Doomed Memo" not in page.locator("#documents").inner_text()


def test_a_scoped_question_cites_only_the_ticked_article_until_every_article_is_asked_again(watched):
    """Articles tab: a filter that names nobody is an error naming it; ticking an article and "Ask only these"
    shows the scope above the question box; the answer and a follow-up cite only that article (unscoped, another
    copy of the same sentence is cited); "Ask every article" clears it."""
    page = watched.page
    copy = "004_53b3ae9ca0e733ff.txt"  # The Atlantic's copy of the article the unscoped answer cites
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_selector("#documents table")
    page.locator("#filter").locator("textarea, input").first.fill('author:"Jane Doe"')
    page.click("#scope-set")
    page.wait_for_function("document.querySelector('#scope-note').innerText.includes('Jane Doe')")
    assert "No article by 'Jane Doe'" in page.inner_text("#scope-note")
    page.locator("#filter").locator("textarea, input").first.fill("")
    page.get_by_label(re.compile(re.escape(copy))).check()
    page.click("#scope-set")
    page.wait_for_function("document.querySelector('#scope-note').innerText.includes('1 article will be asked')")
    page.get_by_role("tab", name="Chat").click()
    assert "Asking only 1 article" in page.inner_text("#scope") and copy in page.inner_text("#scope")
    text = watched.ask(QUESTION)
    assert "$240 billion" in text, text
    sources = page.inner_text("#sources")
    assert copy in sources and "Is that really what" not in sources, sources
    watched.ask("What did it say about Chinese exports?")  # a follow-up keeps the scope
    latest = page.locator("#sources details").first.inner_text()
    assert "Is that really what" not in latest and "Asking only 1 article" in page.inner_text("#scope"), latest
    page.click("#scope-clear")
    page.wait_for_function("!document.querySelector('#scope').innerText.includes('Asking only')")
    watched.ask(QUESTION)
    assert "Is that really what" in page.locator("#sources details").first.inner_text()
    assert watched.off_machine() == []


def test_injected_markup_in_an_article_renders_inert(watched, tmp_path):
    page = watched.page
    evil = tmp_path / "evil-article.txt"
    evil.write_text(
        'Zanzibar smugglers shipped cobalt <img src="http://evil.example/x.png" onerror="window.__pwned=1"> '
        "to Pyongyang last winter.\n\nA Zanzibar report ![pixel](http://evil.example/pixel.png) says the cobalt "
        "was hidden in tea crates <script>window.__pwned=2</script> bound for Pyongyang.\n", encoding="utf-8")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(evil))
    page.wait_for_timeout(500)
    page.click("#add")
    page.wait_for_selector("#outcome table", timeout=120000)
    assert "added" in page.locator("#outcome").inner_text()
    page.get_by_role("tab", name="Chat").click()
    text = watched.ask("What did Zanzibar smugglers ship to Pyongyang?")
    page.locator("#chat a.cite").last.click()
    sources = page.locator("#sources").inner_text()
    assert "<img" in text + sources or "![pixel]" in text + sources, "the markup shows as text"
    assert page.evaluate("window.__pwned") is None, "no script from an article ran"
    assert page.locator("#chat img, #sources img").count() == 0, "no image from an article was rendered"
    assert page.locator("#chat script, #sources script").count() == 0
    assert not [u for u in watched.requests if "evil.example" in u], "nothing was fetched"
    assert watched.off_machine() == [] and watched.dialogs == []


def test_eight_concurrent_clients_are_all_answered(server):
    """8 HTTP clients (Gradio's own client, over loopback) each ask at once: all answered, none errored."""
    from gradio_client import Client

    url = server[0]
    questions = [QUESTION, "Who invaded South Korea with Soviet and Chinese support?",
                 "Which four states have cooperated in the war in Ukraine?", "What is the capital of France?"] * 2
    results: list[object] = [None] * len(questions)
    start = threading.Barrier(len(questions))

    def client(i: int) -> None:
        try:
            c = Client(url, verbose=False)
            start.wait()
            results[i] = c.predict(questions[i], [], 5, "Extractive (exact quotes)", False, api_name="/ask")
        except Exception as exc:  # recorded, asserted below
            results[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    errors = [r for r in results if not isinstance(r, tuple)]
    assert not errors, errors
    for q, (chat, sources, _box) in zip(questions, results, strict=True):
        reply = chat[-1]["content"][0]["text"]
        assert "error" not in reply, reply
        if "France" in q:
            assert 'class="abstain"' in reply
        else:
            assert 'class="cite"' in reply and "<mark>" in sources, (q, reply)


@contextlib.contextmanager
def tiny_chat(tmp_path, assistant_class=None, auth=None, **extra):
    """The chat served in this process on a one-article index with the fake embedder; yields its URL."""
    from rag import Assistant, Settings
    from rag import chat as ui

    from .conftest import fake_embedder

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Trade between China and Russia reached a record level last year.", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", quiet=True, abstain_threshold=0.0, **extra)
    a = (assistant_class or Assistant)(settings=settings, embedder=fake_embedder(), auto_build=False)
    a.index([folder], progress=False)
    app = ui.build_app(a)
    port = free_port()
    ui.launch(app, port=port, block=False, quiet=True, auth=auth)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def ask_over_http(client):
    from rag import chat as ui

    return client.predict("How much trade?", [], 5, ui.EXTRACTIVE, False, api_name="/ask")


def test_queue_is_bounded(tmp_path):
    """With answers slowed to 1.5 s, 30 requests at once: at most Settings.chat_queue wait and Settings.api_workers run;
    the rest are refused at once with a "queue is full" error instead of piling up. All accepted ones answer."""
    from gradio_client import Client

    from rag import Assistant
    from rag import chat as ui

    class Slow(Assistant):
        def stream(self, question, history=None, k=None, **kwargs):
            time.sleep(1.5)
            yield from super().stream(question, history, k, **kwargs)

    with tiny_chat(tmp_path, Slow) as url:
        c = Client(url, verbose=False)
        jobs = [c.submit("How much trade?", [], 5, ui.EXTRACTIVE, False, api_name="/ask") for _ in range(30)]
        ok, refused = [], []
        for job in jobs:
            try:
                ok.append(job.result(timeout=120))
            except Exception as exc:  # the client raises for a refused job
                refused.append(str(exc))
    assert refused and all("queue" in r.lower() and "full" in r.lower() for r in refused), refused[:3]
    assert len(ok) <= Settings().chat_queue + Settings().api_workers, len(ok)
    assert all('class="cite"' in r[0][-1]["content"][0]["text"] for r in ok)


def test_password_from_rag_ui_auth(tmp_path):
    """With auth set, the API refuses a client without the password and answers one with it."""
    from gradio_client import Client


    with tiny_chat(tmp_path, auth=parse_auth("analyst:s3cret")) as url:
        with pytest.raises(Exception, match="credentials were not provided"):
            ask_over_http(Client(url, verbose=False))
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("analyst", "wrong"), verbose=False)
        chat, _, _ = ask_over_http(Client(url, auth=("analyst", "s3cret"), verbose=False))
        assert 'class="cite"' in chat[-1]["content"][0]["text"]


def test_the_chat_mounted_under_rag_serve_answers_in_a_browser(browser, server, tmp_path):
    """`rag serve` serves the same chat at / beside the API: asked in a real browser, it answers with citations
    and fetches nothing off the machine; the API answers the same on the same port."""
    from .helpers.service import start_service
    from .helpers.service import stop as stop_service

    port = free_port()
    with open(tmp_path / "serve.log", "w") as out:
        proc = start_service(server[2] / "index", port, output=out)
    try:
        import httpx

        w = Watched(browser, f"http://127.0.0.1:{port}/")
        try:
            text = w.ask(QUESTION)
            assert "$240 billion" in text and "[1]" in text, text
            assert w.off_machine() == [], w.off_machine()
            api = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                             json={"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}).json()
            assert "$240 billion" in api["choices"][0]["message"]["content"]
        finally:
            w.context.close()
    finally:
        assert stop_service(proc) == 0, (tmp_path / "serve.log").read_text()[-3000:]


def test_add_a_link_then_ask_about_it(watched):
    """The URL box: the chat's server fetches a page from a web server on loopback (its menu and footer left
    out), indexes it, and answers from it with the link shown on the source; the browser never loads the page."""
    import http.server

    page_html = (
        b"<html><head><title>Tin Quota Talks</title></head><body>"
        b"<nav><a href='/'>Home</a> | <a href='/markets'>Markets</a></nav>"
        b"<div class='cookie-banner'>We use cookies. The harbour master of Oslo owns a purple bicycle.</div>"
        b"<article><h1>Tin Quota Talks</h1>"
        b"<p>Myanmar and Laos agreed on Friday to cap tin exports to Vietnam at 12,500 tonnes a year, officials said.</p>"
        b"<p>The quota talks were held in Vientiane and lasted three days, according to the trade ministry.</p>"
        b"<p>Analysts expect prices for refined tin to rise once the cap takes effect in the spring.</p>"
        b"</article><footer>Copyright The Example Gazette.</footer></body></html>")

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page_html)))
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    link = f"http://127.0.0.1:{site.server_port}/news/tin-quota.html"
    try:
        page = watched.page
        page.get_by_role("tab", name="Articles").click()
        page.wait_for_selector("#documents table")
        page.fill("#link textarea", link)
        page.click("#add-link")
        page.wait_for_selector("#outcome table", timeout=120000)
        outcome = page.locator("#outcome").inner_text()
        assert link in outcome and "added" in outcome, outcome
        assert link in page.locator("#documents").inner_text()
        assert page.locator("#link textarea").input_value() == ""
        page.get_by_role("tab", name="Chat").click()
        text = watched.ask("How much tin may Myanmar and Laos export to Vietnam each year?")
        assert "12,500 tonnes" in text, text
        assert link in page.locator("#sources").inner_text()
        assert "The articles don't say." in watched.ask("What colour is the Oslo harbour master's bicycle?")
        assert not any(u.startswith(link) for u in watched.requests), "the browser never fetched the page itself"
    finally:
        site.shutdown()
        site.server_close()


def test_the_collection_picker_answers_from_the_chosen_collection(browser, tmp_path):
    """With a second collection the chat shows a collection picker; choosing it starts a new conversation that
    answers from that collection only, and the Articles tab lists its articles. A question typed before the
    choice is kept (the choice's reply used to empty the box, and a question typed meanwhile went out empty)."""
    with tiny_chat(tmp_path) as url:
        from rag import Assistant, Settings

        from .conftest import fake_embedder

        other = Assistant(settings=Settings(index_dir=tmp_path / "index", quiet=True, abstain_threshold=0.0),
                          collection="alpha", embedder=fake_embedder(), auto_build=False)
        other.upload([("memo.txt", b"Alpha memo\n\nThe alpha project shipped 40 widgets to Lisbon in May.\n")])
        w = Watched(browser, url)
        try:
            page = w.page
            question = "How many widgets did the alpha project ship to Lisbon?"
            assert "a.txt" in w.ask("How much trade?"), "the first conversation answers from the first collection"
            page.fill("#question textarea", question)
            page.locator("#collection input").click()
            page.get_by_role("option", name="alpha").click()
            # The choice's handlers have all run once the Articles tab lists the chosen collection.
            page.get_by_role("tab", name="Articles").click()
            page.wait_for_function("document.querySelector('#documents').innerText.includes('Alpha memo')",
                                   timeout=30_000)
            assert "Trade between China" not in page.inner_text("#documents")
            page.get_by_role("tab", name="Chat").click()
            assert page.locator("#chat .bot").count() == 0, "another collection, another conversation"
            assert page.input_value("#question textarea") == question
            text = w.ask(question)
            assert "40 widgets" in text, text
            assert w.off_machine() == []
        finally:
            w.context.close()


def test_chat_users_of_the_keys_file_log_in_to_their_own_collections(tmp_path):
    """A chat user named by a key (chat_user, chat_password_sha256) logs in with their password and reads only
    that key's collections: asked of their collection, the chat answers; asked of another, it says there is no
    such collection. A wrong password does not log in."""
    import hashlib

    from gradio_client import Client

    from rag import Assistant, Settings
    from rag import chat as ui
    from rag.launch import auth_of

    from .conftest import fake_embedder

    keys = tmp_path / "keys.toml"
    digest = hashlib.sha256(b"maria-pass").hexdigest()
    keys.write_text('[[key]]\ntoken = "maria-token-0123456789"\ncollections = ["alpha"]\nchat_user = "maria"\n'
                    f'chat_password_sha256 = "{digest}"\n', encoding="utf-8")
    Assistant(settings=Settings(index_dir=tmp_path / "index"), collection="alpha", embedder=fake_embedder(),
              auto_build=False).upload([("memo.txt", b"Alpha memo\n\nThe alpha project shipped 40 widgets.\n")])
    login = auth_of(Settings(api_keys=keys))
    with tiny_chat(tmp_path, auth=login, api_keys=keys) as url:
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("maria", "wrong"), verbose=False)
        client = Client(url, auth=("maria", "maria-pass"), verbose=False)
        chat, _, _ = client.predict("How many widgets did the alpha project ship?", [], 5, ui.EXTRACTIVE,
                                    False, "alpha", api_name="/ask")
        assert "40 widgets" in chat[-1]["content"][0]["text"]
        chat, _, _ = client.predict("How much trade?", [], 5, ui.EXTRACTIVE, False, "default",
                                    api_name="/ask")
        assert "No collection" in chat[-1]["content"][0]["text"]
