"""Article-body extraction (how web pages are read) measured on the ScrapingHub article-extraction-benchmark
(MIT licence; 181 saved pages with ground-truth article bodies; not copied here). Get it with the `fetch` tool
(github:scrapinghub/article-extraction-benchmark), then in its git directory:
`git archive HEAD html ground-truth.json | tar -x -C /tmp/aeb`.

Metric: that benchmark's own, 4-gram shingle precision and recall per page, averaged over pages.
Measured 2026-11-26 (our cleaning applied to every output):
  plain parser (main)            P 0.570  R 0.976  F1 0.720
  trafilatura default            P 0.941  R 0.977  F1 0.958
  trafilatura favor_recall       P 0.940  R 0.977  F1 0.958
  trafilatura favor_precision    P 0.956  R 0.969  F1 0.962
rag reads web pages with trafilatura, favor_precision (rag/load.py `html_to_text`). Still to do (issue 12):
keep/drop snippets, more pages than this one benchmark, and a test that runs it.

    python evals/extraction.py [/tmp/aeb]
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag import load  # noqa: E402
from rag.clean import clean_text  # noqa: E402

DATA = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/aeb")


def shingles(text: str, n: int = 4) -> Counter:
    tokens = re.findall(r"\w+", text.lower())
    return Counter(" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))) if tokens else Counter()


def tp_fp_fn(true: str, pred: str) -> tuple[int, int, int]:
    a, b = shingles(true), shingles(pred)
    tp = sum(min(a[k], b[k]) for k in a.keys() | b.keys())
    return tp, sum(max(0, b[k] - a[k]) for k in b), sum(max(0, a[k] - b[k]) for k in a)


def scores(rows: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    precision = sum(tp / (tp + fp) if tp + fp else 1.0 for tp, fp, _ in rows) / len(rows)
    recall = sum(tp / (tp + fn) if tp + fn else 1.0 for tp, _, fn in rows) / len(rows)
    return round(precision, 3), round(recall, 3), round(2 * precision * recall / (precision + recall), 3)


def main() -> None:
    truth = json.loads((DATA / "ground-truth.json").read_text())
    options = {"include_tables": True, "include_comments": False}
    readers = {
        "plain parser": lambda h: load._html_plain(h)[0],
        "trafilatura default": lambda h: trafilatura.extract(h, **options) or "",
        "trafilatura favor_recall": lambda h: trafilatura.extract(h, favor_recall=True, **options) or "",
        "trafilatura favor_precision": lambda h: trafilatura.extract(h, favor_precision=True, **options) or "",
        "rag (load.html_to_text)": lambda h: load.html_to_text(h)[0],
    }
    for name, read in readers.items():
        started, rows = time.perf_counter(), []
        for key, item in truth.items():
            with gzip.open(DATA / "html" / f"{key}.html.gz") as f:
                html = f.read().decode("utf-8", "replace")
            rows.append(tp_fp_fn(item["articleBody"], clean_text(read(html)).text))
        p, r, f1 = scores(rows)
        print(f"{name:30} P {p:.3f}  R {r:.3f}  F1 {f1:.3f}  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
