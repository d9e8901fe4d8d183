"""The Chroma store behind an index: embedded (`PersistentClient` in index_dir) or a server (`HttpClient`).

One index is three collections:
- `<name>-chunks`: the chunks, written and queried through llama-index's `ChromaVectorStore`; its collection
  metadata holds the index signature (format, embedding model and dimension, distance, chunking, cleaner);
- `<name>-sentences`: one embedding per sentence (for near-duplicate detection and the answerer);
- `<name>-docs`: one record per article: the cleaned text, its metadata and the sentence centroid. A record
  is written last, after all its chunks and sentences, so it marks the article as complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import EmbeddingMismatch, IndexMismatch, IndexNotFound, StoreUnavailable
from .settings import DEFAULT_COLLECTION, Settings, storage_prefix

FORMAT_VERSION = 1
SPACE = "cosine"
# Chroma keeps each collection's latest writes in its log and adds them to the HNSW graph on disk every
# SYNC_THRESHOLD writes (its default: 1000). Every process that opens the index adds the writes not yet on disk
# to the graph again on its first read of the collection (a question, or the first write of `rag add`), and each
# upsert of an article record read that tail again. 100 keeps that tail short; Chroma writes only the changed
# parts of the graph, so writing it ten times as often did not slow indexing (`evals/HISTORY.md`, 2026-12-07:
# 40,900 chunks, first read of the collection in a new process 1.31 s -> 0.09 s, the same add time; 2,045 article
# records, upserts 27.0 s -> 14.4 s).
SYNC_THRESHOLD = 100
HNSW = {"space": SPACE, "sync_threshold": SYNC_THRESHOLD}
_PAGE = 5000


def _chroma_settings() -> Any:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class Store:
    """Opens lazily; `open()` checks the signature, `create()` makes a new empty index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self.chunks: Any = None  # chromadb Collection
        self.sentences: Any = None
        self.docs: Any = None
        self._vector_store: Any = None
        self._sentences_in_chroma: bool | None = None

    # ------------------------------------------------------------ where
    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir)

    def _names(self) -> tuple[str, str, str]:
        return names_of(self.settings.collection)

    def _missing(self) -> str:
        index_exists = bool(self.settings.chroma_url) or (Path(self.settings.index_dir) / "chroma.sqlite3").is_file()
        if storage_prefix(self.settings.collection) == storage_prefix(DEFAULT_COLLECTION):
            if index_exists:
                return (f"The index at {self.location} has no default collection — run `rag index`, or name one of "
                        "its collections with --collection (RAG_COLLECTION); `rag collections` lists them.")
            return f"No index at {self.location} — run `rag index` first."
        return (f"No collection {self.settings.collection!r} in the index at {self.location} — create it with "
                f"`rag index --collection {self.settings.collection}` or `rag add --collection "
                f"{self.settings.collection} FILES`; `rag collections` lists those there are.")

    def _connect(self, create: bool) -> Any:
        if self._client is not None:
            return self._client
        import chromadb

        url = self.settings.chroma_url
        if url:
            parsed = urlparse(url)
            try:
                client = chromadb.HttpClient(
                    host=parsed.hostname or "127.0.0.1",
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=_chroma_settings(),
                )
                client.heartbeat()
            except Exception as exc:
                raise StoreUnavailable(
                    f"Cannot reach the Chroma server at {url} ({type(exc).__name__}). Start it with "
                    "`chroma run --path DIR --host 127.0.0.1 --port PORT`, or unset RAG_CHROMA_URL to use "
                    "the embedded index."
                ) from exc
        else:
            path = Path(self.settings.index_dir)
            if not create and not (path / "chroma.sqlite3").is_file():
                raise IndexNotFound(f"No index at {path} — run `rag index` first.")
            try:
                path.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
            except Exception as exc:
                raise StoreUnavailable(f"Cannot open the Chroma index at {path}: {exc}") from exc
        self._client = client
        return client

    # ------------------------------------------------------------ open / create
    def exists(self) -> bool:
        try:
            client = self._connect(create=False)
            client.get_collection(self._names()[0], embedding_function=None)
            return True
        except IndexNotFound:
            return False
        except StoreUnavailable:
            raise
        except Exception:
            return False

    def open(self, signature: dict[str, Any]) -> None:
        """Open an existing index and check it was built the way `signature` says."""
        client = self._connect(create=False)
        chunks_name, sentences_name, docs_name = self._names()
        try:
            chunks = client.get_collection(chunks_name, embedding_function=None)
            sentences = client.get_collection(sentences_name, embedding_function=None)
            docs = client.get_collection(docs_name, embedding_function=None)
        except Exception as exc:
            raise IndexNotFound(self._missing()) from exc
        check_signature(chunks.metadata or {}, signature, self.location)
        self._attach(chunks, sentences, docs)

    def create(self, signature: dict[str, Any], rebuild: bool = False, extra: dict[str, Any] | None = None) -> None:
        """Create the collections (dropping existing ones when `rebuild`). `extra` is recorded in the manifest
        beside the signature but not checked on open (e.g. the evidence scorer the index was built beside)."""
        client = self._connect(create=True)
        names = self._names()
        if rebuild:
            for name in (*names, self._log_name()):
                with contextlib.suppress(Exception):  # not there: nothing to drop
                    client.delete_collection(name)
        existing = self.exists()
        if existing and not rebuild:
            self.open(signature)
            return
        meta = dict(signature) | (extra or {})
        chunks, sentences, docs = (
            client.get_or_create_collection(
                name, embedding_function=None, metadata=meta if name == names[0] else {"rag_format": FORMAT_VERSION},
                configuration={"hnsw": HNSW},
            )
            for name in names
        )
        self._attach(chunks, sentences, docs)

    def shorten_logs(self) -> None:
        """Set SYNC_THRESHOLD on the collections of an index made before it was set (a writer calls this: the
        graph then reaches disk within the next SYNC_THRESHOLD writes). Costs nothing when already set."""
        for collection in (self.chunks, self.sentences, self.docs):
            hnsw = (getattr(collection, "configuration", None) or {}).get("hnsw") or {}
            if hnsw.get("sync_threshold", SYNC_THRESHOLD) > SYNC_THRESHOLD:
                collection.modify(configuration={"hnsw": {"sync_threshold": SYNC_THRESHOLD}})

    def _attach(self, chunks: Any, sentences: Any, docs: Any) -> None:
        self.chunks, self.sentences, self.docs = chunks, sentences, docs
        self._vector_store = None
        self._sentences_in_chroma: bool | None = None

    @property
    def vector_store(self) -> Any:
        """llama-index's `ChromaVectorStore` over the chunks (what the indexer writes through); made on first
        use, so that a process that only answers does not import llama-index."""
        if self._vector_store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vector_store = ChromaVectorStore(chroma_collection=self.chunks)
        return self._vector_store

    # ------------------------------------------------------------ generation
    def generation(self) -> int:
        """The index's change counter, read afresh from the store (another process may have changed it)."""
        return int(self.state().split(":", 1)[0])

    def state(self) -> str:
        """"<generation>:<token>": the counter and a random token written with it, so that two writers through
        one server that both count from the same generation still leave different states."""
        meta = self._client.get_collection(self._names()[0], embedding_function=None).metadata or {}
        return f"{int(meta.get('generation', 0))}:{meta.get('generation_token', '')}"

    # ------------------------------------------------------------ the change log
    def _log_name(self) -> str:
        return f"{storage_prefix(self.settings.collection)}-changes"

    def log_change(self, before: str, after: str, doc_ids: list[str] | None) -> None:
        """Append to the change log: the write that took the index from state `before` to `after` touched these
        articles (None: a rebuild, or more than CHANGE_DOCS_MAX: a reader must compare everything). A process
        whose caches reflect `before` then catches up by reading only those articles."""
        import json

        log = self._client.get_or_create_collection(self._log_name(), embedding_function=None)
        generation = int(after.split(":", 1)[0])
        docs = "*" if doc_ids is None or len(doc_ids) > CHANGE_DOCS_MAX else json.dumps(sorted(doc_ids))
        log.upsert(ids=[after], embeddings=[[0.0]], metadatas=[{"from": before, "docs": docs, "generation": generation}])
        if generation % 100 == 0:  # the log keeps the last CHANGE_LOG_KEEP changes
            log.delete(where={"generation": {"$lt": generation - CHANGE_LOG_KEEP}})

    def changes_since(self, state: str, until: str) -> list[str] | None:
        """The articles written or removed between two states of the index, following the change log one change
        at a time; None when the log cannot say (a gap: a crashed or older writer; a rebuild; too many articles;
        two writers from one state)."""
        import json

        try:
            log = self._client.get_collection(self._log_name(), embedding_function=None)
        except Exception:
            return None
        touched: set[str] = set()
        current = state
        for _ in range(CHANGE_LOG_KEEP):
            if current == until:
                return sorted(touched)
            got = log.get(where={"from": current}, include=["metadatas"])
            if len(got["ids"]) != 1 or got["metadatas"][0].get("docs") == "*":
                return None
            touched.update(json.loads(got["metadatas"][0]["docs"]))
            current = got["ids"][0]
        return None

    def bump_generation(self) -> str:
        """Count one change of the index (after a write finished); returns the new state."""
        import uuid

        value, token = self.generation() + 1, uuid.uuid4().hex[:12]
        self.set_meta(generation=value, generation_token=token)
        return f"{value}:{token}"

    def reconnect(self) -> None:
        """Open the store again from scratch: an embedded client keeps the vector index it read in memory, so a
        process sees another's writes only after reopening (a server client needs nothing)."""
        if self.settings.chroma_url or self._client is None:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        # Forget this path's shared system without stopping it: a question still running on the old client
        # (another thread of the chat) finishes on it; the next client reads the index from disk again.
        systems = getattr(SharedSystemClient, "_identifier_to_system", None)
        if isinstance(systems, dict):
            systems.pop(str(self.settings.index_dir), None)
        else:
            SharedSystemClient.clear_system_cache()
        self._client = None
        self._connect(create=False)

    def sentences_in_chroma(self) -> bool:
        """Whether sentence vectors are kept in the `<name>-sentences` collection: with a server (shared by every
        app process), or in an embedded index made before rag/sentences.py (read from there once)."""
        if self.sentences is None:
            return False
        if self._sentences_in_chroma is None:
            self._sentences_in_chroma = bool(self.settings.chroma_url) or self.sentences.count() > 0
        return self._sentences_in_chroma

    def sentences_path(self) -> Path:
        """The sentence-vector file (rag/sentences.py): the index's own, or with a server this machine's cache."""
        return self._local_path("sentences")

    def lexical_path(self) -> Path:
        """Where the BM25 index of this index lives: beside the embedded store, or (with a Chroma server) in
        index_dir as this process's cache, named by the server and collection."""
        return self._local_path("lexical")

    def _local_path(self, kind: str) -> Path:
        """`<kind>-<collection>.sqlite` in index_dir; with a server, named by its URL too."""
        import hashlib

        base = storage_prefix(self.settings.collection)
        if self.settings.chroma_url:
            key = hashlib.sha256(f"{self.settings.chroma_url}|{base}".encode()).hexdigest()[:12]
            return Path(self.settings.index_dir) / f"{kind}-{base}-{key}.sqlite"
        return Path(self.settings.index_dir) / f"{kind}-{base}.sqlite"

    # ------------------------------------------------------------ collection metadata
    def get_meta(self, key: str, default: Any = None) -> Any:
        """A value of the index's manifest, read afresh (another process may have written it)."""
        fresh = self._client.get_collection(self._names()[0], embedding_function=None)
        return (fresh.metadata or {}).get(key, default)

    def set_meta(self, **values: Any) -> None:
        fresh = self._client.get_collection(self._names()[0], embedding_function=None)
        meta = dict(fresh.metadata or {})
        meta.update(values)
        self.chunks.modify(metadata=meta)

    # ------------------------------------------------------------ reading
    @staticmethod
    def pages(collection: Any, include: list[str]) -> Iterator[dict[str, Any]]:
        """Every row of a collection, a page at a time (one `get` of a large collection would not fit)."""
        if collection.count() == 0:
            # An empty collection may have no vector segment on disk yet (a run killed before its first
            # write): Chroma then fails to read embeddings from it, so it is not asked.
            yield {"ids": [], "metadatas": [], "documents": [], "embeddings": []}
            return
        offset = 0
        while True:
            page = collection.get(include=include, limit=_PAGE, offset=offset)
            yield page
            if len(page["ids"]) < _PAGE:
                return
            offset += _PAGE

    def doc_ids(self) -> list[str]:
        """The ids of every article (paged; to resolve an id prefix)."""
        return [i for page in self.pages(self.docs, []) for i in page["ids"]]

    def all_ids(self, collection: Any) -> list[str]:
        return [i for page in self.pages(collection, []) for i in page["ids"]]

    def iter_docs(self, include_text: bool = False) -> Iterator[tuple[str, dict[str, Any], str]]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        for page in self.pages(self.docs, include):
            texts = page.get("documents") or [""] * len(page["ids"])
            yield from zip(page["ids"], page["metadatas"], texts, strict=True)

    def max_batch(self) -> int:
        try:
            return max(1, int(self._client.get_max_batch_size()))
        except Exception:
            return 1000


CHANGE_DOCS_MAX = 2000  # articles one change-log entry names; a larger write is logged as "read everything"
CHANGE_LOG_KEEP = 1000  # changes the log keeps (a process further behind compares every chunk id)
LEASE_S = 60.0  # a writer's lease on a server lapses this long after its last renewal (a crashed writer's too)
LEASE_WAIT_S = 600.0  # how long a writer waits for another's lease before giving up


@contextlib.contextmanager
def server_lease(settings: Settings, lease_s: float = LEASE_S, wait_s: float = LEASE_WAIT_S) -> Iterator[None]:
    """One writer at a time on a collection of a Chroma server, across processes and machines: a lease held by the
    server, as a Chroma collection `<collection>-lock` that only one client can create (creating an existing one
    fails). The holder renews it every lease_s / 3; a lease not renewed for lease_s (its writer crashed) is taken
    over. Taking over is best effort: two waiters that see the same lapsed lease may both remove it, and one of
    them then creates the new one; a lease that is renewed is never taken."""
    import threading
    import time
    import uuid

    client = Store(settings)._connect(create=True)
    name = f"{storage_prefix(settings.collection)}-lock"
    me = uuid.uuid4().hex
    started = time.monotonic()
    while True:
        try:
            client.create_collection(name, embedding_function=None,
                                     metadata={"holder": me, "expires": time.time() + lease_s})
            break
        except Exception:  # it exists: another writer holds it (or just released it)
            pass
        try:
            held = client.get_collection(name, embedding_function=None).metadata or {}
        except Exception:
            continue  # released between the two calls: try again at once
        if float(held.get("expires", 0)) < time.time():
            with contextlib.suppress(Exception):
                again = client.get_collection(name, embedding_function=None).metadata or {}
                if again.get("holder") == held.get("holder"):
                    client.delete_collection(name)
            continue
        if time.monotonic() - started > wait_s:
            raise StoreUnavailable(f"Another writer has held the write lease of {settings.collection!r} on "
                                   f"{settings.chroma_url} for over {wait_s:.0f} s; try again later.")
        time.sleep(0.1)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_s / 3):
            with contextlib.suppress(Exception):
                client.get_collection(name, embedding_function=None).modify(
                    metadata={"holder": me, "expires": time.time() + lease_s})

    renewer = threading.Thread(target=renew, name="rag-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(Exception):
            if (client.get_collection(name, embedding_function=None).metadata or {}).get("holder") == me:
                client.delete_collection(name)


def names_of(collection: str) -> tuple[str, str, str]:
    """The three Chroma collections of one collection of the index: its chunks, its sentences, its articles."""
    base = storage_prefix(collection)
    return f"{base}-chunks", f"{base}-sentences", f"{base}-docs"


def list_collections(settings: Settings) -> list[dict[str, Any]]:
    """The collections of the index (embedded or on the server): name, articles and chunks, `default` first."""
    store = Store(settings)
    client = store._connect(create=False)
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    out = []
    for full in sorted(names):
        if not full.endswith("-docs"):
            continue
        prefix = full[: -len("-docs")]
        if f"{prefix}-chunks" not in names:
            continue
        name = DEFAULT_COLLECTION if prefix == storage_prefix(DEFAULT_COLLECTION) else prefix
        docs = client.get_collection(full, embedding_function=None)
        chunks = client.get_collection(f"{prefix}-chunks", embedding_function=None)
        out.append({"name": name, "articles": docs.count(), "chunks": chunks.count()})
    return sorted(out, key=lambda c: (c["name"] != DEFAULT_COLLECTION, c["name"]))


def delete_collection(settings: Settings) -> None:
    """Drop one collection (settings.collection): its Chroma collections and this machine's files of it (BM25
    index, sentence vectors, uploads). The caller holds the write lock."""
    import shutil

    store = Store(settings)
    client = store._connect(create=False)
    present = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    names = [n for n in names_of(settings.collection) if n in present]
    if not names:
        raise IndexNotFound(store._missing())
    names += [n for n in (store._log_name(),) if n in present]
    for name in names:
        client.delete_collection(name)
    for kind in ("lexical", "sentences"):
        path = store._local_path(kind)
        for leftover in (path, path.with_suffix(".lock"), Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    uploads = uploads_dir(settings)
    if storage_prefix(settings.collection) != storage_prefix(DEFAULT_COLLECTION) and uploads.is_dir():
        shutil.rmtree(uploads, ignore_errors=True)


def uploads_dir(settings: Settings) -> Path:
    """Where a collection's uploaded and fetched articles are kept: `<index_dir>/uploads` for the default
    collection (as before collections), `<index_dir>/uploads-<name>` for the others."""
    base = storage_prefix(settings.collection)
    folder = "uploads" if base == storage_prefix(DEFAULT_COLLECTION) else f"uploads-{base}"
    return (Path(settings.index_dir) / folder).resolve()


def check_signature(stored: dict[str, Any], wanted: dict[str, Any], location: str) -> None:
    """Raise a clear error when the index was built with another model or other settings."""
    if stored.get("embed_model") != wanted["embed_model"] or stored.get("embed_dim") != wanted["embed_dim"]:
        raise EmbeddingMismatch(
            f"The index at {location} was built with embedding model {stored.get('embed_model')!r} "
            f"(dim {stored.get('embed_dim')}), but this run uses {wanted['embed_model']!r} "
            f"(dim {wanted['embed_dim']}). Rebuild it with `rag index --rebuild`, or set RAG_EMBED_MODEL to "
            "the model it was built with."
        )
    diffs = [
        f"{key} {stored.get(key)!r} (index) vs {value!r} (now)"
        for key, value in wanted.items()
        if stored.get(key) != value
    ]
    if diffs:
        raise IndexMismatch(
            f"The index at {location} was built with other settings: {'; '.join(diffs)}. "
            "Rebuild it with `rag index --rebuild`, or go back to the settings it was built with."
        )
