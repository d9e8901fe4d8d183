"""The web chat's handlers, called directly (no server, no browser), on a small index with the fake embedder.
The browser and HTTP tests are in tests/test_chat_in_browser.py."""

import sys

import pytest

from rag import ABSTAIN_TEXT, Answer, Assistant, Citation, DocumentInfo, Settings
from rag.launch import parse_auth
from rag.load import safe_name

from .conftest import fake_embedder
from .helpers.web import free_port

ui = pytest.importorskip("rag.chat")

TRADE = "Trade between China and Russia reached a record 240 billion dollars last year. Officials praised it."
EVIL = (
    'The evil tag <img src=x onerror="alert(1)"> appears in this sentence about trade.\n\n'
    "A markdown image ![x](http://evil.example/pixel.png) and a [link](javascript:alert(2)) follow here.\n\n"
    "<script>alert(3)</script> Scripts must never run from the stored articles about trade."
)


@pytest.fixture
def articles(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "trade.txt").write_text(TRADE, encoding="utf-8")
    (folder / "evil.txt").write_text(EVIL, encoding="utf-8")  # markup as the text of an article
    (folder / "page.html").write_text("<html><head><title>Evil &lt;b&gt;title</title></head><body><p>A page "
                                      "about weather in the mountains, with &lt;img src=y onerror=alert(4)&gt; "
                                      "in its text.</p></body></html>", encoding="utf-8")
    return folder


@pytest.fixture
def chat(tmp_path, articles):
    # The fake embedder's scores are low: a low threshold lets these tests see answers (quality is tested elsewhere).
    settings = Settings(index_dir=tmp_path / "index", quiet=True, abstain_threshold=0.2)
    a = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    a.index([articles], progress=False)
    return ui.WebChat(a)


def run(chat, question, turns=None, **kw):
    """All the updates of one answer, and the last one."""
    updates = list(chat.respond(question, [], turns or [], **kw))
    return updates, updates[-1]


def test_build_app_returns_the_app_without_launching(tmp_path):
    app = ui.build_app(Assistant(index_dir=tmp_path / "i", embedder=fake_embedder()))
    assert app.__class__.__name__ == "Blocks" and "gradio" in sys.modules
    assert app._queue.max_size == Settings().chat_queue and not app.is_running
    assert "flag" not in str(app.get_config_file()).lower()


def test_answer_streams_with_linked_citations_and_sources(chat):
    updates, (history, turns, sources, box) = run(chat, "How much did trade between China and Russia reach?")
    assert len(updates) >= 3, "a pending message, at least one piece, then the final answer"
    assert "Searching the articles" in updates[0][0][-1]["content"]
    assert box == "" and history[0] == {"role": "user", "content": "How much did trade between China and Russia reach?"}
    answer = turns[-1]
    assert isinstance(answer, Answer) and not answer.abstained
    assert '<a class="cite" href="#src-1-1"' in history[-1]["content"]
    assert 'id="src-1-1"' in sources and "<mark>" in sources
    c = answer.citations[0]
    assert f"<mark>{ui.esc(c.quote)}</mark>" in sources, "the exact quote is highlighted in its passage"


def test_follow_up_uses_the_turns_so_far(chat):
    _, (_, turns, _, _) = run(chat, "How much did trade between China and Russia reach?")
    _, (history, turns2, sources, _) = run(chat, "And what did officials do about it?", turns)
    assert len(turns2) == 2 and "trade between China and Russia" in turns2[-1].query
    assert 'id="src-2-1"' in sources and "<details open><summary><b>Q2:" in sources


def test_article_markup_is_inert_in_chat_and_sources(chat):
    _, (history, turns, sources, _) = run(chat, "evil tag sentence about trade markdown image script")
    page = history[-1]["content"] + sources
    for dangerous in ("<img", "<script", "<a href=\"javascript", "<a href=\"http", 'onerror="'):
        assert dangerous not in page, dangerous
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page and "![x](http://evil.example/pixel.png)" in page
    listing, _ = chat.documents_view()
    assert "Evil &lt;b&gt;title" in listing and "<b>title" not in listing


def test_abstention_reads_as_an_answer_not_an_error():
    answer = Answer(ABSTAIN_TEXT, [], True, "What is the capital of France?", "q")
    out = ui.answer_html(answer, 1)
    assert 'class="abstain"' in out and ABSTAIN_TEXT.replace("'", "&#x27;") in out and "error" not in out
    assert "No sources" in ui.sources_html([answer], {})


def test_an_abstention_links_the_closest_passage_marked_not_an_answer():
    closest = Citation(1, "d1", "Trade <b>report</b>", "", "", "Trade grew.", "Before. Trade grew. After.", 8, 19, 0.1,
                       not_answer=True)
    answer = Answer(f"{ABSTAIN_TEXT} The closest passage…", [closest], True, "How much oil?", "q", confidence=0.01)
    out = ui.answer_html(answer, 3)
    assert 'href="#src-3-1"' in out and "does not answer" in out and "Trade &lt;b&gt;report" in out
    sources = ui.sources_html([answer], {})
    assert "not an answer" in sources and "<mark>Trade grew.</mark>" in sources and 'id="src-1-1"' in sources


def test_a_short_answer_is_shown_in_bold_above_the_quotes():
    quote = Citation(1, "d1", "T", "", "", "Trade reached $240 billion.", "Trade reached $240 billion.", 0, 27, 0.9)
    answer = Answer("Trade reached $240 billion. [1]", [quote], False, "How much?", "q", confidence=0.8,
                    short="$240 billion")
    out = ui.answer_html(answer, 1)
    assert out.index("<b>$240 billion</b>") < out.index("Trade reached")
    answer.timings = {"retrieve_ms": 10.0, "answer_ms": 2.0, "total_ms": 12.0}
    assert "confidence 0.80" in ui.answer_html(answer, 1, show_scores=True)


def test_errors_are_messages_in_the_chat(chat):
    _, (history, turns, _, _) = run(chat, "x" * 5000)
    assert 'class="error"' in history[-1]["content"] and "limit" in history[-1]["content"] and turns == []
    _, (history, _, _, _) = run(chat, "How much trade?", backend="LLM: none")
    assert "No generative backend is configured" in history[-1]["content"]
    assert list(chat.respond("   ", [], [])) and list(chat.respond("   ", [], []))[-1][0] == []


def test_unexpected_failure_is_a_readable_message_not_a_traceback(chat, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")
        yield  # a generator, as stream is

    monkeypatch.setattr(chat.assistant, "stream", broken)
    _, (history, _, _, _) = run(chat, "How much trade?")
    assert "Something went wrong" in history[-1]["content"] and "ZeroDivisionError" in history[-1]["content"]
    assert "Traceback" not in history[-1]["content"]


def test_dead_backend_falls_back_with_a_note(tmp_path, articles):
    port = free_port()  # nobody listens there
    settings = Settings(index_dir=tmp_path / "index", quiet=True, llm=f"openai:http://127.0.0.1:{port}/v1:m", llm_timeout=5)
    a = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    a.index([articles], progress=False)
    web = ui.WebChat(a)
    assert web.backends == [ui.EXTRACTIVE, f"LLM: {settings.llm}"]
    _, (history, turns, _, _) = run(web, "How much did trade between China and Russia reach?", backend=web.backends[1])
    assert 'class="note"' in history[-1]["content"] and "generative backend failed" in history[-1]["content"]
    assert turns[-1].citations, "the extractive answer is shown instead"


def test_scores_and_timings_shown_on_request(chat):
    _, (history, turns, sources, _) = run(chat, "How much did trade between China and Russia reach?", show_scores=True)
    assert "score 0." in sources and "retrieval" in history[-1]["content"]
    plain, plain_sources = chat.rerender(turns, False)
    assert "score 0." not in plain_sources and "retrieval" not in plain[-1]["content"]


def test_upload_reports_each_file_and_indexes_it(chat, tmp_path):
    up = tmp_path / "upload"
    up.mkdir()
    new = up / "lithium.md"
    new.write_text("# Lithium deal\n\nBolivia agreed to sell lithium to Pyongyang in a secret 2031 accord.", encoding="utf-8")
    bad = up / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4")
    empty = up / "empty.txt"
    empty.write_text("", encoding="utf-8")
    tool = up / "tool.exe"
    tool.write_bytes(b"MZ")
    result, listing, choices, cleared = chat.add_files([str(new), str(bad), str(empty), str(tool)])
    assert cleared is None
    assert "lithium.md</td><td><b>added" in result
    assert "notes.pdf</td><td><b>skipped</b></td><td>unreadable PDF" in result
    assert "tool.exe</td><td><b>skipped</b></td><td>not one of .txt, .md, .html, .pdf, .docx" in result
    assert "empty.txt</td><td><b>skipped" in result
    assert "Lithium deal" in listing and "4 articles indexed" in listing
    assert (chat.uploads / "lithium.md").is_file()
    _, (history, turns, sources, _) = run(chat, "What did Bolivia agree to sell to Pyongyang?")
    assert "Bolivia agreed to sell lithium" in history[-1]["content"] and "Lithium deal" in sources

    again, _, _, _ = chat.add_files([str(new)])
    assert "<b>unchanged</b></td><td>already indexed: Lithium deal" in again
    new.write_text("# Lithium deal\n\nBolivia agreed to sell lithium to Pyongyang in a 2032 accord.", encoding="utf-8")
    changed, listing, _, _ = chat.add_files([str(new)])
    assert "<b>updated</b>" in changed and "4 articles indexed" in listing

    chat.assistant.index(progress=False)  # `rag index` with no paths: the bundled corpus and the uploads
    paths = [d.path for d in chat.assistant.documents()]
    assert str(chat.uploads / "lithium.md") in paths and len(paths) == 6, paths


def test_upload_limits_and_names(chat, tmp_path):
    chat.assistant.settings.max_file_mb = 0.001
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000, encoding="utf-8")
    result, _, _, _ = chat.add_files([str(big)])
    assert "larger than 0.001 MB" in result
    assert "Choose files first" in chat.add_files(None)[0]
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name(".hidden.md") == "hidden.md" and safe_name("a b<c>.txt") == "a_b_c_.txt"


def test_remove_deletes_the_article_and_its_uploaded_copy(chat, tmp_path):
    up = tmp_path / "a.txt"
    up.write_text("Bolivia agreed to sell lithium to Pyongyang in a secret accord.", encoding="utf-8")
    chat.add_files([str(up)])
    doc = next(d for d in chat.assistant.documents() if d.path.endswith("uploads/a.txt"))
    message, listing, choices = chat.remove(doc.doc_id)
    assert "Removed" in message and not (chat.uploads / "a.txt").exists()
    assert doc.doc_id not in {d.doc_id for d in chat.assistant.documents()}
    assert doc.doc_id not in str(choices)
    assert 'class="error"' in chat.remove("ffffffffff")[0] and "Nothing removed" in chat.remove(None)[0]


def test_documents_table_shows_duplicate_groups():
    docs = [
        DocumentInfo("aaa111", "Original", "/x/a.txt", "Ann", "The Atlantic", "2024-11-05", "", 3, 9, "aaa111", "original", 0.0),
        DocumentInfo("bbb222", "", "/x/copy.txt", "", "", "", "", 2, 5, "aaa111", "derived", 0.92),
    ]
    out = ui.documents_html(docs)
    assert "2 articles indexed" in out and "near-duplicate of Original (0.92)" in out and "The Atlantic" in out


def test_sources_show_also_in_and_byline():
    c = Citation(1, "d1", "T", "Ann", "2024-01-01", "quote here.", "Before. quote here. After.", 8, 19, 0.7, ("d2",))
    docs = {"d2": DocumentInfo("d2", "Copy title", "/p", "", "", "", "", 1, 1)}
    out = ui.sources_html([Answer("quote here. [1]", [c], False, "q?", "q?")], docs)
    assert "Before. <mark>quote here.</mark> After." in out and "Also in: Copy title" in out and "Ann · 2024-01-01" in out


def test_markers_link_only_to_real_citations():
    assert ui.linked("a [1] b [7] <i>", 3, [1]) == 'a <a class="cite" href="#src-3-1" title="source 1">[1]</a> b [7] &lt;i&gt;'


def test_auth_setting():
    assert parse_auth(None) is None and parse_auth("me:s3:cret") == ("me", "s3:cret")
    with pytest.raises(ValueError, match="user:password"):
        parse_auth("nopassword")


def test_main_reports_bad_settings_without_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("RAG_UI_AUTH", "broken")
    assert ui.main(["--port", "1"]) == 1
    assert "RAG_UI_AUTH must look like user:password" in capsys.readouterr().err
