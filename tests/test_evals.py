"""The eval set and the harness's own pieces: the set cannot rot, metrics are what evals/README.md says."""

import json

import pytest

from rag.errors import RagError
from rag.evaluate import QUESTIONS_FILE, gate, load_questions
from rag.load import bundled_corpus, load_articles
from rag.metrics import answer_correct, gold_spans, retrieval_scores, token_f1
from rag.report import compare


def test_every_gold_evidence_quote_is_in_its_article():
    articles = {a.doc_id: a for a in load_articles([bundled_corpus()]).articles}
    texts = {d: a.text for d, a in articles.items()}
    questions = load_questions(QUESTIONS_FILE)
    answerable = [q for q in questions if not q.get("unanswerable")]
    assert len(questions) >= 80
    assert len([q for q in answerable if not q.get("history")]) >= 50
    assert len([q for q in questions if q.get("unanswerable")]) >= 15
    assert len([q for q in questions if q.get("history")]) >= 10
    for item in questions:
        if item.get("unanswerable"):
            assert not item["answers"] and not item["evidence"], f"{item['id']}: unanswerable items have no gold"
            continue
        for ev in item["evidence"]:
            assert ev["doc_id"] in articles, f"{item['id']}: unknown doc_id {ev['doc_id']}"
            assert articles[ev["doc_id"]].path.endswith(ev["file"]), f"{item['id']}: doc_id and file disagree"
        assert len(gold_spans(item, texts)) == len(item["evidence"])
        assert {"kind", "docs", "difficulty"} <= set(item["tags"]), item["id"]
    assert {q["tags"]["docs"] for q in answerable} >= {"single", "multi"}


@pytest.mark.parametrize(
    "line,message",
    [
        ("{oops", r"q\.jsonl:2: not valid JSON"),
        ('["a list"]', r"q\.jsonl:2: expected a JSON object"),
        ('{"id": "b", "question": "?", "answers": [], "evidence": []}', r"q\.jsonl:2: 'answers' must be a non-empty list"),
        ('{"id": "a", "question": "?", "answers": [], "evidence": [], "unanswerable": true}', r"q\.jsonl:2: duplicate id 'a'"),
        ('{"id": "c", "question": 3, "answers": [], "evidence": []}', r"q\.jsonl:2: 'question' is missing or not a str"),
    ],
)
def test_malformed_line_names_file_line_and_problem(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    good = {"id": "a", "question": "?", "answers": [], "evidence": [], "unanswerable": True}
    path.write_text(json.dumps(good) + "\n" + line + "\n")
    with pytest.raises(RagError, match=message):
        load_questions(path)


def test_retrieval_scores():
    s = retrieval_scores([False, True, False, True, False], relevant_total=2)
    assert (s["hit@1"], s["hit@3"], s["hit@5"], s["mrr"]) == (0.0, 1.0, 1.0, 0.5)
    ideal = 1 + 1 / 1.584962500721156
    assert s["ndcg@5"] == pytest.approx((1 / 1.584962500721156 + 1 / 2.321928094887362) / ideal)
    assert retrieval_scores([False] * 5, 1) == {"hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "mrr": 0.0, "ndcg@5": 0.0}


def test_answer_accuracy_needs_every_group_and_f1_is_token_overlap():
    groups = [["Xi"], ["Putin"], ["Kim Jong Un"]]
    assert answer_correct("Xi Jinping, Putin and Kim Jong Un walked [1].", groups)
    assert not answer_correct("Xi Jinping and Putin walked [1].", groups)
    assert not answer_correct("Xiamen is a city.", [["Xi"]]), "aliases match whole words"
    assert token_f1("$240 billion", [["$240 billion"]]) == 1.0
    assert token_f1("Trade reached a record $240 billion last year [1].", [["$240 billion"]]) == pytest.approx(2 * (2 / 7) / (2 / 7 + 1))
    assert token_f1("nothing", [["$240 billion"]]) == 0.0


def test_gate_and_compare(tmp_path):
    limits = tmp_path / "t.toml"
    limits.write_text("[floors]\nanswer_accuracy = 0.9\n[ceilings]\nfalse_refusal_rate = 0.05\n")
    assert gate({"answer_accuracy": 0.95, "false_refusal_rate": 0.0}, limits) == []
    failures = gate({"answer_accuracy": 0.85, "false_refusal_rate": 0.1}, limits)
    assert failures == ["answer_accuracy = 0.850 is below the floor 0.9", "false_refusal_rate = 0.100 is above the ceiling 0.05"]
    limits.write_text("[floors]\nmade_up = 1\n")
    with pytest.raises(RagError, match="unknown metric 'made_up'"):
        gate({"answer_accuracy": 1.0}, limits)
    lines = compare({"metrics": {"answer_accuracy": 0.9, "p50_ms": 30.0}}, {"metrics": {"answer_accuracy": 0.95, "p50_ms": 40.0}})
    assert lines[0].startswith("answer_accuracy") and lines[0].endswith("(+0.050) better")
    assert lines[1].endswith("(+10.000) worse"), "lower latency is better"
