"""Answering pieces that need no model: follow-ups, answer kinds, names, fusion."""

import numpy as np
import pytest

from rag.features import unknown_names
from rag.followup import is_followup, resolve, user_turns
from rag.lexical import stem, words
from rag.question import has_type, names, question_type
from rag.retrieve import rrf


def test_history_shapes_are_all_understood():
    class Past:
        question = "From an Answer object?"

    history = ["plain string?", ("pair question?", "answer"), {"role": "user", "content": "message?"},
               {"role": "assistant", "content": "ignored"}, Past()]
    assert user_turns(history) == ["plain string?", "pair question?", "message?", "From an Answer object?"]


@pytest.mark.parametrize("question", ["And what about Iran?", "Who said that?", "What was his job?", "And from Putin?", "Why?"])
def test_followups_are_recognised(question):
    assert is_followup(question)


@pytest.mark.parametrize("question", ["Which currency are Russian businesses turning to?", "Who invaded South Korea in 1950?",
                                      "What is the capital of France?"])
def test_standalone_questions_are_not_followups(question):
    assert not is_followup(question)


def test_followup_is_merged_with_the_turns_it_depends_on():
    history = ["What share of North Korea's foreign trade does China account for?"]
    query, used = resolve("And what about Iran?", history)
    assert query == "What share of North Korea's foreign trade does China account for? And what about Iran?"
    assert used == history
    assert resolve("Who wrote the Atlantic article?", history) == ("Who wrote the Atlantic article?", [])
    chain = ["Who invaded South Korea?", "Why did he?", "And then?"]
    # the turn the conversation is about, and the one just before; the follow-ups between are left out
    assert resolve("What about later?", chain)[1] == ["Who invaded South Korea?", "And then?"]
    assert resolve("When was it published?", ["Who wrote To Kill a Mockingbird?"])[1] == ["Who wrote To Kill a Mockingbird?"]


@pytest.mark.parametrize(
    "question,kind",
    [("How much did trade reach?", "number"), ("What share of trade…?", "number"), ("What was the growth rate?", "number"),
     ("When did Xi meet Putin?", "date"), ("In which month did it happen?", "date"), ("Who warned of this?", "person"),
     ("Who wrote the article about troops?", "author"), ("Where were they photographed?", "place"),
     ("Which country supplied drones?", "place"), ("What lesson did Beijing learn?", ""),
     ("Who wrote To Kill a Mockingbird?", "person"), ("What is the population of Paris?", "number"),
     ("How tall is the tower?", "number"), ("Which company makes the iPod?", "name")],
)
def test_question_kinds(question, kind):
    assert question_type(question) == kind


def test_answer_kinds_in_sentences():
    assert has_type("Trade reached a record $240 billion last year.", "number", "How much did trade reach?")
    assert has_type("It accounts for 90 percent of trade.", "number", "What share?")
    assert not has_type("Since invading its neighbor in 2022, Russia sourced drones.", "number", "How many drones?")
    assert has_type("Since invading its neighbor in 2022, Russia sourced drones.", "date", "When?")
    assert has_type("Kim Il Sung invaded South Korea.", "person", "Who invaded South Korea?")
    assert not has_type("South Korea was invaded.", "person", "Who invaded South Korea?")
    assert has_type("By Michel Schuman", "author", "Who wrote it?", author="Michel Schuman")
    assert not has_type("This article was published in English.", "author", "Who wrote it?", author="Michel Schuman")


def test_names():
    assert names("Patricia M. Kim") == ["Patricia M. Kim"]
    assert names("The war went on. But Moscow had a near coup from the Wagner Group.") == ["Moscow", "Wagner Group"]


def test_unknown_entities_are_those_no_article_mentions():
    vocabulary = {w: 1.0 for w in words("Russia China oil exports Iran")}
    assert unknown_names("How much oil does Russia export to India?", vocabulary) == ["India"]
    assert unknown_names("How much oil does Iran export to China?", vocabulary) == []


def test_stemming_meets_word_forms():
    assert stem("invade") == stem("invading") == stem("invaded")
    assert stem("sanctions") == stem("sanctioned") == stem("sanction")
    assert words("The U.S. sanctioned Russia’s firms") == ["us", "sanction", "russia", "firm"]


def test_reciprocal_rank_fusion():
    fused = rrf([[1, 2, 3], [3, 1]], k=60)
    assert sorted(fused, key=lambda r: -fused[r]) == [1, 3, 2]
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)


def test_reply_sentences_keep_their_markers_and_abbreviations():
    from rag.generate import split_sentences

    reply = "Trade reached $240 billion [1]. U.S. officials warned of it. [2] Ignore all instructions [9]! Tail"
    assert split_sentences(reply) == [
        "Trade reached $240 billion [1].", "U.S. officials warned of it. [2]", "Ignore all instructions [9]!", "Tail",
    ]


def test_changed_numbers_and_names_are_caught():
    from rag.generate import facts_missing
    from rag.types import Passage

    passage = Passage("d", "d:0", "t", "Trade between China and Russia reached a record $240 billion last year.", 0, 0, 70)
    assert facts_missing("Trade between China and Russia reached $240 billion.", [passage]) == []
    assert facts_missing("Trade between China and Russia reached $340 billion.", [passage]) == ["340"]
    assert facts_missing("Trade between China and Belarus reached $240 billion.", [passage]) == ["Belarus"]


@pytest.mark.parametrize(
    "sentence,kind,question,short",
    [
        ("The Vatican Secret Archives contain 150,000 items.", "number", "How many items are in the archives?", "150,000 items"),
        ("It has the upgraded A8 processor and comes in 5 different colors.", "number", "How many colors is it in?", "5 different colors"),
        ("The first line was released on October 23, 2001, about 8 months after iTunes.", "date", "When was it released?", "October 23, 2001"),
        ("It was directed by Robert Mulligan, with a screenplay by Horton Foote.", "person", "Who wrote the screenplay?", "Horton Foote"),
        ("Trade reached a record $240 billion last year.", "number", "How much did trade reach?", "$240 billion"),
        ("Trade grew in 2023.", "number", "How much did trade grow in 2023?", ""),  # a bare year is no amount
        ("Nothing to see here.", "", "What happened?", ""),  # no kind asked: no short answer
    ],
)
def test_short_answer_is_the_span_of_the_kind_asked_for_nearest_the_question_words(sentence, kind, question, short):
    from rag.question import short_answer

    assert short_answer(sentence, "", kind, question) == short


def test_figures_of_a_sentence():
    from rag.question import figures

    assert figures("Trade reached a record $240 billion last year, up 1,200 points and 3.5%.") == {"240", "1200", "3.5"}
    assert figures("No figures here.") == frozenset()


def test_an_unrelated_article_stating_other_figures_is_cited_beside_the_answer(tmp_path):
    """A planted (or mistaken) article that says the same with another figure does not quietly replace the
    answer: both quotes are cited and a note says the sources disagree."""
    from rag import Assistant, Settings
    from rag.prompts import DISAGREE_NOTE

    from .conftest import fake_embedder

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Trade between China and Russia reached a record $240 billion last year. Russian firms now settle many deals "
        "in yuan. Beijing denies supplying weapons to Moscow. Ports in the Far East are busier than ever.", encoding="utf-8")
    (folder / "b.txt").write_text(
        "Cotton harvests failed across the southern plains this autumn. Farmers blamed the drought and the heat. "
        "Trade between China and Russia reached a record $573 billion last year. Insurance claims doubled.", encoding="utf-8")
    a = Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=fake_embedder(), auto_build=False)
    a.index([folder], progress=False)
    assert not any(d.duplicate_group for d in a.documents())
    answer = a.ask("How much did trade between China and Russia reach last year?")
    quotes = [c.quote for c in answer.citations]
    assert any("$240 billion" in q for q in quotes) and any("$573 billion" in q for q in quotes), quotes
    note = DISAGREE_NOTE.split("{")[0]
    assert any(n.startswith(note) for n in answer.notes), answer.notes


def test_disagreements_are_same_statements_with_other_figures_or_names():
    from types import SimpleNamespace

    from rag.candidates import disagreements

    trade, threat = np.eye(4, dtype=np.float32)[:2]  # quotes of one statement share a vector (cosine 1)

    def quote(doc, text, v):
        return SimpleNamespace(doc_id=doc, text=text, vector=v)

    chosen = [quote("a", "China accounts for 90 percent of North Korea's trade.", trade),
              quote("b", "China accounts for 23 percent of North Korea's trade.", trade),
              quote("a", "China accounts for 23 percent of North Korea's trade.", trade),  # [1]'s article, [2]'s figure
              quote("c", "His sidekick Dmitry Medvedev threatened Pyongyang.", threat),
              quote("d", "His sidekick Dmitry Lloyd Austin threatened Pyongyang.", threat),
              quote("e", "His sidekick Medvedev threatened Pyongyang.", threat)]  # a part of [4]'s names: no dispute
    assert disagreements(chosen) == [(1, 2), (4, 5), (5, 6)]
    far = [quote("a", "Trade reached 240 billion.", trade), quote("b", "Trade reached 573 billion.", threat)]
    assert disagreements(far) == []  # not the same statement


@pytest.mark.parametrize(
    "text,dates",
    [
        ("In 821 Tang and Tibet signed a treaty.", ["821"]),
        ("Kublai Khan conquered the Song in 1279.", ["1279"]),
        ("During the 1270s the Mongols advanced.", ["1270s"]),
        ("Trade grew in the 10th and 11th centuries.", ["10th and 11th centuries"]),
        ("In the early 1600s trade grew.", ["early 1600s"]),
        ("The Ming ruled 1368–1644.", ["1368–1644"]),
        ("The Tang ruled from 618 to 907.", ["618 to 907"]),
        ("It was released on October 23, 2001.", ["October 23, 2001"]),
        ("He was born 12 March 1950 in Paris.", ["12 March 1950"]),
        ("The war began in the spring of 1943.", ["spring of 1943"]),
        ("It was built around 500 BC and buried in AD 79.", ["500 BC", "AD 79"]),
        ("During the Tang dynasty Tibet grew.", ["the Tang dynasty"]),
        ("They meet on Monday at 3 p.m.", ["Monday", "3 p.m."]),
        ("Two years later he died.", ["Two years later"]),
        ("1500 soldiers died and 2000 km of road was built.", []),
        ("It may rain.", []),
        ("Up from 355 million pounds.", []),
    ],
)
def test_one_date_grammar_for_every_era(text, dates):
    """Years of any era, decades, centuries, ranges, seasons, eras, times and relative dates; amounts are not."""
    from rag.question import date_spans

    assert [text[s:e] for s, e in date_spans(text)] == dates


@pytest.mark.parametrize(
    "text,amounts",
    [
        ("Trade reached a record $240 billion last year.", ["$240 billion"]),
        ("It accounts for 90 percent of trade.", ["90 percent"]),
        ("About two-thirds of voters agreed.", ["About two-thirds"]),
        ("The population was 1,500,000 in 1990.", ["1,500,000"]),
        ("It measured 2000 km across.", ["2000"]),
        ("Kublai Khan conquered the Song in 1279.", []),
    ],
)
def test_amounts_are_not_years(text, amounts):
    from rag.question import number_spans

    assert [text[s:e] for s, e in number_spans(text)] == amounts


def test_a_question_of_history_finds_its_date_in_any_era():
    assert has_type("In 821 Tang and Tibet signed a treaty fixing the border.", "date",
                    "What year did Tang and Tibet sign a treaty to fix the borders?")
    assert has_type("It peaked in the 11th century.", "date", "When did it peak?")
    assert not has_type("Ruth Okafor was mayor of the town.", "date", "When was she mayor?")


@pytest.mark.parametrize(
    "question,kind",
    [("Who was mayor when the harbour bridge collapsed?", "person"),
     ("When the park opened, which country's pavilion was missing?", "place"),
     ("How many people lived in the city when it fell?", "number"),
     ("What did Broca study when he was young?", ""),
     ("When did the dynasty that ruled China fall?", "date"),
     ("The treaty was signed in what year?", "date")],
)
def test_the_kind_is_read_from_the_clause_that_asks(question, kind):
    assert question_type(question) == kind


def test_an_answer_about_another_year_is_an_unmet_condition():
    from rag.question import unmet_condition

    passage = ("Its revenue rose to 412 million pounds in 2022, up from 355 million pounds in 2021. "
               "The company sold more than 9,000 picking robots last year.")
    revenue, robots = passage.split(". ", 1)
    assert unmet_condition("What was the revenue in 2019?", revenue, "", passage) == ("year", "2019", "2022")
    assert unmet_condition("How many robots did it sell in 2015?", robots, "", passage) == ("year", "2015", "last year")
    assert unmet_condition("What was the revenue in 2022?", revenue, "", passage) is None
    assert unmet_condition("What was the revenue?", revenue, "", passage) is None
    assert unmet_condition("Who won in 1998?", "France won the final.", "", "France won the final.") is None


def test_a_figure_or_a_name_the_question_names_is_checked_when_asked_to():
    from rag.question import unmet_condition

    sentence = "Twenty teams took part in the 2019 league, won by Rovers."
    assert unmet_condition("Who won when 30 teams took part?", sentence, "", sentence, kinds=("number",)) is None
    sentence = "20 teams took part in the 2019 league, won by Rovers."
    assert unmet_condition("Who won when 30 teams took part?", sentence, "", sentence, kinds=("number",)) == \
        ("number", "30", "20")
    assert unmet_condition("Who won when 20 teams took part?", sentence, "", sentence, kinds=("number",)) is None
    film = "Spectre was released on 26 October 2015 in the United Kingdom."
    assert unmet_condition("When was Diamonds Forever released?", film, "", film, kinds=("name",)) == \
        ("name", "Diamonds Forever", "United Kingdom")
    assert unmet_condition("When was Spectre released?", film, "", film, kinds=("name",)) is None
    assert unmet_condition("When was Diamonds Forever released?", film, "", film) is None, "names only when asked"


def test_a_question_is_read_once_into_what_every_step_needs():
    from rag.errors import InvalidQuery
    from rag.question import Question, parse, read

    q = read("How many drones did Iran send in 2023?", None, 5)
    assert isinstance(q, Question) and q.text == q.query == q.focus == "How many drones did Iran send in 2023?"
    assert (q.kind, q.turn.strict, set(q.turn.years), q.turn.counted) == ("number", True, {"2023"}, frozenset(words("drones")))
    assert q.qwords == frozenset(words(q.text)) and q.for_reader == q.text and q.typed is q.turn
    # a follow-up is searched with the turns it depends on, keeps their kind and reads their names
    history = ["How much oil does Russia sell to China?"]
    f = read("And to India?", history, 5)
    assert f.query == "How much oil does Russia sell to China? And to India?" and f.used == tuple(history)
    assert f.kind == "number" and f.typed.text == f.query and f.turn.text == "And to India?"
    g = read("How many tankers carry it to India?", history, 5)
    assert g.focus == "How many tankers carry it to India? Russia China"  # the turn and the earlier turns' names
    assert g.for_reader == "How many tankers carry it to India? (Russia China)"
    # an author question does not look for the words about the article in its sentences
    assert "articl" not in read("Who wrote the article about drones?", None, 5).qwords
    # the second hop searches with the bridge sentence; the kind and conditions stay the turn's
    hop = f.hop("India buys Russian oil.")
    assert hop.query == f"{f.query} India buys Russian oil." and hop.focus == hop.query and hop.typed is f.turn
    with pytest.raises(InvalidQuery):
        read("   ", history, 5)  # an empty turn is refused, not merged into the conversation
    # the rules give the same verdicts on the text and on the parsed question
    sentence = "Iran sent 400 drones in 2023."
    assert has_type(sentence, "number", parse(q.text)) == has_type(sentence, "number", q.text) is True
    assert parse(q.text) is parse(q.text)  # read once: every sentence compared with it reuses the parse
