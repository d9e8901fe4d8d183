"""Eval suites: the suites file, picking suites, public-set question files, metrics of calibration, gating."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import metrics as ev
from rag import suites as su
from rag.errors import RagError
from rag.evaluate import load_questions

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_suites_file_names_existing_corpora_and_question_files():
    path, suites = su.load_suites(ROOT / "evals" / "suites.toml")
    assert {"bundled", "squad2", "squad2-rejection", "hotpotqa", "conversational"} <= set(suites)
    for name, suite in suites.items():
        assert suite["questions"].is_file(), name
        assert suite["corpus"] == "bundled" or suite["corpus"].is_dir(), name
        items = load_questions(suite["questions"])  # every line valid
        assert items, name
        for source in {p.parent for p in [suite["questions"]]} - {ROOT / "evals"}:
            assert (source / "SOURCE.md").is_file(), f"{name}: public data keeps its attribution"
    assert "hotpotqa-full" in suites and not suites["hotpotqa-full"].get("default", True)


def test_pick_expands_all_and_refuses_unknown_names():
    _, suites = su.load_suites(ROOT / "evals" / "suites.toml")
    everything = su.pick(suites, ("all",))
    assert "bundled" in everything and "hotpotqa-full" not in everything
    assert su.pick(suites, ("all", "hotpotqa-full"))[-1] == "hotpotqa-full"
    assert su.pick(suites, ("squad2",)) == ["squad2"]
    with pytest.raises(RagError, match="Unknown suite"):
        su.pick(suites, ("nope",))


def test_held_out_squad_articles_are_the_only_ones_the_suite_asks_about():
    spec = json.loads((ROOT / "rag" / "models" / "evidence_scorer.json").read_text(encoding="utf-8"))
    held_out = set(spec["trained_on"]["held_out_articles"])
    for line in (ROOT / "evals" / "data" / "squad2" / "suite.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        article = (item.get("evidence_files") or [item.get("source_article")])[0]
        assert article in held_out, f"{item['id']} is about a training article"


def test_public_answers_occur_in_their_evidence_files():
    for name in ("conversational", "hotpotqa"):
        folder = ROOT / "evals" / "data" / name
        for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts = " ".join((folder / "corpus" / f).read_text(encoding="utf-8") for f in item["evidence_files"])
            assert all(any(a in texts for a in group) for group in item["answers"]), item["id"]


def test_gold_spans_from_evidence_files():
    item = {"answers": [["1960"]], "evidence": [], "evidence_files": ["book.txt"]}
    texts = {"d1": "Published in 1960. Reprinted 1960.", "d2": "1960 elsewhere"}
    docs = {"d1": {"path": "/x/book.txt"}, "d2": {"path": "/x/other.txt"}}
    assert ev.gold_spans(item, texts, docs) == [("d1", 13, 17), ("d1", 29, 33)]


def test_auroc_and_calibration_error():
    assert ev.auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert ev.auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert ev.auroc([0.5, 0.5], [True, False]) == 0.5
    assert ev.auroc([0.5], [True]) is None

    def row(conf: float, right: bool) -> ev.Row:
        r = ev.Row({"id": "x", "answers": [["a"]]}, None, conf)
        r.correct = right
        return r

    perfect = [row(1.0, True), row(0.0, False)]
    assert ev.reliability(perfect)[0] == 0.0
    over = [row(0.9, False)] * 4
    assert ev.reliability(over)[0] == pytest.approx(0.9)


def test_suite_gates_read_each_suites_floors():
    reports = {"a": {"metrics": {"answer_accuracy": 0.5, "false_refusal_rate": 0.2, "auroc": None}}}
    suites = {"a": {"floors": {"answer_accuracy": 0.6, "auroc": 0.5}, "ceilings": {"false_refusal_rate": 0.1}}}
    failures = su.gate_suites(reports, suites, "suites.toml")
    assert len(failures) == 3 and all(f.startswith("a: ") for f in failures)
    assert any("not measured" in f for f in failures)
    assert su.gate_suites(reports, {"a": {}}, "suites.toml") == []
