"""A SQLite file beside the index, as the BM25 index (rag/lexical.py) and the sentence vectors
(rag/sentences.py) keep theirs: WAL (readers in other processes never wait for a writer), one connection per
object shared by threads under a lock, and whole transactions."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path


class LocalDB:
    SCHEMA = ""  # CREATE TABLE IF NOT EXISTS ... of the subclass

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=60, check_same_thread=False, isolation_level=None)
        self.lock = threading.RLock()
        with self.lock:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(self.SCHEMA)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: all of it or nothing."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self.lock:
            self.db.close()
