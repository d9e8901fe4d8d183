"""Grounding evals on evals/questions.jsonl through the public `Assistant` API.

    python evals/grounding.py [--index-dir DIR] [--threshold T]

Prints: retrieval hit@1/3/5 and MRR for dense-only, BM25-only and fused (hybrid) retrieval; answer accuracy
(every gold alias group appears in the answer), citation precision (each cited quote overlaps gold evidence
or holds a gold answer), abstention recall on unanswerable questions, false-refusal and false-answer rates;
and the abstention threshold curve, from which Settings.abstain_threshold is chosen.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evals.common import gold_spans, is_hit, load_questions  # noqa: E402
from rag import Assistant, Settings  # noqa: E402
from rag.followup import resolve  # noqa: E402
from rag.retrieve import search  # noqa: E402

KS = (1, 3, 5)


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("\u2014", " ").lower())


def answer_correct(text: str, groups: list[list[str]]) -> bool:
    body = norm(re.sub(r"\[\d+\]", "", text))
    return all(any(norm(alias) in body for alias in group) for group in groups)


def citation_supported(citation, item, spans) -> bool:
    overlaps = any(d == citation.doc_id and min(e, citation.end) > max(s, citation.start) for d, s, e in spans)
    holds = any(norm(alias) in norm(citation.quote) for group in item["answers"] for alias in group)
    return overlaps or holds


def retrieval_table(assistant: Assistant, questions: list[dict], texts: dict[str, str]) -> dict[str, dict]:
    store, snap = assistant._ready()
    out = {}
    for mode in ("dense", "bm25", "hybrid"):
        hits = {k: 0 for k in KS}
        rr = 0.0
        answerable = [q for q in questions if not q.get("unanswerable")]
        for item in answerable:
            query, _ = resolve(item["question"], item.get("history"))
            spans = gold_spans(item, texts)
            passages = search(store, snap, assistant.embedder, query, 10, mode=mode)
            ranks = [r for r, p in enumerate(passages, 1) if is_hit(p.doc_id, p.start, p.end, spans)]
            first = ranks[0] if ranks else None
            for k in KS:
                hits[k] += bool(first and first <= k)
            rr += 1 / first if first else 0.0
        out[mode] = {f"hit@{k}": hits[k] / len(answerable) for k in KS} | {"mrr": rr / len(answerable)}
    return out


def run(index_dir: str | None, threshold: float | None) -> None:
    settings = Settings(quiet=True, abstain_threshold=0.0)
    if index_dir:
        settings = settings.model_copy(update={"index_dir": Path(index_dir)})
    assistant = Assistant(settings=settings)
    questions = load_questions()
    _, snap = assistant._ready()
    texts = snap.texts
    print(f"{len(questions)} questions: {sum(not q.get('unanswerable') for q in questions)} answerable, "
          f"{sum(bool(q.get('unanswerable')) for q in questions)} unanswerable, "
          f"{sum(bool(q.get('history')) for q in questions)} follow-ups\n")
    print(f"{'retrieval':10} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'MRR':>6}")
    for mode, m in retrieval_table(assistant, questions, texts).items():
        print(f"{mode:10} {m['hit@1']:6.3f} {m['hit@3']:6.3f} {m['hit@5']:6.3f} {m['mrr']:6.3f}")

    rows = []  # (top score, answerable, correct, cited, supported)
    for item in questions:
        answer = assistant.ask(item["question"], item.get("history"))
        top = max((c.score for c in answer.citations), default=0.0)
        if item.get("unanswerable"):
            rows.append((item, top, False, False, 0, 0, answer))
            continue
        spans = gold_spans(item, texts)
        supported = sum(citation_supported(c, item, spans) for c in answer.citations)
        rows.append((item, top, True, answer_correct(answer.text, item["answers"]), len(answer.citations), supported, answer))

    def metrics(tau: float) -> dict[str, float]:
        ans = [r for r in rows if r[2]]
        una = [r for r in rows if not r[2]]
        answered = [r for r in ans if r[1] >= tau]
        cited = sum(r[4] for r in answered)
        return {
            "accuracy": sum(r[3] for r in answered) / len(ans),
            "citation_precision": sum(r[5] for r in answered) / cited if cited else 1.0,
            "abstention_recall": sum(r[1] < tau for r in una) / len(una),
            "false_refusal": sum(r[1] < tau for r in ans) / len(ans),
            "false_answer": sum(r[1] >= tau for r in una) / len(una),
        }

    print("\nthreshold curve (answer accuracy over all answerable; abstention over unanswerable)")
    print(f"{'tau':>5} {'acc':>6} {'cit.P':>6} {'abst.R':>6} {'f.ref':>6} {'f.ans':>6}")
    for i in range(30, 81, 2):
        tau = i / 100
        m = metrics(tau)
        print(f"{tau:5.2f} {m['accuracy']:6.3f} {m['citation_precision']:6.3f} {m['abstention_recall']:6.3f} "
              f"{m['false_refusal']:6.3f} {m['false_answer']:6.3f}")
    tau = threshold if threshold is not None else Settings().abstain_threshold
    m = metrics(tau)
    print(f"\nat abstain_threshold={tau}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    print("\nper question (score, verdict):")
    for item, top, answerable, correct, _, _, answer in rows:
        verdict = ("ok" if correct else "WRONG") if answerable else "unanswerable"
        if answerable and top < tau:
            verdict = "REFUSED" if correct else "refused (was wrong)"
        elif not answerable and top >= tau:
            verdict = "FALSE ANSWER"
        print(f"  {item['id']} {top:.3f} {verdict:18} {item['question'][:60]!r} -> {answer.text[:90]!r}")
        if answerable and top >= tau:
            spans = gold_spans(item, texts)
            for c in answer.citations:
                if not citation_supported(c, item, spans):
                    print(f"       unsupported [{c.number}] {c.quote[:100]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", help="index to evaluate (default: ./index, built if missing)")
    parser.add_argument("--threshold", type=float, help="abstention threshold to report (default: the setting)")
    args = parser.parse_args()
    run(args.index_dir, args.threshold)


if __name__ == "__main__":
    main()
