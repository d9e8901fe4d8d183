"""The reader's training recipe (evals/train_reader.py): which sentences a question trains against, batches
that keep a question whole, and the ranking loss. CI never trains; these pin the pieces a rerun depends on."""

from __future__ import annotations

import importlib.util
import random

import pytest


@pytest.fixture(scope="module")
def tr():
    return importlib.import_module("evals.train_reader")


PARAGRAPH = [
    "The bridge over the river Odra was opened in 1912.",
    "It was designed by the engineer Karl Baum.",
    "Baum later designed the city's bridge over the canal and the river harbour.",
    "Trams crossed the river bridge from 1920.",
    "The bridge was damaged in 1945.",
    "Its rebuilding took four years.",
]


def item(pos: set[int], span=None) -> dict:
    other = ["The old town lies north of the river.", "The bridge of the canal is older."]
    return {"src": "t", "article": "a", "title": "Odra bridge", "q": "Who designed the bridge over the river?",
            "paragraphs": [PARAGRAPH, other], "para": 0, "pos": sorted(pos), "span": span}


def test_a_question_trains_against_the_sentence_after_its_answer_and_its_hard_neighbours(tr):
    rows = tr.pairs_of(item({1}, (1, 32, 41)), random.Random(0), group=7)
    assert {r["g"] for r in rows} == {7}, "every row of a question carries its group"
    positives = [r for r in rows if r["y"] == 1]
    assert [r["s"] for r in positives] == [PARAGRAPH[1]]
    assert positives[0]["a"] == [32, 41] and PARAGRAPH[1][32:41] == "Karl Baum"
    negatives = [r for r in rows if r["y"] == 0]
    after = next(r for r in negatives if r["s"] == PARAGRAPH[2])
    assert PARAGRAPH[1] in after["ctx"], "its context holds the answer sentence: the negative the reader must learn"
    assert after["ctx"].startswith("Odra bridge | ")
    assert len(negatives) == 1 + 3 + 1, "the sentence after, three hard ones of the paragraph, one of another"
    assert all(r["a"] == [-1, -1] for r in negatives)


def test_an_answer_at_the_end_of_its_paragraph_has_no_sentence_after(tr):
    rows = tr.pairs_of(item({5}), random.Random(0), group=0)
    assert sum(r["y"] for r in rows) == 1 and len(rows) == 1 + 3 + 1


def test_batches_hold_whole_questions_and_every_row_once(tr):
    rng = random.Random(1)
    rows = [{"g": g, "q": "q" * rng.randint(5, 50), "s": "s" * rng.randint(5, 200), "ctx": ""}
            for g in range(300) for _ in range(rng.randint(2, 7))]
    batches = tr.batches_of(rows, 32)
    assert sorted(i for b in batches for i in b) == list(range(len(rows)))
    where = {}
    for k, b in enumerate(batches):
        assert len(b) <= 32
        for i in b:
            where.setdefault(rows[i]["g"], set()).add(k)
    assert all(len(ks) == 1 for ks in where.values()), "a question split across batches"
    assert tr.batches_of(rows, 32) == batches, "seeded"


def test_the_ranking_loss_rewards_the_right_sentence_on_top(tr):
    torch = pytest.importorskip("torch")
    y = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0])
    qid = [0, 0, 0, 1, 1]
    right = tr.ranking_loss(torch.tensor([3.0, 0.0, -1.0, 0.0, 0.0]), y, qid)
    wrong = tr.ranking_loss(torch.tensor([0.0, 3.0, -1.0, 0.0, 0.0]), y, qid)
    assert 0.0 < float(right) < float(wrong)
    # question 1 has no right sentence: it adds nothing (binary cross-entropy still trains on it)
    alone = tr.ranking_loss(torch.tensor([3.0, 0.0, -1.0]), y[:3], qid[:3])
    assert float(alone) == pytest.approx(float(right))
    none = tr.ranking_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]), [0, 0])
    assert float(none) == 0.0
