"""Retrieval: dense (Chroma, through llama-index's `ChromaVectorStore`) and BM25, fused by reciprocal rank
fusion; near-duplicate articles collapse to one passage (the original preferred) with `also_in`; optional MMR.

Measured on evals/questions.jsonl (`rag eval --baselines`): see evals/README.md for dense-only,
BM25-only and fused hit@k / MRR."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .embed import Embedder
from .errors import InvalidQuery
from .snapshot import Snapshot
from .store import Store
from .types import Passage

MAX_QUERY_CHARS = 2000
MAX_K = 100
RRF_K = 60  # the constant of Cormack et al. (2009)
Mode = Literal["hybrid", "dense", "bm25"]


def check_query(query: str, k: int) -> str:
    query = (query or "").strip()
    if not query:
        raise InvalidQuery("The question is empty: ask something about the articles.")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"The question is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}. Shorten it.")
    if not 1 <= k <= MAX_K:
        raise InvalidQuery(f"k must be between 1 and {MAX_K}, got {k}.")
    return query


def dense_ranking(store: Store, snap: Snapshot, vector: np.ndarray, n: int) -> list[int]:
    """Chunk rows of the snapshot, best first, from a Chroma query."""
    from llama_index.core.vector_stores.types import VectorStoreQuery

    result = store.vector_store.query(VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=n))
    return [snap.chunk_index[node.node_id] for node in result.nodes or [] if node.node_id in snap.chunk_index]


def bm25_ranking(snap: Snapshot, query: str, n: int) -> list[int]:
    if snap.bm25 is None or not snap.chunk_ids:
        return []
    scores = snap.bm25.scores(query)
    order = np.argsort(-scores, kind="stable")[:n]
    return [int(i) for i in order if scores[i] > 0]


def rrf(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return fused


def search(
    store: Store,
    snap: Snapshot,
    embedder: Embedder,
    query: str,
    k: int = 5,
    *,
    mode: Mode = "hybrid",
    candidates: int = 20,
    collapse_threshold: float = 0.75,
    mmr_lambda: float | None = None,
    vector: np.ndarray | None = None,
) -> list[Passage]:
    """The k best passages for `query`. `vector` is the query embedding when the caller already has it."""
    query = check_query(query, k)
    n = max(candidates, 2 * k)
    dense: list[int] = []
    bm25: list[int] = []
    if mode in ("hybrid", "dense"):
        vector = embedder.embed_query(query) if vector is None else vector
        dense = dense_ranking(store, snap, vector, n)
    if mode in ("hybrid", "bm25"):
        bm25 = bm25_ranking(snap, query, n)
    fused = rrf([r for r in (dense, bm25) if r])
    order = sorted(fused, key=lambda row: -fused[row])
    kept = _collapse(snap, order, collapse_threshold)
    if mmr_lambda is not None:
        kept = _mmr(snap, kept, fused, mmr_lambda, k)
    dense_rank = {row: i for i, row in enumerate(dense, 1)}
    bm25_rank = {row: i for i, row in enumerate(bm25, 1)}
    passages = []
    for row, also, rows in kept[:k]:
        doc_id = snap.chunk_doc[row]
        meta = snap.docs[doc_id]
        start, end = snap.chunk_span[row]
        passages.append(
            Passage(
                doc_id=doc_id,
                chunk_id=snap.chunk_ids[row],
                title=snap.title(doc_id),
                text=snap.chunk_text(row),
                score=round(max(fused[r] for r in (row, *rows)), 5),  # the rank it holds is its best member's
                start=start,
                end=end,
                path=meta.get("path", ""),
                author=meta.get("author", ""),
                date=meta.get("date", ""),
                duplicate_group=meta.get("dup_group", ""),
                also_in=tuple(also),
                merged=tuple(snap.chunk_ids[r] for r in rows),
                dense_rank=dense_rank.get(row, 0),
                bm25_rank=bm25_rank.get(row, 0),
            )
        )
    return passages


def _collapse(snap: Snapshot, order: list[int], threshold: float) -> list[tuple[int, list[str], list[int]]]:
    """Merge passages of near-duplicate articles that say the same thing into one, keeping the rank of the
    best and the text of the group's original when it is among them."""
    kept: list[tuple[int, list[str], list[int]]] = []
    for row in order:
        group = snap.docs[snap.chunk_doc[row]].get("dup_group", "")
        merged = False
        if group:
            for i, (other, also, rows) in enumerate(kept):
                same_group = snap.docs[snap.chunk_doc[other]].get("dup_group", "") == group
                if same_group and snap.chunk_doc[other] != snap.chunk_doc[row] and float(
                    snap.chunk_vecs[row] @ snap.chunk_vecs[other]
                ) >= threshold:
                    doc, other_doc = snap.chunk_doc[row], snap.chunk_doc[other]
                    if doc not in also and doc != other_doc:
                        if snap.docs[doc].get("dup_role") == "original":
                            kept[i] = (row, [*also, other_doc], [*rows, other])
                        else:
                            also.append(doc)
                            rows.append(row)
                    merged = True
                    break
        if not merged:
            kept.append((row, [], []))
    return kept


Kept = list[tuple[int, list[str], list[int]]]


def _mmr(snap: Snapshot, kept: Kept, fused: dict[int, float], lam: float, k: int) -> Kept:
    """Maximal marginal relevance (Carbonell & Goldstein 1998) over the fused candidates."""
    if not kept:
        return kept
    top = max(fused[row] for row, _, _ in kept)
    remaining = list(kept)
    chosen: Kept = []
    while remaining and len(chosen) < k:
        def gain(item: tuple[int, list[str], list[int]]) -> float:
            row = item[0]
            redundancy = max((float(snap.chunk_vecs[row] @ snap.chunk_vecs[c]) for c, _, _ in chosen), default=0.0)
            return lam * fused[row] / top - (1 - lam) * redundancy
        best = max(remaining, key=gain)
        chosen.append(best)
        remaining.remove(best)
    return chosen
