"""Choose the chunk size by measurement: dense retrieval hit@k and MRR on evals/questions.jsonl for several
chunk sizes and overlaps, with llama-index's SentenceSplitter measured side by side as the baseline.

    python -m evals.tune_chunking            # prints a table and the chosen size; about a minute on 2 cores

A hit is a retrieved chunk that holds at least 80% of a gold evidence quote.
"""

from __future__ import annotations

import time

import numpy as np

from evals.results import save
from rag.chunk import chunk_article
from rag.embed import load_embedder
from rag.evaluate import QUESTIONS_FILE, load_questions
from rag.load import bundled_corpus, load_articles
from rag.metrics import gold_spans, is_hit

KS = (1, 3, 5)


def evaluate(chunks: list[tuple[str, int, int, str]], embedder, questions, texts, q_vectors) -> dict:
    vectors = embedder.embed([c[3] for c in chunks])
    hits = {k: 0 for k in KS}
    rr = 0.0
    for item, qv in zip(questions, q_vectors, strict=True):
        spans = gold_spans(item, texts)
        order = np.argsort(-(vectors @ qv))
        ranks = [r for r, i in enumerate(order[:20], 1) if is_hit(chunks[i][0], chunks[i][1], chunks[i][2], spans)]
        first = ranks[0] if ranks else None
        for k in KS:
            hits[k] += bool(first and first <= k)
        rr += 1 / first if first else 0.0
    n = len(questions)
    return {f"hit@{k}": hits[k] / n for k in KS} | {
        "mrr": rr / n,
        "chunks": len(chunks),
        "mean_chars": float(np.mean([len(c[3]) for c in chunks])),
    }


def main() -> None:
    embedder = load_embedder()
    articles = load_articles([bundled_corpus()]).articles
    texts = {a.doc_id: a.text for a in articles}
    questions = [q for q in load_questions(QUESTIONS_FILE) if q.get("evidence")]
    q_vectors = [embedder.embed_query(q["question"]) for q in questions]
    rows = []
    configs: list[tuple[int, int] | None] = []  # (size, overlap) of each row of our chunker; None for the baseline
    for size in (300, 500, 700, 1000, 1400):
        for overlap in (0, 1, 2):
            started = time.perf_counter()
            chunks = [(c.doc_id, c.start, c.end, c.text) for a in articles for c in chunk_article(a, size, overlap)]
            rows.append((f"rag chunk_article size={size} overlap={overlap}", evaluate(chunks, embedder, questions, texts, q_vectors), time.perf_counter() - started))
            configs.append((size, overlap))
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter

    for tokens, overlap in ((128, 20), (256, 32)):
        started = time.perf_counter()
        splitter = SentenceSplitter(chunk_size=tokens, chunk_overlap=overlap, tokenizer=str.split)
        chunks = []
        for a in articles:
            for node in splitter.get_nodes_from_documents([Document(text=a.text, id_=a.doc_id)]):
                chunks.append((a.doc_id, node.start_char_idx, node.end_char_idx, node.get_content()))
        rows.append((f"baseline SentenceSplitter {tokens} words, overlap {overlap}", evaluate(chunks, embedder, questions, texts, q_vectors), time.perf_counter() - started))
    print(f"{len(questions)} questions, model {embedder.model_id}")
    print(f"{'configuration':52} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'MRR':>6} {'chunks':>6} {'chars':>6}")
    for name, m, _ in rows:
        print(f"{name:52} {m['hit@1']:6.3f} {m['hit@3']:6.3f} {m['hit@5']:6.3f} {m['mrr']:6.3f} {m['chunks']:6d} {m['mean_chars']:6.0f}")
    # The rule: of our chunker's configurations, the best hit@5 (the default k), then the best MRR.
    ours = [(config, m) for (_, m, _), config in zip(rows, configs, strict=False) if config is not None]
    (size, overlap), _ = max(ours, key=lambda cm: (round(cm[1]["hit@5"], 3), round(cm[1]["mrr"], 3)))
    print("\nchosen (paste into rag/tuning.py):")
    print(f"CHUNK_SIZE = {size}\nCHUNK_OVERLAP = {overlap}")
    save("tune_chunking", {"questions": len(questions), "model": embedder.model_id,
                           "rows": [{"configuration": name} | {k: (round(v, 3) if isinstance(v, float) else v)
                                                               for k, v in m.items()} for name, m, _ in rows],
                           "chosen": {"CHUNK_SIZE": size, "CHUNK_OVERLAP": overlap}})

if __name__ == "__main__":
    main()
