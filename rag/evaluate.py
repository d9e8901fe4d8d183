"""Grounding evals: run a question file through the public `Assistant` API and measure retrieval, answers,
citations, abstention and latency. `rag eval` is the command; evals/README.md defines every metric.

Question file (JSON Lines, one object a line):
  {"id": "q001", "question": "…", "history": ["earlier question", …] (optional),
   "answers": [["alias", "alias"], ["second required part"]],   # every group must be matched
   "evidence": [{"doc_id": "…", "file": "…", "quote": "exact substring of the cleaned article"}],
   "unanswerable": true (optional), "tags": {"kind": "number", "docs": "single", "difficulty": "easy"}}
"""

from __future__ import annotations

import difflib
import json
import math
import re
import statistics
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RagError
from .tuning import FUZZY, HIT_SHARE

KS = (1, 3, 5)
QUESTIONS_FILE = Path(__file__).resolve().parents[1] / "evals" / "questions.jsonl"  # in a checkout
# The entailment part of the judge uses the support thresholds measured for the verifier (rag/generate.py).
LOWER_IS_BETTER = {"false_refusal_rate", "false_answer_rate", "ece", "followup_false_refusal_rate", "p50_ms", "p95_ms", "retrieval_p50_ms", "embed_p50_ms"}


# ---------------------------------------------------------------- questions


def default_questions() -> Path | None:
    """evals/questions.jsonl of the checkout rag runs from, or of the current folder."""
    for candidate in (QUESTIONS_FILE, Path("evals/questions.jsonl")):
        if candidate.is_file():
            return candidate
    return None


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Questions of an eval file; a malformed line is an error naming file, line and what is wrong."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RagError(f"Cannot read the question file {path}: {exc.strerror or exc}") from exc
    items, ids = [], set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise RagError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(item, dict):
            raise RagError(f"{where}: expected a JSON object")
        if "evidence" not in item and isinstance(item.get("evidence_files"), list):
            item["evidence"] = []  # public QA sets name the gold files; the gold spans are the answers in them
        for key, kind in (("id", str), ("question", str), ("answers", list), ("evidence", list)):
            if not isinstance(item.get(key), kind):
                raise RagError(f"{where}: {key!r} is missing or not a {kind.__name__}")
        if item["id"] in ids:
            raise RagError(f"{where}: duplicate id {item['id']!r}")
        ids.add(item["id"])
        if not item.get("unanswerable"):
            if not item["answers"] or not all(isinstance(g, list) and g and all(isinstance(a, str) for a in g) for g in item["answers"]):
                raise RagError(f"{where}: 'answers' must be a non-empty list of non-empty alias lists")
            files = item.get("evidence_files")
            if not (item["evidence"] or files) or not all(isinstance(e, dict) and "doc_id" in e and "quote" in e for e in item["evidence"]):
                raise RagError(f"{where}: 'evidence' needs objects with 'doc_id' and 'quote' (or give 'evidence_files')")
        history = item.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            raise RagError(f"{where}: 'history' must be a list of earlier questions")
        items.append(item)
    if not items:
        raise RagError(f"{path}: no questions")
    return items


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


# ---------------------------------------------------------------- the support judge


class Judge:
    """Offline support judge (does `evidence` support `claim`?), in the spirit of ALCE's NLI check:
    1. exact containment: the claim (without its final stop) is a substring of the evidence -> supported;
    2. a number or name of the claim that the evidence lacks -> not supported;
    3. fuzzy containment: the claim is nearly (difflib >= FUZZY) an evidence sentence -> supported;
    4. else the measured support rule: content words covered (>= LEX_SUPPORT) and an evidence sentence, or
       two adjacent ones, close to the claim (cos >= SEM_SUPPORT).
    Agreement with hand labels: evals/judge_labels.jsonl, reported by `rag eval`."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._cache: dict[str, np.ndarray] = {}

    def _vectors(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            for t, v in zip(todo, self.embedder.embed(todo), strict=True):
                self._cache[t] = v
        return np.stack([self._cache[t] for t in texts])

    def supports(self, claim: str, evidence: str) -> bool:
        from .chunk import split_sentences
        from .generate import facts_missing
        from .lexical import words
        from .tuning import LEX_SUPPORT, SEM_SUPPORT
        from .types import Passage

        claim = " ".join(re.sub(r"\[\d+\]", "", claim).split())
        if not claim or not evidence.strip():
            return False
        flat = " ".join(evidence.split()).lower().replace("’", "'")
        if claim.rstrip(".!? ").lower().replace("’", "'") in flat:
            return True
        if facts_missing(claim, [Passage("", "", "", evidence, 0.0, 0, len(evidence))]):
            return False
        sentences = [evidence[s:e] for s, e in split_sentences(evidence)] or [evidence]
        if any(difflib.SequenceMatcher(None, claim.lower(), s.lower()).ratio() >= FUZZY for s in sentences):
            return True
        content = set(words(claim))
        lex = len(content & set(words(evidence))) / len(content) if content else 0.0
        windows = sentences + [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]
        vectors = self._vectors([claim, *windows])
        return lex >= LEX_SUPPORT and float((vectors[1:] @ vectors[0]).max()) >= SEM_SUPPORT


def answer_sentences(answer: Any) -> list[tuple[str, list[Any]]]:
    """(sentence, its citations) of an answer: text up to each run of [n] markers."""
    by_number = {c.number: c for c in answer.citations}
    out = []
    for match in re.finditer(r"(.+?)((?:\s*\[\d+\])+)", answer.text):
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", match.group(2))]
        out.append((match.group(1).strip(), [by_number[n] for n in numbers if n in by_number]))
    return out


def cites_gold(citation: Any, item: dict[str, Any], spans: list[tuple[str, int, int]]) -> bool:
    """The cited quote overlaps a gold evidence span, or contains a gold answer."""
    overlaps = any(d == citation.doc_id and min(e, citation.end) > max(s, citation.start) for d, s, e in spans)
    return overlaps or any(f" {normalize(a)} " in f" {normalize(citation.quote)} " for g in item["answers"] for a in g)


def citation_scores(judge: Judge, answer: Any) -> tuple[list[float], list[float]]:
    """ALCE (Gao et al. 2023): recall per sentence (the union of its citations supports it); precision per
    citation (the sentence is supported, and the citation supports it alone or is needed: without it the
    rest would not)."""
    recalls, precisions = [], []
    for sentence, cites in answer_sentences(answer):
        union = "\n".join(c.passage for c in cites)
        recall = bool(cites) and judge.supports(sentence, union)
        recalls.append(float(recall))
        for c in cites:
            rest = "\n".join(o.passage for o in cites if o is not c)
            needed = not rest or not judge.supports(sentence, rest)
            precisions.append(float(recall and (judge.supports(sentence, c.passage) or needed)))
    return recalls, precisions


def judge_agreement(judge: Judge, labels_path: Path) -> dict[str, float]:
    """Agreement of the judge with hand labels ({"claim", "passage", "supported"} per line)."""
    rows = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    verdicts = [(judge.supports(r["claim"], r["passage"]), bool(r["supported"])) for r in rows]
    tp = sum(v and g for v, g in verdicts)
    fp = sum(v and not g for v, g in verdicts)
    fn = sum(g and not v for v, g in verdicts)
    return {
        "pairs": len(rows),
        "agreement": sum(v == g for v, g in verdicts) / len(rows),
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }


# ---------------------------------------------------------------- the run


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


def variant(assistant: Any, **settings: Any) -> Any:
    """The same assistant (model, index, auto_build) with some settings changed."""
    return type(assistant)(settings=assistant.settings.model_copy(update=settings), embedder=assistant.embedder,
                           auto_build=assistant.auto_build)


def run_questions(assistant: Any, questions: list[dict[str, Any]], progress: bool = True, label: str = "eval") -> tuple[list[Row], dict[str, Any]]:
    """Ask every question (at threshold 0, so the abstention curve can be drawn; the configured threshold is
    applied afterwards) and score retrieval on the query each answer was searched with."""
    from tqdm import tqdm

    threshold = assistant.threshold
    runner = variant(assistant, abstain_threshold=0.0)
    _, snap = runner.opened()
    judge = Judge(runner.embedder)
    runner.ask(questions[0]["question"])  # warm-up: latency figures are for a warm assistant
    rows = []
    for item in tqdm(questions, desc=label, unit="q", file=sys.stderr, disable=not progress, leave=False):
        started = time.perf_counter()
        runner.embedder.embed_query(item["question"])
        embed_ms = (time.perf_counter() - started) * 1000
        answer = runner.ask(item["question"], item.get("history"))
        # An answer that abstains whatever the threshold (the best sentence lacks the number, date or byline
        # asked for) counts as confidence 0: no threshold makes it an answer.
        row = Row(item, answer, 0.0 if answer.abstained else answer.confidence, embed_ms=embed_ms)
        if not item.get("unanswerable"):
            spans = gold_spans(item, snap.texts, snap.docs)
            passages = runner.search(answer.query, k=5)
            relevant = relevant_chunks(snap, spans)
            row.retrieval = retrieval_scores([is_hit(p.doc_id, p.start, p.end, spans) for p in passages], relevant)
            row.correct = answer_correct(answer.text, item["answers"])
            row.f1 = token_f1(answer.text, item["answers"])
            row.recalls, row.precisions = citation_scores(judge, answer) if not answer.abstained else ([], [])
            row.gold_cited = [float(cites_gold(c, item, spans)) for c in answer.citations]
            if answer.short:
                row.short_em = float(any(normalize(answer.short) == normalize(a) for g in item["answers"] for a in g))
                row.short_f1 = token_f1(answer.short, item["answers"][:1])
        rows.append(row)
    return rows, {"threshold": threshold, "judge": judge}


def _mean(values: list[float]) -> float:
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
        "citation_recall": _mean(recalls) if recalls else 1.0,
        "citation_precision": _mean(precisions) if precisions else 1.0,
        "citation_gold_precision": _mean(gold) if gold else 1.0,
        "abstention_recall": sum(r.top < tau for r in unanswerable) / max(len(unanswerable), 1),
        "false_refusal_rate": sum(r.top < tau for r in answerable) / max(len(answerable), 1),
        "false_answer_rate": sum(r.top >= tau for r in unanswerable) / max(len(unanswerable), 1),
    }


def summarize(rows: list[Row], threshold: float) -> dict[str, Any]:
    answerable = [r for r in rows if not r.item.get("unanswerable")]
    retrieval = {key: _mean([r.retrieval[key] for r in answerable]) for key in ("hit@1", "hit@3", "hit@5", "mrr", "ndcg@5")}
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
        conf = _mean([r.top for r in inside])
        right = _mean([float(r.correct) for r in inside])
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
        "short_em": _mean([r.short_em for r in given]) if given else None,  # type: ignore[misc]
        "short_f1": _mean([r.short_f1 for r in given]) if given else None,  # type: ignore[misc]
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
        for key in ("kind", "docs", "difficulty"):
            if tags.get(key):
                groups.setdefault(f"{key}={tags[key]}", []).append(r)
        if r.item.get("history"):
            groups.setdefault("followup", []).append(r)
    return {
        tag: {"n": len(rs), "accuracy": sum(r.correct and r.top >= threshold for r in rs) / len(rs)}
        for tag, rs in sorted(groups.items())
    }


def baseline_llamaindex(assistant: Any, questions: list[dict[str, Any]]) -> dict[str, float]:
    """llama-index's default dense retriever (VectorStoreIndex.as_retriever) over the same Chroma collection
    and model: retrieval metrics only, on the same queries."""
    from llama_index.core import VectorStoreIndex

    store, snap = assistant.opened()
    retriever = VectorStoreIndex.from_vector_store(store.vector_store, embed_model=assistant.embedder.llama_index_model()).as_retriever(similarity_top_k=5)
    scores = []
    from .followup import resolve

    for item in questions:
        if item.get("unanswerable"):
            continue
        spans = gold_spans(item, snap.texts, snap.docs)
        query, _ = resolve(item["question"], item.get("history"))
        nodes = retriever.retrieve(query)
        hits = [is_hit(n.node.metadata["doc_id"], int(n.node.metadata["start"]), int(n.node.metadata["end"]), spans) for n in nodes]
        relevant = relevant_chunks(snap, spans)
        scores.append(retrieval_scores(hits, relevant))
    return {
        "retrieval_hit_at_1": _mean([s["hit@1"] for s in scores]),
        "retrieval_hit_at_3": _mean([s["hit@3"] for s in scores]),
        "retrieval_hit_at_5": _mean([s["hit@5"] for s in scores]),
        "mrr": _mean([s["mrr"] for s in scores]),
        "ndcg_at_5": _mean([s["ndcg@5"] for s in scores]),
    }


# ---------------------------------------------------------------- reports


TABLE_KEYS = [
    "retrieval_hit_at_1", "retrieval_hit_at_3", "retrieval_hit_at_5", "mrr", "ndcg_at_5", "answer_accuracy", "token_f1",
    "citation_recall", "citation_precision", "citation_gold_precision", "abstention_recall", "false_refusal_rate", "false_answer_rate",
    "auroc", "abstention_at_5pct_false_refusals", "ece", "followup_false_refusal_rate", "short_coverage", "short_em", "short_f1",
    "two_hop_answers", "p50_ms",
    "p95_ms", "retrieval_p50_ms", "embed_p50_ms",
]


def cell(key: str, value: Any) -> str:
    """A metric as a table cell: counts as integers, milliseconds to 0.1, shares to 0.001, "—" if unmeasured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if key in ("questions", "answerable", "unanswerable", "followups"):
        return str(int(value))
    return f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"


def table(columns: dict[str, dict[str, Any]]) -> str:
    names = list(columns)
    lines = [f"| metric | {' | '.join(names)} |", f"|---|{'---|' * len(names)}"]
    for key in TABLE_KEYS:
        cells = [cell(key, columns[name].get(key)) for name in names]
        lines.append(f"| {key} | {' | '.join(cells)} |")
    return "\n".join(lines)


def write_report(report: dict[str, Any], folder: Path) -> list[Path]:
    """report.json, report.md and three PNG plots in `folder`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json", folder / "report.md"]
    written[0].write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    columns = {"rag (hybrid)": report["metrics"], **report.get("baselines", {})}
    md = [f"# rag eval — {report['questions_file']}", "",
          f"{report['metrics']['questions']} questions ({report['metrics']['answerable']} answerable, "
          f"{report['metrics']['unanswerable']} unanswerable, {report['metrics']['followups']} follow-ups); "
          f"abstain threshold {report['metrics']['threshold']}.", "", table(columns), "",
          f"Judge agreement with hand labels: {report.get('judge', {})}", "", "## Per tag", "",
          "| tag | n | accuracy |", "|---|---|---|"]
    md += [f"| {t} | {v['n']} | {v['accuracy']:.3f} |" for t, v in report["per_tag"].items()]
    md += ["", "## Abstention curve", "", "| τ | accuracy | abstention recall | false refusals | false answers |", "|---|---|---|---|---|"]
    md += [f"| {c['threshold']:.3f} | {c['answer_accuracy']:.3f} | {c['abstention_recall']:.3f} | {c['false_refusal_rate']:.3f} | {c['false_answer_rate']:.3f} |" for c in report["curve"]]
    md += ["", "## Questions", "", "| id | verdict | score | question | answer |", "|---|---|---|---|---|"]
    md += [f"| {q['id']} | {q['verdict']} | {q['score']:.3f} | {q['question']} | {q['answer'][:120].replace('|', '/')} |" for q in report["rows"]]
    written[1].write_text("\n".join(md) + "\n", encoding="utf-8")

    tags = report["per_tag"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(list(tags), [v["accuracy"] for v in tags.values()], color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_xlabel("answer accuracy")
    ax.set_title("Accuracy per tag")
    fig.tight_layout()
    fig.savefig(folder / "accuracy_per_tag.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [c["threshold"] for c in report["curve"]]
    for key, label in (("answer_accuracy", "answered correctly"), ("abstention_recall", "unanswerable abstained"),
                       ("false_refusal_rate", "answerable refused")):
        ax.plot(xs, [c[key] for c in report["curve"]], label=label)
    ax.axvline(report["metrics"]["threshold"], color="grey", linestyle="--", label="threshold in use")
    ax.set_xlabel("abstain threshold")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.set_title("Abstention curve")
    fig.tight_layout()
    fig.savefig(folder / "abstention_curve.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    bins = report.get("reliability", [])
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    ax.bar([b["lo"] + 0.05 for b in bins], [b["accuracy"] for b in bins], width=0.09, alpha=0.7,
           label="share answered right")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="#c44e52", label="bins")
    ax.set_xlabel("confidence")
    ax.set_ylabel("answered right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ece = report["metrics"].get("ece")
    ax.set_title(f"Reliability diagram (ECE {ece:.3f})" if ece is not None else "Reliability diagram")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist([q["ask_ms"] for q in report["rows"]], bins=20, alpha=0.7, label="ask")
    ax.hist([q["embed_ms"] for q in report["rows"]], bins=20, alpha=0.7, label="one query embedding")
    ax.set_xlabel("milliseconds")
    ax.legend()
    ax.set_title("Latency")
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=100)
    plt.close(fig)
    return [*written, folder / "accuracy_per_tag.png", folder / "abstention_curve.png", folder / "reliability.png",
            folder / "latency.png"]


def verdict(row: Row, tau: float) -> str:
    if row.item.get("unanswerable"):
        return "abstained" if row.top < tau else "FALSE ANSWER"
    if row.top < tau:
        return "REFUSED"
    return "correct" if row.correct else "WRONG"


def evaluate(assistant: Any, questions_file: Path, *, baselines: bool = False, labels: Path | None = None,
             progress: bool = True) -> dict[str, Any]:
    questions = load_questions(questions_file)
    rows, info = run_questions(assistant, questions, progress, "rag")
    tau = info["threshold"]
    report: dict[str, Any] = {
        "questions_file": str(questions_file),
        "settings": json.loads(assistant.settings.model_dump_json()),
        "metrics": summarize(rows, tau),
        "per_tag": per_tag(rows, tau),
        "curve": curve(rows),
        "reliability": reliability(rows)[1] if rows else [],
        "rows": [
            {"id": r.item["id"], "question": r.item["question"], "verdict": verdict(r, tau), "score": round(r.top, 4),
             "answer": r.answer.text, "short": r.answer.short, "ask_ms": r.answer.timings.get("total_ms", 0.0), "embed_ms": round(r.embed_ms, 2)}
            for r in rows
        ],
    }
    if labels and labels.is_file():
        report["judge"] = judge_agreement(info["judge"], labels)
    if baselines:
        report["baselines"] = {"llama-index dense retriever": baseline_llamaindex(assistant, questions)}
        for mode in ("dense", "bm25"):
            variant_rows, _ = run_questions(variant(assistant, retrieval=mode), questions, progress, f"rag {mode}-only")
            report["baselines"][f"rag {mode}-only"] = summarize(variant_rows, tau)
    return report


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for key in TABLE_KEYS:
        a, b = old.get("metrics", {}).get(key), new["metrics"].get(key)
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
            continue
        better = (b < a) if key in LOWER_IS_BETTER else (b > a)
        mark = "" if abs(b - a) < 1e-9 else (" better" if better else " worse")
        lines.append(f"{key:22} {a:9.3f} -> {b:9.3f}  ({b - a:+.3f}){mark}")
    return lines


def gate(metrics: dict[str, Any], thresholds_file: Path) -> list[str]:
    """Metrics outside the floors ([floors]: at least) and ceilings ([ceilings]: at most) of a TOML file."""
    import tomllib

    try:
        limits = tomllib.loads(thresholds_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RagError(f"Cannot read thresholds from {thresholds_file}: {exc}") from exc
    return check_limits(metrics, limits, str(thresholds_file))


def check_limits(metrics: dict[str, Any], limits: dict[str, Any], where: str) -> list[str]:
    """Failures of `metrics` against {"floors": {...}, "ceilings": {...}}."""
    failures = []
    for key, floor in limits.get("floors", {}).items():
        if key not in metrics:
            raise RagError(f"{where}: unknown metric {key!r}")
        if metrics[key] is None:
            failures.append(f"{key} was not measured (floor {floor})")
        elif metrics[key] < floor:
            failures.append(f"{key} = {metrics[key]:.3f} is below the floor {floor}")
    for key, ceiling in limits.get("ceilings", {}).items():
        if key not in metrics:
            raise RagError(f"{where}: unknown metric {key!r}")
        if metrics[key] is None:
            failures.append(f"{key} was not measured (ceiling {ceiling})")
        elif metrics[key] > ceiling:
            failures.append(f"{key} = {metrics[key]:.3f} is above the ceiling {ceiling}")
    return failures
