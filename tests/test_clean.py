import re

import pytest

from rag.clean import clean_text, normalize_unicode
from rag.load import bundled_corpus


@pytest.mark.parametrize(
    "line",
    [
        "No comments:",
        "Post a Comment",
        "Leave a Reply",
        "Leave a comment",
        "Your email address will not be published. Required fields are marked *",
        "Required fields are marked *",
        "0",
        "12345",
        "9ad8ae2d-42c4-4b5c-bdb6-9964c7771569",
        "Share this:",
    ],
)
def test_boilerplate_line_is_removed(line):
    text = f"A real first sentence of the article.\n{line}\nA real last sentence of the article."
    cleaned = clean_text(text)
    assert line not in cleaned.text.split("\n\n"), cleaned.text
    assert "A real first sentence of the article." in cleaned.text
    assert "A real last sentence of the article." in cleaned.text
    assert line.strip() in cleaned.removed


def test_boilerplate_words_inside_a_sentence_are_kept():
    text = "He said there were no comments: the ministry declined.\nPost a comment was the button label."
    assert clean_text(text).text == "He said there were no comments: the ministry declined.\n\nPost a comment was the button label."


def test_original_source_becomes_metadata_not_text():
    cleaned = clean_text("Body sentence here.\n\nOriginal Source: www.theatlantic.com\n")
    assert cleaned.source == "www.theatlantic.com"
    assert "Original Source" not in cleaned.text


@pytest.mark.parametrize(
    "hidden",
    ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u202e", "\u2066", "\U000e0041", "\U000e007f", "\x07"],
)
def test_invisible_and_format_characters_are_stripped(hidden):
    cleaned = clean_text(f"Kim{hidden} Jong{hidden}{hidden} Un met Putin.")
    assert cleaned.text == "Kim Jong Un met Putin."


def test_nfkc_and_whitespace():
    cleaned = clean_text("\ufb01rst  \u00a0 move\u3000here\t\tnow.\r\n\r\n\r\n\r\nNext   line.")
    assert cleaned.text == "first move here now.\n\nNext line."
    assert normalize_unicode("①") == "1"


def test_hard_wrapped_paragraphs_are_joined():
    wrapped = (
        "This paragraph was wrapped by an editor at about seventy\n"
        "characters per line, so every line break inside it is soft\n"
        "and the sentence continues here.\n\nA second paragraph."
    )
    assert clean_text(wrapped).text.split("\n\n")[0].endswith("soft and the sentence continues here.")


def test_pull_quote_repeat_is_removed_but_sentence_kept():
    para = "Third, while the emerging axis is disruptive for the interests of Korea — it is an alignment fraught with distrust. More text."
    quote = "While the emerging axis is disruptive for the interests of Korea — it is an alignment fraught with distrust."
    cleaned = clean_text(f"{para}\n{quote}\nAnother paragraph.")
    assert cleaned.text == f"{para}\n\nAnother paragraph."


@pytest.mark.parametrize("path", sorted(bundled_corpus().glob("*.txt")), ids=lambda p: p.name)
def test_no_article_sentence_is_dropped(path):
    raw = path.read_text(encoding="utf-8")
    result = clean_text(raw)
    folded = result.text.casefold()
    for line in normalize_unicode(raw).split("\n"):
        if line.strip() in result.removed and not result.text.casefold().count(line.strip().casefold()):
            # only page furniture and pull quotes may go, and a pull quote's sentence must remain
            assert len(line.split()) < 8 or line.strip().startswith(("Your email", "Original Source")) or (
                line.strip().casefold().rstrip(".") in folded
            ), f"dropped from {path.name}: {line!r}"
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
            if sentence:
                assert sentence.casefold() in folded, f"lost from {path.name}: {sentence!r}"


def test_bundled_boilerplate_forms_are_gone():
    texts = {p.name[:3]: clean_text(p.read_text(encoding="utf-8")) for p in bundled_corpus().glob("*.txt")}
    assert "No comments:" not in texts["000"].text and "Post a Comment" not in texts["000"].text
    removed = texts["001"].removed
    assert "0" in removed and "9ad8ae2d-42c4-4b5c-bdb6-9964c7771569" in removed
    assert "Leave a Reply" in removed and texts["001"].source == "www.theatlantic.com"
    # 002 repeats three sentences as pull quotes: each appears once after cleaning
    assert texts["002"].text.count("appeasement in Europe begets aggression in Asia") == 1


def test_text_after_boilerplate_on_the_next_line_is_kept():
    text = "Body sentence.\n\nYour email address will not be published. Required fields are marked *\nAn edited copy."
    assert clean_text(text).text == "Body sentence.\n\nAn edited copy."
