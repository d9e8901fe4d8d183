"""`rag serve` as users run it (a subprocess on loopback, the real embedding model) driven by clients nobody here
wrote: the official `openai` package, llama-index's OpenAILike, curl and the `mcp` SDK's client (over HTTP and,
against `rag mcp`, over stdio). Also: 32 concurrent streaming clients, SIGTERM with an answer in flight, and the
10-minute soak (slow)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag import ABSTAIN_TEXT

from .helpers.openai_server import ScriptedServer, evidence_number
from .helpers.service import ROOT, health, start_service, stop
from .helpers.web import free_port

pytestmark = pytest.mark.integration
KEY = "test-key-0123456789"
QUESTION = "How much did trade between China and Russia reach last year?"
QUESTIONS = [
    QUESTION,
    "What share of North Korea's foreign trade does China account for?",
    "Which currency are Russian businesses turning to in order to replace the U.S. dollar?",
    "Who warned that North Korean troops joining the war would be a very, very serious issue?",
    "Which four states have cooperated in the war in Ukraine?",
    "What is the capital of France?",
    "How many North Korean troops were reported to be in Russia?",
    "What did Kim Jong Un and Putin sign?",
]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """`rag serve` with an API key on a fresh index of the bundled articles (built by the service's first run)."""
    folder = tmp_path_factory.mktemp("service")
    port = free_port()
    log = (folder / "serve.log").open("w")
    proc = start_service(folder / "index", port, env={"RAG_API_KEY": KEY}, output=log)
    yield {"url": f"http://127.0.0.1:{port}", "port": port, "proc": proc, "index": folder / "index", "log": folder / "serve.log"}
    code = stop(proc)
    log.close()
    assert code == 0, (folder / "serve.log").read_text()[-3000:]


def test_it_binds_loopback_by_default(service):
    import socket

    log = service["log"].read_text()
    assert f"Uvicorn running on http://127.0.0.1:{service['port']}" in log, log[-2000:]
    hostname = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(hostname, None, socket.AF_INET)} - {"127.0.0.1", "127.0.1.1"}
    for address in addresses:  # the machine's other addresses do not answer
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((address, service["port"])) != 0, address


def openai_client(service, key: str = KEY, **kwargs):
    from openai import OpenAI

    return OpenAI(base_url=f"{service['url']}/v1", api_key=key, max_retries=0, timeout=120, **kwargs)


def extra(choice) -> dict:
    """The fields the openai package keeps beyond its schema (our `citations`, `abstained`, …)."""
    return choice.model_extra or {}


def test_openai_package_plain_and_streamed(service):
    client = openai_client(service)
    assert [m.id for m in client.models.list()] == ["rag"]
    done = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    choice = done.choices[0]
    assert "$240 billion" in choice.message.content and "[1]" in choice.message.content
    cited = extra(choice)["citations"]
    assert cited and "$240 billion" in cited[0]["quote"] and cited[0]["title"]

    stream = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}], stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == choice.message.content
    assert chunks[-1].choices[0].finish_reason == "stop" and extra(chunks[-1].choices[0])["citations"] == cited

    no = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert no.choices[0].message.content.startswith(ABSTAIN_TEXT) and extra(no.choices[0])["abstained"] is True


def test_openai_package_history_and_errors(service):
    import openai

    client = openai_client(service)
    messages = [{"role": "user", "content": "Who warned about North Korean troops joining the war?"},
                {"role": "assistant", "content": "(an earlier answer)"},
                {"role": "user", "content": "What did he call it?"}]
    follow = client.chat.completions.create(model="rag", messages=messages).choices[0].message.content
    alone = client.chat.completions.create(model="rag", messages=messages[-1:]).choices[0].message.content
    assert follow != alone and "North Korean troops" in follow, (follow, alone)

    with pytest.raises(openai.AuthenticationError) as wrong:
        openai_client(service, key="wrong").chat.completions.create(model="rag", messages=messages)
    assert wrong.value.status_code == 401 and "API key" in wrong.value.message
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="rag", messages=[{"role": "assistant", "content": "hi"}])
    assert "last message" in bad.value.message


def test_llama_index_openai_like(service):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(model="rag", api_base=f"{service['url']}/v1", api_key=KEY, is_chat_model=True,
                     context_window=4096, max_retries=0, timeout=120)
    reply = llm.chat([ChatMessage(role="user", content=QUESTION)])
    assert "$240 billion" in reply.message.content and "[1]" in reply.message.content
    streamed = "".join(r.delta or "" for r in llm.stream_chat([ChatMessage(role="user", content=QUESTION)]))
    assert streamed == reply.message.content
    assert "$240 billion" in llm.complete(QUESTION).text


def test_curl(service, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    auth = ["-H", f"Authorization: Bearer {KEY}"]
    body = json.dumps({"model": "rag", "messages": [{"role": "user", "content": QUESTION}]})
    out = subprocess.run([curl, "-sS", *auth, "-H", "Content-Type: application/json", "-d", body,
                          f"{service['url']}/v1/chat/completions"], capture_output=True, text=True, check=True)
    assert "$240 billion" in json.loads(out.stdout)["choices"][0]["message"]["content"]

    article = tmp_path / "curl-note.md"
    article.write_text("# Curl note\n\nThe Zorbian ministry shipped 812 crates of tin to Mars in 2040.", encoding="utf-8")
    up = subprocess.run([curl, "-sS", *auth, "-F", f"file=@{article}", f"{service['url']}/v1/documents"],
                        capture_output=True, text=True, check=True)
    row = json.loads(up.stdout)["data"][0]
    assert row["status"] == "added", up.stdout
    found = subprocess.run([curl, "-sS", *auth, "-H", "Content-Type: application/json", "-d",
                            json.dumps({"query": "Zorbian tin crates", "k": 1}), f"{service['url']}/v1/search"],
                           capture_output=True, text=True, check=True)
    assert json.loads(found.stdout)["data"][0]["doc_id"] == row["doc_id"]
    gone = subprocess.run([curl, "-sS", "-X", "DELETE", *auth, f"{service['url']}/v1/documents/{row['doc_id']}"],
                          capture_output=True, text=True, check=True)
    assert json.loads(gone.stdout)["deleted"] is True
    denied = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"{service['url']}/v1/models"],
                            capture_output=True, text=True, check=True)
    assert denied.stdout == "401"


async def _mcp_session(client) -> dict:
    async with client as c:
        tools = sorted(t.name for t in (await c.list_tools()).tools)
        asked = await c.call_tool("ask", {"question": QUESTION})
        searched = await c.call_tool("search", {"query": "trade between China and Russia", "k": 2})
        docs = await c.call_tool("documents", {})
        bad = await c.call_tool("ask", {"question": ""})
    return {"tools": tools, "ask": asked, "search": searched, "documents": docs, "bad": bad}


def _check_mcp(result: dict) -> None:
    assert result["tools"] == ["ask", "documents", "search"]
    ask = result["ask"]
    assert not ask.is_error and "$240 billion" in ask.structured_content["answer"]
    cited = ask.structured_content["citations"]
    assert cited and "$240 billion" in cited[0]["quote"] and cited[0]["number"] == 1
    assert len(result["search"].structured_content["passages"]) == 2
    docs = result["documents"].structured_content["documents"]
    assert len(docs) >= 5 and {d["format"] for d in docs} >= {"txt"} and all("url" in d and "pages" in d for d in docs)
    assert result["bad"].is_error and "Traceback" not in result["bad"].content[0].text


def test_mcp_over_http(service):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    _check_mcp(asyncio.run(_mcp_session(Client(streamable_http_client(f"{service['url']}/mcp", http_client=http)))))

    statuses: list[int] = []

    async def record(response) -> None:
        statuses.append(response.status_code)

    async def unauthorized() -> None:
        keyless = httpx2.AsyncClient(event_hooks={"response": [record]})
        async with Client(streamable_http_client(f"{service['url']}/mcp", http_client=keyless)) as c:
            await c.list_tools()

    with pytest.raises(BaseException, match="unhandled errors|error"):  # the SDK wraps the refusal in its task group
        asyncio.run(unauthorized())
    assert statuses and set(statuses) == {401}, statuses


def test_mcp_over_stdio(service):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {"RAG_INDEX_DIR": str(service["index"]), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
           "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/tmp")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag.cli", "mcp"], env=env, cwd=str(ROOT))
    _check_mcp(asyncio.run(_mcp_session(Client(params))))


def _documents(service, **params) -> list[dict]:
    import httpx

    r = httpx.get(f"{service['url']}/v1/documents", params=params, headers={"Authorization": f"Bearer {KEY}"},
                  timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_a_scope_through_the_openai_package_extra_body_and_documents(service):
    """`extra_body={"scope": …}`: the answer cites only the articles in scope (none of the others that say the
    same); a scope whose articles don't say offers the article that does, marked outside the scope; a scope that
    names nobody is a 400 naming it; GET /v1/documents lists what a scope names."""
    import openai

    client = openai_client(service)
    every = _documents(service)
    atlantic = _documents(service, publication="The Atlantic")
    assert len(atlantic) == 1 and atlantic[0]["publication"] == "The Atlantic" and len(every) == 5
    assert _documents(service, doc=atlantic[0]["id"][:6]) == atlantic
    asked = [{"role": "user", "content": QUESTION}]
    whole = extra(client.chat.completions.create(model="rag", messages=asked).choices[0])
    assert {c["doc_id"] for c in whole["citations"]} != {atlantic[0]["id"]}, "unscoped, another copy is cited"
    scoped = client.chat.completions.create(model="rag", messages=asked,
                                            extra_body={"scope": {"publication": "The Atlantic"}}).choices[0]
    fields = extra(scoped)
    assert "$240 billion" in scoped.message.content and fields["abstained"] is False
    assert {c["doc_id"] for c in fields["citations"]} == {atlantic[0]["id"]}
    assert fields["scope"] == {"publication": "The Atlantic", "articles": 1}
    streamed = client.chat.completions.create(model="rag", messages=asked, stream=True,
                                              extra_body={"scope": {"publication": "The Atlantic"}})
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == scoped.message.content

    silent = next(d for d in every if d["author"] == "Patricia M. Kim")
    other = extra(client.chat.completions.create(model="rag", messages=asked,
                                                 extra_body={"scope": {"docs": [silent["id"]]}}).choices[0])
    assert other["abstained"] is True
    outside = [c for c in other["citations"] if c["outside_scope"]]
    assert outside and "$240 billion" in outside[0]["quote"] and outside[0]["doc_id"] != silent["id"]
    assert all(c["doc_id"] == silent["id"] for c in other["citations"] if not c["outside_scope"])

    with pytest.raises(openai.BadRequestError) as nobody:
        client.chat.completions.create(model="rag", messages=asked, extra_body={"scope": {"author": "Jane Doe"}})
    assert "Jane Doe" in nobody.value.message and nobody.value.body["code"] == "scope_matches_nothing"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="rag", messages=asked, extra_body={"scope": {"colour": "red"}})
    import httpx

    searched = httpx.post(f"{service['url']}/v1/search", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                          json={"query": "trade between China and Russia", "k": 3, "scope": {"docs": [silent["id"]]}})
    assert searched.status_code == 200 and {p["doc_id"] for p in searched.json()["data"]} == {silent["id"]}


def test_a_scope_through_mcp(service):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def session() -> dict:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
        async with Client(streamable_http_client(f"{service['url']}/mcp", http_client=http)) as c:
            return {"ask": await c.call_tool("ask", {"question": QUESTION, "scope": {"author": "Michel Schuman"}}),
                    "docs": await c.call_tool("documents", {"scope": {"since": "2024-11", "until": "2024-11"}}),
                    "search": await c.call_tool("search", {"query": "North Korea", "k": 3,
                                                           "scope": {"author": "Patricia M. Kim"}}),
                    "nobody": await c.call_tool("ask", {"question": QUESTION, "scope": {"author": "Jane Doe"}})}

    got = asyncio.run(session())
    docs = got["docs"].structured_content["documents"]
    assert [d["author"] for d in docs] == ["Michel Schuman"], docs
    ask = got["ask"].structured_content
    assert "$240 billion" in ask["answer"] and {c["doc_id"] for c in ask["citations"]} == {docs[0]["doc_id"]}
    assert ask["scope"] == {"author": "Michel Schuman", "articles": 1}
    assert {p["author"] for p in got["search"].structured_content["passages"]} == {"Patricia M. Kim"}
    assert got["nobody"].is_error and "Jane Doe" in got["nobody"].content[0].text


def test_32_concurrent_streaming_clients_get_the_serial_answers(service):
    client = openai_client(service)
    serial = {q: client.chat.completions.create(model="rag", messages=[{"role": "user", "content": q}])
              .choices[0].message.content for q in QUESTIONS}
    start = threading.Barrier(32)

    def one(i: int) -> tuple[str, str]:
        question = QUESTIONS[i % len(QUESTIONS)]
        own = openai_client(service)
        start.wait()
        stream = own.chat.completions.create(model="rag", messages=[{"role": "user", "content": question}], stream=True)
        return question, "".join(c.choices[0].delta.content or "" for c in stream)

    before = health(service["port"])["queue"]
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(32)))
    after = health(service["port"])["queue"]
    assert len(results) == 32
    for question, content in results:
        assert content == serial[question], question
    assert after["refused"] == before["refused"] and after["active"] == 0
    assert after["peak"] <= after["capacity"], after


def test_sigterm_lets_the_answer_in_flight_finish_and_a_restart_serves_the_same_index(service, tmp_path):
    backend = ScriptedServer()
    backend.delay = 4.0  # the answer is in flight for 4 s when SIGTERM comes
    backend.script = lambda m: f"Trade between China and Russia reached a record $240 billion last year [{evidence_number(m, '$240 billion')}]."
    port = free_port()
    env = {"RAG_LLM": f"openai:{backend.url}:scripted", "RAG_LLM_TIMEOUT": "30"}
    log = (tmp_path / "serve.log").open("w")
    proc = start_service(service["index"], port, env=env, args=("--no-chat",), output=log)
    try:
        import httpx

        url = f"http://127.0.0.1:{port}"
        docs_before = httpx.get(f"{url}/v1/documents", timeout=60).json()["data"]
        body = {"model": "rag-llm", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
        lines: list[str] = []

        def read() -> None:
            with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as r:
                lines.extend(line for line in r.iter_lines() if line)

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 30
        while not backend.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.requests, "the answer never reached the backend"
        proc.send_signal(15)
        reader.join(120)
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        backend.stop()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert lines and lines[-1] == "data: [DONE]", lines[-3:]
    content = "".join(json.loads(x[6:])["choices"][0]["delta"].get("content") or "" for x in lines[:-1])
    assert "$240 billion" in content and "[1]" in content

    port = free_port()
    again = start_service(service["index"], port, args=("--no-chat",))
    try:
        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/v1/documents", timeout=60).json()["data"] == docs_before
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                           json={"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}).json()
        assert "$240 billion" in reply["choices"][0]["message"]["content"]
    finally:
        assert stop(again) == 0


@pytest.mark.slow
def test_soak(tmp_path):
    """evals/bench_soak_api.py for SOAK_SECONDS (default 600; not a RAG_ setting, so the shell's value reaches the
    test): asks, searches, uploads and removals in a bounded loop; no errors, memory flat after warm-up, no leaked
    threads or file handles. Its figures are kept as the script keeps them (evals/results.py), here in tmp_path."""
    seconds = os.environ.get("SOAK_SECONDS", "600")
    report = tmp_path / "soak.json"
    done = subprocess.run([sys.executable, "-m", "evals.bench_soak_api", "--seconds", seconds,
                           "--json", str(report), "--work", str(tmp_path / "work")], cwd=ROOT,
                          env=os.environ | {"EVALS_RESULTS_DIR": str(tmp_path / "results")},
                          capture_output=True, text=True, timeout=float(seconds) + 900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    kept = json.loads((tmp_path / "results" / "bench_soak_api.json").read_text())
    assert kept["figures"]["requests"] == result["requests"] and kept["command"].startswith("python -m evals.bench_soak_api")
    assert result["errors"] == 0 and result["requests"] > 100, result["error_samples"]
    assert result["verdict"]["rss_stable"], result["verdict"]
    assert result["verdict"]["threads_stable"] and result["verdict"]["fds_stable"], result["verdict"]


@pytest.mark.slow
def test_poisoning_is_measured_and_its_source_named_plainly(tmp_path):
    """evals/measure_poisoning.py: a keyword-stuffed article contradicting the corpus. How often answers adopt it is a
    measured figure (SECURITY.md); what is asserted is that whenever an answer cites it, it is named plainly."""
    out = tmp_path / "poisoning.json"
    done = subprocess.run([sys.executable, "-m", "evals.measure_poisoning", "--json", str(out),
                           "--index-dir", str(tmp_path / "index")], cwd=ROOT,
                          env=os.environ | {"EVALS_RESULTS_DIR": str(tmp_path / "results")},
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())["figures"]
    assert figures["questions"] >= 50 and figures["poison_cited"] > 0, figures  # the attack reached the answers
    assert figures["named_plainly"] == 1.0, figures
