"""What the learned answerer adds around the scorer, each pinned: which candidates may answer (answer_pool),
the accent-folded tokenizer, the scorer recorded in the index manifest, the second hop across articles, a
follow-up without a pronoun read with the conversation, and `rag eval --suite` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rag import Assistant, Settings
from rag.cli import cli
from rag.features import FEATURES
from rag.lexical import words
from rag.scorer import answer_pool

from .conftest import indexed_assistant


def _rows(**columns: list[float]) -> np.ndarray:
    n = len(next(iter(columns.values())))
    x = np.zeros((n, len(FEATURES)), dtype=np.float32)
    x[:, FEATURES.index("kind_other")] = 1.0
    x[:, FEATURES.index("num_in_passage")] = 1.0
    for name, values in columns.items():
        x[:, FEATURES.index(name)] = values
    return x


def test_answer_pool_keeps_typed_sentences_for_typed_questions():
    """The `kind` rule (not in force: evals/measure_misses.py --rules) and the `amount` rule, in force for the asks
    that want an amount or a date and nothing else ("How many…?", "What year…?")."""
    x = _rows(kind_number=[1, 1, 1], kind_other=[0, 0, 0], typed=[0, 1, 0])
    assert answer_pool(x, ("kind",)).tolist() == [1]
    assert answer_pool(_rows(kind_date=[1, 1], kind_other=[0, 0], typed=[0, 0]), ("kind",)).tolist() == [], "none holds a date"
    assert answer_pool(_rows(typed=[0, 0]), ("kind",)).tolist() == [0, 1], "no kind asked: every sentence may answer"
    assert answer_pool(x).tolist() == [0, 1, 2], "in force: a question that may be answered otherwise keeps all"
    assert answer_pool(x, strict=True).tolist() == [1], "in force: 'How many…?' wants a number"


def test_answer_pool_prefers_passages_holding_the_questions_numbers():
    """The `condition` rule (not in force: a feature only)."""
    assert answer_pool(_rows(num_in_passage=[0, 1, 0]), ("condition",)).tolist() == [1]
    assert answer_pool(_rows(num_in_passage=[0, 0]), ("condition",)).tolist() == [0, 1], "none holds them: no restriction"
    assert answer_pool(_rows(num_in_passage=[0, 1, 0])).tolist() == [0, 1, 2]


def test_a_sentence_that_asks_is_never_an_answer():
    assert answer_pool(_rows(is_question=[0, 1, 0])).tolist() == [0, 2]


def test_accents_are_folded():
    assert words("Beyoncé's Études") == words("Beyonce's etudes")


def test_the_index_manifest_records_the_scorer_and_the_reader(tmp_path, embedder):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Trade reached a record $240 billion last year.\n", encoding="utf-8")
    a = Assistant(settings=Settings(index_dir=tmp_path / "index", quiet=True), embedder=embedder, auto_build=False)
    a.index([folder], progress=False)
    store, _ = a.opened()
    assert store.chunks.metadata["evidence_scorer"].startswith("v1 sha256:")
    from rag.reader import SPEC_FILE, file_sha256

    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    assert spec["sha256"] == file_sha256(SPEC_FILE.parent / spec["onnx"]), "reader.json names its ONNX file's hash"
    assert store.chunks.metadata["reader"] == f"v{spec['version']} sha256:{spec['sha256'][:12]}"


TWO_ARTICLES = {
    "glass-river.txt": "Glass River\n\nGlass River is a 2019 drama film written and directed by Mara Olsen. "
                       "It follows two sisters who run a ferry on a frozen lake.\n",
    "mara-olsen.txt": "Mara Olsen\n\nMara Olsen was born in Tromsø, Norway, in 1975.\n",
}


@pytest.fixture(scope="module")
def two(tmp_path_factory, real_embedder):
    return indexed_assistant(tmp_path_factory.mktemp("twohop"), real_embedder, TWO_ARTICLES)


@pytest.mark.integration
def test_a_second_hop_adds_the_quote_from_the_other_article(two):
    question = "Where was the director who made the film Glass River born?"
    answer = two.ask(question)
    assert not answer.abstained and "Tromsø" in answer.text, answer.text
    assert len({c.doc_id for c in answer.citations}) == 2, "one quote from each article"
    single = Assistant(settings=two.settings.model_copy(update={"two_hop": False}), embedder=two.embedder)
    assert len({c.doc_id for c in single.ask(question).citations}) == 1


@pytest.mark.integration
def test_a_question_naming_nothing_is_also_read_with_the_conversation(two, monkeypatch):
    history = ["Who directed Glass River?"]
    merged = two.evidence("what year was the director born?", history, merge=True)
    assert merged.query == "Who directed Glass River? what year was the director born?"
    answerer = two.answerer
    real = answerer.decide
    sure: dict[bool, float] = {}

    def decide(ev):  # the real choice of sentences; the confidence set per reading
        chosen, _ = real(ev)
        return chosen, sure[ev.query != ev.question]

    monkeypatch.setattr(answerer, "decide", decide)
    sure.update({False: 0.10, True: 0.90})
    assert two.ask("what year was the director born?", history=history).query.startswith("Who directed")
    sure.update({False: 0.10, True: 0.15})  # not clearly surer: the question as asked
    assert two.ask("what year was the director born?", history=history).query == "what year was the director born?"
    sure.update({False: 0.10, True: 0.90})  # it names something of its own: never merged
    assert two.ask("What year was Tromsø founded?", history=history).query == "What year was Tromsø founded?"


@pytest.mark.integration
def test_eval_suites_end_to_end(tmp_path, two):
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in [
        {"id": "a", "question": "Who directed Glass River?", "answers": [["Mara Olsen"]], "evidence_files": ["glass-river.txt"]},
        {"id": "b", "question": "What is the capital of Peru?", "answers": [], "evidence": [], "unanswerable": True},
    ]), encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in TWO_ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (tmp_path / "evals").mkdir()
    suites = tmp_path / "evals" / "suites.toml"
    suites.write_text(f'''[suites.tiny]
description = "two articles"
corpus = "{corpus.relative_to(tmp_path)}"
questions = "{questions.relative_to(tmp_path)}"
[suites.tiny.floors]
answer_accuracy = 1.0
[suites.tiny.ceilings]
false_refusal_rate = 0.0
''', encoding="utf-8")
    args = ["eval", "--suites-file", str(suites), "--suite", "all", "--cache", str(tmp_path / "cache"),
            "--report", str(tmp_path / "report"), "--json", "-q"]
    result = CliRunner().invoke(cli, [*args, "--gate", str(suites)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["suites"]["tiny"]["answer_accuracy"] == 1.0 and data["macro"]["answer_accuracy"] == 1.0
    for name in ("summary.md", "summary.json", "tiny/report.md", "tiny/reliability.png"):
        assert (tmp_path / "report" / name).is_file(), name
    suites.write_text(suites.read_text(encoding="utf-8").replace("answer_accuracy = 1.0", "answer_accuracy = 1.01"),
                      encoding="utf-8")
    failed = CliRunner().invoke(cli, [*args, "--gate", str(suites)], catch_exceptions=False)
    assert failed.exit_code == 1 and "tiny: answer_accuracy" in failed.stderr
    unknown = CliRunner().invoke(cli, ["eval", "--suites-file", str(suites), "--suite", "nope"], catch_exceptions=False)
    assert unknown.exit_code == 1 and "Unknown suite" in unknown.stderr
