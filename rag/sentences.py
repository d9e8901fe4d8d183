"""Sentence vectors, kept beside the index in SQLite (`sentences-<collection>.sqlite`), read by article.

The answerer needs the vectors of the sentences of the articles a question retrieved, and near-duplicate
detection those of a new article's neighbours: a few articles at a time, never a nearest-neighbour search.
Kept in Chroma, every read or write of one sentence loads the whole collection's vector index into the
process (at 1000x the bundled corpus: 200,000 sentences, ~2.8 s and ~1 GB on the first question). Here an
article's sentences are one indexed range of rows.

- Embedded index: this file holds them (written by the indexer, an article at a time, removed with it).
- With a Chroma server: the server's `<name>-sentences` collection holds them, shared by every app process;
  this file is the process's cache, filled per article on first need (an article's id is the hash of its
  text, so its sentences never change under the same id).
- An index made before this file existed is read from its Chroma collection the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .localdb import LocalDB

Rows = list[tuple[int, int, int, int, np.ndarray]]  # (position, start, end, words, vector)


class SentenceStore(LocalDB):
    SCHEMA = """
        CREATE TABLE IF NOT EXISTS sentences (doc TEXT, position INTEGER, start INTEGER, end INTEGER,
            words INTEGER, vec BLOB, PRIMARY KEY (doc, position)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS docs (doc TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
    """

    def put(self, doc_id: str, rows: Rows) -> None:
        """An article's sentences (all of them: the article counts as present from now on, even with none)."""
        with self.transaction():
            self.db.execute("DELETE FROM sentences WHERE doc = ?", (doc_id,))
            self.db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)", [
                (doc_id, p, s, e, w, np.asarray(v, dtype=np.float32).tobytes()) for p, s, e, w, v in rows])
            self.db.execute("INSERT OR REPLACE INTO docs VALUES (?, ?)", (doc_id, len(rows)))

    def remove(self, doc_id: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM sentences WHERE doc = ?", (doc_id,))
            self.db.execute("DELETE FROM docs WHERE doc = ?", (doc_id,))

    def count(self, doc_id: str) -> int | None:
        """Sentences held for an article; None when the article is not here at all."""
        row = self.db.execute("SELECT n FROM docs WHERE doc = ?", (doc_id,)).fetchone()
        return None if row is None else int(row[0])

    def get(self, doc_ids: list[str]) -> dict[str, Rows]:
        """The rows of the articles held here, in sentence order (absent articles are left out)."""
        out: dict[str, Rows] = {}
        with self.lock:
            for i in range(0, len(doc_ids), 500):
                part = doc_ids[i : i + 500]
                marks = ",".join("?" * len(part))
                for (doc,) in self.db.execute(f"SELECT doc FROM docs WHERE doc IN ({marks})", part):
                    out[doc] = []
                for doc, p, s, e, w, v in self.db.execute(
                        f"SELECT doc, position, start, end, words, vec FROM sentences WHERE doc IN ({marks}) "
                        "ORDER BY doc, position", part):
                    out[doc].append((p, s, e, w, np.frombuffer(v, dtype=np.float32)))
        return out

    def arrays(self, doc_ids: list[str]) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """`get` for reading many articles at once (a near-duplicate group of hundreds): each held article's
        sentence spans and its vectors as one matrix, sliced from a single array made of all the rows' bytes
        (one numpy call in all, not one a sentence). Absent articles are left out."""
        out: dict[str, tuple[list[tuple[int, int]], np.ndarray]] = {}
        with self.lock:
            for i in range(0, len(doc_ids), 500):
                part = doc_ids[i : i + 500]
                marks = ",".join("?" * len(part))
                held = [d for (d,) in self.db.execute(f"SELECT doc FROM docs WHERE doc IN ({marks})", part)]
                rows = self.db.execute(f"SELECT doc, start, end, vec FROM sentences WHERE doc IN ({marks}) "
                                       "ORDER BY doc, position", part).fetchall()
                dim = len(rows[0][3]) // 4 if rows else 1
                matrix = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), dim)
                spans: dict[str, list[tuple[int, int]]] = {d: [] for d in held}
                first: dict[str, int] = {}
                for n, (doc, start, end, _) in enumerate(rows):
                    first.setdefault(doc, n)
                    spans[doc].append((start, end))
                for doc in held:
                    at = first.get(doc, 0)
                    out[doc] = (spans[doc], matrix[at : at + len(spans[doc])])
        return out

    def ids(self) -> list[str]:
        """"doc_id:position" of every sentence held (tests and checks)."""
        return [f"{d}:{p}" for d, p in self.db.execute("SELECT doc, position FROM sentences ORDER BY doc, position")]

    def clear(self) -> None:
        with self.lock:
            self.db.executescript("DELETE FROM sentences; DELETE FROM docs;")



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
