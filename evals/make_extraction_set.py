"""Build the web-page extraction benchmark (keep/drop snippets) in evals/data/extraction/ from public saved pages
with gold main text. Each page gets snippets of its main text that a reader must keep and snippets of the page's
other visible text (menus, banners, footers, related lists, comments) that it must drop; `evals/measure_extraction.py`
scores any reader on them.

Sources (see evals/data/extraction/SOURCE.md for licences):
  readability  Mozilla Readability's test pages (Apache-2.0): `source.html` + `expected.html` (the gold article).
               fetch github:mozilla/readability, then in its git directory:
               `git archive HEAD test/test-pages | tar -x -C /tmp/rdb`
  aeb          ScrapingHub's article-extraction-benchmark (MIT): saved pages + gold `articleBody`.
               fetch github:scrapinghub/article-extraction-benchmark, then
               `git archive HEAD html ground-truth.json | tar -x -C /tmp/aeb`

Snippets are chosen by rule, not by hand, and never by looking at any reader's output:
- keep: up to 4 sentences of the gold text spread evenly over it (first, ..., last), each cut to its first 12 words,
  6 words at least;
- drop: up to 4 lines of the page's visible text (every text node, one line per block element) spread evenly over
  the page that share no word 4-gram with the gold text and are not the page's title or byline, 4 words at least.
Pages are left out when their gold text has fewer than 60 words, when fewer than 2 snippets of either kind can be
chosen, or when their script writes words without spaces (the word matching does not apply).

    python -m evals.make_extraction_set [--readability /tmp/rdb/test/test-pages] [--aeb /tmp/aeb]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from pathlib import Path

from rag import load
from rag.chunk import split_sentences
from rag.clean import clean_text

OUT = Path(__file__).resolve().parent / "data" / "extraction"
KEEP_WORDS, MIN_KEEP_WORDS, MIN_DROP_WORDS, PER_KIND = 12, 6, 4, 4


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def norm(text: str) -> str:
    """Lower case, every run of non-word characters one space: how snippets and outputs are compared."""
    return " ".join(words(text))


def grams(tokens: list[str], n: int = 4) -> set[str]:
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def spread(items: list, k: int) -> list:
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def snippets(page_html: str, gold: str, not_drop: list[str]) -> tuple[list[str], list[str]] | None:
    gold = clean_text(gold).text
    gold_words = words(gold)
    if len(gold_words) < 60 or len(gold_words) < len(re.sub(r"\s", "", gold)) / 12:  # too short, or no spaces
        return None
    sentences = [" ".join(s.split()[:KEEP_WORDS]) for s in (gold[a:b] for a, b in split_sentences(gold))]
    keep = spread([s for s in sentences if len(words(s)) >= MIN_KEEP_WORDS], PER_KIND)
    gold_grams = grams(gold_words)
    excluded = {norm(t) for t in not_drop if t}
    plain = clean_text(load.html_plain(page_html)[0]).text
    lines, seen = [], set()
    for line in plain.splitlines():
        tokens = words(line)
        key = " ".join(tokens)
        if len(tokens) < MIN_DROP_WORDS or key in seen or key in excluded or grams(tokens) & gold_grams:
            continue
        if key in norm(gold) or any(key in e or e in key for e in excluded if len(e) > 10):
            continue
        seen.add(key)
        lines.append(" ".join(line.split()[:KEEP_WORDS]))
    drop = spread(lines, PER_KIND)
    if len(keep) < 2 or len(drop) < 2:
        return None
    return keep, drop


def readability_pages(root: Path):
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        source = (folder / "source.html").read_text("utf-8", "replace")
        if len(source) < 8000:  # the small synthetic cases of Readability's own unit tests, not saved pages
            continue
        expected = load.html_plain((folder / "expected.html").read_text("utf-8", "replace"))[0]
        meta = json.loads((folder / "expected-metadata.json").read_text())
        yield f"readability-{folder.name}", source, expected, [meta.get("title") or "", meta.get("byline") or ""]


def aeb_pages(root: Path):
    truth = json.loads((root / "ground-truth.json").read_text())
    for key, item in sorted(truth.items()):
        with gzip.open(root / "html" / f"{key}.html.gz") as f:
            source = f.read().decode("utf-8", "replace")
        title = load.html_plain(source)[1].get("title", "")
        yield f"aeb-{key[:16]}", source, item["articleBody"], [title]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readability", type=Path, default=Path("/tmp/rdb/test/test-pages"))
    parser.add_argument("--aeb", type=Path, default=Path("/tmp/aeb"))
    args = parser.parse_args()
    (OUT / "pages").mkdir(parents=True, exist_ok=True)
    rows, skipped = [], 0
    for source_name, pages in (("readability", readability_pages(args.readability)), ("aeb", aeb_pages(args.aeb))):
        for page_id, html, gold, not_drop in pages:
            chosen = snippets(html, gold, not_drop)
            if chosen is None:
                skipped += 1
                continue
            data = html.encode("utf-8")
            with gzip.GzipFile(OUT / "pages" / f"{page_id}.html.gz", "wb", mtime=0) as f:
                f.write(data)
            rows.append({"id": page_id, "source": source_name, "sha256": hashlib.sha256(data).hexdigest(),
                         "keep": chosen[0], "drop": chosen[1]})
    with open(OUT / "snippets.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    by = {s: sum(r["source"] == s for r in rows) for s in ("readability", "aeb")}
    print(f"{len(rows)} pages ({by}), {skipped} left out; "
          f"{sum(len(r['keep']) for r in rows)} keep and {sum(len(r['drop']) for r in rows)} drop snippets")


if __name__ == "__main__":
    main()
