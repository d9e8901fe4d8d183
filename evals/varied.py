"""The varied training questions of the evidence scorer and of the answer's combination and calibration: the
reader's *training* split of SQuADShifts (new Wikipedia, Reddit, Amazon reviews) and SelQA (evals/train_reader.py
`build_data`, split by a hash of the article's title; its development articles, the `dev-varied` suite's, are
never here), written as one corpus to index and asked through the real pipeline by evals/train_scorer.py.

    python -m evals.varied          # write the corpus and the questions (evals/.cache/varied/), print counts

Each question keeps its place in the reader's shuffled training order (`group`): the reader (version 2) was
trained on the pairs of the first `READER_SEEN` groups only, so its logits on the others are those of questions
it never read — the only ones the answer's combination of reader and first pass is fitted on.
Articles: a new-Wikipedia article is one file (its paragraphs under its title); an Amazon product's reviews one
file; a Reddit post one file (the Reddit "article" is the whole set: no title); a SelQA article one file (its
sections as paragraphs under its name).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "evals" / ".cache" / "varied"
CORPUS = WORK / "corpus"
QUESTIONS = WORK / "questions.jsonl.gz"
PAIRS_READ = 80_000  # the reader (version 2) trained on the first 80,000 pairs of train_pairs (evals/READER.md)
SEED = 13


def _file_name(article: str, para: int | None = None) -> str:
    stem = re.sub(r"[^\w.-]+", "_", article).strip("_")[:70]
    digest = hashlib.sha256(article.encode()).hexdigest()[:8]
    return f"{stem}-{digest}" + (f"-{para}" if para is not None else "") + ".txt"


def training_questions() -> list[dict]:
    """The reader's training questions in its shuffled order (evals/train_reader.py build_data: the same loaders,
    the same seed), SQuAD's excluded (the scorer has its own SQuAD rows)."""
    from evals import train_reader as tr

    train = []
    for item in tr.load_shifts() + tr.load_selqa("test") + tr.load_selqa("dev"):
        if not tr.is_dev(item["article"]):
            train.append(item)
    for item in tr.load_squad():
        if item["article"] not in tr.DEV_SQUAD:
            train.append(item)
    random.Random(tr.SEED).shuffle(train)
    return [dict(item, group=g) for g, item in enumerate(train)]


def reader_seen_groups() -> int:
    """How many of the shuffled training questions the shipped reader read (its pairs' groups below this)."""
    from evals import train_reader as tr

    seen = -1
    with gzip.open(tr.WORK / "train_pairs.jsonl.gz", "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n >= PAIRS_READ:
                break
            seen = max(seen, json.loads(line)["g"])
    return seen + 1


def build() -> tuple[list[dict], int]:
    """Write the corpus (one file per article, per Reddit post) and the questions; returns (questions, the number
    of groups the reader read)."""
    items = [i for i in training_questions() if not i["src"].startswith("squad2")]
    CORPUS.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    bodies: dict[str, tuple[str, list[str]]] = {}
    out = []
    for item in items:
        reddit = item["src"] == "shifts-reddit"
        key = f"{item['article']}#{item['para']}" if reddit else item["article"]
        name = _file_name(item["article"], item["para"] if reddit else None)
        title = item["title"] or ("" if reddit or "amazon" in item["src"] else item["article"].split(":", 1)[-1])
        text = " ".join(item["paragraphs"][item["para"]])
        head, paras = bodies.setdefault(key, (title, []))
        if text not in paras:
            paras.append(text)
        files[key] = name
        sents = item["paragraphs"][item["para"]]
        answers = []
        if item["span"]:
            i, a, b = item["span"]
            answers = [sents[i][a:b]]
        out.append({"id": f"varied-{item['group']}", "question": item["q"], "src": item["src"],
                    "article": name, "group": item["group"], "answers": [answers] if answers else [],
                    "sentences": [sents[i] for i in item["pos"]], "unanswerable": not item["pos"]})
    for key, (title, paras) in bodies.items():
        if "amazon" in key and not title:
            title = "Customer reviews"
        body = "\n\n".join(paras)
        (CORPUS / files[key]).write_text((title + "\n\n" if title else "") + body + "\n", encoding="utf-8")
    seen = reader_seen_groups()
    with gzip.open(QUESTIONS, "wt", encoding="utf-8") as f:
        for q in out:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    return out, seen


def load() -> tuple[list[dict], int]:
    if not QUESTIONS.is_file():
        return build()
    with gzip.open(QUESTIONS, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f], reader_seen_groups()


if __name__ == "__main__":
    from collections import Counter

    qs, seen = build()
    print(f"{len(qs)} questions, {len(set(q['article'] for q in qs))} files in {CORPUS}; the reader read groups < {seen}")
    print(Counter(q["src"] for q in qs))
    print("not read by the reader:", Counter(q["src"] for q in qs if q["group"] >= seen))
