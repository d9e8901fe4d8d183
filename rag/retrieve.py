"""Retrieval: dense (Chroma's nearest-neighbour query over the chunks llama-index wrote) and BM25 (the lexical
index on disk), fused by reciprocal rank fusion; near-duplicate articles collapse to one passage (the
original preferred) with `also_in`; optional MMR. Chunks are named by their ids throughout.

Measured on evals/questions.jsonl (`rag eval --baselines`): see evals/README.md for dense-only,
BM25-only and fused hit@k / MRR."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .embed import Embedder
from .errors import InvalidQuery
from .snapshot import Gathered, Snapshot
from .tuning import COLLAPSE, MAX_K, RRF_K
from .types import Passage

MAX_QUERY_CHARS = 2000
Mode = Literal["hybrid", "dense", "bm25"]
Kept = list[tuple[str, list[str], list[str]]]  # (chunk id, articles merged into it, their chunk ids)


def check_query(query: str, k: int) -> str:
    query = (query or "").strip()
    if not query:
        raise InvalidQuery("The question is empty: ask something about the articles.")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"The question is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}. Shorten it.")
    if not 1 <= k <= MAX_K:
        raise InvalidQuery(f"k must be between 1 and {MAX_K}, got {k}.")
    return query


def rrf(rankings: list[list[str]], k: int = RRF_K) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return fused


def search(
    snap: Snapshot,
    embedder: Embedder,
    query: str,
    k: int = 5,
    *,
    mode: Mode = "hybrid",
    candidates: int = 20,
    collapse_threshold: float = COLLAPSE,
    mmr_lambda: float | None = None,
    vector: np.ndarray | None = None,
    docs: frozenset[str] | None = None,
) -> list[Passage]:
    """The k best passages for `query`. `vector` is the query embedding when the caller already has it; `docs`
    the articles in scope (`Snapshot.in_scope`), searched alone; None: all."""
    query = check_query(query, k)
    n = max(candidates, 2 * k)
    if mode in ("hybrid", "dense"):
        vector = embedder.embed_query(query) if vector is None else vector
    dense, bm25 = snap.candidates(vector if mode != "bm25" else None, query if mode != "dense" else None, n, docs)
    fused = rrf([r for r in (dense, bm25) if r])
    order = sorted(fused, key=lambda row: -fused[row])
    ranked = snap.gather(order, articles=False)  # the candidates' records, and their articles', in one pass
    kept = _collapse(ranked, order, collapse_threshold)
    if mmr_lambda is not None:
        kept = _mmr(ranked, kept, fused, mmr_lambda, k)
    dense_rank = {row: i for i, row in enumerate(dense, 1)}
    bm25_rank = {row: i for i, row in enumerate(bm25, 1)}
    passages = []
    g = snap.gather([cid for row, _, rows in kept[:k] for cid in (row, *rows)])  # and the kept ones' articles
    for row, also, rows in kept[:k]:
        rec = g.chunks[row]
        doc_id = rec.doc_id
        meta = g.docs[doc_id]
        start, end = rec.start, rec.end
        passages.append(
            Passage(
                doc_id=doc_id,
                chunk_id=row,
                title=g.title(doc_id),
                text=g.chunk_text(rec),
                score=round(max(fused[r] for r in (row, *rows)), 5),  # the rank it holds is its best member's
                start=start,
                end=end,
                path=meta.get("path", ""),
                author=meta.get("author", ""),
                date=meta.get("date", ""),
                duplicate_group=meta.get("dup_group", ""),
                also_in=tuple(also),
                merged=tuple(rows),
                dense_rank=dense_rank.get(row, 0),
                bm25_rank=bm25_rank.get(row, 0),
            )
        )
    return passages


def find(snap: Snapshot, query: str, k: int = 5, docs: frozenset[str] | None = None, *, embedder: Embedder,
         **settings: Any) -> tuple[list[Passage], np.ndarray]:
    """`search` with the query embedded here, once: the k best passages (of the articles in `docs`, when given)
    and the query's vector (what the answerer scores sentences against). `settings`: `search`'s keywords (mode,
    candidates, mmr_lambda, …)."""
    vector = embedder.embed_query(query)
    return search(snap, embedder, query, k, vector=vector, docs=docs, **settings), vector


def _collapse(g: Gathered, order: list[str], threshold: float) -> Kept:
    """Merge passages of near-duplicate articles that say the same thing into one, keeping the rank of the
    best and the text of the group's original when it is among them."""
    kept: Kept = []
    rec = g.chunks
    for row in order:
        group = g.docs[rec[row].doc_id].get("dup_group", "")
        merged = False
        if group:
            for i, (other, also, rows) in enumerate(kept):
                same_group = g.docs[rec[other].doc_id].get("dup_group", "") == group
                if same_group and rec[other].doc_id != rec[row].doc_id and float(
                    rec[row].vector @ rec[other].vector
                ) >= threshold:
                    doc, other_doc = rec[row].doc_id, rec[other].doc_id
                    if doc not in also and doc != other_doc:
                        if g.docs[doc].get("dup_role") == "original":
                            kept[i] = (row, [*also, other_doc], [*rows, other])
                        else:
                            also.append(doc)
                            rows.append(row)
                    merged = True
                    break
        if not merged:
            kept.append((row, [], []))
    return kept


def _mmr(g: Gathered, kept: Kept, fused: dict[str, float], lam: float, k: int) -> Kept:
    """Maximal marginal relevance (Carbonell & Goldstein 1998) over the fused candidates."""
    if not kept:
        return kept
    top = max(fused[row] for row, _, _ in kept)
    remaining = list(kept)
    chosen: Kept = []
    while remaining and len(chosen) < k:
        def gain(item: tuple[str, list[str], list[str]]) -> float:
            vec = g.chunks[item[0]].vector
            redundancy = max((float(vec @ g.chunks[c].vector) for c, _, _ in chosen), default=0.0)
            row = item[0]
            return lam * fused[row] / top - (1 - lam) * redundancy
        best = max(remaining, key=gain)
        chosen.append(best)
        remaining.remove(best)
    return chosen
