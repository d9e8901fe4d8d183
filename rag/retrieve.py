"""Dense retrieval over the chunks, through llama-index's `ChromaVectorStore`."""

from __future__ import annotations

import math
from typing import Any

from .embed import Embedder
from .errors import InvalidQuery
from .store import Store
from .types import Passage

MAX_QUERY_CHARS = 2000
MAX_K = 100


def check_query(query: str, k: int) -> str:
    query = (query or "").strip()
    if not query:
        raise InvalidQuery("The query is empty: ask something about the articles.")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"The query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}. Shorten it.")
    if not 1 <= k <= MAX_K:
        raise InvalidQuery(f"k must be between 1 and {MAX_K}, got {k}.")
    return query


def dense_search(
    store: Store, embedder: Embedder, docs: dict[str, dict[str, Any]], query: str, k: int = 5
) -> list[Passage]:
    """The k chunks closest to the query, best first, with a cosine score. Chunks of articles without a
    complete record (leftovers of an interrupted run) are never returned."""
    from llama_index.core.vector_stores.types import VectorStoreQuery

    query = check_query(query, k)
    vector = embedder.embed_query(query).tolist()
    # Over-fetch a little so leftovers of an interrupted run cannot push real passages out.
    result = store.vector_store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=k + 5))
    passages: list[Passage] = []
    for node, similarity in zip(result.nodes or [], result.similarities or [], strict=True):
        doc = docs.get(node.metadata.get("doc_id", ""))
        if doc is None:
            continue
        # ChromaVectorStore reports exp(-distance); with cosine distance, cosine = 1 - distance.
        score = 1.0 + math.log(similarity) if similarity > 0 else -1.0
        passages.append(
            Passage(
                doc_id=node.metadata["doc_id"],
                chunk_id=node.node_id,
                title=doc.get("title") or doc.get("path", "").rsplit("/", 1)[-1],
                text=node.get_content(),
                score=round(score, 4),
                start=int(node.metadata["start"]),
                end=int(node.metadata["end"]),
                path=doc.get("path", ""),
                author=doc.get("author", ""),
                date=doc.get("date", ""),
                duplicate_group=doc.get("dup_group", ""),
            )
        )
    return passages[:k]
