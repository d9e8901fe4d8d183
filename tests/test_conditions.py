"""Answers that respect what the question asks (issue 28), with the real model and the reader: a subordinate
"when" does not make a date question, a year the question names is checked against the answer, a sentence that
asks a question answers none; through the Python API, the CLI, the OpenAI-compatible API and MCP alike."""

import pytest

from rag.prompts import ABSTAIN_TEXT

from .conftest import indexed_assistant

pytestmark = pytest.mark.integration

ARTICLES = {
    "acme.txt": (
        "Acme Robotics posts record year\n\n"
        "Acme Robotics, a maker of warehouse machines based in Leeds, had its strongest year yet. Its revenue rose "
        "to 412 million pounds in 2022, up from 355 million pounds in 2021. The company sold more than 9,000 picking "
        "robots last year. Its chief executive, Mara Lindqvist, said demand from grocers drove the growth.\n\n"
        "The firm plans to open a second factory in Sheffield. Is automation good for warehouse workers? Critics say "
        "it cuts jobs, while the company says it creates better ones.\n"
    ),
    "bridge.txt": (
        "The harbour bridge\n\n"
        "The old harbour bridge collapsed during a storm. At the time, Ruth Okafor was mayor of the town, and she "
        "ordered the harbour closed for a week. The bridge had been built in 1887 by the engineer Thomas Hale. It was "
        "rebuilt in the 1920s.\n"
    ),
}


@pytest.fixture(scope="module")
def acme(tmp_path_factory, real_embedder):
    return indexed_assistant(tmp_path_factory.mktemp("conditions"), real_embedder, ARTICLES)


def test_a_subordinate_when_does_not_make_a_date_question(acme):
    answer = acme.ask("Who was mayor when the harbour bridge collapsed?")
    assert not answer.abstained and "Ruth Okafor" in answer.text, answer.text
    assert answer.short == "Ruth Okafor"


def test_a_decade_answers_a_when_question(acme):
    answer = acme.ask("When was the bridge rebuilt?")
    assert not answer.abstained and "1920s" in answer.text, answer.text


@pytest.mark.parametrize("question,asked,given", [
    ("What was the revenue in 2019?", "2019", "2022"),
    ("How many robots did it sell in 2015?", "2015", "last year"),
])
def test_an_answer_about_another_year_abstains_and_says_what_the_articles_give(acme, question, asked, given):
    answer = acme.ask(question)
    assert answer.abstained and answer.text.startswith(ABSTAIN_TEXT), answer.text
    assert f"nothing for {asked}" in answer.text and f"closest they give is for {given}" in answer.text
    assert len(answer.citations) == 1 and answer.citations[0].not_answer
    assert answer.citations[0].quote in answer.text, "what they give is quoted"


def test_the_year_the_articles_do_give_is_answered(acme):
    answer = acme.ask("What was the revenue in 2022?")
    assert not answer.abstained and "412 million pounds" in answer.text, answer.text


def test_a_sentence_that_asks_answers_nothing(acme):
    answer = acme.ask("Is automation good for warehouse workers?")
    assert "Is automation good for warehouse workers?" not in [c.quote for c in answer.citations if not c.not_answer]


def test_the_cli_shows_what_the_articles_give_instead(acme):
    from click.testing import CliRunner

    from rag.cli import cli

    result = CliRunner().invoke(cli, ["ask", "--index-dir", str(acme.settings.index_dir),
                                       "What was the revenue in 2019?"])
    assert result.exit_code == 0, result.output
    assert "nothing for 2019" in result.output and "412 million pounds" in result.output
