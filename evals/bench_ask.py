"""Latency of a warm `Assistant.ask` against one query embedding with the same model, measured in the same
run, alternating, over every question of evals/questions.jsonl.

    python evals/bench_ask.py [--repeat 3] [--index-dir DIR]

The target (issue 3): warm ask costs at most twice one query embedding.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag import Assistant, Settings  # noqa: E402
from rag.evaluate import QUESTIONS_FILE, load_questions  # noqa: E402


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
    embed_ms, ask_ms, retrieve_ms = [], [], []
    for _ in range(args.repeat):
        for question, history in questions:
            started = time.perf_counter()
            assistant.embedder.embed_query(question)
            embed_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            answer = assistant.ask(question, history)
            ask_ms.append((time.perf_counter() - started) * 1000)
            retrieve_ms.append(answer.timings["retrieve_ms"])

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    e50, a50 = statistics.median(embed_ms), statistics.median(ask_ms)
    print(f"{len(questions)} questions x {args.repeat}, warm, model {assistant.embedder.model_id}")
    print(f"one query embedding   p50 {e50:7.2f} ms   p95 {p(embed_ms, 95):7.2f} ms")
    print(f"retrieval (in ask)    p50 {statistics.median(retrieve_ms):7.2f} ms   p95 {p(retrieve_ms, 95):7.2f} ms")
    print(f"ask (extractive)      p50 {a50:7.2f} ms   p95 {p(ask_ms, 95):7.2f} ms")
    print(f"ratio ask / embedding: p50 {a50 / e50:.2f}  (target <= 2)")


if __name__ == "__main__":
    main()
