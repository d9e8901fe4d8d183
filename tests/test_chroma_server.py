"""RAG_CHROMA_URL: the same code against a real `chroma run` server on 127.0.0.1, started by the test."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.errors import StoreUnavailable

from .conftest import fake_embedder
from .helpers.web import free_port


@pytest.fixture
def chroma_server(tmp_path):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | {"ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("chroma run exited at start")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.integration
def test_index_and_search_through_a_chroma_server(chroma_server, corpus, tmp_path):
    settings = Settings(chroma_url=chroma_server, index_dir=tmp_path / "unused")
    a = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    report = a.index([corpus], progress=False)
    assert (report.documents, report.added) == (5, 5) and report.chunks > 0
    assert not (tmp_path / "unused" / "chroma.sqlite3").exists(), "server mode writes nothing locally"
    again = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    assert again.index([corpus], progress=False).embedded == 0
    passages = again.search("record trade between China and Russia", k=3)
    assert len(passages) == 3 and all(p.doc_id for p in passages)
    (corpus / "002_8f46a799f27b259f.txt").unlink()
    assert again.index([corpus], progress=False).removed == 1


@pytest.mark.integration
def test_a_scoped_question_through_a_chroma_server(chroma_server, corpus, tmp_path):
    """The scope is applied by the server's own `where` on the chunks (and the local BM25 rows), with the real
    model: the answer cites only the article asked, which unscoped is not the one cited."""
    settings = Settings(chroma_url=chroma_server, index_dir=tmp_path / "local", quiet=True)
    a = Assistant(settings=settings, auto_build=False)
    a.index([corpus], progress=False)
    question = "How much did trade between China and Russia reach last year?"
    whole = a.ask(question)
    atlantic = a.documents(where={"publication": "The Atlantic"})
    assert len(atlantic) == 1 and whole.citations[0].doc_id != atlantic[0].doc_id
    scoped = Assistant(settings=settings, auto_build=False).ask(question, where={"publication": "the atlantic"})
    assert "$240 billion" in scoped.text and {c.doc_id for c in scoped.citations} == {atlantic[0].doc_id}
    passages = a.search("North Korean troops", k=5, where={"docs": [atlantic[0].doc_id[:6]]})
    assert passages and {p.doc_id for p in passages} == {atlantic[0].doc_id}


def test_dead_server_is_a_clear_error(tmp_path):
    a = Assistant(settings=Settings(chroma_url=f"http://127.0.0.1:{free_port()}"), embedder=fake_embedder(), auto_build=False)
    with pytest.raises(StoreUnavailable, match=r"Cannot reach the Chroma server at http://127\.0\.0\.1:\d+.*chroma run"):
        a.search("anything")


@pytest.mark.integration
def test_writers_through_a_server_take_turns_on_a_lease_it_holds(chroma_server, tmp_path):
    """The write lease is a collection on the server: a second writer waits while the first holds it and gets it
    when it is released; a lease whose holder stopped renewing it (a crash) is taken over after it lapses."""
    import threading

    from rag.store import server_lease

    settings = Settings(chroma_url=chroma_server, index_dir=tmp_path / "local")
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with server_lease(settings):
            first_in.set()
            order.append("first in")
            time.sleep(1.0)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(30)
    with server_lease(settings):
        order.append("second in")
    t.join()
    assert order == ["first in", "first out", "second in"]

    from rag.store import Store

    client = Store(settings)._connect(create=True)
    client.create_collection("articles-lock", metadata={"holder": "crashed", "expires": time.time() + 1.0})
    started = time.monotonic()
    with server_lease(settings, wait_s=30):
        waited = time.monotonic() - started
    assert 0.5 < waited < 10, waited  # waited for the lapse, not for ever
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    assert "articles-lock" not in names, "the lease is released"


@pytest.mark.integration
def test_two_rag_add_at_once_through_one_server_lose_nothing(chroma_server, tmp_path):
    """Two `rag add` processes at once through one server: different articles both stay; the same article twice
    leaves one."""
    folder = tmp_path / "articles"
    folder.mkdir()
    for n in range(2):
        (folder / f"{n}.txt").write_text(f"Memo {n}\n\n" + " ".join(f"Fact {n}.{i} about the harbour of town {n}."
                                                                    for i in range(40)) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {
        "RAG_CHROMA_URL": chroma_server, "RAG_INDEX_DIR": str(tmp_path / "local"), "ANONYMIZED_TELEMETRY": "False"}

    def add(*paths: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "rag.cli", "add", "-q", *map(str, paths)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    procs = [add(folder / "0.txt"), add(folder / "1.txt")]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    same = [add(folder / "0.txt"), add(folder / "0.txt")]
    outputs = [p.communicate(timeout=600)[0] for p in same]
    assert all(p.returncode == 0 for p in same), outputs
    a = Assistant(settings=Settings(chroma_url=chroma_server, index_dir=tmp_path / "check"), auto_build=False)
    assert sorted(d.title for d in a.documents()) == ["Memo 0", "Memo 1"]


@pytest.mark.integration
def test_another_process_catches_up_from_the_change_log_not_the_whole_index(chroma_server, corpus, tmp_path,
                                                                             monkeypatch):
    """Two app processes on one server (each with its own BM25 cache): after one adds or removes an article, the
    other brings its BM25 index up to date by reading the change log and those articles only — never every chunk
    id — and finds the new article by its words alone; a gap in the log falls back to comparing every id."""
    from rag.store import Store

    writer = Assistant(settings=Settings(chroma_url=chroma_server, index_dir=tmp_path / "w"), embedder=fake_embedder(),
                       auto_build=False)
    writer.index([corpus], progress=False)
    reader = Assistant(settings=Settings(chroma_url=chroma_server, index_dir=tmp_path / "r", retrieval="bm25"),
                       embedder=fake_embedder(), auto_build=False)
    assert reader.search("record trade between China and Russia", k=3)
    new = tmp_path / "new"
    new.mkdir()
    (new / "n.txt").write_text("Zanzibar memo\n\nThe zanzibar spice quota rose to 812 tonnes.\n", encoding="utf-8")
    writer.add([new], progress=False)

    def no_full_diff(*_args: object) -> list[str]:
        raise AssertionError("compared every chunk id")

    monkeypatch.setattr(Store, "all_ids", no_full_diff)
    hits = reader.search("zanzibar spice quota tonnes", k=3)
    assert hits and hits[0].title == "Zanzibar memo"
    writer.remove(hits[0].doc_id)
    assert all(p.title != "Zanzibar memo" for p in reader.search("zanzibar spice quota tonnes", k=3))
    monkeypatch.undo()

    writer.add([new], progress=False)
    Store(writer.settings)._connect(create=False).delete_collection("articles-changes")  # a gap: no log
    assert reader.search("zanzibar spice quota tonnes", k=3)[0].title == "Zanzibar memo"  # the full comparison


@pytest.mark.integration
def test_a_question_costs_one_round_trip_per_kind_however_many_articles_it_reads(chroma_server, tmp_path, monkeypatch):
    """Through a server, the records a question needs (chunk records, articles' records, their texts, their sentence
    vectors) come in one batched request per kind, not one per article: the requests of a search whose passages
    come from ten articles are counted on the wire (the real HTTP requests, passed on unchanged)."""
    import json
    from collections import Counter

    import httpx

    folder = tmp_path / "articles"
    folder.mkdir()
    for i in range(30):
        (folder / f"a{i:02d}.txt").write_text(
            f"Harbour report {i}\n\nThe harbour of town {i} handled grain and timber shipments this spring. "
            f"Its mayor number {i} praised the dock workers of district {i}.\n", encoding="utf-8")
    settings = Settings(chroma_url=chroma_server, index_dir=tmp_path / "local")
    Assistant(settings=settings, embedder=fake_embedder(), auto_build=False).index([folder], progress=False)
    reader = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    reader.search("warm-up", k=1)  # connecting and opening the collections is not the question's cost

    requests: Counter = Counter()
    send = httpx.Client.send

    def counting(self, request, *args, **kwargs):
        if request.method == "POST":
            body = json.loads(request.content or b"{}")
            requests[(request.url.path.split("/")[-2], request.url.path.rsplit("/", 1)[-1],
                      tuple(body.get("include") or ()))] += 1
        return send(self, request, *args, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", counting)
    passages = reader.search("harbour grain timber shipments mayor dock workers", k=10)
    assert len({p.doc_id for p in passages}) == 10
    assert requests and max(requests.values()) == 1, requests
    assert sum(requests.values()) <= 5, requests  # nearest chunks, chunk records, article records, texts, sentences
