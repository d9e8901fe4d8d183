"""The reader (rag/reader.py): its input layout and truncation, span decoding, the shipped model file and its
settings, what it reads and ranks, and the answering policy with and without it (rag/answerer.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag import Assistant
from rag.reader import (
    CLS,
    MAX_ANSWER_TOKENS,
    SEP,
    SPEC_FILE,
    Encoded,
    ReaderSpec,
    best_span,
    encode,
    file_sha256,
)

from .conftest import indexed_assistant


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(SPEC_FILE.parent / "reader_tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def test_input_is_question_sentence_then_context(tokenizer):
    (e,) = encode(tokenizer, "Who won?", ["Alice won the race."], ["Races | The race began."], 96)
    assert e.ids[0] == CLS and e.ids.count(SEP) == 3 and e.ids[-1] == SEP
    q_len = len(tokenizer.encode("Who won?", add_special_tokens=False).ids)
    assert e.first == q_len + 2
    assert e.types[: e.first] == [0] * e.first and set(e.types[e.first:]) == {1}
    sentence = "Alice won the race."
    assert [sentence[s:t] for s, t in e.spans] == ["alice", "won", "the", "race", "."] or \
        "".join(sentence[s:t] for s, t in e.spans).lower() == "alicewontherace."


def test_long_inputs_lose_their_context_first_then_the_sentence_end(tokenizer):
    sentence = " ".join(["word"] * 30)
    (short,) = encode(tokenizer, "What?", [sentence], ["title | " + "context " * 40], 48)
    assert len(short.ids) == 48 and len(short.spans) == 30, "the whole sentence kept, the context cut"
    (tiny,) = encode(tokenizer, "What?", [sentence], ["title"], 20)
    assert len(tiny.ids) == 20 and 0 < len(tiny.spans) < 30, "the sentence cut at its end, no context left"
    assert tiny.ids[-2:] == [SEP, SEP]


def test_best_span_lies_inside_the_sentence_and_is_bounded():
    e = Encoded(ids=[0] * 12, types=[0] * 12, first=3, spans=[(0, 3), (4, 8), (9, 12), (13, 15)])
    start, end = np.full(12, -5.0), np.full(12, -5.0)
    start[0] = end[0] = 50.0  # the [CLS] position is never a span
    start[4], end[5] = 3.0, 2.0
    assert best_span(start, end, e)[:2] == (4, 12)
    end[3] = 9.0  # an end before the start is not taken
    start[4], start[3] = 3.0, -9.0
    assert best_span(start, end, e)[:2] in {(4, 12), (0, 3)}
    assert best_span(start, end, Encoded([0], [0], 1, []))[:2] == (-1, -1)
    assert MAX_ANSWER_TOKENS >= 8


def test_confidence_grows_with_the_best_logit():
    spec = ReaderSpec.load(SPEC_FILE)
    assert spec.confidence(np.asarray([]), 0.5) == 0.0
    low, high = spec.confidence(np.asarray([-3.0, -4.0]), 0.5), spec.confidence(np.asarray([3.0, -4.0]), 0.5)
    assert 0.0 < low < high < 1.0
    assert spec.confidence(np.asarray([-3.0]), 0.5) == spec.confidence(np.asarray([-3.0, -13.0]), 0.5), \
        "one candidate: margin 10"


def test_the_shipped_settings_name_the_model_file_by_its_hash():
    raw = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    model = SPEC_FILE.parent / raw["onnx"]
    assert model.is_file() and file_sha256(model) == raw["sha256"]
    assert 1 <= raw["top_n"] <= 30 and 32 <= raw["max_tokens"] <= 128 and 0.0 < raw["threshold"] < 1.0
    assert raw["metrics"]["false_refusals"] <= 0.06, "the threshold was chosen for at most 5% false refusals"


def test_a_broken_settings_file_is_a_clear_error(tmp_path):
    from rag.errors import RagError

    bad = tmp_path / "reader.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(RagError, match="evals.train_reader"):
        ReaderSpec.load(bad)
    bad.write_text(json.dumps({**json.loads(SPEC_FILE.read_text()), "onnx": "missing.onnx"}), encoding="utf-8")
    from rag.reader import Reader

    with pytest.raises(RagError, match="missing"):
        Reader(ReaderSpec.load(bad), tmp_path)


@pytest.mark.integration
def test_the_reader_ranks_the_answering_sentence_first_and_marks_the_answer():
    from rag.reader import load_reader

    reader = load_reader()
    question = "How much did trade between China and Russia reach last year?"
    sentences = [
        "China and Russia have drawn closer since 2022, officials in both capitals say.",
        "Trade between China and Russia reached a record $240 billion last year.",
        "\"We will keep working together,\" said Maria Zakharova, a spokeswoman for the ministry.",
    ]
    readings = reader.read(question, sentences, ["China and Russia | "] * 3)
    logits = [r.logit for r in readings]
    assert int(np.argmax(logits)) == 1, logits
    a, b = readings[1].short
    assert "240 billion" in sentences[1][a:b], sentences[1][a:b]


ARTICLES = {
    "harbour.txt": "The Old Harbour\n\nThe old harbour of Varno was rebuilt in 1911. Its lighthouse stands 42 metres "
                   "tall and was designed by the engineer Ilse Brand. Fishing boats still use the northern quay.\n",
    "market.txt": "Varno Market\n\nThe covered market of Varno opened in 1898. It sells fish from the harbour every "
                  "morning. The market hall was restored after a fire in 1976.\n",
}


@pytest.fixture(scope="module")
def varno(tmp_path_factory, real_embedder):
    return indexed_assistant(tmp_path_factory.mktemp("varno"), real_embedder, ARTICLES)


@pytest.mark.integration
def test_answers_are_read_by_the_reader_with_exact_quotes_and_a_short_answer(varno):
    answer = varno.ask("Who designed the lighthouse?")
    assert not answer.abstained, answer.text
    assert "Ilse Brand" in answer.citations[0].quote
    # the span head's short answer lies inside the quote and names the designer (it marks "engineer Ilse": its
    # spans are right about as often as the development F1 of 0.63 says, not always to the word)
    assert answer.short and answer.short in answer.citations[0].quote and "Ilse" in answer.short
    text = ARTICLES["harbour.txt"]
    c = answer.citations[0]
    assert c.quote in text
    assert varno.threshold == ReaderSpec.load(SPEC_FILE).threshold


@pytest.mark.integration
def test_without_the_reader_the_scorer_alone_answers(varno):
    alone = Assistant(settings=varno.settings.model_copy(update={"reader": False}), embedder=varno.embedder)
    answer = alone.ask("Who designed the lighthouse?")
    assert not answer.abstained and "Ilse Brand" in answer.text
    assert alone.threshold == alone.scorer.threshold


@pytest.mark.integration
@pytest.mark.parametrize("question", ["Who won the 2018 World Cup?", "What is the capital of Australia?"])
def test_an_unrelated_question_abstains_and_cites_the_closest_passage(varno, question):
    answer = varno.ask(question)
    assert answer.abstained
    assert answer.citations and answer.citations[0].not_answer


@pytest.mark.integration
def test_a_question_about_something_the_articles_never_name_abstains(varno):
    """The reader matches the question's form, not its names (evals/READER.md): it would answer from the
    lighthouse's height; the name condition (rag/question.py unmet_condition) abstains, saying what they give."""
    answer = varno.ask("How tall is the Eiffel Tower?")
    assert answer.abstained and "nothing for Eiffel Tower" in answer.text, answer.text


class _StubReader:
    """A reader that prefers sentences holding a word, for pinning the policy around any reader."""

    def __init__(self, word: str, top_n: int = 3) -> None:
        self.word = word
        self.spec = ReaderSpec(version="t", onnx="", sha256="", max_tokens=64, top_n=top_n, first_weight=0.0,
                               threshold=0.5, short="reader",
                               calibration={"coef": [1.0, 0.0, 0.0], "intercept": 0.0})
        self.read_texts: list[str] = []

    def read(self, question, sentences, contexts, max_tokens=None):
        from rag.reader import Reading

        self.read_texts = list(sentences)
        return [Reading(4.0 if self.word in s else -4.0, (s.find(self.word), s.find(self.word) + len(self.word))
                        if self.word in s else (-1, -1)) for s in sentences]


def _policy_assistant(tmp_path, embedder, reader):
    a = indexed_assistant(tmp_path, embedder, ARTICLES)
    return Assistant(settings=a.settings.model_copy(update={"two_hop": False}), embedder=embedder, reader=reader,
                     auto_build=False)


def test_the_reader_orders_the_first_pass_best_and_its_confidence_decides(tmp_path, embedder):
    reader = _StubReader("")
    a = _policy_assistant(tmp_path, embedder, reader)
    question = "Where do fishing boats moor in Varno?"
    first = sorted(a.evidence(question).candidates, key=lambda c: -c.score)
    assert len(first) > 3, "more candidates than the reader reads"
    # the reader prefers a word only the first pass's second-best sentence has
    others = " ".join(c.text for c in first if c is not first[1]).lower()
    reader.word = max((w for w in first[1].text.strip(".").split() if w.lower() not in others), key=len)
    answer = a.ask(question)
    assert len(reader.read_texts) == 3 and reader.read_texts[:2] == [first[0].text, first[1].text], \
        "the first pass's best N are read, best first"
    assert not answer.abstained and answer.citations[0].quote == first[1].text, "the reader's choice answers"
    assert answer.short == reader.word, "the reader's span is the short answer"
    assert answer.confidence == pytest.approx(1 / (1 + np.exp(-4.0)), abs=1e-3)


def test_a_reader_that_finds_nothing_makes_the_answer_abstain(tmp_path, embedder):
    a = _policy_assistant(tmp_path, embedder, _StubReader("zzzz-not-there"))
    answer = a.ask("Who designed the lighthouse?")
    assert answer.abstained and answer.confidence < 0.5
    assert answer.citations and answer.citations[0].not_answer, "the closest passage is still shown"


@pytest.mark.integration
@pytest.mark.parametrize("question, sentences, right", [
    ("Who designed the lighthouse?", ["The old harbour of Varno was rebuilt in 1911.",
     "Its lighthouse stands 42 metres tall and was designed by the engineer Ilse Brand.",
     "Fishing boats still use the northern quay."], 1),
    ("When did the market open?", ["The covered market of Varno opened in 1898.",
     "It sells fish from the harbour every morning.", "The market hall was restored after a fire in 1976."], 0),
    ("How many people did the fire kill?", ["A fire broke out in the mill on Tuesday night.",
     "It killed 14 people, the police said.", "The mill had been inspected in March."], 1),
])
def test_the_sentence_after_the_answer_is_not_chosen_for_its_context(question, sentences, right):
    """The sentence after the answer reads the answer as its context (the previous sentence): the reader must
    still prefer the sentence that says it (the "answer one sentence away" error the training guards against)."""
    from rag.reader import context_of, load_reader

    contexts = [context_of("Varno", sentences[i - 1] if i else "") for i in range(len(sentences))]
    logits = [r.logit for r in load_reader().read(question, sentences, contexts)]
    assert int(np.argmax(logits)) == right, logits


def test_short_answers_keep_the_signs_written_against_a_quantity():
    from rag.reader import with_signs

    text = "Trade reached a record $240 billion, up 12% on the year (-3 C at night)."
    a = text.index("240")
    assert text[slice(*with_signs(text, a, a + len("240 billion")))] == "$240 billion"
    b = text.index("12")
    assert text[slice(*with_signs(text, b, b + 2))] == "12%"
    c = text.index("3 C")
    assert text[slice(*with_signs(text, c, c + 3))] == "-3 C"
    d = text.index("record")
    assert with_signs(text, d, d + 6) == (d, d + 6), "a word with no sign against it is left as it is"
    assert with_signs(text, -1, -1) == (-1, -1)
    hyphen = "They tested long-range missiles."
    e = hyphen.index("range")
    assert with_signs(hyphen, e, e + 5) == (e, e + 5), "a hyphen is not a minus sign"


def test_the_reader_and_the_embedding_model_run_without_spinning_threads(real_embedder):
    # a question runs the two sessions in turn: spinning threads of one held the cores the other needed
    # (rag/runtime.py: warm ask p50 about halved on 2 cores)
    from rag.reader import load_reader

    embedder_session = real_embedder.model.session
    for session in (load_reader().session, embedder_session):
        assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
