"""Build the public eval suites' question files from the copied datasets (deterministic; run after changing
the split or the samples). Each suite is listed in evals/suites.toml.

    python -m evals.make_suites

- squad2/suite.jsonl: questions about the HELD-OUT articles of evals/train_scorer.py only (never trained or
  tuned on): 50 answerable per article (seeded sample) and every adversarial unanswerable one (Spectre).
- squad2-rejection/: the RGB-style rejection split: answerable held-out questions asked of a copy of the ten
  articles from which every paragraph holding the answer was removed, so the right reply is to abstain.
- hotpotqa/suite.jsonl + suite_files.txt: the first 50 two-hop questions and only their own ten paragraphs
  each (gold and distractors, as in the distractor setting): the full 88 over 991 paragraphs take about eight
  minutes to index on two cores; `--suite hotpotqa-full` runs them all.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from evals.train_scorer import HELD_OUT

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT / "evals" / "data"
SEED = 13
PER_ARTICLE = 50
REJECTION = 60
HOTPOT = 50


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")


def squad() -> None:
    rng = random.Random(SEED)
    items = read(DATA / "squad2" / "questions_all.jsonl")
    suite = []
    for article in HELD_OUT:
        answerable = [i for i in items if not i["unanswerable"] and i["evidence_files"] == [article]]
        suite += sorted(rng.sample(answerable, PER_ARTICLE), key=lambda i: i["id"])
        suite += [i for i in items if i["unanswerable"] and i.get("source_article") == article]
    write(DATA / "squad2" / "suite.jsonl", suite)
    print(f"squad2: {len(suite)} questions ({sum(not i['unanswerable'] for i in suite)} answerable)")

    # Rejection: remove the answer's paragraphs; keep questions whose answer sits in at most 2 paragraphs.
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted((DATA / "squad2" / "corpus").glob("*.txt"))}
    pool = [i for i in items if not i["unanswerable"] and i["evidence_files"][0] in HELD_OUT and i not in suite]
    rng.shuffle(pool)
    removed: dict[str, set[int]] = {}
    chosen = []
    for item in pool:
        name = item["evidence_files"][0]
        paragraphs = texts[name].split("\n\n")
        aliases = [a for g in item["answers"] for a in g]
        hits = {n for n, p in enumerate(paragraphs) if n > 0 and any(a in p for a in aliases)}
        elsewhere = any(a in t for a in aliases for other, t in texts.items() if other != name)
        if not hits or len(hits) > 2 or elsewhere or len(aliases[0]) < 4:
            continue
        removed.setdefault(name, set()).update(hits)
        chosen.append({"id": f"rej_{item['id']}", "question": item["question"], "answers": [], "evidence": [],
                       "unanswerable": True, "removed_answer": item["answers"][0][0], "source_article": name})
        if len(chosen) == REJECTION:
            break
    out = DATA / "squad2-rejection"
    if out.exists():
        shutil.rmtree(out)
    (out / "corpus").mkdir(parents=True)
    for name, text in texts.items():
        paragraphs = text.split("\n\n")
        kept = [p for n, p in enumerate(paragraphs) if n not in removed.get(name, set())]
        (out / "corpus" / name).write_text("\n\n".join(kept), encoding="utf-8")
    # The answerable half: suite questions whose answer paragraphs are all still there.
    still = []
    for item in suite:
        if item["unanswerable"]:
            continue
        name = item["evidence_files"][0]
        body = (out / "corpus" / name).read_text(encoding="utf-8")
        if all(any(a in body for a in g) for g in item["answers"]):
            still.append(item)
    write(out / "questions.jsonl", chosen + still[: len(chosen)])
    shutil.copy(DATA / "squad2" / "SOURCE.md", out / "SOURCE.md")
    with (out / "SOURCE.md").open("a", encoding="utf-8") as f:
        f.write("\n## squad2-rejection (made by evals/make_suites.py)\n"
                f"A copy of the ten articles with the paragraphs that hold the answers of {len(chosen)} held-out "
                "answerable questions removed; those questions are then unanswerable (the right reply is to "
                f"abstain). {len(still[: len(chosen)])} answerable held-out questions whose paragraphs remain are mixed in.\n")
    print(f"squad2-rejection: {len(chosen)} unanswerable + {len(still[: len(chosen)])} answerable")


def hotpot() -> None:
    items = read(DATA / "hotpotqa" / "questions.jsonl")[:HOTPOT]
    full = json.loads((DATA / "hotpotqa" / "contexts.json").read_text(encoding="utf-8"))
    files = sorted({f for i in items for f in full[i["id"]]})
    write(DATA / "hotpotqa" / "suite.jsonl", items)
    (DATA / "hotpotqa" / "suite_files.txt").write_text("\n".join(files) + "\n", encoding="utf-8")
    print(f"hotpotqa: {len(items)} questions over {len(files)} paragraphs")


if __name__ == "__main__":
    squad()
    hotpot()
