"""Shared fixtures: a deterministic word-hash embedder, isolated index folders, copies of the corpus."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

from rag import Assistant, Settings
from rag.embed import Embedder
from rag.load import bundled_corpus


class WordHashEmbedding(BaseEmbedding):
    """Bag of hashed words: texts sharing words get close vectors. Deterministic and instant."""

    dim: int = 64

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim)
        for word in re.findall(r"\w+", text.lower()):
            h = int(hashlib.md5(word.encode()).hexdigest(), 16)
            vec[h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        if not vec.any():
            vec[0] = 1.0
        return (vec / np.linalg.norm(vec)).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


def fake_embedder(model_id: str = "fake-wordhash-64", dim: int = 64) -> Embedder:
    return Embedder(WordHashEmbedding(dim=dim), model_id, dim, batch_size=16)


@pytest.fixture(autouse=True, scope="session")
def no_caller_settings():
    """No `RAG_*` setting of the caller's shell reaches any test, module- and session-wide fixtures included
    (they are built before the per-test `isolated` runs)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("RAG_")]:
            mp.delenv(var)
        yield


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own folder, with its own index, offline, whatever the caller's environment."""
    for var in [v for v in os.environ if v.startswith("RAG_")]:  # any setting in the caller's shell
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the bundled corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(bundled_corpus(), target)
    return target


@pytest.fixture
def embedder() -> Embedder:
    return fake_embedder()


@pytest.fixture
def assistant(tmp_path: Path, embedder: Embedder) -> Assistant:
    """An assistant on a fresh index in tmp_path, with the fake embedder, that does not auto-build."""
    return Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=embedder, auto_build=False)


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    from rag.embed import load_embedder

    return load_embedder()


def indexed_assistant(root: Path, embedder: Embedder, articles: dict[str, str]) -> Assistant:
    """An assistant on a new index under `root` of the given articles (file name -> text)."""
    folder = root / "articles"
    folder.mkdir()
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    a = Assistant(settings=Settings(index_dir=root / "index", quiet=True), embedder=embedder, auto_build=False)
    a.index([folder], progress=False)
    return a
