"""Shared helpers for the eval scripts: the question file and gold-evidence spans."""

from __future__ import annotations

import json
from pathlib import Path

from rag.errors import RagError

QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    """Questions of the eval set; a malformed line is an error naming file and line."""
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise RagError(f"{path}:{number}: not valid JSON ({exc})") from exc
        for key in ("id", "question", "answers", "evidence"):
            if key not in item:
                raise RagError(f"{path}:{number}: missing {key!r}")
        items.append(item)
    return items


def gold_spans(item: dict, texts: dict[str, str]) -> list[tuple[str, int, int]]:
    """(doc_id, start, end) of every gold evidence quote in the cleaned articles."""
    spans = []
    for ev in item["evidence"]:
        start = texts[ev["doc_id"]].find(ev["quote"])
        if start < 0:
            raise RagError(f"{item['id']}: evidence not found in {ev['doc_id']}: {ev['quote'][:60]!r}")
        spans.append((ev["doc_id"], start, start + len(ev["quote"])))
    return spans


def is_hit(doc_id: str, start: int, end: int, spans: list[tuple[str, int, int]], need: float = 0.8) -> bool:
    """A passage hits when it holds at least `need` of some gold quote."""
    for gold_doc, g_start, g_end in spans:
        if gold_doc == doc_id:
            overlap = min(end, g_end) - max(start, g_start)
            if overlap >= need * (g_end - g_start):
                return True
    return False
