"""The eval set cannot rot: every gold evidence quote occurs in its article."""

import json

import pytest

from evals.common import QUESTIONS, gold_spans, load_questions
from rag.errors import RagError
from rag.load import bundled_corpus, load_articles


def test_every_gold_evidence_quote_is_in_its_article():
    articles = {a.doc_id: a for a in load_articles([bundled_corpus()]).articles}
    texts = {d: a.text for d, a in articles.items()}
    questions = load_questions()
    assert len([q for q in questions if not q.get("unanswerable")]) >= 30
    assert len([q for q in questions if q.get("unanswerable")]) >= 15
    assert len([q for q in questions if q.get("history")]) >= 5
    for item in questions:
        if item.get("unanswerable"):
            assert not item["answers"] and not item["evidence"], f"{item['id']}: unanswerable items have no gold"
            continue
        for ev in item["evidence"]:
            assert ev["doc_id"] in articles, f"{item['id']}: unknown doc_id {ev['doc_id']}"
            assert articles[ev["doc_id"]].path.endswith(ev["file"]), f"{item['id']}: doc_id and file disagree"
        assert len(gold_spans(item, texts)) == len(item["evidence"])
        assert item["answers"] and all(group for group in item["answers"]), item["id"]
        assert item["evidence"], f"{item['id']}: answerable items need gold evidence"
    assert len({q["id"] for q in questions}) == len(questions), "ids are unique"


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "?", "answers": [], "evidence": []}) + "\n{oops\n")
    with pytest.raises(RagError, match=r"q\.jsonl:2: not valid JSON"):
        load_questions(path)
    assert QUESTIONS.name == "questions.jsonl"
