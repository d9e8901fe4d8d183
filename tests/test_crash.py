"""kill -9 during indexing leaves an index that opens, and the next run finishes the job exactly."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.load import bundled_corpus

from .conftest import fake_embedder

WORKER = Path(__file__).parent / "helpers" / "index_worker.py"


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory):
    """Ten articles: the bundled five and an edited copy of each."""
    folder = tmp_path_factory.mktemp("crash") / "big"
    shutil.copytree(bundled_corpus(), folder)
    for path in list(folder.glob("*.txt")):
        (folder / f"copy_{path.name}").write_text(path.read_text(encoding="utf-8") + "\nAn edited copy.\n", encoding="utf-8")
    return folder


def _run_worker(index_dir, corpus, delay, kill_after_batches=None):
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(index_dir), str(corpus), str(delay)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    if kill_after_batches is None:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return out
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("batch")
        if seen >= kill_after_batches:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"worker ended before the kill (after {seen} batches)"
    return ""


def _state(index_dir):
    # Another process wrote this index: drop this process's cached Chroma client for it, as a fresh process
    # would (embedded Chroma does not see other processes' vector writes through a cached client).
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    a = Assistant(settings=Settings(index_dir=index_dir), embedder=fake_embedder(), auto_build=False)
    docs = a.documents()
    store = a.opened()[0]
    chunks, sentences = store.all_ids(store.chunks), store.all_ids(store.sentences)
    assert len(chunks) == len(set(chunks)) and len(sentences) == len(set(sentences)), "no duplicate ids"
    return sorted(d.doc_id for d in docs), sorted(chunks), sorted(sentences), a


@pytest.fixture(scope="module")
def expected(big_corpus, tmp_path_factory):
    """Doc, chunk and sentence ids of a clean, uninterrupted build."""
    reference = tmp_path_factory.mktemp("reference") / "index"
    _run_worker(reference, big_corpus, 0)
    return _state(reference)[:3]


@pytest.mark.integration
@pytest.mark.parametrize("kill_after", [1, 4, 17, 38, 61])
def test_kill_9_mid_index_then_rerun_matches_a_clean_build(big_corpus, expected, tmp_path, kill_after):
    assert len(expected[0]) == 10

    index_dir = tmp_path / "killed"
    _run_worker(index_dir, big_corpus, 0.02, kill_after_batches=kill_after)
    # The interrupted index opens and answers (possibly with fewer articles).
    partial_docs, _, _, a = _state(index_dir)
    assert set(partial_docs) <= set(expected[0])
    if partial_docs:
        assert a.search("North Korean troops", k=3)
    out = _run_worker(index_dir, big_corpus, 0)
    assert out.strip().endswith(f"done 10 {len(expected[1])}")
    assert _state(index_dir)[:3] == expected, "after the rerun the index equals a clean build"
