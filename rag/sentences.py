"""Sentence vectors, kept beside the index in SQLite (`sentences-<collection>.sqlite`), read by article.

The answerer needs the vectors of the sentences of the articles a question retrieved, and near-duplicate
detection those of a new article's neighbours: a few articles at a time, never a nearest-neighbour search.
Kept in Chroma, every read or write of one sentence loads the whole collection's vector index into the
process (at 1000x the bundled corpus: 200,000 sentences, ~2.8 s and ~1 GB on the first question). Here an
article's sentences are one row: their spans and their vectors as two arrays.

- Embedded index: this file holds them (written by the indexer, an article at a time, removed with it).
- With a Chroma server: the server's `<name>-sentences` collection holds them, shared by every app process;
  this file is the process's cache, filled per article on first need (an article's id is the hash of its
  text, so its sentences never change under the same id).
- An index made before this file existed is read from its Chroma collection the same way.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np

from .localdb import LocalDB

Rows = list[tuple[int, int, int, int, np.ndarray]]  # (position, start, end, words, vector)


class SentenceStore(LocalDB):
    """One row an article: its sentences' (position, start, end, words) as one int64 array and their vectors as
    one float32 matrix. A near-duplicate group of hundreds of articles is then hundreds of rows to read, not tens
    of thousands (at 1000x the bundled corpus, 367 articles of 18,413 sentences: ~95 ms a row a sentence).
    A file of the earlier layout (a row a sentence) is converted when opened, once."""

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS articles (doc TEXT PRIMARY KEY, n INTEGER, dim INTEGER, spans BLOB, vecs BLOB);
    """

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self._convert()

    def _convert(self) -> None:
        """Rewrite a file of the earlier layout (tables `sentences` and `docs`, a row a sentence) as rows by
        article, in one transaction (another process converting at the same time finds it done)."""
        def old() -> bool:
            return bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'docs'").fetchone())

        if not old():
            return
        with self.transaction():
            if not old():
                return
            docs = self.db.execute("SELECT doc FROM docs").fetchall()
            for (doc,) in docs:
                rows = [(p, s, e, w, np.frombuffer(v, dtype=np.float32)) for p, s, e, w, v in self.db.execute(
                    "SELECT position, start, end, words, vec FROM sentences WHERE doc = ? ORDER BY position", (doc,))]
                self._write(doc, rows)
            self.db.execute("DROP TABLE sentences")
            self.db.execute("DROP TABLE docs")
        with self.lock, contextlib.suppress(sqlite3.OperationalError):  # give the space back: the rows by
            self.db.execute("VACUUM")  # article take a third of it (busy: later writes reuse the free pages)

    def _write(self, doc_id: str, rows: Rows) -> None:
        spans = np.asarray([(p, s, e, w) for p, s, e, w, _ in rows], dtype=np.int64).reshape(len(rows), 4)
        dim = len(rows[0][4]) if rows else 0
        vecs = np.asarray([r[4] for r in rows], dtype=np.float32).reshape(len(rows), dim)
        self.db.execute("INSERT OR REPLACE INTO articles VALUES (?, ?, ?, ?, ?)",
                        (doc_id, len(rows), dim, spans.tobytes(), vecs.tobytes()))

    def put(self, doc_id: str, rows: Rows) -> None:
        """An article's sentences (all of them: the article counts as present from now on, even with none)."""
        with self.transaction():
            self._write(doc_id, sorted(rows, key=lambda r: r[0]))

    def remove(self, doc_id: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM articles WHERE doc = ?", (doc_id,))

    def count(self, doc_id: str) -> int | None:
        """Sentences held for an article; None when the article is not here at all."""
        row = self.db.execute("SELECT n FROM articles WHERE doc = ?", (doc_id,)).fetchone()
        return None if row is None else int(row[0])

    def _read(self, doc_ids: list[str]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(doc, spans n x 4, vectors n x dim) of the articles held here, in no set order."""
        with self.lock:
            for i in range(0, len(doc_ids), 500):
                part = doc_ids[i : i + 500]
                rows = self.db.execute(
                    f"SELECT doc, n, dim, spans, vecs FROM articles WHERE doc IN ({','.join('?' * len(part))})",
                    part).fetchall()
                for doc, n, dim, spans, vecs in rows:
                    yield (doc, np.frombuffer(spans, dtype=np.int64).reshape(n, 4),
                           np.frombuffer(vecs, dtype=np.float32).reshape(n, dim))

    def get(self, doc_ids: list[str]) -> dict[str, Rows]:
        """The rows of the articles held here, in sentence order (absent articles are left out)."""
        return {doc: [(int(p), int(s), int(e), int(w), vectors[i]) for i, (p, s, e, w) in enumerate(spans.tolist())]
                for doc, spans, vectors in self._read(doc_ids)}

    def arrays(self, doc_ids: list[str]) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """`get` for reading many articles at once (a near-duplicate group of hundreds): each held article's
        sentence spans and its vectors as one matrix. Absent articles are left out."""
        return {doc: ([(s, e) for _, s, e, _ in spans.tolist()], vectors) for doc, spans, vectors in self._read(doc_ids)}

    def ids(self) -> list[str]:
        """"doc_id:position" of every sentence held (tests and checks)."""
        out = []
        for doc, n, spans in self.db.execute("SELECT doc, n, spans FROM articles ORDER BY doc"):
            out += [f"{doc}:{p}" for p in np.frombuffer(spans, dtype=np.int64).reshape(n, 4)[:, 0].tolist()]
        return out

    def clear(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM articles")


def sentence_rows(store: Any, local: SentenceStore, doc_ids: list[str]) -> dict[str, Rows]:
    """The sentences of these articles: from the local file, else from the Chroma collection (a server's, or an
    older index's), which then fills the local file."""
    todo = list(dict.fromkeys(doc_ids))
    found = local.get(todo)
    missing = [d for d in todo if d not in found]
    if missing and store is not None and store.sentences_in_chroma():
        for i in range(0, len(missing), 100):
            part = missing[i : i + 100]
            where = {"doc_id": part[0]} if len(part) == 1 else {"doc_id": {"$in": part}}
            got = store.sentences.get(where=where, include=["embeddings", "metadatas"])
            fetched: dict[str, Rows] = {}
            for emb, meta in zip(got["embeddings"], got["metadatas"], strict=True):
                fetched.setdefault(meta["doc_id"], []).append(
                    (int(meta["position"]), int(meta["start"]), int(meta["end"]), int(meta.get("words", 0)),
                     np.asarray(emb, dtype=np.float32)))
            for doc_id, rows in fetched.items():
                rows.sort(key=lambda r: r[0])
                local.put(doc_id, rows)
                found[doc_id] = rows
    return found
