"""`rag watch` (rag/watch.py): which files it reads, files still being written, a burst of 100 changes, a restart
after a crash, and, for real, `rag watch` and `rag serve` as two processes on one index with the real model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.errors import CorpusError
from rag.watch import Watcher, settled, wanted

from .conftest import fake_embedder
from .helpers.service import ROOT, start_service, stop
from .helpers.web import free_port


def article(folder: Path, name: str, words: str) -> Path:
    path = folder / name
    path.write_text(f"Report {name}\n\n{words}\n", encoding="utf-8")
    return path


def state(a: Assistant) -> set[tuple[str, str]]:
    return {(d.path, d.doc_id) for d in a.documents()}


def fresh(folder: Path, tmp_path: Path, name: str) -> set[tuple[str, str]]:
    """What a fresh `rag index --corpus FOLDER` makes of the folder."""
    a = Assistant(settings=Settings(index_dir=tmp_path / name, quiet=True), embedder=fake_embedder(), auto_build=False)
    a.index([folder], progress=False)
    return state(a)


@pytest.fixture
def watched(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    a = Assistant(settings=Settings(index_dir=tmp_path / "index", quiet=True), embedder=fake_embedder(), auto_build=False)
    return folder, a


def test_editors_temporary_and_backup_files_are_left_alone():
    for name in ("a.txt", "b.md", "c.pdf", "d.html", "corpus.json", "scan.png"):
        assert wanted(f"/x/{name}"), name
    for name in (".a.txt.swp", "a.txt~", ".#a.txt", "#a.txt#", "~$report.docx", "a.txt.part", "a.crdownload",
                 "4913", ".hidden.txt", "a.txt.tmp"):
        assert not wanted(f"/x/{name}"), name


def test_files_in_hidden_folders_are_left_alone_as_rag_index_leaves_them(watched):
    folder, a = watched
    w = Watcher(a, [folder], log=lambda _: None)
    assert w.wanted(str(folder / "notes" / "a.md")) and not w.wanted(str(folder / ".obsidian" / "a.md"))
    assert not w.wanted(str(folder / "notes" / ".trash" / "b.txt"))


def test_a_file_still_being_written_is_read_once_it_holds_still(tmp_path):
    path = tmp_path / "growing.txt"
    path.write_text("start", encoding="utf-8")
    waits = []

    def sleep(seconds: float) -> None:  # the copy goes on for the first three waits
        waits.append(seconds)
        if len(waits) <= 3:
            with path.open("a", encoding="utf-8") as f:
                f.write(" more")

    assert settled([str(path), str(tmp_path / "gone.txt")], 0.01, sleep=sleep) == [str(path)]
    assert len(waits) == 4 and path.read_text(encoding="utf-8").count("more") == 3


def test_a_watcher_needs_folders(watched, tmp_path):
    folder, a = watched
    a.add([article(folder, "a.txt", "The alpha plant made 40 turbines.")], progress=False)
    with pytest.raises(CorpusError, match="No folders to watch"):  # added, never indexed as a folder
        Watcher(a)
    a.index([folder], progress=False)
    assert Watcher(a, log=lambda _: None).folders == [str(folder)], "rag index --corpus recorded the folder"
    with pytest.raises(CorpusError, match="Not a folder"):
        Watcher(a, [folder / "a.txt"])


def test_started_after_a_crash_it_reconciles_the_folder_first(watched, tmp_path):
    folder, a = watched
    for i in range(4):
        article(folder, f"a{i}.txt", f"The plant number {i} made {i * 10} turbines in May.")
    a.index([folder], progress=False)
    (folder / "a0.txt").unlink()  # while nobody watched: one deleted, one edited, one added
    article(folder, "a1.txt", "The plant number one made 99 turbines in June.")
    article(folder, "new.txt", "A new plant made 5 pumps.")
    elsewhere = article(tmp_path, "elsewhere.txt", "An article added from elsewhere stays.")
    kept = a.add([elsewhere], progress=False).files[0].doc_id
    lines: list[str] = []
    Watcher(a, [folder], log=lines.append).reconcile()
    assert state(a) == fresh(folder, tmp_path, "fresh") | {(str(elsewhere), kept)}
    assert sorted(line.split()[0] for line in lines) == ["added", "removed", "updated"], lines


def test_a_burst_of_a_hundred_changes_loses_nothing(watched, tmp_path):
    """100 files added, 30 of them edited, 20 deleted, 5 renamed and 5 saved atomically (a temporary file renamed
    over them), with editors' swap files among them, as fast as Python writes them, while the watcher runs:
    afterwards the index equals a fresh index of the folder."""
    folder, a = watched
    article(folder, "seed.txt", "A seed article about cobalt.")
    lines: list[str] = []
    ready = threading.Event()
    watcher = Watcher(a, [folder], settle=0.2, debounce_ms=300, log=lines.append)
    thread = threading.Thread(target=watcher.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(60)
    for i in range(100):
        article(folder, f"n{i:03d}.txt", f"Plant {i} made {i} turbines and {i * 3} pumps in the year {1900 + i}.")
        (folder / f".n{i:03d}.txt.swp").write_text("swap", encoding="utf-8")
    for i in range(30):
        article(folder, f"n{i:03d}.txt", f"Plant {i} was rebuilt and made {i + 500} turbines in {2000 + i}.")
    for i in range(30, 50):
        (folder / f"n{i:03d}.txt").unlink()
    for i in range(50, 55):
        (folder / f"n{i:03d}.txt").rename(folder / f"moved-{i}.txt")
    expected = fresh(folder, tmp_path, "fresh")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and state(a) != expected:
        time.sleep(0.5)
    assert state(a) == expected, (len(state(a)), len(expected), lines[-5:])
    for i in range(55, 60):  # then an editor's atomic saves: a hidden temporary file renamed over an article
        temp = folder / f".n{i:03d}.txt.tmp"
        temp.write_text(f"Report n{i:03d}.txt\n\nPlant {i} was saved atomically with {i + 700} turbines.\n",
                        encoding="utf-8")
        os.replace(temp, folder / f"n{i:03d}.txt")
    expected = fresh(folder, tmp_path, "fresh-again")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and state(a) != expected:
        time.sleep(0.5)
    watcher.stop()
    thread.join(30)
    assert state(a) == expected, (len(state(a)), len(expected), lines[-5:])
    assert not any("swp" in line for line in lines) and sum(line.startswith("added") for line in lines) >= 80
    assert watcher.batches < 20, "a burst is a few batches, not one per change"
    assert {f"updated n{i:03d}.txt" for i in range(55, 60)} <= {line.split(" (")[0] for line in lines}, lines[-8:]


def test_a_question_that_races_a_writer_is_answered_from_the_index_as_it_became(watched, tmp_path, monkeypatch):
    """Another process deletes chunks between this process's Chroma query and its read of them (Chroma raises
    "Error finding id"; seen with `rag watch` beside `rag serve`): the question runs once more on the index as it
    has become. The same error with the index unchanged is not hidden."""
    import chromadb.errors

    from rag.snapshot import Snapshot

    folder, a = watched
    article(folder, "a.txt", "The alpha plant made 40 turbines in May.")
    a.index([folder], progress=False)
    assert "40 turbines" in a.ask("How many turbines did the alpha plant make?").text
    writer = Assistant(settings=a.settings, embedder=fake_embedder(), auto_build=False)  # another process's
    original, raised = Snapshot.candidates, []

    def racing(self, *args, **kwargs):
        if not raised:
            raised.append(True)
            article(folder, "a.txt", "The alpha plant made 55 turbines in May.")
            writer.index([folder], progress=False)  # the writer changes the index mid-question
            raise chromadb.errors.InternalError("Error executing plan: Internal error: Error finding id")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Snapshot, "candidates", racing)
    assert "55 turbines" in a.ask("How many turbines did the alpha plant make?").text and raised
    # mid-write: the writer has deleted chunks but not yet counted the state up (its articles are pending)
    raised.clear()
    store = a.opened()[0]

    def midway(self, *args, **kwargs):
        if not raised:
            raised.append(True)
            store.set_meta(pending='["a"]')
            article(folder, "a.txt", "The alpha plant made 66 turbines in May.")
            threading.Timer(0.3, lambda: writer.index([folder], progress=False)).start()
            raise chromadb.errors.InternalError("Error executing plan: Internal error: Error finding id")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Snapshot, "candidates", midway)
    assert "66 turbines" in a.ask("How many turbines did the alpha plant make?").text and raised
    raised.clear()
    monkeypatch.setattr(Snapshot, "candidates", lambda *_a, **_k: (_ for _ in ()).throw(
        chromadb.errors.InternalError("Error finding id")))
    with pytest.raises(chromadb.errors.InternalError):
        a.ask("How many turbines did the alpha plant make?")


@pytest.mark.integration
def test_rag_watch_and_rag_serve_on_one_index(tmp_path):
    """Two processes, the real model: `rag watch` picks up an added, an edited and a deleted file while
    `rag serve` answers from the same index, without restarting."""
    import httpx

    folder = tmp_path / "articles"
    folder.mkdir()
    article(folder, "seed.txt", "The seed plant in Oslo made 12 ferries in 2021.")
    index = tmp_path / "index"
    env = os.environ | {"RAG_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                        "PYTHONPATH": str(ROOT), "RAG_QUIET": "true"}
    subprocess.run([sys.executable, "-m", "rag.cli", "index", "--corpus", str(folder), "-q"], env=env, cwd=ROOT,
                   check=True, capture_output=True)
    log = (tmp_path / "watch.log").open("w")
    watcher = subprocess.Popen([sys.executable, "-m", "rag.cli", "watch"], env=env, cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    port = free_port()
    serve_log = (tmp_path / "serve.log").open("w")
    server = start_service(index, port, args=("--no-chat", "--no-build"), output=serve_log)

    def ask(question: str) -> dict:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                       json={"model": "rag", "messages": [{"role": "user", "content": question}]})
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["choices"][0]

    def until(question: str, check, seconds: float = 90) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            got = ask(question)
            if check(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.5)

    try:
        until("Up to date", lambda _: "Up to date" in (tmp_path / "watch.log").read_text(), 120)
        question = "How many turbines did the Lisbon plant make?"
        assert ask(question)["abstained"]
        article(folder, "lisbon.txt", "The Lisbon plant made 40 turbines in May 2024.")
        added = until(question, lambda c: "40 turbines" in c["message"]["content"])
        assert "40 turbines" in added["message"]["content"], added
        assert any(c["title"] == "Report lisbon.txt" for c in added["citations"])
        article(folder, "lisbon.txt", "The Lisbon plant made 75 turbines in May 2024.")
        edited = until(question, lambda c: "75 turbines" in c["message"]["content"])
        assert "75 turbines" in edited["message"]["content"] and "40 turbines" not in edited["message"]["content"]
        (folder / "lisbon.txt").unlink()
        gone = until(question, lambda c: c["abstained"])
        assert gone["abstained"], gone
        text = (tmp_path / "watch.log").read_text()
        assert "added lisbon.txt" in text and "updated lisbon.txt" in text and "removed lisbon.txt" in text, text
    finally:
        stop(watcher, 30, signal.SIGINT)
        stop(server)
        log.close()
        serve_log.close()


@pytest.mark.integration
def test_rag_serve_watch_indexes_a_saved_file_in_its_own_process(tmp_path):
    """`rag serve --watch --corpus DIR`: the service watches the folder itself; a file saved there is answered."""
    import httpx

    folder = tmp_path / "articles"
    folder.mkdir()
    article(folder, "seed.txt", "The seed plant in Oslo made 12 ferries in 2021.")
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = start_service(tmp_path / "index", port, args=("--no-chat", "--watch", "--corpus", str(folder)),
                           output=log)
    try:
        question = "How many cranes did the Gdansk yard build?"
        article(folder, "gdansk.txt", "The Gdansk yard built 31 cranes in 2030.")
        deadline, content = time.monotonic() + 90, ""
        while time.monotonic() < deadline and "31 cranes" not in content:
            r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                           json={"model": "rag", "messages": [{"role": "user", "content": question}]})
            content = r.json()["choices"][0]["message"]["content"]
            time.sleep(0.5)
        assert "31 cranes" in content, (content, (tmp_path / "serve.log").read_text()[-2000:])
        assert "watch: added gdansk.txt" in (tmp_path / "serve.log").read_text()
    finally:
        stop(server)
        log.close()
