"""A view of an opened index at one generation, read on demand.

Opening reads nothing. What a question needs is fetched then and kept in caches (bounded, but for the
articles' records: a few hundred bytes each): the retrieved chunks come with their vectors from Chroma's own
nearest-neighbour query, BM25 reads the postings of the question's words from the lexical index on disk
(`rag/lexical.py`), and an article's text (from Chroma, by id) and sentence vectors (`rag/sentences.py`)
are fetched the first time one of its chunks is retrieved. So opening costs the same at 5 or 5,000 articles, and the memory held is the caches',
in the embedded store and with a Chroma server alike.

`state` is the index's change counter and token when the view was opened (Store.state): the assistant
compares it with the store's before each question and opens a new view when another process changed the
index; `generation` is the counter alone.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .lexical import LexicalIndex
from .scope import Scope
from .sentences import SentenceStore
from .store import Store

# Chroma's nearest neighbours asked for per passage wanted (Snapshot.candidates): the n nearest are then chosen by
# their distance, ties by id, so that HNSW's approximate edge changes answers from process to process far less often.
DENSE_POOL = 4

MAX_CHUNKS = 50_000  # cached chunk records (with vectors: about 80 MB at the most)
MAX_DOCS = 2_000  # cached article texts and sentence vectors
# A scope of at most this many chunks is searched exactly, over its chunks' vectors (read once, then cached):
# Chroma's own filtered query took ~100 ms for one article among 102,429 chunks, against ~2 ms unfiltered.
EXACT_SCOPE_CHUNKS = 5_000


@dataclass
class ChunkRec:
    chunk_id: str
    doc_id: str
    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]
    vector: np.ndarray


@dataclass
class DocSentences:
    spans: list[tuple[int, int]]
    vectors: np.ndarray  # one row per span, normalised
    row: dict[int, int] = field(init=False)  # start offset -> row, from the spans

    def __post_init__(self) -> None:
        self.row = {s: i for i, (s, _) in enumerate(self.spans)}

    def vector_at(self, start: int) -> np.ndarray | None:
        """The vector of the sentence starting at `start`; None when no sentence starts there."""
        row = self.row.get(start)
        return self.vectors[row] if row is not None else None


def title_of(meta: dict[str, Any]) -> str:
    """An article's title, from its record: its title, else its file's name."""
    return meta.get("title") or meta.get("path", "").rsplit("/", 1)[-1]


@dataclass
class Gathered:
    """What one question reads of the index about its retrieved passages, fetched in one pass
    (`Snapshot.gather`): the passages' chunk records, and their articles' texts, records and sentences. The
    candidates and their features are computed from it alone (rag/candidates.py, rag/features.py), without
    going back to the snapshot per candidate. `cache` is the snapshot's cache of derived values (features.py)."""

    chunks: dict[str, ChunkRec]
    texts: dict[str, str]
    docs: dict[str, dict[str, Any]]  # the articles' records; an article removed meanwhile has none
    sentences: dict[str, DocSentences]
    cache: dict[str, Any] = field(default_factory=dict)

    def title(self, doc_id: str) -> str:
        return title_of(self.docs.get(doc_id, {}))

    def chunk_text(self, rec: ChunkRec) -> str:
        return self.texts[rec.doc_id][rec.start : rec.end]

    def sentence_vector(self, doc_id: str, start: int) -> np.ndarray | None:
        return self.sentences[doc_id].vector_at(start)


class _Bounded(OrderedDict):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class _Texts:
    """`snap.texts[doc_id]`: an article's cleaned text, fetched on first use."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def __getitem__(self, doc_id: str) -> str:
        return self.snap.text(doc_id)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.snap.docs

    def get(self, doc_id: str, default: str | None = None) -> str | None:
        return self.snap.text(doc_id) if doc_id in self.snap.docs else default


class Docs:
    """`snap.docs`: the articles' records (metadata) by id, fetched by id on first use and kept (a few hundred
    bytes each). An id with no record is no article (one another process is still writing, or removed). Going
    through all of them (`items()`, `len()`; evals only) reads every record once."""

    def __init__(self, store: Store | None, preloaded: dict[str, dict[str, Any]] | None = None) -> None:
        self.store = store
        self._meta: dict[str, dict[str, Any]] = dict(preloaded or {})
        self._absent: set[str] = set()
        self._complete = preloaded is not None or store is None
        self._lock = threading.RLock()

    def fetch(self, doc_ids: list[str] | set[str]) -> None:
        with self._lock:
            todo = [d for d in dict.fromkeys(doc_ids) if d not in self._meta and d not in self._absent]
            if not todo or self._complete:
                return
            assert self.store is not None
            got = self.store.docs.get(ids=todo, include=["metadatas"])
            for doc_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                self._meta[doc_id] = meta or {}
            self._absent.update(d for d in todo if d not in self._meta)

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        self.fetch([doc_id])
        return doc_id in self._meta

    def get(self, doc_id: str, default: Any = None) -> Any:
        return self._meta[doc_id] if doc_id in self else default

    def __getitem__(self, doc_id: str) -> dict[str, Any]:
        if doc_id not in self:
            raise KeyError(doc_id)
        return self._meta[doc_id]

    def _load_all(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            if not self._complete:
                assert self.store is not None
                self._meta = {doc_id: meta for doc_id, meta, _ in self.store.iter_docs()}
                self._complete = True
            return self._meta

    def items(self) -> Any:
        return self._load_all().items()

    def keys(self) -> Any:
        return self._load_all().keys()

    def __iter__(self) -> Any:
        return iter(self._load_all())

    def __len__(self) -> int:
        return len(self._load_all())

    @property
    def loaded(self) -> int:
        """Records read so far."""
        return len(self._meta)


class Snapshot:
    def __init__(self, store: Store | None, lexical: LexicalIndex | None, docs: dict[str, dict[str, Any]] | None = None,
                 state: str = "0:", sentence_store: SentenceStore | None = None) -> None:
        self.store = store
        self.lexical = lexical
        self.sentence_store = sentence_store
        self.docs = Docs(store, docs)
        self.state = state
        self.generation = int(state.split(":", 1)[0])
        self.texts = _Texts(self)
        self._groups: dict[str, list[str]] = {}
        self._chunks: _Bounded = _Bounded(MAX_CHUNKS)
        self._texts: _Bounded = _Bounded(MAX_DOCS)
        self._sentences: _Bounded = _Bounded(MAX_DOCS)
        self._df: _Bounded = _Bounded(100_000)
        self._lock = threading.RLock()
        self.cache: dict[str, Any] = {}  # per-view caches of derived values (features.py)

    def cached(self) -> tuple[int, int]:
        """How many chunk records and article texts this snapshot holds in memory (read on demand)."""
        return len(self._chunks), len(self._texts)

    @classmethod
    def load(cls, store: Store, lexical: LexicalIndex | None, state: str = "0:",
             sentence_store: SentenceStore | None = None) -> Snapshot:
        """A view of the store as it is now; nothing is read until a question needs it."""
        return cls(store, lexical, None, state, sentence_store)

    # ------------------------------------------------------------ articles
    def title(self, doc_id: str) -> str:
        return title_of(self.docs.get(doc_id, {}))

    def text(self, doc_id: str) -> str:
        with self._lock:
            if doc_id not in self._texts:
                self._fetch_texts([doc_id])
            return self._texts[doc_id]

    def _fetch_texts(self, doc_ids: list[str]) -> None:
        todo = [d for d in dict.fromkeys(doc_ids) if d not in self._texts]
        if not todo:
            return
        got = self.store.docs.get(ids=todo, include=["documents"]) if self.store else {"ids": [], "documents": []}
        for doc_id, text in zip(got["ids"], got["documents"] or [], strict=False):
            self._texts.put(doc_id, text or "")
        for doc_id in todo:  # removed meanwhile by another process: nothing to quote from it
            if doc_id not in self._texts:
                self._texts.put(doc_id, "")

    def group_members(self, group: str) -> list[str]:
        """The articles of a near-duplicate group (one query by the group's id, then kept; their records are read
        when something asks for them, not here: a group has hundreds of members in a large corpus)."""
        if not group:
            return []
        with self._lock:
            if group not in self._groups:
                if self.store is None or self.docs._complete:
                    found = sorted(d for d, m in self.docs.items() if m.get("dup_group") == group)
                else:
                    found = sorted(self.store.docs.get(where={"dup_group": group}, include=[])["ids"])
                self._groups[group] = found
            return self._groups[group]

    # ------------------------------------------------------------ chunks
    def chunk(self, chunk_id: str) -> ChunkRec | None:
        with self._lock:
            if chunk_id not in self._chunks:
                self.fetch_chunks([chunk_id])
            return self._chunks.get(chunk_id)

    def chunk_text(self, rec: ChunkRec) -> str:
        return self.text(rec.doc_id)[rec.start : rec.end]

    def fetch_chunks(self, chunk_ids: list[str]) -> None:
        """Fetch the records (metadata and vector) of chunks not cached yet, in one call."""
        with self._lock:
            todo = [c for c in dict.fromkeys(chunk_ids) if c not in self._chunks]
            if todo and self.store is not None:
                got = self.store.chunks.get(ids=todo, include=["embeddings", "metadatas"])
                self._remember(got["ids"], got["embeddings"], got["metadatas"])

    def _remember(self, ids: list[str], embeddings: Any, metadatas: list[dict[str, Any]]) -> None:
        import json

        self.docs.fetch({m["doc_id"] for m in metadatas if m and m.get("doc_id")})
        for cid, emb, meta in zip(ids, embeddings, metadatas, strict=True):
            if cid in self._chunks or meta is None or meta.get("doc_id") not in self.docs:
                continue  # leftovers of an interrupted run, or an article another process is writing
            self._chunks.put(cid, ChunkRec(
                cid, meta["doc_id"], int(meta["start"]), int(meta["end"]),
                tuple(tuple(s) for s in json.loads(meta["sentences"])), np.asarray(emb, dtype=np.float32),
            ))

    def in_scope(self, scope: Scope) -> frozenset[str]:
        """The ids of the articles a scope names (ScopeError when it names none), worked out once a snapshot."""
        key = ("scope", scope)
        with self._lock:
            if key not in self.cache:
                self.cache[key] = scope.resolve(self.docs)
            return self.cache[key]

    def _scope_chunks(self, docs: frozenset[str]) -> list[str] | None:
        """The chunk ids of a scope of at most EXACT_SCOPE_CHUNKS chunks (an article's are "<id>:0000" on, as many
        as its record counts); None for a larger one (Chroma's filtered query searches it)."""
        if self.store is None:
            return None
        key = ("scope_chunks", docs)
        if key not in self.cache:  # (kept a snapshot, as the scope's BM25 rows are)
            self.docs.fetch(docs)
            counts = {d: int(self.docs.get(d, {}).get("n_chunks", 0) or 0) for d in docs}
            self.cache[key] = None if sum(counts.values()) > EXACT_SCOPE_CHUNKS else \
                [f"{d}:{i:04d}" for d in sorted(docs) for i in range(counts[d])]
        return self.cache[key]

    def _nearest(self, vector: np.ndarray, chunk_ids: list[str]) -> list[tuple[float, str]]:
        """(cosine distance, rounded as Chroma's are kept, chunk id) of these chunks to `vector`."""
        self.fetch_chunks(chunk_ids)
        recs = [r for c in chunk_ids if (r := self._chunks.get(c)) is not None]
        if not recs:
            return []
        matrix = np.stack([r.vector for r in recs]).astype(np.float32)
        q = np.asarray(vector, dtype=np.float32)
        cos = matrix @ q / np.maximum(np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q)), 1e-12)
        return [(round(float(1.0 - c), 6), r.chunk_id) for c, r in zip(cos, recs, strict=True)]

    def _scope_rows(self, docs: frozenset[str]) -> np.ndarray | None:
        """BM25's rows of a scope's chunks (kept a snapshot)."""
        if self.lexical is None:
            return None
        key = ("scope_rows", docs)
        if key not in self.cache:
            self.cache[key] = self.lexical.rows_of(docs)
        return self.cache[key]

    def candidates(self, vector: np.ndarray | None, query: str | None, n: int,
                   docs: frozenset[str] | None = None) -> tuple[list[str], list[str]]:
        """Chunk ids, best first, from Chroma's nearest-neighbour query for `vector` and from BM25 for `query`
        (either may be None). The records of both not cached yet come in one fetch after the query, and the
        articles' records in one more, so a question costs the same few round trips to a Chroma server however
        many articles its passages come from. `docs`: only these articles' chunks compete, in both searches
        (Chroma's `where` on the chunks' doc_id, BM25's rows of them), not a filter of the top n afterwards."""
        with self._lock:  # (Chroma returns fewer than n when it holds fewer)
            pool: list[tuple[float, str]] = []
            if docs is not None and not docs:
                return [], []
            exact = self._scope_chunks(docs) if docs is not None else None
            if exact is not None and vector is not None:  # a small scope: its every chunk, by exact cosine distance
                pool = self._nearest(vector, exact)
            elif vector is not None and self.store is not None:
                # Chroma's HNSW search is approximate and its graph, as a process loads it, is not the same from
                # process to process: the same question got another 20th passage, then another answer. Ask for
                # DENSE_POOL times as many and keep the n nearest by their distance (computed exactly for every
                # hit), ties by id: squad2's answers differing between two processes went from 2-4 of 388 to 0-1
                # (evals/measure_determinism.py; the rest is a true neighbour the loaded graph missed). Only the
                # distances come with the query (the records of 4n hits cost Chroma 10 ms on the bundled index
                # against 1.5 ms without); the kept hits' records come with BM25's below, in one fetch.
                where = None if docs is None else {"doc_id": next(iter(docs))} if len(docs) == 1 else \
                    {"doc_id": {"$in": sorted(docs)}}
                got = self.store.chunks.query(query_embeddings=[vector.tolist()], n_results=DENSE_POOL * n,
                                              include=["distances"], where=where)
                pool = list(zip((round(float(d), 6) for d in got["distances"][0]), got["ids"][0], strict=True))
            dense = [cid for _, cid in sorted(pool)][:n]
            rows = self._scope_rows(docs) if docs is not None else None
            top = [cid for cid, _ in self.lexical.top(query, n + 10, rows)] if query and self.lexical is not None else []
            todo = [c for c in dict.fromkeys(dense + top) if c not in self._chunks]
            if todo and self.store is not None:
                got = self.store.chunks.get(ids=todo, include=["embeddings", "metadatas"])
                self._remember(got["ids"], got["embeddings"], got["metadatas"])
            return [c for c in dense if c in self._chunks], [c for c in top if c in self._chunks][:n]

    def gather(self, chunk_ids: list[str], articles: bool = True) -> Gathered:
        """Everything a question's candidates and features read about these chunks (retrieved passages and the
        chunks merged into them), each kind fetched in one call when not cached yet: their records and their
        articles' records, and with `articles` the articles' texts and sentence vectors too (retrieval ranks
        with the records alone, then gathers the passages it keeps)."""
        with self._lock:
            self.fetch_chunks(chunk_ids)
            chunks = {c: self._chunks[c] for c in dict.fromkeys(chunk_ids) if c in self._chunks}
            doc_ids = list(dict.fromkeys(rec.doc_id for rec in chunks.values()))
            self.docs.fetch(doc_ids)
            sentences = {}
            if articles:
                self._fetch_texts(doc_ids)
                sentences = self._fetch_sentences(doc_ids)
            return Gathered(chunks, {d: self._texts[d] for d in doc_ids} if articles else {},
                            {d: self.docs[d] for d in doc_ids if d in self.docs}, sentences, self.cache)

    # ------------------------------------------------------------ sentences
    def doc_sentences(self, doc_id: str) -> DocSentences:
        return self.sentences_of([doc_id])[doc_id]

    def sentences_of(self, doc_ids: list[str]) -> dict[str, DocSentences]:
        """The sentences of several articles, read in one pass (a near-duplicate group's members: hundreds in a
        large corpus, where one read each took 0.5 ms apiece)."""
        with self._lock:
            return self._fetch_sentences(doc_ids)

    def sentence_vector(self, doc_id: str, start: int) -> np.ndarray | None:
        return self.doc_sentences(doc_id).vector_at(start)

    def _fetch_sentences(self, doc_ids: list[str]) -> dict[str, DocSentences]:
        """The sentences of these articles: those cached, the rest read in one pass and cached (returned from here,
        not from the bounded cache, which a group of more than MAX_DOCS articles would overflow)."""
        from .sentences import sentence_rows

        wanted = list(dict.fromkeys(doc_ids))
        out = {d: self._sentences[d] for d in wanted if d in self._sentences}
        todo = [d for d in wanted if d not in out]
        held = self.sentence_store.arrays(todo) if self.sentence_store is not None else {}
        out.update((doc_id, DocSentences(spans, vectors)) for doc_id, (spans, vectors) in held.items())
        missing = [d for d in todo if d not in held]  # a server's, or an older index's: from Chroma
        found = sentence_rows(self.store, self.sentence_store, missing) if self.sentence_store is not None and missing else {}
        for doc_id in missing:
            rows = found.get(doc_id, [])
            dim = len(rows[0][4]) if rows else 1
            vectors = np.asarray([r[4] for r in rows], dtype=np.float32).reshape(len(rows), dim)
            out[doc_id] = DocSentences([(s, e) for _, s, e, _, _ in rows], vectors)
        for doc_id in todo:
            self._sentences.put(doc_id, out[doc_id])
        return {d: out[d] for d in wanted}  # in the order asked

    # ------------------------------------------------------------ words
    def idf_of(self, terms: list[str] | set[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each word over the chunks; absent words are left out."""
        if self.lexical is None:
            return {}
        with self._lock:
            todo = [t for t in terms if t not in self._df]
            if todo:
                df = self.lexical.df(todo)
                for t in todo:
                    self._df.put(t, df.get(t, 0))
            n = self.lexical.size
            return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t in terms if (d := self._df[t]) > 0}

    def max_idf(self) -> float:
        """The weight of a word no chunk holds: that of a word held by one chunk (the rarest there is)."""
        n = self.lexical.size if self.lexical is not None else 0
        return math.log(1 + (n - 0.5) / 1.5) if n else 1.0

    def known(self, terms: set[str]) -> set[str]:
        """The words of `terms` some chunk holds."""
        return set(self.idf_of(terms))

    # ------------------------------------------------------------ for evals: every chunk's place
    def all_chunks(self) -> Iterator[tuple[str, str, int, int]]:
        """(chunk id, doc id, start, end) of every chunk (pages through the store: evals only)."""
        if "all_chunks" not in self.cache:
            rows = []
            if self.store is not None:
                for page in self.store.pages(self.store.chunks, ["metadatas"]):
                    for cid, meta in zip(page["ids"], page["metadatas"], strict=True):
                        if meta and meta.get("doc_id") in self.docs:
                            rows.append((cid, meta["doc_id"], int(meta["start"]), int(meta["end"])))
            self.cache["all_chunks"] = rows
        return iter(self.cache["all_chunks"])
