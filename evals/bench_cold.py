"""A cold `rag ask` (a new process: imports, opening the index, loading the models, one answer) on an index of the
bundled articles and on one `--size` times larger (the scale corpus of `evals/make_scale_corpus.py`: the same
five articles plus synthetic ones), alternating, in the same run (issue 29: cold at ~40x <= 1.15x cold at 1x).

    python -m evals.bench_cold [--size 40] [--rounds 5]

Both indexes are built first as `rag bench` builds them (`bench_scale.build_index`: document vectors from the
scale corpus's embedding cache, texts it lacks embedded and added to it). Each round asks the same question of
each index in a fresh `rag ask`; the figures are medians. Figures go to evals/results/bench_cold.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics

from evals.bench_scale import build_index, cold_ask
from evals.make_scale_corpus import CACHE
from evals.results import save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40, help="the larger index, in times the bundled articles")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = CACHE / "cold"
    sizes = {1: work / "index-1x", args.size: work / f"index-{args.size}x"}
    built = {}
    for size, folder in sizes.items():
        shutil.rmtree(folder, ignore_errors=True)
        built[size] = build_index(size, folder, None)
    for folder in sizes.values():
        cold_ask(folder, None, 1)  # the page cache holds both the same way
    times: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(args.rounds):
        for size, folder in sizes.items():
            times[size].append(cold_ask(folder, None, 1))
    rows = [{"size": size, "articles": built[size]["articles"], "chunks": built[size]["chunks"],
             "cold_rag_ask_s": round(statistics.median(times[size]), 3),
             "runs_s": [round(t, 3) for t in times[size]]} for size in sizes]
    ratio = rows[1]["cold_rag_ask_s"] / rows[0]["cold_rag_ask_s"]
    for row in rows:
        print(f"{row['size']:>5}x  {row['articles']:>6} articles  {row['chunks']:>7} chunks  cold rag ask "
              f"{row['cold_rag_ask_s']:.2f} s (median of {args.rounds})")
    print(f"ratio {args.size}x / 1x: {ratio:.2f} (target <= 1.15)")
    save("bench_cold", {"rows": rows, "ratio": round(ratio, 3), "rounds": args.rounds},
         command=f"python -m evals.bench_cold --size {args.size} --rounds {args.rounds}")


if __name__ == "__main__":
    main()
