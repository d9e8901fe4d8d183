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


def test_dead_server_is_a_clear_error(tmp_path):
    a = Assistant(settings=Settings(chroma_url=f"http://127.0.0.1:{free_port()}"), embedder=fake_embedder(), auto_build=False)
    with pytest.raises(StoreUnavailable, match=r"Cannot reach the Chroma server at http://127\.0\.0\.1:\d+.*chroma run"):
        a.search("anything")
