"""`Assistant`: the one facade the CLI, the web UI, the evals and Python users all call."""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .answerer import Answerer, models_record
from .candidates import Evidence
from .embed import Embedder, load_embedder
from .errors import BackendUnavailable, CorpusError, RagError
from .followup import History
from .generate import Checked, Verifier, generate, generate_stream, load_llm, notes_for, number
from .indexer import Indexer, doc_info, reconcile_lexical, signature, write_lock
from .lexical import LexicalIndex
from .load import bundled_corpus
from .localdb import LocalDB
from .prompts import BACKEND_FAILED, NOTHING_SUPPORTED, OUTSIDE_TEXT
from .retrieve import find as retrieve_find
from .retrieve import search
from .scope import Scope
from .sentences import SentenceStore
from .settings import COLLECTION_PATTERN, DEFAULT_COLLECTION, Settings, storage_prefix
from .snapshot import Snapshot
from .store import Store, delete_collection, list_collections, uploads_dir
from .types import Answer, Citation, DocumentInfo, IndexReport, Passage
from .uploads import Uploads, renamed

_UNSET = object()
Where = Scope | dict[str, Any] | None  # what a question or a search is asked of (rag/scope.py); None: everything


def with_collection(settings: Settings, collection: str) -> Settings:
    """The same settings on another collection of the index, its name checked (RagError naming the rule)."""
    if not re.fullmatch(COLLECTION_PATTERN, collection or ""):
        raise RagError(f"{collection!r} is not a collection name: 3-42 letters, digits, '.', '_' or '-', "
                       "starting and ending with a letter or digit.")
    return settings.model_copy(update={"collection": collection})
LocalFile = TypeVar("LocalFile", bound=LocalDB)
T = TypeVar("T")
WRITE_WAIT_S = 10.0  # how long a question that met another process's write in progress waits for it to end
SETTLE_WAIT_S = 1.0  # ... and for a write that has no pending articles left to count the state up


class Assistant:
    """Questions and index maintenance over one index.

    A facade: the index's lifecycle (open, build, refresh when another process writes), the uploads folder
    (rag/uploads.py) and the answering policy (rag/answerer.py) sit behind it. Nothing is opened or loaded
    until the first call. `embedder`, `reader` and `scorer` replace the models the settings name (tests pass
    small ones; evals/train_scorer.py passes one that scores nothing). With `auto_build=True` (the default
    for Python users) a missing index is built from the bundled corpus on first use; the CLI passes
    `auto_build=False` so that a missing index is an error that says to run `rag index`.

    >>> from rag import Assistant
    >>> a = Assistant()                                   # ./index, or RAG_INDEX_DIR
    >>> answer = a.ask("How much did trade between China and Russia reach last year?")
    >>> answer.text, answer.citations[0].quote
    """

    def __init__(
        self,
        index_dir: str | Path | None = None,
        settings: Settings | None = None,
        *,
        collection: str | None = None,
        embedder: Embedder | None = None,
        reader: Any = None,
        scorer: Any = None,
        auto_build: bool = True,
    ) -> None:
        settings = settings or Settings()
        if index_dir is not None:
            settings = settings.model_copy(update={"index_dir": Path(index_dir)})
        if collection is not None:
            settings = with_collection(settings, collection)
        self.settings = settings
        self.auto_build = auto_build
        self._embedder = embedder
        self._reader_model = reader
        self._store: Store | None = None
        self._snap: Snapshot | None = None
        self._llm_model: Any = None
        self._scorer_model: Any = scorer
        self._answerer_obj: Answerer | None = None
        self._pieces_table: Any = _UNSET
        self._local_files: dict[type, LocalDB] = {}  # the BM25 index and the sentence vectors, opened once
        self._written = ""  # the index state (Store.state) this process's own last write produced
        self._lock = threading.RLock()  # the web chat calls from several threads: open and swap state once
        self._uploads: Uploads | None = None

    # ------------------------------------------------------------ lazy parts
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = load_embedder(s.embed_model, s.embed_batch_size, s.embed_backend, s.model_cache_dir,
                                           s.threads)
        return self._embedder

    def _indexer(self) -> Indexer:
        if self._store is None:
            self._store = Store(self.settings)
        return Indexer(self._store, self.embedder, self.settings, models_record(self.settings))

    def opened(self) -> tuple[Store, Snapshot]:
        """The opened store and its snapshot (what one question reads), building the bundled index first when
        allowed and there is none; opened again when another process changed the index."""
        with self._lock:
            return self._open()

    def _open(self) -> tuple[Store, Snapshot]:
        if self._store is None or self._store.chunks is None:
            store = Store(self.settings)
            # auto_build fills the default collection with the bundled articles; a named collection is made by
            # adding articles to it, never filled with ours.
            if self.auto_build and storage_prefix(self.settings.collection) == storage_prefix(DEFAULT_COLLECTION) \
                    and not store.exists():
                self._store = store
                self.index()
            else:
                store.open(signature(self.settings, self.embedder))
                self._store = store
        store = self._store
        assert store is not None
        # One read of the index's change counter per question: another process (a second chat, `rag add`,
        # an app beside this one on the same Chroma server) may have changed it since the last question.
        state = store.state()
        if self._snap is not None and self._snap.state != state:
            if state != self._written:
                store.reconnect()  # an embedded client must read the vector index from disk again
                store.open(signature(self.settings, self.embedder))
            self._snap = None
        if self._snap is None:
            lexical = self._local(LexicalIndex, store.lexical_path())
            lexical.refresh()
            reconcile_lexical(store, lexical, blocking=False)
            self._snap = Snapshot.load(store, lexical, state, self._local(SentenceStore, store.sentences_path()))
        return store, self._snap

    def _local(self, kind: type[LocalFile], path: Path) -> LocalFile:
        """The open file of this kind (the BM25 index, the sentence vectors) at `path`, opened once."""
        current = self._local_files.get(kind)
        if current is None or current.path != path:
            current = self._local_files[kind] = kind(path)
        return current  # type: ignore[return-value]

    def close(self) -> None:
        """Close the index's files this process holds open (the BM25 index, the sentence vectors); the next call
        opens them again."""
        with self._lock:
            for local in self._local_files.values():
                local.close()
            self._local_files.clear()
            self._snap = None

    @property
    def generation(self) -> int:
        """The generation of the index this assistant answers from (counts every change to it)."""
        return self.opened()[1].generation

    @property
    def uploads_dir(self) -> Path:
        """Where the web chat keeps this collection's uploaded articles (absolute); `index()` with no paths
        includes it."""
        return uploads_dir(self.settings)

    def refresh(self) -> None:
        """Forget what was read from the index (it is also done by itself when the index's generation moves)."""
        self._snap = None

    def _after_write(self) -> None:
        self._snap = None
        if self._store is not None and self._store.chunks is not None:
            self._written = self._store.state()

    # ------------------------------------------------------------ index maintenance
    def index(
        self, paths: Iterable[str | Path] | None = None, *, rebuild: bool = False, progress: bool = True
    ) -> IndexReport:
        """Make the index mirror the articles under `paths` (default: the bundled corpus and the uploads folder).
        Folders named here are recorded: `rag watch` watches them by default (`corpus()`)."""
        named = bool(paths)
        if paths:
            paths = [Path(p) for p in paths]
        elif storage_prefix(self.settings.collection) != storage_prefix(DEFAULT_COLLECTION):
            raise CorpusError(f"Collection {self.settings.collection!r} has no default corpus (the bundled articles "
                              "are the default collection's): name the folders it mirrors (`rag index --collection "
                              f"{self.settings.collection} --corpus DIR`), or add articles with `rag add`.")
        else:
            paths = [bundled_corpus()] + ([self.uploads_dir] if self.uploads_dir.is_dir() else [])
        with self._lock:
            indexer = self._indexer()
            report = indexer.sync(paths, mirror=True, rebuild=rebuild, progress=progress)
            if named:
                indexer.remember_corpus(paths)
            self._after_write()
        return report

    def corpus(self) -> list[str]:
        """The folders the last `index(paths)` named ([] when it named none: the bundled articles)."""
        self.opened()
        return self._indexer().corpus()

    def add(self, paths: Iterable[str | Path] | str | Path, *, progress: bool = True) -> IndexReport:
        """Add or update single articles (files or folders); nothing else is removed."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if self.auto_build:
            self.opened()
        with self._lock:
            report = self._indexer().sync([Path(p) for p in paths], mirror=False, progress=progress)
            self._after_write()
        return report

    @property
    def uploads(self) -> Uploads:
        """The uploads folder and the links its pages came from."""
        if self._uploads is None:
            s = self.settings
            self._uploads = Uploads(self.uploads_dir, s.max_file_mb, s.fetch_timeout, s.fetch_allow_private)
        return self._uploads

    def upload(self, files: Iterable[tuple[str, bytes | str | Path]], *, progress: bool = False) -> IndexReport:
        """Keep a copy of each uploaded file in `uploads_dir` and add it (the web chat's and the HTTP API's uploads;
        `index()` keeps them on later runs). `files`: (name as uploaded, its bytes or a path to read). A file of
        an unsupported type or over Settings.max_file_mb is reported as skipped and not copied; the report's
        file entries carry the names as uploaded."""
        targets, refused = self.uploads.keep(files)
        report = self.add(list(targets), progress=progress) if targets else IndexReport()
        return renamed(report, targets, refused)

    def add_links(self, urls: Iterable[str] | str, *, progress: bool = False) -> IndexReport:
        """Fetch each link once (http/https only, Settings.fetch_timeout, max_file_mb; rag/web.py) and index it as
        an upload, with the link recorded as its source (DocumentInfo.url). A link that cannot be fetched is
        reported as skipped with the reason; the others are still added. Report entries are named by the links."""
        pages, links, failed = self.uploads.fetch([urls] if isinstance(urls, str) else list(urls))
        report = self.upload(pages, progress=progress) if pages else IndexReport()
        return renamed(report, links, failed)

    def remove_gone(self, folders: Iterable[str | Path] = (), paths: Iterable[str | Path] = ()) -> list[DocumentInfo]:
        """Remove, in one write, the articles whose file is no longer there: those recorded under `folders` (a
        watched folder, reconciled) or at `paths` (files a watcher saw deleted). Returns them."""
        named = {os.path.abspath(p) for p in paths}
        roots = tuple(os.path.join(os.path.abspath(f), "") for f in [*folders, *named])  # a deleted folder's files

        def gone(path: str) -> bool:
            return (path in named or path.startswith(roots)) and not os.path.exists(path)

        if not roots and not named:
            return []
        with self._lock:
            removed = self._indexer().remove_gone(gone)
            self._after_write()
        return removed

    def remove(self, doc_id: str) -> DocumentInfo:
        """Remove one article by its id (a unique prefix is enough); an uploaded article's copy goes with it."""
        self.opened()
        with self._lock:
            info = self._indexer().remove(doc_id)
            self._after_write()
        self.uploads.forget(info.path, info.url)
        return info

    def sibling(self, collection: str) -> Assistant:
        """An assistant on another collection of this index, sharing this one's models (embedder, scorer,
        reader): what a server keeps per collection."""
        reader = self.answerer.reader if self.settings.reader else None
        return Assistant(settings=with_collection(self.settings, collection), embedder=self.embedder,
                         reader=reader, scorer=self.scorer, auto_build=False)

    def collections(self) -> list[dict[str, Any]]:
        """The collections of this index (embedded or on the server): name, articles, chunks; `default` first."""
        return list_collections(self.settings)

    def remove_collection(self, name: str) -> None:
        """Drop collection `name` of this index: its articles, BM25 index, sentence vectors and uploads."""
        target = with_collection(self.settings, name)
        with self._lock, write_lock(target):
            delete_collection(target)
        if storage_prefix(name) == storage_prefix(self.settings.collection):
            self.close()
            self._store = None
            self._answerer_obj = None

    def documents(self, where: Where = None) -> list[DocumentInfo]:
        """The indexed articles, with their duplicate groups; with `where`, those the scope names (ScopeError when
        it names none)."""
        in_scope = self.in_scope(where)
        if in_scope is None:
            self.opened()
            return self._indexer().documents()
        records = self.opened()[1].docs  # read whole by `in_scope`: not read a second time
        return sorted((doc_info(d, records[d]) for d in in_scope), key=lambda i: i.path)

    def in_scope(self, where: Where) -> frozenset[str] | None:
        """The ids of the articles a scope names (`rag/scope.py`: ids or id prefixes or titles, author,
        publication, since/until, format, source); None for no scope. ScopeError names what matched nothing."""
        scope = Scope.of(where)
        return None if scope is None else self.opened()[1].in_scope(scope)

    # ------------------------------------------------------------ questions
    def search(self, query: str, k: int = 5, *, where: Where = None) -> list[Passage]:
        """The k best passages for the query (hybrid retrieval by default), near-duplicates collapsed; with
        `where`, of the articles in that scope alone (searched alone, not filtered afterwards)."""
        scope = Scope.of(where)
        return self._reading(lambda opened: search(
            opened[1], self.embedder, query, k, docs=None if scope is None else opened[1].in_scope(scope),
            **self._retrieval()))

    def _retrieval(self) -> dict[str, Any]:
        """The retrieval settings in force (one place, for `search` and for answering)."""
        s = self.settings
        return {"mode": s.retrieval, "candidates": s.candidates, "mmr_lambda": s.mmr_lambda}

    def _llm(self) -> Any:
        if self._llm_model is None and self.settings.llm:
            self._llm_model = load_llm(self.settings.llm, self.settings.llm_timeout)
        return self._llm_model

    @property
    def scorer(self) -> Any:
        """The evidence scorer in force (Settings.scorer_file, else the shipped one), loaded once."""
        if self._scorer_model is None:
            from .scorer import load_scorer

            self._scorer_model = load_scorer(self.settings.scorer_file)
        return self._scorer_model

    def _pieces(self) -> Any:
        """MiniLM's word-piece table for the soft-alignment feature (None for models without one), looked up
        once."""
        if self._pieces_table is _UNSET:
            from .embed import resolve_model
            from .features import load_wordpieces

            try:
                self._pieces_table = load_wordpieces(resolve_model(self.settings.embed_model)[0])
            except RagError:
                self._pieces_table = None
        return self._pieces_table

    @property
    def threshold(self) -> float:
        """The abstention threshold in force: Settings.abstain_threshold, else the reader's calibrated default
        (the evidence scorer's when the reader is off)."""
        return self.answerer.threshold

    @property
    def answerer(self) -> Answerer:
        """The answering policy with the models and settings in force (built once; the models are cached)."""
        if self._answerer_obj is None:
            s = self.settings
            reader = self._reader_model
            if reader is None and s.reader:
                from .reader import load_reader

                reader = load_reader(s.reader_file, s.threads)

            # retrieval with the embedding model and the settings in force, as `search` does (a partial: the answerer
            # calls retrieve.find itself)
            find = functools.partial(retrieve_find, embedder=self.embedder, **self._retrieval())
            self._answerer_obj = Answerer(self.scorer, reader, find, threshold=s.abstain_threshold,
                                          top_n=s.reader_candidates,
                                          two_hop=s.two_hop, pieces=self._pieces(), top_k=s.top_k)
        return self._answerer_obj

    def evidence(self, question: str, history: History | None = None, k: int | None = None, *,
                 merge: bool = False, where: Where = None) -> Evidence:
        """Every candidate sentence of the retrieved passages, scored by the evidence scorer (best first), with
        the features it saw: what `ask` answers from, open for evals and training. `merge`: search with the
        conversation even when the question does not look like a follow-up."""
        return self.answerer.evidence(question, history, k or self.settings.top_k, self.opened(), merge=merge,
                                      docs=self.in_scope(where))

    def _extractive(
        self, question: str, history: History | None, k: int | None, where: Where = None
    ) -> tuple[Answer, list[Passage], Snapshot, float]:
        """The extractive answer, the passages it read, the snapshot they came from and when it started. With a
        scope, retrieval searches its articles alone; when they don't say and an article outside it does, the
        abstention offers that one's quote, marked outside the scope."""
        started = time.perf_counter()
        answerer = self.answerer  # one snapshot for the whole answer, even if an upload swaps it meanwhile
        scope = Scope.of(where)
        k = k or self.settings.top_k

        def run(opened: tuple[Store, Snapshot]) -> tuple[Answer, Evidence]:
            docs = None if scope is None else opened[1].in_scope(scope)
            result, ev = answerer.extractive(question, history, k, opened, started, docs)
            if scope is not None:
                result.scope = {**scope.to_dict(), "articles": len(docs or ())}
                if result.abstained and len(docs or ()) < len(opened[1].docs):
                    self._outside(result, answerer.extractive(question, history, k, opened, started)[0], scope)
            return result, ev

        result, ev = self._reading(run)
        return result, ev.passages, ev.snap, started

    def _reading(self, read: Callable[[tuple[Store, Snapshot]], T]) -> T:
        """`read` on the index as it is; run once more on the index as it has become when it fails because
        another process is changing the index under it (a writer deleted chunks this process's Chroma client had
        just found: "Error finding id"), which the next question would see anyway."""
        opened = self.opened()
        try:
            return read(opened)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] != "chromadb" or not self._changed_since(opened[1].state):
                raise
        return read(self.opened())

    def _changed_since(self, state: str) -> bool:
        """Whether another process changed the index since `state`, waiting for a write in progress to count the
        state up (its last step): at most WRITE_WAIT_S while a write names articles as pending, else
        SETTLE_WAIT_S (a write between clearing its pending list and counting the state up)."""
        store = self._store
        if store is None:
            return False
        started = time.monotonic()
        while store.state() == state:
            busy = store.get_meta("pending") not in (None, "", "[]")
            if time.monotonic() - started > (WRITE_WAIT_S if busy else SETTLE_WAIT_S):
                return False
            time.sleep(0.05)
        return True

    @staticmethod
    def _outside(result: Answer, unscoped: Answer, scope: Scope) -> None:
        """A scoped question's abstention, when the whole collection answers it: its best quote after the
        abstention, cited as the next number and marked outside the scope."""
        if unscoped.abstained or not unscoped.citations:
            return
        best = unscoped.citations[0]
        n = len(result.citations) + 1
        outside = Citation(**{**best.to_dict(), "number": n, "not_answer": True, "outside_scope": True,
                              "also_in": tuple(best.also_in)})
        result.citations.append(outside)
        result.text += " " + OUTSIDE_TEXT.format(scope=scope.describe(), title=outside.title, quote=outside.quote,
                                                 n=n)

    def _wants_llm(self, use_llm: bool | None) -> bool:
        """None: the configured backend if any; False: extractive; True: the configured backend, or an error."""
        if use_llm and not self.settings.llm:
            raise BackendUnavailable(
                "No generative backend is configured: set RAG_LLM (for example openai:http://127.0.0.1:8000/v1:model)."
            )
        return bool(self.settings.llm) and use_llm is not False

    @staticmethod
    def _finish(result: Answer, started: float) -> Answer:
        total = round((time.perf_counter() - started) * 1000, 2)
        result.timings["answer_ms"] = round(total - result.timings["retrieve_ms"], 2)
        result.timings["total_ms"] = total
        return result

    def ask(
        self, question: str, history: History | None = None, k: int | None = None, *, use_llm: bool | None = None,
        where: Where = None,
    ) -> Answer:
        """Answer from the articles, every sentence cited; abstain when they do not say.

        `where` asks only some articles (a `Scope`, or a dict of its fields: `{"docs": ["3f2a…"]}`,
        `{"author": "Kim", "since": "2024-03"}`); a scope that names no article raises ScopeError naming it.

        With a generative backend configured (Settings.llm), the model writes the answer from the same
        passages and every sentence it writes is checked; what is not supported is dropped, and when nothing
        is left, or the backend fails, the extractive answer is returned with a note saying why.
        `use_llm=False` answers extractively even when a backend is configured."""
        wants_llm = self._wants_llm(use_llm)
        fallback, passages, snap, started = self._extractive(question, history, k, where)
        if not wants_llm or not passages:
            return self._finish(fallback, started)
        llm = self._llm()
        verifier = Verifier(snap, self.embedder, passages)
        try:
            checked = generate(llm, fallback.query, passages, verifier)
        except Exception as exc:  # a dead, slow or broken backend: never a hang, never a traceback
            fallback.notes.append(f"{BACKEND_FAILED} ({type(exc).__name__}: {str(exc)[:200]})")
            return self._finish(fallback, started)
        return self._finish(self._generated(fallback, checked), started)

    def _generated(self, fallback: Answer, checked: Checked) -> Answer:
        notes = notes_for(checked)
        if not checked.sentences:
            fallback.notes.extend([*notes, NOTHING_SUPPORTED])
            return fallback
        text, citations = number(checked.sentences)
        backend = (self.settings.llm or "").split(":", 1)[0]
        return Answer(text, citations, False, fallback.question, fallback.query, backend=backend,
                      timings=fallback.timings, notes=notes, scope=fallback.scope)

    def stream(
        self, question: str, history: History | None = None, k: int | None = None, *, use_llm: bool | None = None,
        where: Where = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer text in pieces (a sentence and its markers at a time), then the full `Answer`.
        With a generative backend, each sentence is yielded once the model has finished it and it has passed
        the check."""
        wants_llm = self._wants_llm(use_llm)
        fallback, passages, snap, started = self._extractive(question, history, k, where)
        if wants_llm and passages:
            verifier = Verifier(snap, self.embedder, passages)
            shown = ""
            try:
                for _ in generate_stream(self._llm(), fallback.query, passages, verifier):
                    text, _ = number(verifier.result.sentences)
                    yield text[len(shown):]
                    shown = text
            except Exception as exc:
                fallback.notes.append(f"{BACKEND_FAILED} ({type(exc).__name__}: {str(exc)[:200]})")
                if shown:  # part of a verified answer was shown: keep it, say it stopped
                    result = self._generated(fallback, verifier.result)
                    result.notes.append(fallback.notes[-1])
                    yield self._finish(result, started)
                    return
            else:
                result = self._generated(fallback, verifier.result)
                if result is not fallback:
                    yield self._finish(result, started)
                    return
        if fallback.abstained or not fallback.citations:
            yield fallback.text
        else:
            for i, c in enumerate(fallback.citations):
                yield ("" if i == 0 else " ") + f"{c.quote} [{c.number}]"
        yield self._finish(fallback, started)
