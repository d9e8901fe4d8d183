"""Incremental, idempotent, crash-safe indexing of articles into the store.

Identity: an article's `doc_id` is a hash of its cleaned text, and chunk ids are `doc_id:position`, so the same
text always yields the same ids. A file whose text changed keeps its path but gets a new doc_id: the old
version is removed and the new one added ("updated").

Crash safety: each article is written in the order chunks -> sentences -> doc record, and the doc record is
what marks it complete. A run killed at any point (kill -9) leaves at most one article with chunks but no
record; the next run finds it by counting ids, deletes the leftovers and writes it again. Removal deletes the
record first, so an article is never half-listed. Duplicate groups are recomputed whenever the set of
articles differs from the one they were computed for (a key kept in the collection metadata).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from .chunk import article_sentences, chunk_article
from .clean import CLEANER_VERSION
from .dedup import ALL_PAIRS_LIMIT, MIN_WORDS, NEIGHBOURS, DocVectors, assign_all, assign_changed
from .embed import Embedder
from .errors import CorpusError, DocumentNotFound
from .lexical import LexicalIndex
from .load import Loaded, load_articles
from .ocr import OcrOptions
from .progress import Bar, say
from .sentences import SentenceStore, sentence_rows
from .settings import Settings, default_cache_dir
from .store import FORMAT_VERSION, SPACE, Store, server_lease
from .types import Article, Chunk, DocumentInfo, FileResult, IndexReport

_SENTENCE_ID = "{doc_id}:s{n:04d}"
LEXICAL_BATCH = 2000  # chunks added to the BM25 index together (`Indexer._flush_lexical`)
EMBED_GROUP = 256  # texts embedded together across articles (short articles would make tiny batches)


def signature(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What an index must agree on with the code that opens it."""
    return {
        "rag_format": FORMAT_VERSION,
        "embed_model": embedder.model_id,
        "embed_dim": embedder.dim,
        "space": SPACE,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "cleaner": CLEANER_VERSION,
    }


def doc_info(doc_id: str, meta: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        doc_id=doc_id,
        title=meta.get("title", ""),
        path=meta.get("path", ""),
        author=meta.get("author", ""),
        publication=meta.get("publication", ""),
        date=meta.get("date", ""),
        source=meta.get("source", ""),
        chunks=int(meta.get("n_chunks", 0)),
        sentences=int(meta.get("n_sentences", 0)),
        duplicate_group=meta.get("dup_group", ""),
        duplicate_role=meta.get("dup_role", ""),
        duplicate_score=float(meta.get("dup_score", 0.0)),
        format=meta.get("format", ""),
        pages=int(meta.get("n_pages", 0) or 0),
        url=meta.get("url", "") or "",
        ocr=bool(meta.get("ocr_pages")),
        file_date=meta.get("file_date", "") or "",
    )


class Reading:
    """Reading the files of a sync: how pages without text are read (OCR options from the settings), and the
    progress of a file read by OCR, a bar of its pages (a line when it starts and one when it ends in a log)."""

    def __init__(self, settings: Settings, progress: bool) -> None:
        self.show = progress and not settings.quiet
        self.bar: Bar | None = None
        self.path: Path | None = None
        self.ocr = OcrOptions(languages=settings.ocr_languages, max_pages=settings.ocr_max_pages,
                              cache_dir=settings.model_cache_dir or default_cache_dir(),
                              progress=self.page) if settings.ocr else None

    def file(self, path: Path) -> None:
        self.close()
        self.path = path

    def page(self, done: int, total: int) -> None:
        if self.bar is None:
            name = self.path.name if self.path else "file"
            self.bar = Bar(total, f"OCR of {name}", "page", self.show)
        self.bar.update(done - self.bar.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive lock on `path` (created; `filelock`, an OS lock that dies with its process); yields False at
    once when not blocking and another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(blocking=blocking)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def reconcile_lexical(store: Store, lexical: LexicalIndex, blocking: bool = True) -> bool:
    """Bring the lexical index in line with the chunks in the store when it reflects another generation (a crash
    between the two, another process writing through a Chroma server, an index from an older version): the
    chunk ids are compared and only the difference is read. Returns False when another process is writing
    it now (not blocking): the caller then uses it as it is."""
    generation = store.state()
    if lexical.generation == generation:
        return True
    with file_lock(lexical.path.with_suffix(".lock"), blocking) as got:
        if not got:
            return False
        generation = store.state()
        if lexical.generation == generation:
            return True
        touched = store.changes_since(lexical.generation, generation) if lexical.generation else None
        if touched is not None:  # the change log names what changed: read those articles only
            for doc_id in touched:
                lexical.remove_prefix(f"{doc_id}:")
            for i in range(0, len(touched), 200):
                got = store.chunks.get(where={"doc_id": {"$in": touched[i : i + 200]}}, include=["documents"])
                lexical.add(list(zip(got["ids"], got["documents"], strict=True)))
            lexical.set_generation(generation)
            return True
        in_store = set(store.all_ids(store.chunks))
        in_index = lexical.ids()
        lexical.remove(sorted(in_index - in_store))
        todo = sorted(in_store - in_index)
        for i in range(0, len(todo), 2000):
            got_docs = store.chunks.get(ids=todo[i : i + 2000], include=["documents"])
            lexical.add(list(zip(got_docs["ids"], got_docs["documents"], strict=True)))
        lexical.set_generation(generation)
    return True


@contextlib.contextmanager
def write_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time: on an embedded index a lock file in its folder (a second `rag index` waits for the
    first); through a Chroma server a lease the server holds, per collection (store.server_lease), so writers on
    other processes and machines take turns too."""
    if settings.chroma_url:
        with server_lease(settings):
            yield
        return
    with file_lock(Path(settings.index_dir) / ".rag.lock"):
        yield


class Indexer:
    def __init__(self, store: Store, embedder: Embedder, settings: Settings,
                 models: dict[str, Any] | None = None) -> None:
        """`models`: what the manifest records of the models that answer beside the index (the facade passes
        `answerer.models_record`; the index does not read the answering models itself)."""
        self.store = store
        self.models = models or {}
        self._touched: set[str] = set()  # articles written or removed by the current write (the change log)
        self.embedder = embedder
        self.settings = settings
        self._changed = False  # whether the current write changed the index (then its generation is counted)
        self.records: dict[str, dict[str, Any]] = {}  # the article records during a write
        self._lexical_todo: list[tuple[str, str]] = []  # chunks written to the store, not yet to BM25

    # ------------------------------------------------------------ public
    def sync(
        self, paths: Iterable[Path], *, mirror: bool = True, rebuild: bool = False, progress: bool = True
    ) -> IndexReport:
        """Bring the index in line with the articles under `paths`.

        mirror=True (`rag index`): articles no longer there are removed. mirror=False (`rag add`): only adds and
        updates. A file that exists but cannot be read this time keeps its previous version in the index."""
        started = time.perf_counter()
        paths = [Path(p) for p in paths]
        with Reading(self.settings, progress) as reading:
            loaded = load_articles(paths, max_bytes=int(self.settings.max_file_mb * 2**20), ocr=reading.ocr,
                                   on_file=reading.file)
        if not loaded.articles and not loaded.skipped:
            raise CorpusError(
                f"No articles found in {', '.join(map(str, paths))} (looked for .txt, .md and .html files)."
            )
        report = IndexReport(skipped=loaded.skipped)
        report.files.extend(FileResult(s.path, "skipped", reason=s.reason) for s in loaded.skipped)
        with write_lock(self.settings), self._writing(rebuild) as records:
            complete = self._repair(records)
            to_embed, to_remove, moved = self._plan(loaded, complete, mirror, report)
            self._mark_pending([a.doc_id for a in to_embed] + to_remove)
            touched = self._remove_all(to_remove, complete)
            for doc_id, path in moved.items():
                self.store.docs.update(ids=[doc_id], metadatas=[complete[doc_id] | {"path": path}])
                self.records[doc_id] = complete[doc_id] | {"path": path}
                self._changed = True
            self._embed_and_write(to_embed, report, progress)
            started_groups = time.perf_counter()
            self._update_groups([a.doc_id for a in to_embed], touched)
            report.timings["duplicates"] = time.perf_counter() - started_groups
            self._mark_pending([])
        self._fill_totals(report)
        report.timings = {k: round(v, 3) for k, v in report.timings.items()}
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def remove(self, doc_id: str) -> DocumentInfo:
        """Remove one article by id (or a unique prefix of it)."""
        with write_lock(self.settings), self._writing(create=False, every_record=False) as records:
            # only the records this removal needs: its article's and its near-duplicate group's (every record
            # only when the groups must all be worked out again), not all of them (0.96 s at 5,000 articles)
            def add_records(**which: Any) -> None:
                got = self.store.docs.get(include=["metadatas"], **which)
                records.update(zip(got["ids"], got["metadatas"], strict=True))

            if doc_id:
                add_records(ids=[doc_id])  # a whole id; else a prefix, resolved among the ids
            matches = list(records) or ([d for d in self.store.doc_ids() if d.startswith(doc_id)] if doc_id else [])
            if len(matches) != 1:
                what = "matches no" if not matches else f"matches {len(matches)}"
                raise DocumentNotFound(f"{doc_id!r} {what} indexed article; `rag docs` lists their ids.")
            if not records:
                add_records(ids=matches)
            if matches[0] not in records:  # removed by another process meanwhile
                raise DocumentNotFound(f"{doc_id!r} matches no indexed article; `rag docs` lists their ids.")
            if self.store.get_meta("groups_key") != self._groups_key():
                records.update((d, m) for d, m, _ in self.store.iter_docs())
            elif group := records[matches[0]].get("dup_group"):
                add_records(where={"dup_group": group})
            info = doc_info(matches[0], records[matches[0]])
            self._mark_pending(matches)
            touched = self._remove_all(matches, records)
            self._update_groups([], touched)
            self._mark_pending([])
        return info

    def remember_corpus(self, folders: list[Path]) -> None:
        """Record the folders this index mirrors (`rag index --corpus`), for `rag watch` to watch by default."""
        with write_lock(self.settings):
            self.store.set_meta(corpus=json.dumps(sorted({os.path.abspath(f) for f in folders if Path(f).is_dir()})))

    def corpus(self) -> list[str]:
        """The folders `remember_corpus` recorded ([] when none was)."""
        return list(json.loads(self.store.get_meta("corpus") or "[]"))

    def remove_gone(self, gone: Callable[[str], bool]) -> list[DocumentInfo]:
        """Remove, in one write, every article whose recorded file `gone(path)` says is no longer there (a
        watched folder's deleted files); returns them."""
        with write_lock(self.settings), self._writing(create=False) as records:
            doomed = sorted(d for d, m in records.items() if m.get("path") and gone(str(m["path"])))
            if not doomed:
                return []
            infos = [doc_info(d, records[d]) for d in doomed]
            self._mark_pending(doomed)
            touched = self._remove_all(doomed, records)
            self._update_groups([], touched)
            self._mark_pending([])
        return infos

    @contextlib.contextmanager
    def _writing(self, rebuild: bool = False, create: bool = True,
                 every_record: bool = True) -> Iterator[dict[str, dict[str, Any]]]:
        """Open (or create) the store and its lexical index for writing, under the lexical index's lock; yields
        the article records (every one; or, without `every_record`, none, for the caller to add those it needs).
        On the way out, the generation is counted up and the lexical index marked as reflecting it (only then: a
        crash in between leaves them differing, and the next open reconciles)."""
        if create:
            self.store.create(signature(self.settings, self.embedder), rebuild=rebuild, extra=self.models)
        else:
            self.store.open(signature(self.settings, self.embedder))
        self.store.shorten_logs()
        self.lexical = LexicalIndex(self.store.lexical_path())
        self.sentence_store = SentenceStore(self.store.sentences_path())
        try:
            with file_lock(self.lexical.path.with_suffix(".lock")):
                if rebuild:
                    self.lexical.clear()
                    self.sentence_store.clear()
                before = self.store.state()
                lexical_current = self.lexical.generation == before
                self.lexical.set_generation(None)
                self._touched = set()
                self._lexical_todo = []
                records = {d: m for d, m, _ in self.store.iter_docs()} if every_record else {}
                self.records = records  # kept in step with every write below (read once per run)
                self._changed = False
                try:
                    yield records
                except BaseException:
                    if self._changed:  # partly written: others must look again; the lexical index reconciles
                        self.store.bump_generation()
                    elif lexical_current:
                        self.lexical.set_generation(self.store.state())
                    raise
                # Only a run that changed something counts a generation (a no-op `rag index` costs no process
                # its caches).
                state = self.store.bump_generation() if self._changed or rebuild else self.store.state()
                if self._changed or rebuild:
                    self.store.log_change(before, state, None if rebuild else sorted(self._touched))
                if lexical_current or rebuild:
                    self.lexical.set_generation(state)
            if not (lexical_current or rebuild):
                reconcile_lexical(self.store, self.lexical)
        finally:
            self.lexical.close()
            self.sentence_store.close()

    def documents(self) -> list[DocumentInfo]:
        return sorted((doc_info(d, m) for d, m, _ in self.store.iter_docs()), key=lambda i: i.path)

    # ------------------------------------------------------------ steps
    def _repair(self, records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Complete articles by id. Each write names the articles it is about to write or remove in the
        collection metadata (`pending`) and clears the list when done; an article left pending by an
        interrupted run is kept only if its record and counts show it complete, else its leftovers (chunks or
        sentences without a matching record) are deleted. An index without the marker (an older version) is
        checked whole, once."""
        pending = self.store.get_meta("pending")
        if pending is None and self.store.get_meta("generation") is None:
            chunk_counts = Counter(i.split(":", 1)[0] for i in self.store.all_ids(self.store.chunks))
            sentence_counts = Counter(i.split(":", 1)[0] for i in self.store.all_ids(self.store.sentences))
            for doc_id in records:
                if sentence_counts.get(doc_id) is None and (n := self.sentence_store.count(doc_id)) is not None:
                    sentence_counts[doc_id] = n
            suspects = set(records) | set(chunk_counts) | set(sentence_counts)
            self.store.set_meta(pending="[]")  # checked whole once; from now on writes name what they touch
        else:
            suspects = set(json.loads(pending or "[]"))
            chunk_counts, sentence_counts = Counter(), Counter()
            for doc_id in suspects:
                chunk_counts[doc_id] = len(self.store.chunks.get(where={"doc_id": doc_id}, include=[])["ids"])
                sentence_counts[doc_id] = self._sentence_count(doc_id)
        complete = dict(records)
        broken = []
        for doc_id in suspects:
            meta = records.get(doc_id)
            if meta is None or chunk_counts.get(doc_id, 0) != meta.get("n_chunks") or sentence_counts.get(
                doc_id, 0) != meta.get("n_sentences"):
                complete.pop(doc_id, None)
                broken.append(doc_id)
        self._remove_all(broken, records)
        return complete

    def _sentence_count(self, doc_id: str) -> int:
        """Sentences stored for an article: in the sentence file, else (a server, an older index) in Chroma."""
        n = self.sentence_store.count(doc_id)
        if n is None and self.store.sentences_in_chroma():
            n = len(self.store.sentences.get(where={"doc_id": doc_id}, include=[])["ids"])
        return n or 0

    def _mark_pending(self, doc_ids: list[str]) -> None:
        """Name the articles about to be written or removed (none: the run finished them)."""
        if doc_ids or self.store.get_meta("pending") not in (None, "[]"):
            self.store.set_meta(pending=json.dumps(sorted(set(doc_ids))))
            self._changed = True

    def _plan(
        self, loaded: Loaded, complete: dict[str, dict[str, Any]], mirror: bool, report: IndexReport
    ) -> tuple[list[Article], list[str], dict[str, str]]:
        by_path = {m.get("path"): d for d, m in complete.items()}
        to_embed: list[Article] = []
        to_remove: list[str] = []
        moved: dict[str, str] = {}
        seen: set[str] = set()
        for article in loaded.articles:
            seen.add(article.doc_id)
            if article.doc_id in complete:
                report.unchanged += 1
                report.files.append(FileResult(article.path, "unchanged", article.doc_id))
                old_path = complete[article.doc_id].get("path", "")
                if old_path != article.path and not Path(old_path).exists():
                    moved[article.doc_id] = article.path
                continue
            old = by_path.get(article.path)
            if old and old != article.doc_id:
                report.updated += 1
                to_remove.append(old)
                seen.add(old)
                status = "updated"
            else:
                report.added += 1
                status = "added"
            report.files.append(FileResult(article.path, status, article.doc_id))
            to_embed.append(article)
        if mirror:
            for doc_id, meta in complete.items():
                if doc_id not in seen and meta.get("path") not in loaded.unreadable_paths:
                    report.removed += 1
                    to_remove.append(doc_id)
        return to_embed, to_remove, moved

    def _delete(self, doc_id: str) -> None:
        self._changed = True
        self._touched.add(doc_id)
        self.records.pop(doc_id, None)
        self.store.docs.delete(ids=[doc_id])
        # by the doc_id every chunk's metadata holds, on the collection itself: llama-index's
        # `ChromaVectorStore.delete` does the same, after importing llama-index (2 s of a removal's first 3.2 s)
        self.store.chunks.delete(where={"doc_id": doc_id})
        if self.store.sentences_in_chroma():
            self.store.sentences.delete(where={"doc_id": doc_id})
        self.sentence_store.remove(doc_id)
        self.lexical.remove_prefix(f"{doc_id}:")

    def _remove_all(self, doc_ids: list[str], records: dict[str, dict[str, Any]]) -> set[str]:
        """Delete articles; returns the duplicate groups they were in (to be worked out again)."""
        touched = set()
        for doc_id in doc_ids:
            if records.get(doc_id, {}).get("dup_group"):
                touched.add(records[doc_id]["dup_group"])
            self._delete(doc_id)
        return touched

    def _embed_and_write(self, articles: list[Article], report: IndexReport, progress: bool) -> None:
        work = []
        for article in articles:
            chunks = chunk_article(article, self.settings.chunk_size, self.settings.chunk_overlap)
            work.append((article, chunks, article_sentences(article)))
        total = sum(len(c) + len(s) for _, c, s in work)
        show = progress and not self.settings.quiet and total > 0
        say(f"Loading the embedding model ({self.embedder.model_id})…", show)
        if total:
            self.embedder.model  # noqa: B018 -- load now, so the bar measures embedding only
        with Bar(total, "Embedding", "text", show) as bar:
            # Articles are embedded a group at a time (EMBED_GROUP texts or more, each distinct text once, sorted
            # by length in Embedder.embed): short articles then fill whole batches. Each is still written whole,
            # chunks -> sentences -> record, before the next.
            group: list[tuple[Article, list[Chunk], list[tuple[int, int]]]] = []
            size = 0
            for item in work:
                group.append(item)
                size += len(item[1]) + len(item[2])
                if size >= EMBED_GROUP:
                    self._embed_group(group, report, bar)
                    group, size = [], 0
            if group:
                self._embed_group(group, report, bar)
        started = time.perf_counter()
        self._flush_lexical()
        report.timings["write"] = report.timings.get("write", 0.0) + time.perf_counter() - started

    def _flush_lexical(self) -> None:
        """Add the chunks written since the last call to the BM25 index, in one transaction. They wait for up to
        LEXICAL_BATCH chunks: a word's postings get one append per batch, not one per article group. A crash in
        between leaves the BM25 index behind the store, and the next open reconciles it (`reconcile_lexical`),
        as after any interrupted write."""
        if self._lexical_todo:
            self.lexical.add(self._lexical_todo)
            self._lexical_todo = []

    def _embed_group(self, group: list[tuple[Article, list[Chunk], list[tuple[int, int]]]], report: IndexReport,
                     bar: Any) -> None:
        texts = [[c.text for c in chunks] + [article.text[s:e] for s, e in sentences] for article, chunks, sentences in group]
        distinct = list(dict.fromkeys(t for ts in texts for t in ts))
        started = time.perf_counter()
        vectors = self.embedder.embed(distinct, progress=bar.update) if distinct else np.zeros((0, self.embedder.dim))
        report.timings["embed"] = report.timings.get("embed", 0.0) + time.perf_counter() - started
        report.embedded_texts += len(distinct)
        bar.update(sum(map(len, texts)) - len(distinct))  # repeated texts: counted, not embedded again
        row = {t: i for i, t in enumerate(distinct)}
        started = time.perf_counter()
        items = []
        for (article, chunks, sentences), ts in zip(group, texts, strict=True):
            own = vectors[[row[t] for t in ts]] if ts else np.zeros((0, self.embedder.dim), np.float32)
            items.append((article, chunks, sentences, own[: len(chunks)], own[len(chunks) :]))
            report.embedded += len(chunks)
            report.embedded_sentences += len(sentences)
        self._write(items)
        report.timings["write"] = report.timings.get("write", 0.0) + time.perf_counter() - started

    def _write(self, items: list[tuple[Article, list[Chunk], list[tuple[int, int]], np.ndarray, np.ndarray]]) -> None:
        """Write a group of articles: all their chunks (and BM25 postings), then all their sentences, then their
        records, the records last (a record marks its article complete; one call per kind, not per article)."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        self._changed = True
        nodes = []
        for _, chunks, _, chunk_vectors, _ in items:
            for chunk, vector in zip(chunks, chunk_vectors, strict=True):
                meta = {
                    "doc_id": chunk.doc_id,
                    "position": chunk.position,
                    "start": chunk.start,
                    "end": chunk.end,
                    "sentences": json.dumps(chunk.sentences),
                }
                nodes.append(
                    TextNode(
                        id_=chunk.chunk_id,
                        text=chunk.text,
                        embedding=vector.tolist(),
                        metadata=meta,
                        excluded_embed_metadata_keys=list(meta),
                        excluded_llm_metadata_keys=list(meta),
                        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.doc_id)},
                    )
                )
        if nodes:
            self.store.vector_store.add(nodes)
            self._lexical_todo += [(n.node_id, n.text) for n in nodes]
            if len(self._lexical_todo) >= LEXICAL_BATCH:
                self._flush_lexical()
            self._touched.update(n.node_id.rsplit(":", 1)[0] for n in nodes)
        batch = self.store.max_batch()
        shared: list[tuple[str, Any, str, dict[str, Any]]] = []  # (id, vector, text, metadata) for a server
        for article, _, sentences, _, sentence_vectors in items:
            rows = []
            for n, (start, end) in enumerate(sentences):
                words = len(article.text[start:end].split())
                rows.append((n, start, end, words, sentence_vectors[n]))
                if self.settings.chroma_url:  # shared through the server: every app process reads them there
                    shared.append((_SENTENCE_ID.format(doc_id=article.doc_id, n=n), sentence_vectors[n],
                                   article.text[start:end], {"doc_id": article.doc_id, "position": n,
                                                             "start": start, "end": end, "words": words}))
            self.sentence_store.put(article.doc_id, rows)
        for i in range(0, len(shared), batch):
            ids, embeddings, documents, metadatas = zip(*shared[i : i + batch], strict=True)
            self.store.sentences.add(ids=list(ids), embeddings=np.asarray(embeddings), documents=list(documents),
                                     metadatas=list(metadatas))
        records: dict[str, Any] = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}
        for article, chunks, sentences, chunk_vectors, sentence_vectors in items:
            centroid = sentence_vectors.mean(axis=0) if len(sentence_vectors) else chunk_vectors.mean(axis=0)
            centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-9)
            records["ids"].append(article.doc_id)
            records["embeddings"].append(centroid.tolist())
            records["documents"].append(article.text)
            records["metadatas"].append({
                "path": article.path,
                "title": article.title,
                "author": article.author,
                "publication": article.publication,
                "date": article.date,
                "source": article.source,
                "derived_hint": article.derived_hint,
                "length": len(article.text),
                "format": article.format,
                "pages": json.dumps(article.pages) if article.pages else "",
                "n_pages": len(article.pages),
                "ocr_pages": json.dumps(article.ocr_pages) if article.ocr_pages else "",
                "url": article.url,
                "file_date": article.file_date,
                "n_chunks": len(chunks),
                "n_sentences": len(sentences),
                "dup_group": "",
                "dup_role": "",
                "dup_score": 0.0,
            })
        for i in range(0, len(records["ids"]), batch):
            self.store.docs.upsert(**{k: v[i : i + batch] for k, v in records.items()})  # last: marks them complete
        self.records.update(zip(records["ids"], records["metadatas"], strict=True))

    def _update_groups(self, added: list[str], touched: set[str]) -> None:
        """Work out the near-duplicate groups again where articles came or went: each new article is scored
        against every other article (up to ALL_PAIRS_LIMIT articles) or against its nearest neighbours by
        sentence centroid (Chroma's query over the article records); the groups an article left are scored
        again among their remaining members. When the threshold or the rule changed (or an older index has no
        record of them), every group is worked out again."""
        records = self.records
        key = self._groups_key()
        if self.store.get_meta("groups_key") != key:
            assignment = assign_all(list(self._doc_vectors(records, sorted(records)).values()), records,
                                    self.settings.dup_threshold)
        else:
            assignment = assign_changed(records, [d for d in added if d in records], touched,
                                        self.settings.dup_threshold, lambda ids: self._neighbours(records, ids),
                                        lambda ids: self._doc_vectors(records, ids))
        changed = [
            d for d, (g, r, sc) in assignment.items()
            if d in records and (records[d].get("dup_group", ""), records[d].get("dup_role", ""),
                                 records[d].get("dup_score", 0.0)) != (g, r, sc)
        ]
        if changed:
            self._changed = True
            metadatas = [
                records[d] | {"dup_group": assignment[d][0], "dup_role": assignment[d][1], "dup_score": assignment[d][2]}
                for d in changed
            ]
            self.store.docs.update(ids=changed, metadatas=metadatas)
            records.update(zip(changed, metadatas, strict=True))
        if self.store.get_meta("groups_key") != key:
            self.store.set_meta(groups_key=key)

    def _groups_key(self) -> str:
        """What the stored near-duplicate groups were worked out with (another key: all are worked out again)."""
        return json.dumps({"dup_threshold": self.settings.dup_threshold, "incremental": 1, "compilations": 1})

    def _doc_vectors(self, records: dict[str, dict[str, Any]], doc_ids: list[str]) -> dict[str, DocVectors]:
        """The sentence vectors (of sentences of MIN_WORDS words or more) of some articles, fetched by id."""
        found = sentence_rows(self.store, self.sentence_store, doc_ids)
        vectors: dict[str, list[Any]] = {d: [r[4] for r in found.get(d, []) if r[3] >= MIN_WORDS] for d in doc_ids}
        return {
            d: DocVectors(
                doc_id=d,
                sentences=np.asarray(vectors[d], dtype=np.float32).reshape(len(vectors[d]), -1)
                if vectors[d] else np.zeros((0, self.embedder.dim), np.float32),
                length=int(records[d].get("length", 0)),
                derived_hint=records[d].get("derived_hint", ""),
            )
            for d in doc_ids
        }

    def _neighbours(self, records: dict[str, dict[str, Any]], doc_ids: list[str]) -> dict[str, list[str]]:
        """Articles to score each new article against: all others, or its nearest by centroid."""
        if len(records) <= ALL_PAIRS_LIMIT:
            return {d: [o for o in records if o != d] for d in doc_ids}
        got = self.store.docs.get(ids=doc_ids, include=["embeddings"])
        centroids = dict(zip(got["ids"], got["embeddings"], strict=True))
        out: dict[str, list[str]] = {}
        for d in doc_ids:
            found = self.store.docs.query(query_embeddings=[np.asarray(centroids[d]).tolist()],
                                          n_results=min(NEIGHBOURS + 1, len(records)), include=[])
            out[d] = [o for o in found["ids"][0] if o != d and o in records]
        return out

    def _fill_totals(self, report: IndexReport) -> None:
        infos = [doc_info(d, m) for d, m in self.records.items()]
        report.documents = len(infos)
        report.chunks = self.store.chunks.count()
        groups: dict[str, list[DocumentInfo]] = {}
        for info in infos:
            if info.duplicate_group:
                groups.setdefault(info.duplicate_group, []).append(info)
        report.duplicate_groups = [
            [m.doc_id for m in sorted(members, key=lambda m: (m.duplicate_role != "original", m.doc_id))]
            for _, members in sorted(groups.items())
        ]
