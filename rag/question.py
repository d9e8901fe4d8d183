"""What a question asks for, and the names, figures and short answers of sentences: rules that hold on any
corpus (no model). The answer kinds (`question_type`) gate which sentences may answer (`has_type`), and
`short_answer` marks the span of a quote that answers a question of a known kind when the reader's span head
is not used (see rag/answerer.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .followup import History, names_nothing, resolve, user_turns
from .lexical import STOPWORDS, words
from .retrieve import check_query

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
_NAME_RE = re.compile(r"\b[A-Z][a-z]+(?:[ -](?:[A-Z]\.|[A-Z][a-z]+))*")
_QUESTION_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "and", "did", "does",
                   "do", "is", "are", "was", "were", "in", "on", "the", "a", "an", "of", "to"}


_ABOUT_ARTICLE = re.compile(r"\b(article|piece|story|report|column|essay|op-ed|editorial|commentary|analysis|"
                            r"this text|the text)\b", re.I)
WH_WORD = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b", re.I)


# ---------------------------------------------------------------- one grammar of dates, times and amounts
# Shared by the answer-kind filter (`has_type`, the scorer's `typed` feature) and the short answers (`_spans`):
# what counts as a date in one counts in the other. Dates: years of any era ("in 821", "1279", "AD 79",
# "500 BC", "c. 1500"), full dates and month-day ("October 23, 2001", "23 October", "Oct. 23"), decades ("the
# 1270s", "early 1600s", "the '60s"), centuries and millennia ("the 11th century", "10th and 11th centuries"),
# ranges ("1271–1368", "from 1405 to 1433"), seasons ("spring of 1943"), eras ("the Tang dynasty"), weekdays,
# times ("3 p.m.", "noon") and relative dates ("yesterday", "last year", "two years later"). Amounts: figures
# and number words, fractions, percentages, money and units; a year is a date, not an amount.

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan\.|Feb\.|Mar\.|Apr\.|Jun\.|Jul\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)")
_ORDINAL = (r"(?:\d{1,2}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|"
            r"twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
            r"twenty-first)")
_ERA = r"(?:AD|A\.D\.|BC|B\.C\.|BCE|B\.C\.E\.|CE|C\.E\.)"
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_SEASON = r"(?i:spring|summer|autumn|winter)"
_COUNT_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
               r"a few|several|a couple of|many|\d+)")
# A year of four digits is not followed by a plural noun or a unit ("1500 soldiers", "2000 km") nor preceded by a
# currency sign.
_NOT_AMOUNT = (r"(?![,.]?\d)(?!\s*(?:%|percent\b|per cent\b|(?:hundred|thousand|million|billion|trillion)\b|(?:km|kg|m|cm|mm|ft|mi|lb|lbs|GB|MB|TB|MW|GW|kW|kWh|mph|t|"
               r"sq)\b|(?!(?:was|is|has|as|its|his|this|thus|us|always|whereas|plus|towards|afterwards|series|across|"
               r"because|less|unless|yes|perhaps|nevertheless|besides|christmas|does|goes)\b)[a-z]+s\b))")
_DATE_PATTERNS = [
    # full dates, month-day and month-year: "October 23, 2001", "23 October 2001", "Oct. 23", "May 1998"
    re.compile(rf"\b{_MONTH}(?:\s+\d{{1,2}}(?:st|nd|rd|th)?\b)?(?:,?\s+\d{{3,4}}\b)?(?:\s*{_ERA})?"),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{3,4}}\b)?"),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})\b"),
    # years: 1000-2099 standing alone, any year with an era, and years of three digits after "in", "since", …
    re.compile(rf"(?<![$£€¥\d.,])\b(?:1\d{{3}}|20\d\d)\b(?:\s*{_ERA}(?![\w.]))?{_NOT_AMOUNT}"),
    re.compile(rf"\b(?:AD|A\.D\.)\s?\d{{1,4}}\b|(?<![$£€¥\d.,])\b\d{{1,4}}(?:,\d{{3}})?\s?{_ERA}(?![\w])"),
    re.compile(rf"(?i:\b(?:in|since|until|till|circa|c\.|ca\.|the year|year|before|after|during|around|by|from)\s+)"
               rf"(?P<d>\d{{3}})\b{_NOT_AMOUNT}"),
    # decades and centuries
    re.compile(r"\b(?:(?i:early|mid|late)[\s-]+|mid-)?(?:1\d|20)\d0s\b|'\d0s\b"),
    re.compile(rf"(?i:\b(?:(?:early|mid|late)[\s-]+)?{_ORDINAL}(?:\s*(?:and|or|to|-|–)\s*{_ORDINAL})?[\s-]+"
               rf"(?:centur(?:y|ies)|millenni(?:um|a))(?:\s*{_ERA})?)"),
    # seasons, eras, weekdays, times of day
    re.compile(rf"\b(?i:early\s+|late\s+|mid-)?{_SEASON}(?:\s+of)?\s+(?:1\d{{3}}|20\d\d)\b|(?i:\bin\s+(?:the\s+)?)(?P<d>{_SEASON}(?:\s+of\s+(?:1\d{{3}}|20\d\d))?)\b"),
    re.compile(r"\b(?:the\s+)?[A-Z][\w'-]+\s+(?:[A-Z][\w'-]+\s+)?(?i:dynasty|era|period|age|reign)\b"),
    re.compile(rf"\b{_WEEKDAY}\b"),
    re.compile(r"\b\d{1,2}(?::\d{2})?\s?(?i:a\.m\.|p\.m\.|am\b|pm\b)|\b\d{1,2}:\d{2}\b|(?i:\bnoon\b|\bmidnight\b)"),
    # relative dates
    re.compile(r"(?i:\b(?:yesterday|today|tomorrow|tonight|nowadays|recently|currently)\b|"
               r"\b(?:last|next|this|previous|following|same|that)\s+(?:year|month|week|decade|century|spring|summer|"
               r"autumn|winter|weekend|day|night|morning|evening)\b|\bday before\b|"
               rf"\b{_COUNT_WORD}\s+(?:years?|months?|weeks?|days?|decades?|centuries|hours?)\s+(?:later|earlier|ago|"
               r"before|after)\b)"),
]
_RANGE_TAIL = re.compile(rf"\s*(?:–|—|-|/|to|until|and|through)\s*(?:\d{{1,4}}(?:s\b)?(?:\s*{_ERA}(?![\w]))?|{_MONTH}"
                         rf"(?:\s+\d{{1,2}})?(?:,?\s+\d{{4}})?)\b")
_YEARISH = re.compile(r"\d{3,4}(?:s)?$|\b(?:AD|BC|BCE|CE)$|\d{1,2}$")


def date_spans(text: str) -> list[tuple[int, int]]:
    """The spans of `text` that state a date, a time or a period (the grammar above), overlapping ones merged and
    a range kept whole ("1271–1368", "from 1405 to 1433": one span)."""
    return list(_date_spans(text))


@functools.lru_cache(maxsize=20_000)
def _date_spans(text: str) -> tuple[tuple[int, int], ...]:
    # cached: a question reads the dates of each candidate sentence several times (features, rules, conditions,
    # short answers), and sentences come back from question to question
    found = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            found.append(m.span("d") if "d" in pattern.groupindex and m.group("d") else m.span())
    found.sort()
    merged: list[list[int]] = []
    for s, e in found:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            continue
        if merged and _YEARISH.search(text[merged[-1][0]:merged[-1][1]]) and \
                re.fullmatch(r"\s*(?:–|—|-|/|to|until|and|through)\s*", text[merged[-1][1]:s]):
            merged[-1][1] = max(merged[-1][1], e)  # "1405 to 1433", "10th and 11th centuries"
            continue
        merged.append([s, e])
    out = []
    for s, e in merged:
        tail = _RANGE_TAIL.match(text, e)
        if tail and _YEARISH.search(text[s:e]) and re.search(r"\d", tail.group(0)) and \
                not re.match(r"\s*and\s+\d", tail.group(0)):
            e = tail.end()  # "821–822", "1368-1644"
        out.append((s, e))
    return tuple(out)


_QUANTITY = re.compile(
    r"(?:(?:about|around|over|nearly|almost|more than|less than|fewer than|some|approximately|roughly|up to|at least|"
    r"at most) )?"
    r"(?:(?<![\w.,])(?:US|A|C|HK|NZ)?[$£€¥₹]\s?\d[\d,.]*(?:\s?(?:billion|million|thousand|trillion|bn|mn|m|k)\b)?|"
    r"(?<![\w.,])\d[\d,.]*(?:\s?/\s?\d+)?(?:\s?(?:%|percent|per cent|billion|million|thousand|trillion|hundred|"
    r"dozen)\b|%)*|"
    r"\b(?:two-thirds|three-quarters|one-third|one-half|one-quarter|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|a hundred|"
    r"a thousand|a million|a dozen|dozens?|hundreds|thousands|millions|billions|half|a half|a third|a quarter)(?:[- ](?:one|two|three|four|five|six|seven|eight|"
    r"nine|hundred|thousand|million|billion|percent|per cent|thirds?|quarters?|halves))*\b)", re.I)
_UNIT = re.compile(r"\s?(°[CF]|[A-Za-z]{1,3}\b(?:/[A-Za-z0-9]+)?)")  # 14 °C, 2 GB, 3,000 EJ, 7.0 kWh/m2


def number_spans(text: str, dates: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """The spans of `text` that state an amount (the grammar above), outside its dates."""
    if dates is None:
        return list(_number_spans(text))
    return _amounts(text, dates)


@functools.lru_cache(maxsize=20_000)
def _number_spans(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(_amounts(text, _date_spans(text)))


def _amounts(text: str, dates: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    out = []
    for m in _QUANTITY.finditer(text):
        start, end = m.span()
        raw = text[start:end]
        start += len(raw) - len(raw.lstrip(" ,."))
        end = start + len(raw.strip(" ,."))
        if end <= start or any(s <= start and end <= e for s, e in dates):
            continue  # a year, a date's day: a date, not an amount
        if any(s < end and start < e for s, e in dates) and not re.search(r"[$£€¥%]|percent|million|billion", text[start:end]):
            continue
        out.append((start, end))
    return out


# A clause that opens the question before the one that asks ("When the bridge fell, who was mayor?").
_LEADING_CLAUSE = re.compile(r"^\s*(?:when|if|while|after|before|once|since|as|although|though)\b[^,?]*,\s*(?=\S)", re.I)
# Words that open a subordinate clause after the one that asks ("Who was mayor when the bridge fell?"): the kind
# of answer is read from the text before them.
_SUBORDINATE = re.compile(r"[,;]?\s+\b(?:when|while|where|whereas|after|before|until|since|because|if|although|"
                          r"though|whose|whom|who|which|that|as soon as|once)\b", re.I)


def asking_clause(question: str) -> str:
    """The clause of the question that asks: without a leading clause, and cut at the first subordinate clause
    after its question word ("Who was mayor when the bridge collapsed?" -> "Who was mayor"; "When did the
    Ming, who ruled China, fall?" -> "When did the Ming"). A question with no question word is kept whole."""
    text = question.strip()
    lead = _LEADING_CLAUSE.match(text)
    if lead and WH_WORD.search(text, lead.end()):
        text = text[lead.end():]
    wh = WH_WORD.search(text)
    if wh is None:
        return text
    # the question word's own phrase ("in which year", "what city") stays; cut after it
    head_end = wh.end()
    phrase = re.match(r"\s+\w+", text[head_end:])
    if phrase:
        head_end += phrase.end()
    cut = _SUBORDINATE.search(text, head_end)
    return text[: cut.start()] if cut else text


# The asks that want an amount or a date and nothing else ("How many…?", "In what year…?"), unlike "when" (a
# condition, a period, an event) or "how long" (a while, a lifetime): what the "amount" rule keys on.
_STRICT_ASK = re.compile(r"\b(how (many|much)|what (percentage|percent|share|proportion|fraction)|"
                         r"(what|which) (year|century|decade)|in (what|which) (year|century|decade))\b", re.I)


def strict_kind(question: str) -> bool:
    """Whether the clause that asks wants an amount or a date and nothing else ("How many…?", "What year…?")."""
    return bool(_STRICT_ASK.search(asking_clause(question)))


def question_type(question: str) -> str:
    """The kind of answer asked for, read from the clause that asks (`asking_clause`): number, date, author (of
    an article: "Who wrote the article about…"), person, place, name (organisation, work, …) or "" (anything
    else). Of the kinds the clause names, the one named first ("Who was mayor when…?" asks for a person)."""
    head = asking_clause(question)
    found = []
    for order, (name, pattern) in enumerate(_QTYPES):
        m = pattern.search(head)
        if m:
            found.append((m.start(), order, name))
    if not found:
        return ""
    _, _, name = min(found)
    if name == "person":
        author = _QTYPES[2][1].search(head)
        if author and author.start() <= min(found)[0] + 4:
            name = "author"
    if name == "author" and not _ABOUT_ARTICLE.search(head):
        return "person"  # "Who wrote To Kill a Mockingbird?" asks for a person named in the text
    return name


def has_type(sentence: str, kind: str, question: str | Asked, author: str = "") -> bool:
    """Whether the sentence holds an answer of `kind` that is not already in the question (its text, or the
    question as `parse` read it). For "author" that is the byline of the sentence's own article (its `author`, as
    the text gives it)."""
    asked = _parsed(question).tokens
    if kind == "author":
        return bool(author) and author in sentence
    if kind == "number":
        found = [sentence[s:e] for s, e in number_spans(sentence)]
    elif kind == "date":
        found = [sentence[s:e] for s, e in date_spans(sentence)]
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



def _spans(text: str, kind: str, author: str, asked: set[str] | frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    """Spans of `text` holding an answer of `kind` (`asked`: the question's content words, for the counted
    thing after a number)."""
    if kind == "author":
        at = text.find(author) if author else -1
        return [(at, at + len(author))] if at >= 0 else []
    if kind == "date":
        return date_spans(text)
    if kind == "number":
        out = []
        for start, end in number_spans(text):
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


def short_answer(text: str, author: str, kind: str, question: str | Asked) -> str:
    """The span of the quote that answers a question asking for a number, date, person, place, organisation or
    author: of the spans of that kind not already in the question, the one nearest the words the sentence
    shares with the question (answers sit next to what the question mentions). "" when none."""
    if not kind:
        return ""
    q = _parsed(question)
    asked, qwords = q.tokens, q.words
    spans = [(s, e) for s, e in _spans(text, kind, author, q.counted)
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


# ---------------------------------------------------------------- the question's conditions against an answer

def _year_tokens(text: str) -> list[str]:
    """The years a text states (as written: "2019", "821" in "in 821"), from its date spans."""
    out = []
    for s, e in date_spans(text):
        out += [m.group(0) for m in re.finditer(r"(?<![\d,.])\d{3,4}(?!\d|,\d)", text[s:e])]
    return out


CONDITIONS = ("year", "number", "name")
_CAPITALISED = re.compile(r"(?<![\w'’])(?:[^\W\d_][\w'’-]*)")


def _near(word: str, found: set[str]) -> bool:
    """The word, or (for words of 4+ letters) one typo away from it ("Kuper" for "Kuiper"), is in `found`."""
    if word in found:
        return True
    if len(word) < 4:
        return False
    for other in found:
        if abs(len(other) - len(word)) > 1 or other[:1] != word[:1] and other[-1:] != word[-1:]:
            continue
        a, b = (word, other) if len(word) <= len(other) else (other, word)
        i = 0
        while i < len(a) and a[i] == b[i]:
            i += 1
        if a[i + (len(a) == len(b)):] == b[i + 1:]:
            return True
    return False


def _asked_names(question: str) -> list[str]:
    """The names a question names: runs of capitalised words of any script ("Darüşşafaka", "Kublai Khan"), not
    its first word nor question or function words."""
    out: list[str] = []
    run: list[str] = []
    prev_end = 0
    for n, m in enumerate(_CAPITALISED.finditer(question)):
        word = m.group(0).strip("'’-")
        abbreviation = len(word) <= 3 and word.isupper() or question[m.end():m.end() + 1] in ("/", ".")
        if n > 0 and word[:1].isupper() and not abbreviation and word.lower() not in _QUESTION_WORDS \
                and word.lower() not in STOPWORDS:
            if run and question[prev_end:m.start()].strip():
                out.append(" ".join(run))
                run = []
            run.append(word)
        elif run:
            out.append(" ".join(run))
            run = []
        prev_end = m.end()
    if run:
        out.append(" ".join(run))
    return out


def unmet_condition(question: str | Asked, sentence: str, window: str, passage: str, title: str = "",
                    kinds: tuple[str, ...] | frozenset[str] = ("year",),
                    elsewhere: str | Callable[[], str] = "") -> tuple[str, str, str] | None:
    """A condition of the question that the answer's sentence, its neighbours (`window`), its passage and its
    article's title all lack, while the sentence or the passage gives another of its kind: the answer is about
    something else. Of `kinds`: "year" ("What was the revenue in 2019?" over a passage about 2022), "number" (a
    figure the question names: "the 30 teams" over a passage about 20 teams), "name" (a name the question names:
    "When was Diamonds Aren't Forever released?" over a passage about another film; a name is unmet only when the
    other retrieved passages and the article's byline and publication, `elsewhere`, lack it too: the answer of a
    two-hop question sits beside the name's own passage; so for years and figures). `elsewhere` may be a function
    that makes that text: it is called only when the answer's own text lacks a condition. Returns (the kind, what
    the question asks for, what the answer gives instead: the sentence's own, else the passage's), or None."""
    q = _parsed(question)
    where = f"{sentence} {window} {passage} {title}"
    beyond = functools.cache(elsewhere if callable(elsewhere) else lambda: elsewhere)  # made once, when needed

    if "year" in kinds:
        asked = q.years

        def stated(y: str, text: str) -> bool:
            return bool(re.search(rf"(?<![\d,.]){re.escape(y)}(?!\d|,\d)", text))

        missing = [y for y in dict.fromkeys(asked) if not stated(y, where) and not stated(y, beyond())]
        for text in (sentence, passage) if missing else ():
            given = [text[s:e] for s, e in date_spans(text) if text[s:e] not in missing]
            if given:
                return "year", missing[0], given[0]
    if "number" in kinds:
        asked_figures = q.amounts
        have = figures(where)
        missing = [f for f in asked_figures if figures(f) and not figures(f) <= have]
        if missing:
            have |= figures(beyond())
            missing = [f for f in missing if not figures(f) <= have]
        for text in (sentence, passage) if missing else ():
            given = [text[s:e] for s, e in number_spans(text) if figures(text[s:e]) and not figures(text[s:e]) & q.figures]
            if given:
                return "number", missing[0], given[0]
    if "name" in kinds:
        found = set(words(where))
        asked_names = q.conditions_names
        missing = [n for n, w in asked_names if not all(_near(x, found) for x in w)]
        if missing:
            found |= set(words(beyond()))
            missing = [n for n, w in asked_names if n in missing and not all(_near(x, found) for x in w)]
        for text in (sentence, passage) if missing else ():
            dates = " ".join(text[s:e] for s, e in date_spans(text))
            given = [n for n in names(text) if not set(words(n)) & q.words and n not in dates]
            if given:
                return "name", missing[0], given[0]
    return None


# ---------------------------------------------------------------- the question, read once

_QUESTION_FUNCTION = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "and", "did", "does",
                      "do", "is", "are", "was", "were", "in", "on", "the", "a", "an", "of", "to", "name", "list",
                      "give", "tell", "according", "besides", "other", "than", "after", "before", "during"}
_NUM_RE = re.compile(r"\b(\d[\d,.]*\d|\d)(?:st|nd|rd|th|s)?\b")
_CAPITAL_RE = re.compile(r"(?<![\w'’])[A-Z][\w'’.-]*")
_WH = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b")
_COUNTED = re.compile(r"\bhow many ([\w-]+)", re.I)  # "How many colors?" -> colors
_ABOUT_ARTICLE_WORDS = frozenset(words("author authored wrote written writer article piece story published"))


def question_numbers(question: str) -> list[str]:
    """Numbers and years the question is conditioned on ("in 2021", "the 3rd edition" -> ["2021", "3"])."""
    return [m.group(1).rstrip(".,") for m in _NUM_RE.finditer(question)]


def question_names(question: str) -> list[str]:
    """Capitalised words of the question other than its first word and question words ("Who founded Apple
    in California?" -> ["Apple", "California"])."""
    text = question.strip()
    out = []
    for m in _CAPITAL_RE.finditer(text):
        if m.start() == 0:
            continue
        word = m.group(0).strip(".'’-")
        if word and word.lower() not in _QUESTION_FUNCTION and word.lower() not in STOPWORDS:
            out.append(word)
    return out


@dataclass(frozen=True)
class Asked:
    """One text of a question, read once by `parse`: what the kind filter (`has_type`), the short answers and the
    conditions (`unmet_condition`) compare sentences against."""

    text: str
    clause: str  # the clause that asks (`asking_clause`)
    strict: bool  # it wants an amount or a date and nothing else (`strict_kind`)
    tokens: frozenset[str]  # its lower-case tokens ([\w$%]+): what is "already in the question"
    words: frozenset[str]  # its content words, stemmed
    counted: frozenset[str]  # the counted thing of "how many X", stemmed
    years: tuple[str, ...]  # the years it names, of the asking clause first
    amounts: tuple[str, ...]  # the amounts it names, as written
    figures: frozenset[str]  # the figures in it (`figures`)
    conditions_names: tuple[tuple[str, list[str]], ...]  # the names it names (`_asked_names`), with their words
    names: tuple[tuple[str, list[str]], ...]  # its capitalised words (`question_names`), with their stemmed words
    numbers: tuple[str, ...]  # `question_numbers`
    wh: str  # its first question word, lower-case ("" when none)


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Asked:
    """`text` read once (cached: a question's texts are read again by every sentence it is compared with)."""
    clause = asking_clause(text)
    counted = _COUNTED.search(text)
    wh = _WH.search(text.lower())
    return Asked(
        text=text, clause=clause, strict=bool(_STRICT_ASK.search(clause)),
        tokens=frozenset(w.lower() for w in re.findall(r"[\w$%]+", text)),
        words=frozenset(words(text)),
        counted=frozenset(words(counted.group(1))) if counted else frozenset(),
        years=tuple(_year_tokens(clause + " " + text)),
        amounts=tuple(text[s:e] for s, e in number_spans(text)),
        figures=figures(text),
        conditions_names=tuple((n, w) for n in _asked_names(text) if (w := words(n))),
        names=tuple((n, words(n)) for n in question_names(text)),
        numbers=tuple(question_numbers(text)),
        wh=wh.group(1) if wh else "",
    )


def _parsed(question: str | Asked) -> Asked:
    return question if isinstance(question, Asked) else parse(question)


@dataclass(frozen=True)
class Question:
    """A question as the answerer reads it, once, before it searches (`read`): the user's turn, what is searched
    for it, the kind of answer asked for, and the texts the features, the rules and the reader read. From here on
    the answer's steps take this object, not the question's text."""

    turn: Asked  # the user's turn
    query: str  # what is searched: the turn, or a follow-up merged with the earlier turns it depends on
    used: tuple[str, ...]  # those earlier turns, oldest first
    typed: Asked  # what the kind of answer and the sentences' kinds are read against (the turn with `used`)
    kind: str  # `question_type`: number, date, author, person, place, name or ""
    focus: str  # what the word features read: the turn's own words and the earlier turns' names, or the query
    qwords: frozenset[str]  # the focus's content words, stemmed (for an author question, less the words
    # about the article itself, which its sentences do not contain)
    for_reader: str  # the question as the reader reads it (`Question.reader_text`)

    @property
    def text(self) -> str:
        return self.turn.text

    def hop(self, bridge: str) -> Question:
        """The second hop's question: the query with the best sentence of the first (`bridge`), its words the
        focus; the kind and the conditions stay the turn's."""
        query = f"{self.query} {bridge}"
        return replace(self, query=query, typed=self.turn, focus=query, qwords=_focus_words(query, self.kind, self.turn))


def _focus_words(focus: str, kind: str, turn: Asked) -> frozenset[str]:
    """The content words of `focus` (the turn's own, already read, when the focus is the turn)."""
    found = turn.words if focus == turn.text else frozenset(words(focus))
    return found - _ABOUT_ARTICLE_WORDS if kind == "author" else found


def read(question: str, history: History | None, k: int, *, force: bool = False) -> Question:
    """The question checked (`check_query`), resolved against the conversation (`followup.resolve`; `force`:
    merge even a question that does not look like a follow-up) and read once (`parse`)."""
    question = check_query(question, k)
    query, used = resolve(question, history, force=force)
    turn = parse(question)
    kind = question_type(question)
    typed = turn
    if used:  # "And what about Iran?" keeps the kind of answer and the conditions of the earlier turns
        typed = parse(" ".join([*used, question]))
        if not kind and not WH_WORD.search(question):  # "What prize?" asks its own kind
            kind = question_type(used[-1])
    focus = query
    if question != query and len(turn.words) >= 2:
        earlier = " ".join(n for n, _ in typed.names if n not in question)
        focus = f"{question} {earlier}".strip()
    return Question(turn, query, tuple(used), typed, kind, focus, _focus_words(focus, kind, turn),
                    _reader_text(question, query, turn))


def _reader_text(question: str, query: str, turn: Asked) -> str:
    """The question as the reader reads it: the turn itself, and for a follow-up ("how many books does it
    hold?") the turn with the names of the earlier turns it was merged with."""
    if query == question:
        return question
    if len(turn.words) < 2:  # "And?", "How many?": the merged query is the question
        return query
    earlier = [n for n, _ in parse(query).names if n not in question]
    return f"{question} ({' '.join(dict.fromkeys(earlier))})" if earlier else question


def merged_follow_up(q: Question, history: History | None) -> bool:
    """A turn of a conversation that was not merged with it and names nothing of its own ("what is the point of
    the project?" after questions about a library): worth reading with the conversation too."""
    return q.query == q.text and bool(user_turns(history)) and names_nothing(q.text)
