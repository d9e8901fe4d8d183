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
import fcntl
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .chunk import article_sentences, chunk_article
from .clean import CLEANER_VERSION
from .dedup import MIN_WORDS, DocVectors, find_groups
from .embed import Embedder
from .errors import CorpusError, DocumentNotFound
from .load import Loaded, load_articles
from .settings import Settings
from .store import FORMAT_VERSION, SPACE, Store
from .types import Article, Chunk, DocumentInfo, FileResult, IndexReport

_SENTENCE_ID = "{doc_id}:s{n:04d}"


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


def scorer_record(settings: Settings) -> dict[str, Any]:
    """What the manifest records of the evidence scorer in use: its version and file hash."""
    from .scorer import MODEL_FILE

    path = Path(settings.scorer_file) if settings.scorer_file else MODEL_FILE
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        version = json.loads(path.read_text(encoding="utf-8")).get("version", "?")
    except (OSError, ValueError):
        return {}
    return {"evidence_scorer": f"v{version} sha256:{digest}"}


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
    )


@contextlib.contextmanager
def write_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time on an embedded index (a second `rag index` waits for the first)."""
    if settings.chroma_url:
        yield
        return
    folder = Path(settings.index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".rag.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Indexer:
    def __init__(self, store: Store, embedder: Embedder, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings

    # ------------------------------------------------------------ public
    def sync(
        self, paths: Iterable[Path], *, mirror: bool = True, rebuild: bool = False, progress: bool = True
    ) -> IndexReport:
        """Bring the index in line with the articles under `paths`.

        mirror=True (`rag index`): articles no longer there are removed. mirror=False (`rag add`): only adds and
        updates. A file that exists but cannot be read this time keeps its previous version in the index."""
        started = time.perf_counter()
        paths = [Path(p) for p in paths]
        loaded = load_articles(paths, max_bytes=int(self.settings.max_file_mb * 2**20))
        if not loaded.articles and not loaded.skipped:
            raise CorpusError(
                f"No articles found in {', '.join(map(str, paths))} (looked for .txt, .md and .html files)."
            )
        report = IndexReport(skipped=loaded.skipped)
        report.files.extend(FileResult(s.path, "skipped", reason=s.reason) for s in loaded.skipped)
        with write_lock(self.settings):
            self.store.create(signature(self.settings, self.embedder), rebuild=rebuild, extra=scorer_record(self.settings))
            complete = self._repair()
            to_embed, to_remove, moved = self._plan(loaded, complete, mirror, report)
            for doc_id in to_remove:
                self._delete(doc_id)
            for doc_id, path in moved.items():
                self.store.docs.update(ids=[doc_id], metadatas=[complete[doc_id] | {"path": path}])
            self._embed_and_write(to_embed, report, progress)
            self._update_groups()
        self._fill_totals(report)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def remove(self, doc_id: str) -> DocumentInfo:
        """Remove one article by id (or a unique prefix of it)."""
        with write_lock(self.settings):
            self.store.open(signature(self.settings, self.embedder))
            records = {d: m for d, m, _ in self.store.iter_docs()}
            matches = [d for d in records if d.startswith(doc_id)] if doc_id else []
            if len(matches) != 1:
                what = "matches no" if not matches else f"matches {len(matches)}"
                raise DocumentNotFound(f"{doc_id!r} {what} indexed article; `rag docs` lists their ids.")
            info = doc_info(matches[0], records[matches[0]])
            self._delete(matches[0])
            self._update_groups()
        return info

    def documents(self) -> list[DocumentInfo]:
        return sorted((doc_info(d, m) for d, m, _ in self.store.iter_docs()), key=lambda i: i.path)

    # ------------------------------------------------------------ steps
    def _repair(self) -> dict[str, dict[str, Any]]:
        """Complete articles by id; leftovers of an interrupted run (chunks or sentences without a matching
        record, or a record whose counts do not match) are deleted."""
        records = {d: m for d, m, _ in self.store.iter_docs()}
        chunk_counts = Counter(i.split(":", 1)[0] for i in self.store.all_ids(self.store.chunks))
        sentence_counts = Counter(i.split(":", 1)[0] for i in self.store.all_ids(self.store.sentences))
        complete = {
            d: m
            for d, m in records.items()
            if chunk_counts.get(d, 0) == m.get("n_chunks") and sentence_counts.get(d, 0) == m.get("n_sentences")
        }
        for doc_id in (set(records) | set(chunk_counts) | set(sentence_counts)) - set(complete):
            self._delete(doc_id)
        return complete

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
        self.store.docs.delete(ids=[doc_id])
        self.store.vector_store.delete(ref_doc_id=doc_id)
        self.store.sentences.delete(where={"doc_id": doc_id})

    def _embed_and_write(self, articles: list[Article], report: IndexReport, progress: bool) -> None:
        from tqdm import tqdm

        work = []
        for article in articles:
            chunks = chunk_article(article, self.settings.chunk_size, self.settings.chunk_overlap)
            work.append((article, chunks, article_sentences(article)))
        total = sum(len(c) + len(s) for _, c, s in work)
        show = progress and not self.settings.quiet and total > 0
        if show:
            print(f"Loading the embedding model ({self.embedder.model_id})…", file=sys.stderr, flush=True)
        if total:
            self.embedder.model  # noqa: B018 -- load now, so the bar measures embedding only
        bar = tqdm(
            total=total, unit="text", desc="Embedding", file=sys.stderr,
            disable=not show, leave=False,
        )
        with bar:
            for article, chunks, sentences in work:
                texts = [c.text for c in chunks] + [article.text[s:e] for s, e in sentences]
                vectors = self.embedder.embed(texts, progress=bar.update)
                self._write(article, chunks, sentences, vectors[: len(chunks)], vectors[len(chunks) :])
                report.embedded += len(chunks)
                report.embedded_sentences += len(sentences)

    def _write(
        self,
        article: Article,
        chunks: list[Chunk],
        sentences: list[tuple[int, int]],
        chunk_vectors: np.ndarray,
        sentence_vectors: np.ndarray,
    ) -> None:
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        nodes = []
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
        batch = self.store.max_batch()
        for i in range(0, len(sentences), batch):
            part = range(i, min(i + batch, len(sentences)))
            self.store.sentences.add(
                ids=[_SENTENCE_ID.format(doc_id=article.doc_id, n=n) for n in part],
                embeddings=sentence_vectors[i : part.stop],
                documents=[article.text[sentences[n][0] : sentences[n][1]] for n in part],
                metadatas=[
                    {
                        "doc_id": article.doc_id,
                        "position": n,
                        "start": sentences[n][0],
                        "end": sentences[n][1],
                        "words": len(article.text[sentences[n][0] : sentences[n][1]].split()),
                    }
                    for n in part
                ],
            )
        centroid = sentence_vectors.mean(axis=0) if len(sentence_vectors) else chunk_vectors.mean(axis=0)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-9)
        self.store.docs.upsert(  # written last: marks the article complete
            ids=[article.doc_id],
            embeddings=[centroid.tolist()],
            documents=[article.text],
            metadatas=[
                {
                    "path": article.path,
                    "title": article.title,
                    "author": article.author,
                    "publication": article.publication,
                    "date": article.date,
                    "source": article.source,
                    "derived_hint": article.derived_hint,
                    "length": len(article.text),
                    "n_chunks": len(chunks),
                    "n_sentences": len(sentences),
                    "dup_group": "",
                    "dup_role": "",
                    "dup_score": 0.0,
                }
            ],
        )

    def _update_groups(self) -> None:
        records = {d: m for d, m, _ in self.store.iter_docs()}
        key = hashlib.sha256(
            json.dumps([sorted(records), self.settings.dup_threshold]).encode()
        ).hexdigest()[:16]
        if self.store.get_meta("groups_key") == key:
            return
        vectors: dict[str, list[np.ndarray]] = {d: [] for d in records}
        for page in self.store.pages(self.store.sentences, ["embeddings", "metadatas"]):
            for emb, meta in zip(page["embeddings"], page["metadatas"], strict=True):
                if meta["doc_id"] in vectors and meta.get("words", 0) >= MIN_WORDS:
                    vectors[meta["doc_id"]].append(np.asarray(emb, dtype=np.float32))
        docs = [
            DocVectors(
                doc_id=d,
                sentences=np.stack(vectors[d]) if vectors[d] else np.zeros((0, self.embedder.dim), np.float32),
                length=int(m.get("length", 0)),
                derived_hint=m.get("derived_hint", ""),
            )
            for d, m in sorted(records.items())
        ]
        assignment = {d: ("", "", 0.0) for d in records}
        for group in find_groups(docs, self.settings.dup_threshold):
            for member in group.members:
                role = "original" if member == group.original else "derived"
                assignment[member] = (group.original, role, group.scores[member])
        changed = [
            d for d, (g, r, s) in assignment.items()
            if (records[d].get("dup_group", ""), records[d].get("dup_role", ""), records[d].get("dup_score", 0.0)) != (g, r, s)
        ]
        if changed:
            self.store.docs.update(
                ids=changed,
                metadatas=[
                    records[d] | {"dup_group": assignment[d][0], "dup_role": assignment[d][1], "dup_score": assignment[d][2]}
                    for d in changed
                ],
            )
        self.store.set_meta(groups_key=key)

    def _fill_totals(self, report: IndexReport) -> None:
        infos = self.documents()
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
