"""What a question asks for, and the names, figures and short answers of sentences: rules that hold on any
corpus (no model). The answer kinds (`question_type`) gate which sentences may answer (`has_type`), and
`short_answer` marks the span of a quote that answers a question of a known kind when the reader's span head
is not used (see rag/answerer.py).
"""

from __future__ import annotations

import re

from .lexical import STOPWORDS, words

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_QTYPES = [
    ("number", re.compile(r"\b(how (much|many|large|big|long|old|fast|far|tall|high|deep|wide|heavy|often|late|early)|"
                          r"what (is|was|were|are) the (population|size|area|height|length|width|depth|weight|age|"
                          r"distance|speed|cost|price|budget|revenue|value|total|rate|score|capacity|number|amount)|"
                          r"what (share|percentage|percent|proportion|fraction|amount|number|sum|population|size|"
                          r"area|height|length|age|distance|speed|cost|price|budget|revenue|score|capacity)|"
                          r"(growth|interest|exchange|inflation|unemployment) rate)\b", re.I)),
    ("date", re.compile(r"\b(when|what (year|month|day|date|time)|in (what|which) (year|month)|on what date|what date)\b", re.I)),
    ("author", re.compile(r"\b(who (wrote|authored|is the author|was the author)|author of|written by|whose article)\b", re.I)),
    ("person", re.compile(r"\b(who|whom|whose)\b", re.I)),
    ("place", re.compile(r"\b(where|(which|what) (country|city|town|place|region|countries|state|province|county|"
                         r"continent|island|river|mountain|capital|village|district))\b", re.I)),
    ("name", re.compile(r"\b(which|what) (company|companies|organi[sz]ation|team|band|group|party|university|school|"
                        r"college|agency|newspaper|magazine|network|club|label|firm|brand|ship|album|film|movie|"
                        r"book|song|show|station|church|airline|army|institution)\b", re.I)),
]
# Quantities; a bare year ("in 2022") is a date, not an amount.
_NUMBER_RE = re.compile(
    r"(\$\s?\d[\d,.]*(?:\s*(?:billion|million|thousand|trillion))?|\b\d[\d,.]*\s*(?:%|percent|billion|million|"
    r"thousand|trillion)|\b(?!(?:1[89]|20)\d\d\b)\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"dozens?|hundreds?|thousands?|millions?|billions?|half|nearly all|almost all)\b)", re.I)
_DATE_RE = re.compile(rf"\b(1[89]\d\d|20\d\d|{_MONTHS}|yesterday|today|last (year|week|month)|day before|"
                      r"\d{4}-\d{2}-\d{2})\b", re.I)
_NAME_RE = re.compile(r"\b[A-Z][a-z]+(?:[ -](?:[A-Z]\.|[A-Z][a-z]+))*")
_QUESTION_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "and", "did", "does",
                   "do", "is", "are", "was", "were", "in", "on", "the", "a", "an", "of", "to"}


_ABOUT_ARTICLE = re.compile(r"\b(article|piece|story|report|column|essay|op-ed|editorial|commentary|analysis|"
                            r"this text|the text)\b", re.I)
WH_WORD = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b", re.I)


def question_type(question: str) -> str:
    """The kind of answer asked for: number, date, author (of an article: "Who wrote the article about…"),
    person, place, name (organisation, work, …) or "" (anything else)."""
    head = question.strip()
    for name, pattern in _QTYPES:
        if pattern.search(head):
            if name == "author" and not _ABOUT_ARTICLE.search(head):
                return "person"  # "Who wrote To Kill a Mockingbird?" asks for a person named in the text
            return name
    return ""


def has_type(sentence: str, kind: str, question: str, author: str = "") -> bool:
    """Whether the sentence holds an answer of `kind` that is not already in the question. For "author" that
    is the byline of the sentence's own article (its `author`, as the text gives it)."""
    asked = {w.lower() for w in re.findall(r"[\w$%]+", question)}
    if kind == "author":
        return bool(author) and author in sentence
    if kind == "number":
        found = [m.group(0) for m in _NUMBER_RE.finditer(sentence)]
    elif kind == "date":
        found = [m.group(0) for m in _DATE_RE.finditer(sentence)]
    elif kind in ("person", "place", "name"):
        found = names(sentence)
    else:
        return False
    return any(not set(re.findall(r"[\w$%]+", f.lower())) <= asked for f in found)


def names(text: str) -> list[str]:
    """Capitalised word runs that are names: mid-sentence ones, and sentence-initial ones of two or more words
    that do not start with a function word ("Kim Il Sung" yes, "The" or "But China" no)."""
    found = []
    for m in _NAME_RE.finditer(text):
        tokens = m.group(0).split()
        at_start = m.start() == 0 or text[: m.start()].rstrip().endswith((".", "!", "?", "\u201c", '"'))
        if at_start:
            if tokens[0].lower() in _QUESTION_WORDS or tokens[0].lower() in STOPWORDS:
                tokens = tokens[1:]  # "But Moscow" -> "Moscow"
            elif len(tokens) < 2:
                continue  # a lone capitalised first word is just the start of a sentence
        if tokens:
            found.append(" ".join(tokens))
    return found



_FIGURE_RE = re.compile(r"\d+(?:[.,]\d+)*")


def figures(text: str) -> frozenset[str]:
    """The figures a sentence states ("$240 billion last year" -> {"240"}), commas of thousands removed."""
    return frozenset(f.replace(",", "") for f in _FIGURE_RE.findall(text))


def name_words(text: str) -> frozenset[str]:
    return frozenset(w for n in names(text) for w in n.split())



_FULL_DATE = re.compile(
    rf"\b(?:(?:early|mid|late)[- ])?(?:\d{{1,2}} )?(?:{_MONTHS})(?: \d{{1,2}})?,? \d{{4}}\b|"
    rf"\b(?:{_MONTHS}) \d{{1,2}}\b|\b(?:the )?(?:early |mid-?|late )?\d{{4}}s\b|\b1\d{{3}}\b|\b20\d\d\b|"
    r"\b\d{4}-\d{2}-\d{2}\b", re.I)
_QUANTITY = re.compile(
    r"(?:(?:about|around|over|nearly|almost|more than|less than|some|approximately|roughly|up to) )?"
    r"(?<![\w.,])(?:US)?\$?\d[\d,.]*(?:\s?(?:%|percent|per cent|billion|million|thousand|trillion|hundred)\b)*|"
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"dozens?|hundreds|thousands|millions|billions)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine|hundred|"
    r"thousand|million|billion))*\b", re.I)
_UNIT = re.compile(r"\s?(°[CF]|[A-Za-z]{1,3}\b(?:/[A-Za-z0-9]+)?)")  # 14 °C, 2 GB, 3,000 EJ, 7.0 kWh/m2
def _spans(text: str, kind: str, author: str, asked: set[str] | frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    """Spans of `text` holding an answer of `kind` (`asked`: the question's content words, for the counted
    thing after a number)."""
    if kind == "author":
        at = text.find(author) if author else -1
        return [(at, at + len(author))] if at >= 0 else []
    if kind == "date":
        return [m.span() for m in _FULL_DATE.finditer(text)]
    if kind == "number":
        out = []
        for m in _QUANTITY.finditer(text):
            start, end = m.span()
            raw = text[start:end]
            start += len(raw) - len(raw.lstrip(" ,."))
            end = start + len(raw.strip(" ,."))
            if re.fullmatch(r"(?:1[5-9]|20)\d\d", text[start:end]):
                continue  # a bare year is a date, not an amount
            unit = _UNIT.match(text, end)
            if unit and unit.group(1).lower() not in STOPWORDS and (unit.group(1)[0] == "°" or unit.group(1)[:1].isupper()
                                                                     or unit.group(1) in ("km", "kg", "mph", "cm", "mm")):
                end = unit.end()
            # the counted thing when the question names it: "How many colors?" -> "5 different colors"
            following = re.match(r"(?:\s+[\w-]+){1,3}", text[end:])
            if following and asked:
                for token in reversed(list(re.finditer(r"[\w-]+", following.group(0)))):
                    if set(words(token.group(0))) & asked:
                        end += token.end()
                        break
            out.append((start, end))
        return out
    out = []
    for name in names(text):
        at = text.find(name)
        if at >= 0:
            out.append((at, at + len(name)))
    return out


def short_answer(text: str, author: str, kind: str, question: str) -> str:
    """The span of the quote that answers a question asking for a number, date, person, place, organisation or
    author: of the spans of that kind not already in the question, the one nearest the words the sentence
    shares with the question (answers sit next to what the question mentions). "" when none."""
    if not kind:
        return ""
    asked = {w.lower() for w in re.findall(r"[\w$%]+", question)}
    qwords = set(words(question))
    counted = re.search(r"\bhow many ([\w-]+)", question, re.I)  # "How many colors?" -> colors
    spans = [(s, e) for s, e in _spans(text, kind, author, set(words(counted.group(1))) if counted else set())
             if not set(re.findall(r"[\w$%]+", text[s:e].lower())) <= asked]
    if not spans:
        return ""
    anchors = [m.span() for m in re.finditer(r"[\w'’]+", text) if set(words(m.group(0))) & qwords]
    if not anchors:
        return text[spans[0][0]:spans[0][1]]

    def distance(span: tuple[int, int]) -> int:
        """Characters between the span and the nearest question word outside it."""
        gaps = [span[0] - a_end if a_end <= span[0] else a_start - span[1] for a_start, a_end in anchors
                if a_end <= span[0] or a_start >= span[1]]
        return min(gaps, default=len(text))

    s, e = min(spans, key=distance)
    return text[s:e]
