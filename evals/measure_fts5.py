"""SQLite FTS5's bm25() against our BM25 (rag/lexical.py), to decide whether the standard library could replace it.

    python -m evals.measure_fts5 [--suites bundled,squad2,...] [--scale 1000]

FTS5 is given exactly our words: each chunk's stemmed, stop-word-free words as LexicalIndex stored them (as
term ids, so no tokenizer of FTS5's own comes between), and a question's words OR-ed, a repeated word counted
each time as ours counts it. What differs is the formula: FTS5's bm25() fixes k1 = 1.2 (ours 1.5, bm25s'
"lucene" variant, which the scorer was trained with) and its idf is log((N - n + 0.5) / (n + 0.5)) floored
at ~0 (ours log(1 + ...), never negative), so words in more than half of the chunks count for nothing.

Per suite (its cached index in evals/.cache, as `rag eval --suite all` leaves it):
- ranking: top-1 agreement and the overlap of the top 20 (the candidates fusion reads) on every question;
- answers: every question asked at threshold 0 with our BM25 and with FTS5's in hybrid retrieval (the same
  assistant; Snapshot.bm25 swapped): share of identical answers, answer accuracy and abstentions of each;
- latency: one BM25 query, ours against FTS5's, warm, alternating, on the suite's index.
At --scale N: the bundled corpus's synthetic N-fold corpus (evals/make_scale_corpus.py) indexed by both, no
embeddings needed; query latency on the bundled questions.

Adopted only if answers are unchanged within fresh-build noise and FTS5 is no slower (issue 19).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from evals.results import save
from rag.lexical import LexicalIndex, words

ROOT = Path(__file__).resolve().parents[1]
SUITES = ("bundled", "squad2", "squad2-rejection", "hotpotqa", "conversational")
TOP = 20


class Fts5:
    """An in-memory FTS5 table over a LexicalIndex's live chunks, with the same words (as term ids)."""

    def __init__(self, lexical: LexicalIndex) -> None:
        self.lexical = lexical
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("CREATE VIRTUAL TABLE f USING fts5(cid UNINDEXED, body, detail=column)")
        rows = []
        for cid, length, tids, tfs in lexical.db.execute("SELECT id, len, terms, tfs FROM chunks ORDER BY row"):
            if not length:
                continue  # a removed chunk
            t = np.frombuffer(tids, dtype=np.int32)
            f = np.frombuffer(tfs, dtype=np.int32)
            rows.append((cid, " ".join(f"t{int(i)}" for i, n in zip(t, f, strict=True) for _ in range(int(n)))))
        self.db.executemany("INSERT INTO f (cid, body) VALUES (?, ?)", rows)
        self.db.execute("INSERT INTO f(f) VALUES ('optimize')")
        self.size = len(rows)

    def top(self, query: str, n: int) -> list[tuple[str, float]]:
        tokens = words(query)
        if not tokens:
            return []
        ids = dict(self.lexical.db.execute(
            f"SELECT term, id FROM terms WHERE df > 0 AND term IN ({','.join('?' * len(set(tokens)))})", list(set(tokens))))
        terms = [f"t{ids[t]}" for t in tokens if t in ids]
        if not terms:
            return []
        rows = self.db.execute("SELECT cid, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f), rowid LIMIT ?",
                               (" OR ".join(terms), n)).fetchall()
        return [(cid, float(score)) for cid, score in rows if score > 0]


def timed(fn, *args) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - started) * 1000


def latency(ours: LexicalIndex, fts: Fts5, queries: list[str], rounds: int = 3) -> dict[str, float]:
    for q in queries[:3]:
        ours.top(q, TOP), fts.top(q, TOP)  # warm
    a, b = [], []
    for _ in range(rounds):
        for q in queries:
            a.append(timed(ours.top, q, TOP)[1])
            b.append(timed(fts.top, q, TOP)[1])
    return {"ours_p50_ms": statistics.median(a), "fts5_p50_ms": statistics.median(b),
            "ours_p95_ms": float(np.percentile(a, 95)), "fts5_p95_ms": float(np.percentile(b, 95)),
            "ratio_fts5_over_ours_p50": statistics.median(b) / statistics.median(a)}


def measure_suite(name: str, suite: dict[str, Any], cache: Path) -> dict[str, Any]:
    from rag import Assistant, Settings
    from rag.evaluate import load_questions
    from rag.metrics import answer_correct

    index = cache / f"index-{name}"
    if not (index / "chroma.sqlite3").is_file():
        raise SystemExit(f"{index} is missing: run `rag eval --suite {name}` first (make eval builds every suite).")
    assistant = Assistant(settings=Settings(index_dir=index, quiet=True, abstain_threshold=0.0), auto_build=False)
    _, snap = assistant.opened()
    fts = Fts5(snap.lexical)
    items = load_questions(Path(suite["questions"]))
    queries = [i["question"] for i in items]
    top1 = overlap = 0.0
    for q in queries:
        ours = [c for c, _ in snap.lexical.top(q, TOP)]
        theirs = [c for c, _ in fts.top(q, TOP)]
        top1 += bool(ours) and bool(theirs) and ours[0] == theirs[0] or (not ours and not theirs)
        overlap += len(set(ours) & set(theirs)) / max(len(ours), len(theirs), 1)
    figures: dict[str, Any] = {"suite": name, "chunks": fts.size, "questions": len(items),
                               "top1_agreement": top1 / len(items), f"top{TOP}_overlap": overlap / len(items)}
    # BM25 retrieval ranks with LexicalIndex.top (Snapshot.candidates); FTS5's ranking takes its place for the
    # second pass, every other use of the lexical index (idf of the scorer's features) unchanged.
    original = LexicalIndex.top

    def fts_top(self: LexicalIndex, query: str, n: int) -> list[tuple[str, float]]:
        return fts.top(query, n)

    answers = {}
    for label, method in (("ours", original), ("fts5", fts_top)):
        LexicalIndex.top = method  # type: ignore[method-assign]
        try:
            answers[label] = [assistant.ask(i["question"], i.get("history")) for i in items]
        finally:
            LexicalIndex.top = original  # type: ignore[method-assign]
    answerable = [k for k, i in enumerate(items) if not i.get("unanswerable")]
    same = sum(a.text == b.text for a, b in zip(answers["ours"], answers["fts5"], strict=True))
    figures["identical_answers"] = same / len(items)
    for label, got in answers.items():
        figures[f"{label}_accuracy_at_0"] = (sum(answer_correct(got[k].text, items[k]["answers"]) for k in answerable)
                                             / max(len(answerable), 1))
    figures |= latency(snap.lexical, fts, queries)
    assistant.close()
    return figures


def measure_scale(size: int, queries: list[str]) -> dict[str, Any]:
    from evals.make_scale_corpus import build
    from rag.chunk import chunk_article
    from rag.load import load_articles

    work = ROOT / "evals" / ".cache" / "scale"
    folder = build(size, work)
    articles = load_articles([folder]).articles
    items = [(f"{a.doc_id}:{k}", c.text) for a in articles for k, c in enumerate(chunk_article(a))]
    with tempfile.TemporaryDirectory() as tmp:
        ours = LexicalIndex(Path(tmp) / "lexical.sqlite3")
        started = time.perf_counter()
        for i in range(0, len(items), 5000):
            ours.add(items[i : i + 5000])
        ours_build = time.perf_counter() - started
        started = time.perf_counter()
        fts = Fts5(ours)  # built from our stored words: its time is FTS5's insert and optimize only
        fts_build = time.perf_counter() - started
        agree = sum(bool(a) and a[:1] == b[:1] for a, b in
                    (([c for c, _ in ours.top(q, TOP)], [c for c, _ in fts.top(q, TOP)]) for q in queries)) / len(queries)
        out = {"scale": size, "articles": len(articles), "chunks": len(items), "ours_build_s": ours_build,
               "fts5_build_s": fts_build, "top1_agreement": agree} | latency(ours, fts, queries)
        ours.close()
    return out


def main(argv: list[str] | None = None) -> int:
    from rag.evaluate import QUESTIONS_FILE, load_questions
    from rag.suites import load_suites

    parser = argparse.ArgumentParser(prog="python -m evals.measure_fts5", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=",".join(SUITES), help="comma-separated suites of evals/suites.toml")
    parser.add_argument("--scale", type=int, default=1000, help="multiple of the bundled corpus for the latency "
                        "check (0: skip) [default: 1000]")
    args = parser.parse_args(argv)
    path, suites = load_suites(None)
    cache = path.resolve().parent / ".cache"
    rows = []
    for name in [s for s in args.suites.split(",") if s]:
        row = measure_suite(name, suites[name], cache)
        rows.append(row)
        print(f"{name:18} top-1 agree {row['top1_agreement']:.3f}  top-{TOP} overlap {row[f'top{TOP}_overlap']:.3f}  "
              f"identical answers {row['identical_answers']:.3f}  accuracy ours {row['ours_accuracy_at_0']:.3f} "
              f"fts5 {row['fts5_accuracy_at_0']:.3f}  p50 ms ours {row['ours_p50_ms']:.2f} fts5 {row['fts5_p50_ms']:.2f}",
              flush=True)
    scale = None
    if args.scale:
        queries = [q["question"] for q in load_questions(QUESTIONS_FILE)]
        scale = measure_scale(args.scale, queries)
        print(f"{args.scale}x ({scale['chunks']} chunks): build ours {scale['ours_build_s']:.1f} s, fts5 "
              f"{scale['fts5_build_s']:.1f} s; query p50 ours {scale['ours_p50_ms']:.2f} ms, fts5 "
              f"{scale['fts5_p50_ms']:.2f} ms (ratio {scale['ratio_fts5_over_ours_p50']:.2f}); top-1 agreement "
              f"{scale['top1_agreement']:.3f}")
    unchanged = all(r["identical_answers"] == 1.0 for r in rows)
    no_slower = all(r["ratio_fts5_over_ours_p50"] <= 1.0 for r in rows + ([scale] if scale else []))
    verdict = "adopt" if unchanged and no_slower else "keep rag/lexical.py"
    print(f"answers unchanged: {unchanged}; FTS5 no slower: {no_slower} -> {verdict}")

    def rounded(d: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}

    save("measure_fts5", {"suites": [rounded(r) for r in rows], "scale": rounded(scale) if scale else None,
                          "answers_unchanged": unchanged, "no_slower": no_slower, "verdict": verdict})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
