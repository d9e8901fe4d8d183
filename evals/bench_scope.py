"""Scoped questions (issue 30): does a question asked of one article find that article's answer, and what does
the scope cost? Every bundled question (evals/questions.jsonl) is asked twice, alternating: of the whole index,
and scoped to the article its first evidence quote comes from (`where={"docs": [id]}`), as users scope with
`rag ask --doc ID`. Run it on the bundled index or on a large one (`--index-dir`, e.g. the 1000x index
`evals/bench_scale.py` builds) to see that one article among thousands still finds its passages.

    python -m evals.bench_scope [--index-dir DIR] [--rounds 2]

Prints and saves (evals/results/bench_scope.json): the share of scoped questions answered correctly with a
citation of their article (target: every one the whole index answers), citations outside the scope that are
not marked so (target: none), and scoped ask p50/p95 against unscoped, same run (target: p95 ≤ 1.2x).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from evals.results import save
from rag import Assistant, Settings
from rag.evaluate import QUESTIONS_FILE, load_questions
from rag.metrics import answer_correct


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default=None, help="the index to ask (default: the bundled one, ./index)")
    parser.add_argument("--rounds", type=int, default=2, help="times each question is asked each way (timings)")
    args = parser.parse_args()
    settings = Settings(quiet=True)
    if args.index_dir:
        settings = settings.model_copy(update={"index_dir": Path(args.index_dir)})
    assistant = Assistant(settings=settings, auto_build=args.index_dir is None)
    items = [q for q in load_questions(QUESTIONS_FILE) if q.get("evidence")]
    assistant.ask(items[0]["question"])  # warm
    articles = len(assistant.opened()[1].docs)
    rows, scoped_ms, whole_ms = [], [], []
    for rnd in range(args.rounds):
        for item in items:
            gold = item["evidence"][0]["doc_id"]
            started = time.perf_counter()
            whole = assistant.ask(item["question"], item.get("history"))
            whole_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            scoped = assistant.ask(item["question"], item.get("history"), where={"docs": [gold]})
            scoped_ms.append((time.perf_counter() - started) * 1000)
            if rnd:
                continue
            cited = [c for c in scoped.citations if not c.outside_scope]
            rows.append({
                "id": item["id"],
                "whole_correct": not whole.abstained and answer_correct(whole.text, item["answers"]),
                "scoped_correct": not scoped.abstained and answer_correct(scoped.text, item["answers"])
                and any(c.doc_id == gold for c in cited),
                "outside_unmarked": sum(c.doc_id != gold for c in cited),
                "outside_offered": sum(c.outside_scope for c in scoped.citations),
                "multi": item.get("tags", {}).get("docs") == "multi",
            })
    n = len(rows)
    whole_right = [r for r in rows if r["whole_correct"]]
    figures = {
        "articles": articles,
        "questions": n,
        "scoped_correct": round(sum(r["scoped_correct"] for r in rows) / n, 4),
        "whole_correct": round(len(whole_right) / n, 4),
        "scoped_correct_where_whole_correct": round(sum(r["scoped_correct"] for r in whole_right) / max(len(whole_right), 1), 4),
        "citations_outside_scope_unmarked": sum(r["outside_unmarked"] for r in rows),
        "outside_offered": sum(r["outside_offered"] > 0 for r in rows),
        "missed": [r["id"] for r in rows if not r["scoped_correct"]],
        "scoped_p50_ms": round(statistics.median(scoped_ms), 1),
        "scoped_p95_ms": round(pct(scoped_ms, 95), 1),
        "whole_p50_ms": round(statistics.median(whole_ms), 1),
        "whole_p95_ms": round(pct(whole_ms, 95), 1),
    }
    figures["p95_ratio"] = round(figures["scoped_p95_ms"] / figures["whole_p95_ms"], 2)
    figures["p50_ratio"] = round(figures["scoped_p50_ms"] / figures["whole_p50_ms"], 2)
    for key, value in figures.items():
        print(f"{key:42s} {value}")
    command = "python -m evals.bench_scope" + (f" --index-dir {args.index_dir}" if args.index_dir else "") \
        + f" --rounds {args.rounds}"
    save("bench_scope" + ("" if args.index_dir is None else f"-{articles}"), figures, command=command)


if __name__ == "__main__":
    main()
