"""How well web pages are read: main text kept, menus, banners, footers, related lists and comments dropped.

Scored on the keep/drop snippet benchmark in evals/data/extraction/ (256 saved pages; built by
evals/make_extraction_set.py from Mozilla Readability's test pages and ScrapingHub's article-extraction-benchmark;
licences in its SOURCE.md). A keep snippet found in a reader's output is a true positive, one missing a false
negative; a drop snippet found is a false positive. Snippets and outputs are compared as lower-case words
(punctuation and spacing ignored). Counts are summed over all pages of a row, as in trafilatura's own evaluation.

Pages are split in two by content hash (`half()`): rag's reader (trafilatura's default mode, navigation pruned,
split lines rejoined; rag/load.py `html_to_text`) was chosen on "dev"; "test" is the figure to report
(evals/README.md has the table).

    python -m evals.measure_extraction [--half dev|test] [--readers rag,plain,trafilatura] [--source readability|aeb]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evals.results import save
from rag import load
from rag.clean import clean_text

DATA = Path(__file__).resolve().parent / "data" / "extraction"


def norm(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


@dataclass
class Counts:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    def add(self, other: Counts) -> None:
        self.tp, self.fn, self.fp, self.tn = (self.tp + other.tp, self.fn + other.fn, self.fp + other.fp,
                                              self.tn + other.tn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def half(row: dict) -> str:
    """Pages split in two by their content hash: reader choices were made on "dev", the figure to report is "test"."""
    return "dev" if int(row["sha256"][-1], 16) % 2 == 0 else "test"


def pages(source: str | None = None, part: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / "snippets.jsonl").read_text("utf-8").splitlines() if line]
    return [r for r in rows if source in (None, r["source"]) and part in (None, half(r))]


def page_html(row: dict) -> str:
    with gzip.open(DATA / "pages" / f"{row['id']}.html.gz") as f:
        return f.read().decode("utf-8")


def score_page(row: dict, text: str) -> Counts:
    out = norm(clean_text(text).text)
    keep = [norm(s) in out for s in row["keep"]]
    drop = [norm(s) in out for s in row["drop"]]
    return Counts(tp=sum(keep), fn=len(keep) - sum(keep), fp=sum(drop), tn=len(drop) - sum(drop))


def readers() -> dict[str, Callable[[str], str]]:
    import trafilatura

    options = {"include_tables": True, "include_comments": False}
    return {
        "rag": lambda h: load.html_to_text(h)[0],
        "plain": lambda h: load.html_plain(h)[0],
        "trafilatura": lambda h: trafilatura.extract(h, **options) or "",
        "trafilatura-recall": lambda h: trafilatura.extract(h, favor_recall=True, **options) or "",
    }


def evaluate(read: Callable[[str], str], rows: list[dict]) -> dict[str, Counts]:
    """Counts per source and over all pages."""
    by: dict[str, Counts] = {"all": Counts()}
    for row in rows:
        c = score_page(row, read(page_html(row)))
        by.setdefault(row["source"], Counts()).add(c)
        by["all"].add(c)
    return by


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", default="rag,plain,trafilatura,trafilatura-recall",
                        help="comma-separated: " + ", ".join(readers()))
    parser.add_argument("--source", choices=["readability", "aeb"], help="only this source's pages")
    parser.add_argument("--half", choices=["dev", "test"], help="only this half of the pages (see half())")
    args = parser.parse_args()
    table, rows = readers(), pages(args.source, args.half)
    print(f"{len(rows)} pages, {sum(len(r['keep']) for r in rows)} keep and "
          f"{sum(len(r['drop']) for r in rows)} drop snippets")
    kept: list[dict] = []
    for name in args.readers.split(","):
        if name not in table:
            parser.error(f"unknown reader {name!r}; choose from {', '.join(table)}")
        started = time.perf_counter()
        result = evaluate(table[name], rows)
        seconds = time.perf_counter() - started
        for source, c in result.items():
            print(f"{name:20} {source:12} P {c.precision:.3f}  R {c.recall:.3f}  F1 {c.f1:.3f}"
                  f"  (tp {c.tp} fn {c.fn} fp {c.fp} tn {c.tn})")
        print(f"{name:20} {len(rows) / seconds:.1f} pages/s")
        kept += [{"reader": name, "pages": source, "precision": round(c.precision, 3), "recall": round(c.recall, 3),
                  "f1": round(c.f1, 3), "tp": c.tp, "fn": c.fn, "fp": c.fp, "tn": c.tn} for source, c in result.items()]
    save("measure_extraction" + (f"-{args.half}" if args.half else "") + (f"-{args.source}" if args.source else ""),
         {"pages": len(rows), "rows": kept})


if __name__ == "__main__":
    main()
