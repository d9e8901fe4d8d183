"""Eval metrics: what counts as a hit, a right answer, a grounded citation's gold, and the summary figures of a
run (accuracy, abstention, AUROC, calibration, short answers, the abstention curve); evals/README.md defines
each. Pure functions over `Row`s: `rag/evaluate.py` asks the questions and fills the rows."""

from __future__ import annotations

import math
import re
import statistics
import string
from dataclasses import dataclass, field
from typing import Any

from .errors import RagError
from .tuning import HIT_SHARE

KS = (1, 3, 5)


# ---------------------------------------------------------------- gold evidence and hits

def relevant_chunks(snap: Any, spans: list[tuple[str, int, int]]) -> int:
    """How many chunks of the index hold gold evidence (the denominator of recall-like retrieval scores)."""
    docs = {d for d, _, _ in spans}
    return sum(is_hit(doc, start, end, spans) for _, doc, start, end in snap.all_chunks() if doc in docs)


def gold_spans(item: dict[str, Any], texts: dict[str, str], docs: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, int, int]]:
    """Where the gold evidence lies: the quotes of `evidence`, or, for items that only name `evidence_files`,
    every occurrence of a gold answer in those files (case-insensitive)."""
    if not item["evidence"] and item.get("evidence_files"):
        names = set(item["evidence_files"])
        spans = []
        for doc_id, meta in (docs or {}).items():
            if meta.get("path", "").replace("\\", "/").rsplit("/", 1)[-1] not in names:
                continue
            lower = texts[doc_id].lower()
            for alias in {a for g in item["answers"] for a in g if a.strip()}:
                at = lower.find(alias.lower())
                while at >= 0:
                    spans.append((doc_id, at, at + len(alias)))
                    at = lower.find(alias.lower(), at + 1)
        return spans
    spans = []
    for ev in item["evidence"]:
        text = texts.get(ev["doc_id"])
        if text is None:
            raise RagError(f"{item['id']}: evidence names doc_id {ev['doc_id']} that is not in the index")
        start = text.find(ev["quote"])
        if start < 0:
            raise RagError(f"{item['id']}: evidence quote not found in {ev['doc_id']}: {ev['quote'][:60]!r}")
        spans.append((ev["doc_id"], start, start + len(ev["quote"])))
    return spans


def is_hit(doc_id: str, start: int, end: int, spans: list[tuple[str, int, int]], need: float = HIT_SHARE) -> bool:
    return any(d == doc_id and min(end, e) - max(start, s) >= need * (e - s) for d, s, e in spans)


# ---------------------------------------------------------------- metrics


def retrieval_scores(hits: list[bool], relevant_total: int) -> dict[str, float]:
    """hit@k, reciprocal rank and nDCG@5 (binary relevance) of one ranked list."""
    first = next((i for i, h in enumerate(hits, 1) if h), None)
    dcg = sum(1 / math.log2(i + 1) for i, h in enumerate(hits[:5], 1) if h)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(max(relevant_total, 1), 5) + 1))
    return {f"hit@{k}": float(bool(first and first <= k)) for k in KS} | {
        "mrr": 1 / first if first else 0.0,
        "ndcg@5": dcg / ideal,
    }


def normalize(text: str) -> str:
    text = re.sub(r"\[\d+\]", " ", text).replace("’", "'").lower()
    text = "".join(" " if ch in string.punctuation.replace("$", "").replace("%", "") or ch in "“”—" else ch for ch in text)
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def answer_correct(text: str, groups: list[list[str]]) -> bool:
    body = f" {normalize(text)} "
    return all(any(f" {normalize(alias)} " in body for alias in group) for group in groups)


def token_f1(text: str, groups: list[list[str]]) -> float:
    """SQuAD-style token F1 of the answer against the gold: for each group its alias found in the answer, or
    else its first alias, joined."""
    body = normalize(text)
    gold = " ".join(next((a for a in g if f" {normalize(a)} " in f" {body} "), g[0]) for g in groups)
    pred, ref = body.split(), normalize(gold).split()
    common = sum(min(pred.count(w), ref.count(w)) for w in set(ref))
    if not pred or not ref or not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- one question's outcome


@dataclass
class Row:
    item: dict[str, Any]
    answer: Any
    top: float
    retrieval: dict[str, float] = field(default_factory=dict)
    correct: bool = False
    f1: float = 0.0
    recalls: list[float] = field(default_factory=list)
    precisions: list[float] = field(default_factory=list)
    gold_cited: list[float] = field(default_factory=list)  # per citation: its quote overlaps gold evidence or holds the answer
    embed_ms: float = 0.0
    short_em: float | None = None  # None: no short answer was given
    short_f1: float | None = None


def verdict(row: Row, tau: float) -> str:
    if row.item.get("unanswerable"):
        return "abstained" if row.top < tau else "FALSE ANSWER"
    if row.top < tau:
        return "REFUSED"
    return "correct" if row.correct else "WRONG"


# ---------------------------------------------------------------- a run's figures


def mean_of(values: list[float]) -> float:
    return float(statistics.fmean(values)) if values else 0.0


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return float(statistics.quantiles(values, n=100)[q - 1])


def metrics_at(rows: list[Row], tau: float) -> dict[str, float]:
    answerable = [r for r in rows if not r.item.get("unanswerable")]
    unanswerable = [r for r in rows if r.item.get("unanswerable")]
    answered = [r for r in answerable if r.top >= tau]
    recalls = [x for r in answered for x in r.recalls]
    precisions = [x for r in answered for x in r.precisions]
    gold = [x for r in answered for x in r.gold_cited]
    return {
        "answer_accuracy": sum(r.correct for r in answered) / max(len(answerable), 1),
        "token_f1": sum(r.f1 for r in answered) / max(len(answerable), 1),
        "citation_recall": mean_of(recalls) if recalls else 1.0,
        "citation_precision": mean_of(precisions) if precisions else 1.0,
        "citation_gold_precision": mean_of(gold) if gold else 1.0,
        "abstention_recall": sum(r.top < tau for r in unanswerable) / max(len(unanswerable), 1),
        "false_refusal_rate": sum(r.top < tau for r in answerable) / max(len(answerable), 1),
        "false_answer_rate": sum(r.top >= tau for r in unanswerable) / max(len(unanswerable), 1),
    }


def summarize(rows: list[Row], threshold: float) -> dict[str, Any]:
    answerable = [r for r in rows if not r.item.get("unanswerable")]
    retrieval = {key: mean_of([r.retrieval[key] for r in answerable]) for key in ("hit@1", "hit@3", "hit@5", "mrr", "ndcg@5")}
    ask_ms = [r.answer.timings.get("total_ms", 0.0) for r in rows]
    retrieve_ms = [r.answer.timings.get("retrieve_ms", 0.0) for r in rows]
    embed_ms = [r.embed_ms for r in rows]
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(rows) - len(answerable),
        "followups": sum(bool(r.item.get("history")) for r in rows),
        "threshold": threshold,
        "retrieval_hit_at_1": retrieval["hit@1"],
        "retrieval_hit_at_3": retrieval["hit@3"],
        "retrieval_hit_at_5": retrieval["hit@5"],
        "mrr": retrieval["mrr"],
        "ndcg_at_5": retrieval["ndcg@5"],
        **metrics_at(rows, threshold),
        **abstention_quality(rows),
        "followup_false_refusal_rate": (
            sum(r.top < threshold for r in answerable if r.item.get("history")) / n_follow
            if (n_follow := sum(bool(r.item.get("history")) for r in answerable)) else None
        ),
        "two_hop_answers": (sum(len({c.doc_id for c in r.answer.citations}) > 1 for r in answered) / len(answered)
                            if (answered := [r for r in answerable if r.top >= threshold]) else None),
        **short_answers(rows, threshold),
        "p50_ms": _pct(ask_ms, 50),
        "p95_ms": _pct(ask_ms, 95),
        "retrieval_p50_ms": _pct(retrieve_ms, 50),
        "retrieval_p95_ms": _pct(retrieve_ms, 95),
        "embed_p50_ms": _pct(embed_ms, 50),
        "embed_p95_ms": _pct(embed_ms, 95),
    }


def auroc(scores: Any, positive: Any) -> float | None:
    """Area under the ROC curve: the chance that a random positive outscores a random negative (ties count
    half); None unless both classes are present."""
    from sklearn.metrics import roc_auc_score

    positive = [bool(p) for p in positive]
    if all(positive) or not any(positive):
        return None
    return float(roc_auc_score(positive, list(scores)))


def reliability(rows: list[Row], bins: int = 10) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error of `confidence` against "the answer is right" (an unanswerable question's
    answer is never right), and the reliability diagram's bins."""
    table, ece = [], 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [r for r in rows if lo <= r.top < hi or (hi == 1.0 and r.top == 1.0)]
        if not inside:
            continue
        conf = mean_of([r.top for r in inside])
        right = mean_of([float(r.correct) for r in inside])
        ece += len(inside) / len(rows) * abs(conf - right)
        table.append({"lo": lo, "hi": hi, "n": len(inside), "confidence": conf, "accuracy": right})
    return ece, table


def abstention_quality(rows: list[Row]) -> dict[str, Any]:
    """How well `confidence` separates answerable from unanswerable questions (AUROC), the abstention on
    unanswerable ones at the operating point that refuses 5% of answerable ones, and the calibration error."""
    answerable = [r for r in rows if not r.item.get("unanswerable")]
    unanswerable = [r for r in rows if r.item.get("unanswerable")]
    out: dict[str, Any] = {"auroc": auroc([r.top for r in rows], [not r.item.get("unanswerable") for r in rows]),
                           "abstention_at_5pct_false_refusals": None}
    if answerable and unanswerable:
        tau = sorted(r.top for r in answerable)[int(0.05 * len(answerable))]
        out["abstention_at_5pct_false_refusals"] = sum(r.top < tau for r in unanswerable) / len(unanswerable)
    out["ece"] = reliability(rows)[0] if rows else None
    return out


def short_answers(rows: list[Row], tau: float) -> dict[str, Any]:
    """Short-answer exact match and F1 (SQuAD normalisation) over the answered questions that got a short
    answer, and the share of answered answerable questions that got one."""
    answered = [r for r in rows if not r.item.get("unanswerable") and r.top >= tau]
    given = [r for r in answered if r.short_em is not None]
    return {
        "short_coverage": len(given) / len(answered) if answered else None,
        "short_em": mean_of([r.short_em for r in given]) if given else None,  # type: ignore[misc]
        "short_f1": mean_of([r.short_f1 for r in given]) if given else None,  # type: ignore[misc]
    }


def curve(rows: list[Row]) -> list[dict[str, float]]:
    taus = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    return [{"threshold": t, **metrics_at(rows, t)} for t in taus]


def per_tag(rows: list[Row], threshold: float) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r.item.get("unanswerable"):
            continue
        tags = r.item.get("tags", {})
        for key in ("kind", "docs", "difficulty", "source"):
            if tags.get(key):
                groups.setdefault(f"{key}={tags[key]}", []).append(r)
        if r.item.get("history"):
            groups.setdefault("followup", []).append(r)
    return {
        tag: {"n": len(rs), "accuracy": sum(r.correct and r.top >= threshold for r in rs) / len(rs)}
        for tag, rs in sorted(groups.items())
    }
