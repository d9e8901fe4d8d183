"""An in-memory view of an opened index: article texts and metadata, chunk texts and vectors, sentence
vectors and the BM25 index. Loaded once after the index opens (and again after it changes), so that a
question costs one query embedding, one Chroma query and array arithmetic."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .lexical import BM25, corpus_key, words
from .store import Store


def _matrix(rows: list[Any]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, 1), dtype=np.float32)


@dataclass
class Snapshot:
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    chunk_ids: list[str] = field(default_factory=list)
    chunk_doc: list[str] = field(default_factory=list)
    chunk_span: list[tuple[int, int]] = field(default_factory=list)
    chunk_sentences: list[list[tuple[int, int]]] = field(default_factory=list)
    chunk_vecs: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    chunk_index: dict[str, int] = field(default_factory=dict)
    sent_index: dict[tuple[str, int], int] = field(default_factory=dict)  # (doc_id, start) -> row
    sent_vecs: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    sent_by_doc: dict[str, list[int]] = field(default_factory=dict)
    sent_span: list[tuple[str, int, int]] = field(default_factory=list)
    bm25: BM25 | None = None
    _idf: dict[str, float] | None = None

    @classmethod
    def load(cls, store: Store, cache_dir: Path | None) -> Snapshot:
        snap = cls()
        for doc_id, meta, text in store.iter_docs(include_text=True):
            snap.docs[doc_id], snap.texts[doc_id] = meta, text
        vecs: list[Any] = []
        for page in store.pages(store.chunks, ["embeddings", "metadatas"]):
            for cid, emb, meta in zip(page["ids"], page["embeddings"], page["metadatas"], strict=True):
                if meta["doc_id"] not in snap.docs:
                    continue  # leftovers of an interrupted run
                snap.chunk_index[cid] = len(snap.chunk_ids)
                snap.chunk_ids.append(cid)
                snap.chunk_doc.append(meta["doc_id"])
                snap.chunk_span.append((int(meta["start"]), int(meta["end"])))
                snap.chunk_sentences.append([tuple(s) for s in json.loads(meta["sentences"])])
                vecs.append(emb)
        snap.chunk_vecs = _matrix(vecs)
        svecs: list[Any] = []
        for page in store.pages(store.sentences, ["embeddings", "metadatas"]):
            for emb, meta in zip(page["embeddings"], page["metadatas"], strict=True):
                doc_id = meta["doc_id"]
                if doc_id not in snap.docs:
                    continue
                row = len(svecs)
                snap.sent_index[(doc_id, int(meta["start"]))] = row
                snap.sent_span.append((doc_id, int(meta["start"]), int(meta["end"])))
                snap.sent_by_doc.setdefault(doc_id, []).append(row)
                svecs.append(emb)
        snap.sent_vecs = _matrix(svecs)
        if snap.chunk_ids:  # an empty index (say, interrupted before its first article) has no BM25
            texts = [snap.chunk_text(i) for i in range(len(snap.chunk_ids))]
            snap.bm25 = BM25(texts, cache_dir=cache_dir, key=corpus_key(snap.chunk_ids))
        return snap

    def idf(self) -> dict[str, float]:
        """Inverse document frequency of every word over the chunks (BM25's formula), computed once."""
        if self._idf is None:
            df: dict[str, int] = {}
            for i in range(len(self.chunk_ids)):
                for w in set(words(self.chunk_text(i))):
                    df[w] = df.get(w, 0) + 1
            n = max(len(self.chunk_ids), 1)
            self._idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
        return self._idf

    def chunk_text(self, i: int) -> str:
        start, end = self.chunk_span[i]
        return self.texts[self.chunk_doc[i]][start:end]

    def title(self, doc_id: str) -> str:
        meta = self.docs.get(doc_id, {})
        return meta.get("title") or meta.get("path", "").rsplit("/", 1)[-1]
