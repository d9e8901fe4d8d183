"""The HTTP service's contract, in process (FastAPI's TestClient, the fake embedder): routes, shapes, every error
kind with OpenAI's error body, limits, auth. tests/test_service.py runs the real server with real clients."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from rag import ABSTAIN_TEXT, Assistant, Settings
from rag.api import create_app, markdown_safe

from .conftest import fake_embedder

QUESTION = "How much did trade between China and Russia reach last year?"


def local(app, **kwargs) -> TestClient:
    """A client that calls as a program on this machine does (Host 127.0.0.1)."""
    return TestClient(app, base_url="http://127.0.0.1:8000", **kwargs)


def chat(client: TestClient, question: str = QUESTION, **extra):
    body = {"model": "rag", "messages": [{"role": "user", "content": question}], **extra}
    return client.post("/v1/chat/completions", json=body)


def streamed(client: TestClient, body: dict) -> tuple[str, list[dict]]:
    """The content of a streamed completion and its chunks (the stream must end with [DONE])."""
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]", lines[-3:]
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    return content, chunks


def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert "Traceback" not in response.text and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def built(tmp_path, corpus) -> Assistant:
    settings = Settings(index_dir=tmp_path / "index", api_queue=4)
    a = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    a.index([corpus], progress=False)
    return a


@pytest.fixture
def client(built) -> TestClient:
    with local(create_app(built, chat=False)) as c:
        yield c


def test_chat_completion_has_the_cited_answer_and_its_citations(client, built):
    r = chat(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "rag" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    expected = built.ask(QUESTION)
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith(markdown_safe(expected.text)), choice["message"]["content"]
    assert "\n\nSources:\n[1] " in choice["message"]["content"]
    cited = choice["citations"]
    assert [c["number"] for c in cited] == [c.number for c in expected.citations]
    for c in cited:
        assert {"number", "doc_id", "title", "author", "date", "quote", "start", "end", "passage"} <= set(c)
        assert c["quote"] in c["passage"] and f"[{c['number']}]" in choice["message"]["content"]
    assert choice["abstained"] is False and choice["short_answer"] == expected.short


def test_streamed_content_equals_the_unstreamed_one(client, built):
    for question, threshold in ((QUESTION, None), ("What is the capital of France?", 1.0)):
        built.settings.abstain_threshold = threshold
        plain = chat(client, question).json()["choices"][0]
        content, chunks = streamed(client, {"model": "rag", "messages": [{"role": "user", "content": question}]})
        assert content == plain["message"]["content"], question
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        last = chunks[-1]["choices"][0]
        assert last["finish_reason"] == "stop" and last["citations"] == plain["citations"]


def test_abstention_is_a_normal_answer(client, built):
    built.settings.abstain_threshold = 1.0  # the fake embedder is sure of everything: make it abstain
    choice = chat(client, "What is the capital of France?").json()["choices"][0]
    assert choice["abstained"] is True and choice["message"]["content"].startswith(ABSTAIN_TEXT)
    assert all(c["not_answer"] for c in choice["citations"])
    assert "Closest passage (not an answer):" in choice["message"]["content"]


def test_history_makes_a_follow_up_about_the_earlier_turn(client, built):
    messages = [{"role": "system", "content": "Ignored."},
                {"role": "user", "content": "Who warned about North Korean troops joining the war?"},
                {"role": "assistant", "content": "…"},
                {"role": "user", "content": [{"type": "text", "text": "What did he call it?"}]}]
    body = client.post("/v1/chat/completions", json={"model": "rag", "messages": messages}).json()
    expected = built.ask("What did he call it?", [messages[1]])
    assert body["choices"][0]["citations"][0]["quote"] == expected.citations[0].quote
    alone = built.ask("What did he call it?")
    assert expected.query != alone.query  # the history was used


def test_text_format_and_no_sources_block(client, built):
    choice = chat(client, content_format="text", sources_in_content=False).json()["choices"][0]
    assert choice["message"]["content"] == built.ask(QUESTION).text


def test_markdown_safe_keeps_markers_and_defuses_links_images_and_html():
    text = "See ![x](http://evil/p.png) <img src=x> `code` [link](http://a) [2] end [1]"
    safe = markdown_safe(text)
    unescaped = re.findall(r"(?<!\\)[\[\]<>`]", safe.removesuffix("[2] end [1]"))
    assert not unescaped, safe
    assert safe.endswith("[2] end [1]") and "\\<img src=x\\>" in safe
    assert markdown_safe("quote [12]") == "quote [12]"


def test_models_lists_the_generative_backend_when_one_is_configured(built):
    built.settings.llm = "openai:http://127.0.0.1:9/v1:some-model"
    with local(create_app(built, chat=False)) as c:
        models = c.get("/v1/models").json()["data"]
    assert [m["id"] for m in models] == ["rag", "rag-llm"] and models[1]["backend"] == "openai"
    assert "127.0.0.1:9" not in json.dumps(models)  # the backend's address is not shown


def test_models_search_and_documents(client, built, tmp_path):
    models = client.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["rag"]
    found = client.post("/v1/search", json={"query": "trade between China and Russia", "k": 3}).json()["data"]
    assert len(found) == 3 and found[0]["text"] and "/" not in found[0]["path"]
    docs = client.get("/v1/documents").json()["data"]
    assert len(docs) == 5 and all(d["id"] == d["doc_id"] and "/" not in d["path"] for d in docs)

    files = [("file", ("lithium.md", b"# Lithium deal\n\nBolivia agreed to sell lithium to Pyongyang in 2031.", "text/markdown")),
             ("file", ("notes.pdf", b"%PDF-1.4", "application/pdf"))]
    r = client.post("/v1/documents", files=files)
    assert r.status_code == 201, r.text
    rows = {row["path"]: row for row in r.json()["data"]}
    assert rows["lithium.md"]["status"] == "added" and rows["notes.pdf"]["status"] == "skipped"
    new_id = rows["lithium.md"]["doc_id"]
    assert (built.uploads_dir / "lithium.md").is_file()
    answer = chat(client, "What did Bolivia agree to sell to Pyongyang?").json()["choices"][0]
    assert answer["citations"][0]["doc_id"] == new_id

    again = client.post("/v1/documents", json={"documents": [{"name": "lithium.md", "text": "# Lithium deal\n\nBolivia agreed to sell lithium to Pyongyang in 2031."}]})
    assert again.status_code == 200 and again.json()["data"][0]["status"] == "unchanged"

    gone = client.delete(f"/v1/documents/{new_id[:10]}")
    assert gone.status_code == 200 and gone.json() == {**gone.json(), "id": new_id, "deleted": True}
    assert not (built.uploads_dir / "lithium.md").exists()
    assert len(client.get("/v1/documents").json()["data"]) == 5


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"json": [1, 2]}, 400, "invalid_json"),
        ({"json": {"model": "rag"}}, 400, "invalid_value"),  # no messages
        ({"json": {"model": "rag", "messages": []}}, 400, "invalid_value"),
        ({"json": {"model": "rag", "messages": [{"role": "wizard", "content": "hi"}]}}, 400, "invalid_value"),
        ({"json": {"model": "rag", "messages": [{"role": "assistant", "content": "hi"}]}}, 400, "invalid_value"),
        ({"json": {"model": "rag", "messages": [{"role": "user", "content": "   "}]}}, 400, "invalid_value"),
        ({"json": {"model": "rag", "messages": [{"role": "user", "content": "x" * 2001}]}}, 400, "invalid_value"),
        ({"json": {"model": "rag", "n": 2, "messages": [{"role": "user", "content": "hi"}]}}, 400, "invalid_value"),
        ({"json": {"model": "rag", "k": 0, "messages": [{"role": "user", "content": "hi"}]}}, 400, "invalid_value"),
        ({"json": {"model": "rag", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}}, 400, "invalid_value"),
        ({"json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}}, 404, "model_not_found"),
        ({"json": {"model": "rag-llm", "messages": [{"role": "user", "content": "hi"}]}}, 404, "model_not_found"),
    ],
)
def test_bad_chat_requests_get_openai_errors(client, request_kwargs, status, code):
    error_of(client.post("/v1/chat/completions", **request_kwargs), status, code)


def test_other_bad_requests(client):
    error_of(client.post("/v1/search", json={"query": ""}), 400, "invalid_value")
    error_of(client.post("/v1/search", json={"query": "x", "k": 1000}), 400, "invalid_value")
    error_of(client.post("/v1/search", json={"query": "x", "extra": 1}), 400, "invalid_value")
    error_of(client.get("/v1/nothing-here"), 404, "unknown_route")
    error_of(client.get("/v1/chat/completions"), 404)
    error_of(client.delete("/v1/documents/ffffffffffff"), 404, "document_not_found")
    error_of(client.post("/v1/documents", files=[("file", ("a.exe", b"MZ", "application/octet-stream"))]), 400, "nothing_added")
    error_of(client.post("/v1/documents", files=[("note", (None, "no file here"))]), 400, "invalid_value")
    error_of(client.post("/v1/documents", json={"documents": [{"name": "a.txt"}]}), 400, "invalid_value")


def test_bodies_over_the_limits_get_413(client, built):
    big = {"model": "rag", "messages": [{"role": "user", "content": "x" * (built.settings.max_request_kb * 1024)}]}
    error_of(client.post("/v1/chat/completions", json=big), 413, "request_too_large")

    def chunked():  # no Content-Length: counted while read
        for _ in range(built.settings.max_request_kb + 1):
            yield b" " * 1024

    error_of(client.post("/v1/search", content=chunked(), headers={"content-type": "application/json"}), 413)
    huge = b"word " * int(built.settings.max_file_mb * 2**20 / 5 + 2**18)
    error_of(client.post("/v1/documents", files=[("file", ("big.txt", huge, "text/plain"))]), 413, "request_too_large")
    assert len(client.get("/v1/documents").json()["data"]) == 5  # nothing was kept


def test_an_upload_over_max_file_mb_inside_the_body_limit_is_skipped(client, built):
    built.settings.max_file_mb = 0.01
    r = client.post("/v1/documents", files=[("file", ("big.txt", b"word " * 4000, "text/plain"))])
    assert "larger than 0.01 MB" in error_of(r, 400, "nothing_added")["message"]


def test_api_key(built):
    built.settings.api_key = "s3cret"
    with local(create_app(built, chat=False)) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            r = c.post("/v1/search", json={"query": "trade"}, headers=headers)
            error_of(r, 401, "invalid_api_key")
            assert r.headers["www-authenticate"] == "Bearer"
        error_of(c.get("/v1/models"), 401)
        error_of(c.post("/mcp", json={}), 401)
        assert c.get("/healthz").status_code == 200  # the health check asks for no key and tells nothing private
        ok = c.post("/v1/search", json={"query": "trade"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["data"]


def test_missing_index_is_503(tmp_path):
    empty = Assistant(settings=Settings(index_dir=tmp_path / "nothing"), embedder=fake_embedder(), auto_build=False)
    with local(create_app(empty, chat=False)) as c:
        error_of(chat(c), 503, "index_missing")
        error_of(c.post("/v1/search", json={"query": "x"}), 503, "index_missing")
        error_of(c.get("/healthz"), 503, "index_missing")
        assert c.get("/v1/models").status_code == 200


def test_a_crash_is_a_500_without_a_traceback(built, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(built, "search", broken)
    with local(create_app(built, chat=False), raise_server_exceptions=False) as client:
        err = error_of(client.post("/v1/search", json={"query": "trade"}), 500, "internal_error")
    assert "secret" not in err["message"] and "RuntimeError" in err["message"]


def test_a_full_queue_answers_429_at_once(built, monkeypatch):
    built.settings.api_workers, built.settings.api_queue = 1, 1
    app = create_app(built, chat=False)
    gate = app.state.gate
    results: list[int] = []
    release = threading.Event()
    ask = built.ask

    def held(*args, **kwargs):  # the running request waits: the queue fills up
        release.wait(60)
        return ask(*args, **kwargs)

    monkeypatch.setattr(built, "ask", held)
    with local(app) as c:
        try:
            threads = [threading.Thread(target=lambda: results.append(chat(c).status_code)) for _ in range(2)]
            for t in threads:
                t.start()
                deadline = time.monotonic() + 30
                while gate.active < len(threads) - threads[::-1].index(t) and time.monotonic() < deadline:
                    time.sleep(0.01)
            assert gate.active == 2, gate.stats()
            r = chat(c)
            error_of(r, 429, "queue_full")
            assert r.headers["retry-after"] == "1"
        finally:
            release.set()
        for t in threads:
            t.join(60)
        assert sorted(results) == [200, 200] and gate.stats()["refused"] == 1 and gate.active == 0


def test_the_web_chat_is_served_beside_the_api(built):
    with local(create_app(built, chat=True)) as c:
        page = c.get("/")
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert chat(c).status_code == 200


def test_web_pages_of_other_sites_and_foreign_hosts_are_refused(built):
    with local(create_app(built, chat=False)) as c:
        upload = {"documents": [{"name": "evil.md", "text": "Planted text."}]}
        r = c.post("/v1/documents", json=upload, headers={"Origin": "https://evil.example"})
        assert "evil.example" in error_of(r, 403, "forbidden_origin")["message"]
        error_of(c.post("/v1/search", json={"query": "x"}, headers={"Origin": "null"}), 403, "forbidden_origin")
        error_of(c.get("/v1/models", headers={"Host": "rebound.example:8000"}), 403, "forbidden_origin")
        assert c.get("/v1/models", headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200  # its own page
        assert c.get("/v1/models", headers={"Host": "localhost:8000"}).status_code == 200
        assert len(c.get("/v1/documents").json()["data"]) == 5  # nothing was planted
    with TestClient(create_app(built, chat=False, host="0.0.0.0"), base_url="http://box.lan:8000") as c:
        assert c.get("/v1/models").status_code == 200  # bound to the network: any Host name
        error_of(c.get("/v1/models", headers={"Origin": "https://evil.example"}), 403, "forbidden_origin")


def test_the_sources_block_names_a_pdf_quotes_page_and_the_notes():
    from rag import Answer, Citation
    from rag.api import sources_block

    cited = Citation(1, "d1", "Report", "Pat Doe", "2024-01-02", "Trade reached [x].", "Trade reached [x].", 0, 18,
                     0.9, page=4)
    answer = Answer("Trade reached [x]. [1]", [cited], False, "q", "q", notes=["the sources disagree: [1] and [2]"])
    block = sources_block(answer, "text")
    assert "[1] Report — Pat Doe, 2024-01-02, p. 4: “Trade reached [x].”" in block
    assert block.endswith("Note: the sources disagree: [1] and [2].")
    assert "Trade reached \\[x\\]." in sources_block(answer, "markdown")
