"""Words for lexical matching: a tokenizer with stop words and a light English stemmer, and the BM25 index
over the chunks, kept on disk beside the index and updated as articles come and go."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from pathlib import Path

import numpy as np

from .localdb import LocalDB

TOKENIZER_VERSION = 3  # 3: accents folded (Beyoncé meets Beyonce)
STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "also", "according", "said", "says", "say", "did", "does", "according", "whose"]
)
_WORD_RE = re.compile(r"[a-z0-9]+(?:[.'’][a-z0-9]+)*")


def stem(word: str) -> str:
    """A light suffix stripper: enough to meet 'sanctioned'/'sanctions', 'troops'/'troop'."""
    for suffix, keep in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)] + keep
            break
    # a final silent e goes too, so that 'invade', 'invaded' and 'invading' meet
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


@functools.lru_cache(maxsize=200_000)
def word_set(text: str) -> frozenset[str]:
    """`set(words(text))`, cached: candidate sentences and passages recur from question to question."""
    return frozenset(word_tuple(text))


@functools.lru_cache(maxsize=200_000)
def word_tuple(text: str) -> tuple[str, ...]:
    """`words(text)` as a tuple, cached."""
    return tuple(words(text))


def words(text: str) -> list[str]:
    """Content words, lower-cased and stemmed, in order (repeats kept)."""
    out = []
    if not text.isascii():  # fold accents: "Beyoncé" and "Beyonce", "Chopin's Études" and "etudes" meet
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    for raw in _WORD_RE.findall(text.lower().replace("’", "'")):
        raw = raw.replace(".", "").removesuffix("'s")
        if raw and raw not in STOPWORDS:
            out.append(stem(raw))
    return out


class LexicalIndex(LocalDB):
    """BM25 over the chunks, kept on disk in SQLite and updated article by article: nothing is loaded when an
    index opens, a question reads the postings of its own words only.

    Tables: `terms` (word -> id, document frequency), `postings` (a word's (chunk row, term frequency) pairs in
    blocks of up to BLOCK pairs; new pairs go to the word's last block), `chunks` (chunk id -> row, length,
    and its words with their frequencies, so that removing it needs no text). A removed chunk's row is marked
    dead (length 0) and its words' frequencies decremented; its postings are dropped when more than a third
    of all postings are dead (`compact`). Scores are bm25s' "lucene" BM25 (k1 1.5, b 0.75), the formula the
    previous, in-memory index used. `generation` records which state of the Chroma index it reflects."""

    K1, B = 1.5, 0.75
    BLOCK = 2048

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE IF NOT EXISTS terms (id INTEGER PRIMARY KEY, term TEXT UNIQUE, df INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS postings (term INTEGER, block INTEGER, n INTEGER, data BLOB,
                                             PRIMARY KEY (term, block)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS chunks (row INTEGER PRIMARY KEY, id TEXT UNIQUE, len INTEGER, terms BLOB, tfs BLOB);
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with self.lock:
            if self._meta("tokenizer") not in (None, str(TOKENIZER_VERSION)):
                self.clear()  # words are cut differently now: start again (the next open refills it)
            self._set_meta("tokenizer", str(TOKENIZER_VERSION))
        self._lengths: np.ndarray | None = None

    # ------------------------------------------------------------ state
    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> str | None:
        return self._meta("generation")

    def set_generation(self, value: str | None) -> None:
        with self.lock:
            if value is None:
                self.db.execute("DELETE FROM meta WHERE key = 'generation'")
            else:
                self._set_meta("generation", value)

    def clear(self) -> None:
        with self.lock:
            self.db.executescript("DELETE FROM terms; DELETE FROM postings; DELETE FROM chunks; "
                                  "DELETE FROM meta WHERE key IN ('generation', 'n', 'total', 'dead');")
            self._lengths = None

    def _stat(self, key: str) -> int:
        return int(self._meta(key) or 0)

    @property
    def size(self) -> int:
        """Live chunks."""
        return self._stat("n")

    def ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM chunks WHERE len > 0")}

    # ------------------------------------------------------------ writing
    def add(self, items: list[tuple[str, str]]) -> None:
        """Index (chunk id, text) pairs; a chunk already present is left as it is."""
        with self.transaction():
            self._add(items)
        self._lengths = None

    def _add(self, items: list[tuple[str, str]]) -> None:
        # One statement of each kind per call, not per chunk: the words of all new chunks get their ids together,
        # each word's document frequency goes up once by its count, its postings get one append.
        present = self._present([cid for cid, _ in items])
        new: list[tuple[str, dict[str, int]]] = []
        for cid, text in items:
            if cid in present:
                continue
            present.add(cid)
            counts: dict[str, int] = {}
            for w in words(text) or ["∅"]:
                counts[w] = counts.get(w, 0) + 1
            new.append((cid, counts))
        if not new:
            return
        # The same chunk removed earlier (an article removed, then added again) left a dead row: its postings stay
        # dead (they name the old row), the id moves to a new row, numbered before the dead one goes (a row number
        # is never used twice: the old postings would count for the new row).
        row = (self.db.execute("SELECT MAX(row) FROM chunks").fetchone()[0] or 0) + 1
        self.db.executemany("DELETE FROM chunks WHERE id = ? AND len = 0", [(cid,) for cid, _ in new])
        term_ids = self._term_ids(list(dict.fromkeys(w for _, counts in new for w in counts)))
        n, total = self._stat("n"), self._stat("total")
        rows = []
        df: dict[int, int] = {}
        new_postings: dict[int, list[tuple[int, int]]] = {}
        for cid, counts in new:
            tids = np.asarray([term_ids[w] for w in counts], dtype=np.int32)
            tfs = np.asarray(list(counts.values()), dtype=np.int32)
            length = int(tfs.sum())
            rows.append((row, cid, length, tids.tobytes(), tfs.tobytes()))
            for t, tf in zip(tids.tolist(), tfs.tolist(), strict=True):
                new_postings.setdefault(t, []).append((row, tf))
                df[t] = df.get(t, 0) + 1
            n, total, row = n + 1, total + length, row + 1
        self.db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)", rows)
        self.db.executemany("UPDATE terms SET df = df + ? WHERE id = ?", [(d, t) for t, d in df.items()])
        for term, pairs in new_postings.items():
            self._append(term, np.asarray(pairs, dtype=np.int32))
        self._set_meta("n", str(n))
        self._set_meta("total", str(total))

    def _present(self, ids: list[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            out |= {r[0] for r in self.db.execute(
                f"SELECT id FROM chunks WHERE len > 0 AND id IN ({','.join('?' * len(part))})", part)}
        return out

    def _term_ids(self, terms: list[str]) -> dict[str, int]:
        self.db.executemany("INSERT OR IGNORE INTO terms (term, df) VALUES (?, 0)", [(t,) for t in terms])
        out: dict[str, int] = {}
        for i in range(0, len(terms), 500):
            part = terms[i : i + 500]
            out.update(self.db.execute(f"SELECT term, id FROM terms WHERE term IN ({','.join('?' * len(part))})", part))
        return out

    def _append(self, term: int, pairs: np.ndarray) -> None:
        last = self.db.execute("SELECT block, n, data FROM postings WHERE term = ? ORDER BY block DESC LIMIT 1",
                               (term,)).fetchone()
        block, data = (last[0], np.frombuffer(last[2], dtype=np.int32).reshape(-1, 2)) if last else (0, None)
        if data is not None and len(data) < self.BLOCK:
            room = self.BLOCK - len(data)
            merged = np.vstack([data, pairs[:room]])
            self.db.execute("UPDATE postings SET n = ?, data = ? WHERE term = ? AND block = ?",
                            (len(merged), merged.tobytes(), term, block))
            pairs = pairs[room:]
        if data is not None:
            block += 1
        for i in range(0, len(pairs), self.BLOCK):
            part = pairs[i : i + self.BLOCK]
            self.db.execute("INSERT INTO postings VALUES (?, ?, ?, ?)", (term, block, len(part), part.tobytes()))
            block += 1

    def remove(self, ids: list[str]) -> int:
        """Forget chunks by id; returns how many were there."""
        with self.transaction():
            removed = self._remove(ids)
        self._lengths = None
        # "dead" counts (chunk, word) pairs and "total" the words of the live chunks (at least their pairs): the
        # postings are rewritten once the dead pairs pass about a third of all. (Compared with the count of live
        # chunks, as before 2026-12-07, nearly every removal rewrote every posting: 2-3 s at 100,000 chunks.)
        if self._stat("dead") * 2 > max(self._stat("total"), 1):
            self.compact()
        return removed

    def remove_prefix(self, prefix: str) -> int:
        """Forget every chunk whose id starts with `prefix` (an article's chunks: "doc_id:")."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE id >= ? AND id < ? AND len > 0",
                                             (prefix, prefix + "\uffff"))]
        return self.remove(ids) if ids else 0

    def _remove(self, ids: list[str]) -> int:
        n, total, dead = self._stat("n"), self._stat("total"), self._stat("dead")
        removed = 0
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self.db.execute(
                f"SELECT row, len, terms FROM chunks WHERE len > 0 AND id IN ({','.join('?' * len(part))})", part
            ).fetchall()
            for row, length, terms in rows:
                tids = np.frombuffer(terms, dtype=np.int32)
                self.db.executemany("UPDATE terms SET df = df - 1 WHERE id = ?", [(int(t),) for t in tids])
                self.db.execute("UPDATE chunks SET len = 0 WHERE row = ?", (row,))
                n, total, dead, removed = n - 1, total - length, dead + len(tids), removed + 1
        self._set_meta("n", str(n))
        self._set_meta("total", str(total))
        self._set_meta("dead", str(dead))
        return removed

    def compact(self) -> None:
        """Rewrite the postings without the dead chunks' pairs (from the words each live chunk keeps)."""
        with self.transaction():
            self.db.execute("DELETE FROM postings")
            self.db.execute("DELETE FROM chunks WHERE len = 0")
            self.db.execute("DELETE FROM terms WHERE df <= 0")
            lists: dict[int, list[np.ndarray]] = {}
            for row, terms, tfs in self.db.execute("SELECT row, terms, tfs FROM chunks ORDER BY row"):
                tids, counts = np.frombuffer(terms, dtype=np.int32), np.frombuffer(tfs, dtype=np.int32)
                for t, tf in zip(tids.tolist(), counts.tolist(), strict=True):
                    lists.setdefault(t, []).append(np.asarray([row, tf], dtype=np.int32))
            for term, pairs in lists.items():
                self._append(term, np.stack(pairs))
            self._set_meta("dead", "0")
        self._lengths = None

    # ------------------------------------------------------------ reading
    def refresh(self) -> None:
        """Forget what was read (another connection, or process, may have written since)."""
        self._lengths = None

    def _chunk_lengths(self) -> np.ndarray:
        if self._lengths is None:
            top = self.db.execute("SELECT MAX(row) FROM chunks").fetchone()[0] or 0
            lengths = np.zeros(top + 1, dtype=np.float32)
            for row, length in self.db.execute("SELECT row, len FROM chunks"):
                lengths[row] = length
            self._lengths = lengths
        return self._lengths

    def df(self, terms: list[str]) -> dict[str, int]:
        """Live chunks holding each word (absent words are left out)."""
        out: dict[str, int] = {}
        unique = list(dict.fromkeys(terms))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            out.update((t, d) for t, d in self.db.execute(
                f"SELECT term, df FROM terms WHERE df > 0 AND term IN ({','.join('?' * len(part))})", part))
        return out

    def idf(self, df: int) -> float:
        n = self.size
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def rows_of(self, doc_ids: list[str] | frozenset[str] | set[str]) -> np.ndarray:
        """The rows of these articles' chunks (a chunk's id is "<doc id>:<n>": one range of the id index each)."""
        with self.lock:
            rows: list[int] = []
            for doc_id in sorted(doc_ids):
                rows += [r for (r,) in self.db.execute("SELECT row FROM chunks WHERE id >= ? AND id < ? AND len > 0",
                                                       (f"{doc_id}:", f"{doc_id};"))]
            return np.asarray(sorted(rows), dtype=np.int64)

    def top(self, query: str, n: int, among: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The n best chunks for the query's words (positive scores only), best first, ties by insertion.
        `among`: only these rows compete (a scope's chunks, `rows_of`); every word keeps its weight over all."""
        with self.lock:
            tokens = words(query)
            if not tokens or not self.size:
                return []
            known = self.df(tokens)
            tokens = [t for t in tokens if t in known]
            if not tokens:
                return []
            lengths = self._chunk_lengths()
            avgdl = self._stat("total") / max(self.size, 1)
            scores = np.zeros(len(lengths), dtype=np.float32)
            ids = dict(self.db.execute(f"SELECT term, id FROM terms WHERE term IN ({','.join('?' * len(known))})",
                                       list(known)))
            for token in tokens:  # a repeated word counts each time, as bm25s counts it
                blobs = self.db.execute("SELECT data FROM postings WHERE term = ? ORDER BY block", (ids[token],))
                pairs = np.frombuffer(b"".join(b for (b,) in blobs), dtype=np.int32).reshape(-1, 2)
                rows, tf = pairs[:, 0], pairs[:, 1].astype(np.float32)
                rows_ok = rows < len(lengths)
                rows, tf = rows[rows_ok], tf[rows_ok]
                dl = lengths[rows]
                live = dl > 0
                rows, tf, dl = rows[live], tf[live], dl[live]
                scores[rows] += self.idf(known[token]) * tf / (tf + self.K1 * (1 - self.B + self.B * dl / avgdl))
            if among is not None:
                kept = np.zeros(len(scores), dtype=bool)
                kept[among[among < len(scores)]] = True
                scores[~kept] = 0.0
            hits = np.flatnonzero(scores > 0)
            order = hits[np.argsort(-scores[hits], kind="stable")][:n]
            if not len(order):
                return []
            names = dict(self.db.execute(f"SELECT row, id FROM chunks WHERE row IN ({','.join('?' * len(order))})",
                                         [int(r) for r in order]))
            return [(names[int(r)], float(scores[r])) for r in order]

