"""Grounding evals: run a question file through the public `Assistant` API and measure retrieval, answers,
citations, abstention and latency. `rag eval` is the command; evals/README.md defines every metric.

Question file (JSON Lines, one object a line):
  {"id": "q001", "question": "…", "history": ["earlier question", …] (optional),
   "answers": [["alias", "alias"], ["second required part"]],   # every group must be matched
   "evidence": [{"doc_id": "…", "file": "…", "quote": "exact substring of the cleaned article"}],
   "unanswerable": true (optional), "tags": {"kind": "number", "docs": "single", "difficulty": "easy"}}
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .errors import RagError
from .judge import Judge, citation_scores, cites_gold, judge_agreement
from .metrics import (
    Row,
    answer_correct,
    curve,
    gold_spans,
    is_hit,
    mean_of,
    normalize,
    per_tag,
    relevant_chunks,
    reliability,
    retrieval_scores,
    summarize,
    token_f1,
    verdict,
)

QUESTIONS_FILE = Path(__file__).resolve().parents[1] / "evals" / "questions.jsonl"  # in a checkout


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


# ---------------------------------------------------------------- the run


def variant(assistant: Any, **settings: Any) -> Any:
    """The same assistant (model, index, auto_build) with some settings changed."""
    return type(assistant)(settings=assistant.settings.model_copy(update=settings), embedder=assistant.embedder,
                           auto_build=assistant.auto_build)


def run_questions(assistant: Any, questions: list[dict[str, Any]], progress: bool = True, label: str = "eval") -> tuple[list[Row], dict[str, Any]]:
    """Ask every question (at threshold 0, so the abstention curve can be drawn; the configured threshold is
    applied afterwards) and score retrieval on the query each answer was searched with."""
    from .progress import Bar

    threshold = assistant.threshold
    runner = variant(assistant, abstain_threshold=0.0)
    _, snap = runner.opened()
    judge = Judge(runner.embedder)
    runner.ask(questions[0]["question"])  # warm-up: latency figures are for a warm assistant
    rows = []
    with Bar(len(questions), label, "question", progress) as bar:
        for item in questions:
            rows.append(_score(runner, judge, snap, item))
            bar.update()
    return rows, {"threshold": threshold, "judge": judge}


def _score(runner: Any, judge: Judge, snap: Any, item: dict[str, Any]) -> Row:
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
    return row


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
        "retrieval_hit_at_1": mean_of([s["hit@1"] for s in scores]),
        "retrieval_hit_at_3": mean_of([s["hit@3"] for s in scores]),
        "retrieval_hit_at_5": mean_of([s["hit@5"] for s in scores]),
        "mrr": mean_of([s["mrr"] for s in scores]),
        "ndcg_at_5": mean_of([s["ndcg@5"] for s in scores]),
    }


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


# ---------------------------------------------------------------- gating


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
