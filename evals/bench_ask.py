"""Latency of a warm `Assistant.ask` against one query embedding with the same model and against
llama-index's plain `VectorStoreIndex` retriever (top 5) over the same Chroma collection, measured in the
same run, alternating, over every question of evals/questions.jsonl.

    python -m evals.bench_ask [--repeat 3] [--index-dir DIR]

The retriever runs with llama-index's own `HuggingFaceEmbedding` (torch: what a llama-index user runs) and with
our ONNX model wrapped as a llama-index embedding (the same backend as ours). Targets: warm ask at most twice
one query embedding (issue 3), and at most llama-index's plain retriever (issue 10). With the reader (issue 18):
ask p50 at most 4x one query embedding and p95 at most 150 ms; `ask` with the evidence scorer alone
(`reader=False`, the answerer before the reader) is timed beside it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from evals.results import save
from rag import Assistant, Settings
from rag.evaluate import QUESTIONS_FILE, load_questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--index-dir", default=None)
    args = parser.parse_args()
    settings = Settings(quiet=True)
    if args.index_dir:
        settings = settings.model_copy(update={"index_dir": Path(args.index_dir)})
    assistant = Assistant(settings=settings)
    questions = [(q["question"], q.get("history")) for q in load_questions(QUESTIONS_FILE)]
    assistant.ask(*questions[0])  # warm: index opened, snapshot loaded, model loaded
    scorer_only = Assistant(settings=settings.model_copy(update={"reader": False}), embedder=assistant.embedder)
    scorer_only.ask(*questions[0])
    from llama_index.core import VectorStoreIndex

    from rag.embed import _load_hf, resolve_model

    store, _ = assistant.opened()
    retrievers = {
        name: VectorStoreIndex.from_vector_store(store.vector_store, embed_model=model).as_retriever(similarity_top_k=5)
        for name, model in (("hf", _load_hf(resolve_model(assistant.settings.embed_model)[0], 32)),
                            ("onnx", assistant.embedder.llama_index_model()))
    }
    for r in retrievers.values():
        r.retrieve(questions[0][0])
    embed_ms, ask_ms, retrieve_ms, scorer_ms = [], [], [], []
    plain_ms: dict[str, list[float]] = {name: [] for name in retrievers}
    for _ in range(args.repeat):
        for question, history in questions:
            started = time.perf_counter()
            assistant.embedder.embed_query(question)
            embed_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            answer = assistant.ask(question, history)
            ask_ms.append((time.perf_counter() - started) * 1000)
            retrieve_ms.append(answer.timings["retrieve_ms"])
            started = time.perf_counter()
            scorer_only.ask(question, history)
            scorer_ms.append((time.perf_counter() - started) * 1000)
            for name, retriever in retrievers.items():
                started = time.perf_counter()
                retriever.retrieve(answer.query)
                plain_ms[name].append((time.perf_counter() - started) * 1000)

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    e50, a50 = statistics.median(embed_ms), statistics.median(ask_ms)
    timed = [("one query embedding", embed_ms), ("retrieval (in ask)", retrieve_ms), ("ask, with the reader", ask_ms),
             ("ask, evidence scorer alone (reader=False)", scorer_ms),
             ("llama-index retriever (HuggingFaceEmbedding, torch)", plain_ms["hf"]),
             ("llama-index retriever (our ONNX model)", plain_ms["onnx"])]
    rows = [{"what": what, "p50_ms": round(statistics.median(v), 1), "p95_ms": round(p(v, 95), 1)} for what, v in timed]
    print(f"{len(questions)} questions x {args.repeat}, warm, model {assistant.embedder.model_id}")
    for row in rows:
        print(f"{row['what']:52} p50 {row['p50_ms']:7.1f} ms   p95 {row['p95_ms']:7.1f} ms")
    ratios = {"ask_over_embedding_p50": a50 / e50, "ask_over_scorer_alone_p50": a50 / statistics.median(scorer_ms)}
    ratios |= {f"ask_over_llama_index_{name}_p50": a50 / statistics.median(plain_ms[name]) for name in plain_ms}
    ratios |= {f"ask_over_llama_index_{name}_p95": p(ask_ms, 95) / p(plain_ms[name], 95) for name in plain_ms}
    ratios = {k: round(v, 2) for k, v in ratios.items()}
    print(f"ratio ask / embedding: p50 {ratios['ask_over_embedding_p50']:.2f}  (target <= 4 with the reader; "
          "p95 target <= 150 ms)")
    print(f"ratio ask / ask with the scorer alone: p50 {ratios['ask_over_scorer_alone_p50']:.2f}")
    for name in plain_ms:
        print(f"ratio ask / llama-index retriever ({name}): p50 {ratios[f'ask_over_llama_index_{name}_p50']:.2f}  "
              f"p95 {ratios[f'ask_over_llama_index_{name}_p95']:.2f}  (target <= 1)")
    save("bench_ask", {"questions": len(questions), "repeat": args.repeat, "model": assistant.embedder.model_id,
                       "rows": rows, "ratios": ratios})

if __name__ == "__main__":
    main()
