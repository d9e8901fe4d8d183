"""`Assistant`: the one facade the CLI, the web UI, the evals and Python users all call."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .embed import Embedder, load_embedder
from .indexer import Indexer, signature
from .load import bundled_corpus
from .retrieve import dense_search
from .settings import Settings
from .store import Store
from .types import DocumentInfo, IndexReport, Passage


class Assistant:
    """Questions and index maintenance over one index.

    Nothing is opened or loaded until the first call. With `auto_build=True` (the default for Python users) a
    missing index is built from the bundled corpus on first use; the CLI passes `auto_build=False` so that a
    missing index is an error that says to run `rag index`.

    >>> from rag import Assistant
    >>> a = Assistant()                                   # ./index, or RAG_INDEX_DIR
    >>> [p.title for p in a.search("trade between China and Russia", k=2)]
    """

    def __init__(
        self,
        index_dir: str | Path | None = None,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        auto_build: bool = True,
    ) -> None:
        settings = settings or Settings()
        if index_dir is not None:
            settings = settings.model_copy(update={"index_dir": Path(index_dir)})
        self.settings = settings
        self.auto_build = auto_build
        self._embedder = embedder
        self._store: Store | None = None
        self._docs: dict[str, dict[str, Any]] | None = None

    # ------------------------------------------------------------ lazy parts
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.settings.embed_model, self.settings.embed_batch_size)
        return self._embedder

    def _indexer(self) -> Indexer:
        if self._store is None:
            self._store = Store(self.settings)
        return Indexer(self._store, self.embedder, self.settings)

    def _ready(self) -> Store:
        """The opened store, building the bundled index first when allowed and there is none."""
        if self._store is None or self._store.chunks is None:
            store = Store(self.settings)
            if self.auto_build and not store.exists():
                self._store = store
                self.index()
            else:
                store.open(signature(self.settings, self.embedder))
                self._store = store
        if self._docs is None:
            self._docs = {d: m for d, m, _ in self._store.iter_docs()}
        return self._store

    # ------------------------------------------------------------ index maintenance
    def index(
        self, paths: Iterable[str | Path] | None = None, *, rebuild: bool = False, progress: bool = True
    ) -> IndexReport:
        """Make the index mirror the articles under `paths` (default: the bundled corpus)."""
        paths = [Path(p) for p in paths] if paths else [bundled_corpus()]
        report = self._indexer().sync(paths, mirror=True, rebuild=rebuild, progress=progress)
        self._docs = None
        return report

    def add(self, paths: Iterable[str | Path] | str | Path, *, progress: bool = True) -> IndexReport:
        """Add or update single articles (files or folders); nothing else is removed."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if self.auto_build:
            self._ready()
        report = self._indexer().sync([Path(p) for p in paths], mirror=False, progress=progress)
        self._docs = None
        return report

    def remove(self, doc_id: str) -> DocumentInfo:
        """Remove one article by its id (a unique prefix is enough)."""
        self._ready()
        info = self._indexer().remove(doc_id)
        self._docs = None
        return info

    def documents(self) -> list[DocumentInfo]:
        """The indexed articles, with their duplicate groups."""
        self._ready()
        return self._indexer().documents()

    # ------------------------------------------------------------ questions
    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The k passages closest to the query, best first."""
        store = self._ready()
        assert self._docs is not None
        return dense_search(store, self.embedder, self._docs, query, k)
