"""A microscope for misses: every miss of every suite, classified by where the answer was lost.

    python -m evals.measure_misses                          # every default suite, dev-varied and ming-alone
    python -m evals.measure_misses --suite dev-varied       # one suite (repeatable)
    python -m evals.measure_misses --rules                  # also ask again with each veto rule off, and count
                                                            # what each rule saves and costs

Each question is asked through the real pipeline (`Answerer.extractive`, the threshold in force) over the suite's
index (the same one `rag eval` builds under evals/.cache). A candidate sentence is *gold* when it overlaps the
question's gold evidence (its quotes, or an occurrence of a gold answer in its evidence files). An answerable
question that was not answered right is one of:

- `not retrieved`: no candidate sentence is gold;
- `vetoed: RULE`: gold sentences were candidates but a rule of rag/scorer.py RULES removed them all (the first
  rule that did: `byline`, `kind`, `condition`, `question`), or the answer abstained because its sentence lacks a
  `year`, `number` or `name` the question names (rag/question.py unmet_condition);
- `outside the N read`: gold sentences were in the pool but the first pass ranked none among the N the reader reads;
- `read, ranked below another`: the reader read a gold sentence and chose another;
- `abstained, right sentence first`: the best sentence was gold but the confidence was below the threshold;
- `other`: the best sentence was gold and the answer still missed (a copy cited instead of the original, …).

An answered question whose short answer does not match is counted apart (`right sentence, wrong short answer`).
An unanswerable question that was answered is classed by the condition of the question the answer ignored: a
year or number the question names that the quoted passage lacks, a name it lacks, or none found.

With --rules, every suite is asked again once per rule, with that rule off if it is in force (rag/scorer.py
IN_FORCE) and on if it is not; for each rule the table counts the
answerable questions it turns from right into not right (right answers it removes) and from not right into right
(wrong answers it removes), and the unanswerable questions whose abstention it makes or breaks. A rule earns its
place when it removes more wrong answers than right ones (rag/scorer.py RULES).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from evals.results import save  # noqa: E402
from rag import Assistant, Settings  # noqa: E402
from rag.evaluate import load_questions  # noqa: E402
from rag.lexical import word_set, words  # noqa: E402
from rag.metrics import answer_correct, gold_spans, normalize  # noqa: E402
from rag.question import (  # noqa: E402
    question_names,
    question_numbers,
    strict_kind,  # noqa: E402
)
from rag.scorer import IN_FORCE, RULES, vetoes  # noqa: E402
from rag.suites import corpus_paths, load_suites, pick  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "evals" / ".cache"
EXTRA = ("dev-varied", "ming-alone")  # development suites measured here (beside the default ones, if not among them)
CLASSES = ("right", "not retrieved", *(f"vetoed: {r}" for r in RULES), "outside the N read",
           "read, ranked below another", "abstained, right sentence first", "other")
UNANSWERABLE = ("abstained", "answered: a year or number it names is not in the passage",
                "answered: a name it names is not in the passage", "answered: no named condition missing")
EXAMPLES = 4
SHORT_GOLD_WORDS = 10  # short answers are judged where the gold answers are short (SelQA's are whole sentences)


def is_gold(c: Any, spans: list[tuple[str, int, int]]) -> bool:
    return any(doc == c.doc_id and s < c.end and c.start < e for doc, s, e in spans)


def classify(item: dict[str, Any], answer: Any, ev: Any, rules: frozenset[str]) -> dict[str, Any]:
    """One question's outcome: its class and what explains it."""
    out: dict[str, Any] = {"id": item["id"], "question": item["question"], "kind": ev.kind,
                           "tag": item.get("tags", {}).get("kind", ""), "confidence": answer.confidence,
                           "abstained": answer.abstained,
                           "answer": answer.text[:300]}
    if item.get("unanswerable"):
        if answer.abstained:
            out["class"] = "abstained"
            return out
        top = answer.citations[0] if answer.citations else None
        passage = " ".join(c.quote for c in answer.citations)
        if top is not None:
            cand = next((c for c in ev.candidates if c.doc_id == top.doc_id and c.start <= top.start < c.end), None)
            if cand is not None:
                passage = cand.passage.text
        numbers = [n for n in question_numbers(item["question"]) if n not in passage]
        names = [n for n in question_names(item["question"]) if not set(words(n)) <= word_set(passage)]
        out["class"] = (UNANSWERABLE[1] if numbers else UNANSWERABLE[2] if names else UNANSWERABLE[3])
        out["missing"] = numbers or names
        return out
    correct = not answer.abstained and answer_correct(answer.text, item["answers"])
    if correct:
        out["class"] = "right"
        if answer.short and all(len(a.split()) <= SHORT_GOLD_WORDS for g in item["answers"] for a in g):
            out["short_right"] = any(normalize(answer.short) == normalize(a) or f" {normalize(a)} " in f" {normalize(answer.short)} "
                                     for g in item["answers"] for a in g)
            out["short"] = answer.short
        return out
    if answer.abstained and ev.trace.get("unmet"):
        out["class"] = f"vetoed: {ev.trace['unmet'][0]}"
        out["unmet"] = list(ev.trace["unmet"])
        return out
    spans = gold_spans(item, ev.snap.texts, ev.snap.docs)
    gold = [i for i, c in enumerate(ev.candidates) if is_gold(c, spans)]
    pool = set(ev.trace.get("pool", []))
    read = {id(c) for c in ev.trace.get("ranked_first", [])}
    ranked = sorted(range(len(ev.candidates)), key=lambda i: -ev.candidates[i].score)
    top = ranked[0] if ranked else None
    if not gold:
        out["class"] = "not retrieved"
    elif not pool & set(gold):
        kept = vetoes(ev.features, rules, strict_kind(ev.question))
        rule = next((r for r in RULES if r in kept and not kept[r][gold].any()), None)
        if rule is None:  # no single rule removed them all: the rules together did
            rule = next((r for r in RULES if r in kept and not kept[r][gold].all()), "question")
        out["class"] = f"vetoed: {rule}"
        first = sorted(range(len(ev.candidates)), key=lambda i: -(ev.candidates[i].first or ev.candidates[i].score))
        out["gold_first_pass_rank"] = min(first.index(i) for i in gold) + 1
    elif ev.trace.get("ranked_first") is not None and not any(id(ev.candidates[i]) in read for i in gold) \
            and len(ev.trace.get("ranked_first", [])) < len(pool):
        out["class"] = "outside the N read"
    elif top is not None and top not in gold:
        out["class"] = "read, ranked below another"
        out["chosen"] = ev.candidates[top].text[:200]
    elif answer.abstained:
        out["class"] = "abstained, right sentence first"
    else:
        out["class"] = "other"
    return out


def run(assistant: Assistant, questions: list[dict[str, Any]], rules: frozenset[str]) -> list[dict[str, Any]]:
    answerer = assistant.answerer
    answerer.rules = rules
    opened = assistant.opened()
    rows = []
    try:
        for item in questions:
            answer, ev = answerer.extractive(item["question"], item.get("history"), assistant.settings.top_k, opened,
                                             time.perf_counter())
            rows.append(classify(item, answer, ev, rules))
    finally:
        answerer.rules = frozenset(IN_FORCE)
    return rows


def table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["class"] in CLASSES]
    unanswerable = [r for r in rows if r["class"] in UNANSWERABLE]
    counts = {c: sum(r["class"] == c for r in answerable) for c in CLASSES}
    counts.update({c: sum(r["class"] == c for r in unanswerable) for c in UNANSWERABLE})
    shorts = [r for r in answerable if "short_right" in r]
    examples = {c: [{k: v for k, v in r.items() if k not in ("class",)} for r in rows if r["class"] == c][:EXAMPLES]
                for c in (*CLASSES[1:], *UNANSWERABLE[1:])}
    by_kind: dict[str, dict[str, int]] = {}
    for r in answerable:
        if r["tag"]:
            by_kind.setdefault(r["tag"], {}).setdefault(r["class"], 0)
            by_kind[r["tag"]][r["class"]] += 1
    return {"answerable": len(answerable), "unanswerable": len(unanswerable), "counts": counts,
            "accuracy": round(counts["right"] / len(answerable), 4) if answerable else None,
            "false_refusals": round(sum(r["abstained"] for r in answerable) / len(answerable), 4) if answerable else None,
            "abstention": round(counts["abstained"] / len(unanswerable), 4) if unanswerable else None,
            "short_wrong": sum(not r["short_right"] for r in shorts), "short_given": len(shorts),
            "by_kind": by_kind, "examples": examples}


def flips(base: list[dict[str, Any]], without: list[dict[str, Any]]) -> dict[str, int]:
    """What a rule does, from the run with it (base) against the run without it."""
    out: dict[str, Any] = {"right_removed": 0, "wrong_removed": 0, "abstentions_made": 0, "abstentions_broken": 0}
    examples: dict[str, list[str]] = {k: [] for k in out}
    for a, b in zip(base, without, strict=True):
        if a["class"] in UNANSWERABLE:
            flipped = {"abstentions_made": a["class"] == "abstained" and b["class"] != "abstained",
                       "abstentions_broken": a["class"] != "abstained" and b["class"] == "abstained"}
        else:
            flipped = {"right_removed": a["class"] != "right" and b["class"] == "right",
                       "wrong_removed": a["class"] == "right" and b["class"] != "right"}
        for key, hit in flipped.items():
            out[key] += hit
            if hit and len(examples[key]) < EXAMPLES:
                examples[key].append(a["question"])
    out["examples"] = examples
    return out


def markdown(name: str, t: dict[str, Any]) -> str:
    lines = [f"### {name}: {t['answerable']} answerable, {t['unanswerable']} unanswerable; accuracy {t['accuracy']}",
             "", "| class | count | example |", "|---|---|---|"]
    for c in (*CLASSES, *UNANSWERABLE):
        if c in UNANSWERABLE and not t["unanswerable"]:
            continue
        ex = t["examples"].get(c, [])
        sample = f"{ex[0]['question']} (conf {ex[0]['confidence']:.2f})" if ex else ""
        lines.append(f"| {c} | {t['counts'][c]} | {sample.replace('|', '/')} |")
    lines.append(f"| right sentence, wrong short answer | {t['short_wrong']} of {t['short_given']} short answers | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", default=[], help="A suite of evals/suites.toml (repeatable). "
                        "[default: every default suite, dev-varied and ming-alone]")
    parser.add_argument("--rules", nargs="*", choices=RULES, default=None, metavar="RULE",
                        help="Also ask with each rule of rag/scorer.py RULES (or only those named) switched (off when "
                        "in force, on when not) and count its effect.")
    parser.add_argument("--on", action="append", default=[], choices=RULES,
                        help="A rule not in force to turn on for the whole run (repeatable).")
    parser.add_argument("--off", action="append", default=[], choices=RULES,
                        help="A veto rule to turn off for the whole run (repeatable): how the answers were before it.")
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where the suites' indexes are kept. [default: evals/.cache]")
    parser.add_argument("--name", default="measure_misses", help="Name of the results file under evals/results/.")
    args = parser.parse_args()
    _, suites = load_suites()
    names = pick(suites, tuple(args.suite)) if args.suite else list(dict.fromkeys([*pick(suites, ("all",)), *EXTRA]))
    embedder = None
    figures: dict[str, Any] = {"rules_in_force": sorted(frozenset(IN_FORCE) - set(args.off) | set(args.on)),
                               "suites": {}, "rules": {}}
    for name in names:
        settings = Settings(index_dir=args.cache / f"index-{name}", quiet=True)
        assistant = Assistant(settings=settings, embedder=embedder, auto_build=False)
        embedder = assistant.embedder
        assistant.index(corpus_paths(suites[name]), progress=False)
        questions = load_questions(suites[name]["questions"])
        started = time.perf_counter()
        rules = frozenset(IN_FORCE) - set(args.off) | set(args.on)
        rows = run(assistant, questions, rules)
        t = table(rows)
        figures["suites"][name] = t
        print(markdown(name, t), f"\n({time.perf_counter() - started:.0f} s)\n", flush=True)
        if args.rules is not None:
            figures["rules"][name] = {}
            for rule in args.rules or RULES:  # each rule in force turned off, each other one turned on
                other = run(assistant, questions, rules - {rule} if rule in rules else rules | {rule})
                with_rule, without = (rows, other) if rule in rules else (other, rows)
                figures["rules"][name][rule] = flips(with_rule, without) | {"in_force": rule in rules}
            print("| rule | right answers it removes | wrong answers it removes | abstentions it makes | "
                  "abstentions it breaks |\n|---|---|---|---|---|")
            for rule, f in figures["rules"][name].items():
                print(f"| {rule}{'' if f['in_force'] else ' (not in force)'} | {f['right_removed']} | {f['wrong_removed']} | {f['abstentions_made']} | "
                      f"{f['abstentions_broken']} |")
            print(flush=True)
        assistant.close()
    if args.rules is not None:
        total = {r: {k: sum(figures["rules"][n][r][k] for n in figures["rules"]) for k in
                     ("right_removed", "wrong_removed", "abstentions_made", "abstentions_broken")}
                 for r in args.rules or RULES}
        figures["rules_total"] = total
        print("all suites:", total)
    save(args.name, figures)


if __name__ == "__main__":
    main()
