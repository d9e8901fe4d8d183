"""The extractive answerer: evidence first, no generative model.

1. The sentences of the retrieved passages are the candidates (their embeddings were computed at index
   time, so only the question is embedded now).
2. The learned evidence scorer (rag/scorer.py, features in rag/features.py, trained on public QA data with
   article-level splits by evals/train_scorer.py) gives each the probability that it answers the question.
3. The best sentence answers; a second or third is added when it scores nearly as well (>= RATIO of the
   best) and does not repeat one already chosen. When the best sentence does not hold the kind of answer
   asked for, a second hop (`Assistant._second_hop`) searches again with the question and that sentence
   and may add one quote from another article (two-hop questions: "the director of film X was born where?").
4. Below the abstention threshold (the scorer's default, chosen on held-out articles for at most 5% false
   refusals; or Settings.abstain_threshold) the answer is the abstention sentence, followed by the closest
   passage cited as not an answer.
5. For a question asking for a number, date, person, place or organisation, `short_answer` picks the span of
   the top quote that answers it.

Every sentence of the answer is an exact quote of a cleaned article with its offsets, cited as [n].
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .lexical import STOPWORDS, words
from .prompts import ABSTAIN_TEXT, CLOSEST_TEXT
from .snapshot import Snapshot
from .types import Citation, Passage

# A further sentence joins the answer when its probability is at least this share of the best. Chosen on
# out-of-fold predictions over the scorer's training articles (leave one article out; never the held-out
# ones): share of answerable questions with the answer in the quoted text 1.0 -> 0.739, 0.8 -> 0.758,
# 0.6 -> 0.778 with 1.18 sentences on average, 0.4 -> 0.803 with 1.35: 0.6 keeps answers short.
RATIO = 0.6
MAX_SENTENCES = 3
SAME_SENTENCE = 0.8  # cosine above which a near-duplicate article's sentence "says the same"

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


@dataclass
class Candidate:
    doc_id: str
    start: int
    end: int
    text: str
    passage: Passage
    rank: int
    score: float = 0.0
    typed: bool = False
    vector: np.ndarray | None = None


def candidates(snap: Snapshot, passages: list[Passage]) -> list[Candidate]:
    out: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    for rank, p in enumerate(passages, 1):
        # The passage's own chunk, then the near-duplicate chunks merged into it: a sentence only a
        # translation or summary has (a photo caption, say) stays quotable.
        for chunk_id in (p.chunk_id, *p.merged):
            rec = snap.chunk(chunk_id)
            if rec is None:
                continue
            doc_id = rec.doc_id
            text = snap.texts[doc_id]
            chunk_passage = p if chunk_id == p.chunk_id else replace(
                p, doc_id=doc_id, chunk_id=chunk_id, title=snap.title(doc_id), text=snap.chunk_text(rec),
                start=rec.start, end=rec.end, also_in=(p.doc_id,), merged=(),
            )
            for start, end in rec.sentences:
                if (doc_id, start) in seen:
                    continue
                seen.add((doc_id, start))
                vector = snap.sentence_vector(doc_id, start)
                out.append(Candidate(doc_id, start, end, text[start:end], chunk_passage, rank, vector=vector))
    return out


def score(cands: list[Candidate], snap: Snapshot, qvec: np.ndarray, query: str, kind: str, type_question: str,
          scorer: Any, pieces: Any = None, question: str | None = None) -> np.ndarray:
    """Give each candidate the scorer's probability that it answers (`score`); returns the feature matrix.
    `question`: the turn as asked, when `query` merged it with earlier turns."""
    from . import features

    qinfo = features.question_info(snap, query, kind, type_question, pieces, question)
    x = features.matrix(snap, cands, qvec, qinfo, pieces, has_type)
    probs = scorer.probabilities(x) if len(cands) and scorer is not None else [0.0] * len(cands)
    col = {name: i for i, name in enumerate(features.FEATURES)}
    for c, p, row in zip(cands, probs, x, strict=True):
        c.score = float(p)
        c.typed = bool(row[col["typed"]])
    if kind == "author":
        # "Who wrote the article about X?" describes the article, not its byline, and the public training data
        # asks no such question: a sentence holding the article's byline scores as well as the best sentence
        # of its article (which is what the question describes).
        best: dict[str, float] = {}
        for c in cands:
            best[c.doc_id] = max(best.get(c.doc_id, 0.0), c.score)
        for c in cands:
            if c.typed:  # (a hair above, so that a byline goes first among equals)
                c.score = min(1.0, max(c.score, best[c.doc_id]) + 1e-6)
    return x


def select(cands: list[Candidate], kind: str = "") -> list[Candidate]:
    """The best sentence, plus up to two more that score nearly as well (>= RATIO of the best) and do not say
    the same as one already chosen (and, when a kind of answer was asked for, hold one too)."""
    if not cands:
        return []
    ranked = sorted(cands, key=lambda c: -c.score)
    chosen = [ranked[0]]
    for c in ranked[1:]:
        if len(chosen) >= MAX_SENTENCES or c.score < RATIO * ranked[0].score:
            break
        redundant = any(
            c.vector is not None and o.vector is not None and float(c.vector @ o.vector) >= SAME_SENTENCE for o in chosen
        )
        if not redundant and (c.typed or not kind) and kind != "author":
            chosen.append(c)
    # In reading order within an article, articles in rank order: the answer reads naturally.
    return sorted(chosen, key=lambda c: (c.rank, c.start))


def prefer_originals(snap: Snapshot, chosen: list[Candidate], cands: list[Candidate]) -> list[Candidate]:
    """A quote from a near-duplicate copy (a translation, a summary) is replaced by the sentence of its group's
    original that says the same (and states the same figures: a "copy" that changed them says something else),
    when that sentence is a candidate too: cite the original, name copies in `also_in`."""
    out: list[Candidate] = []
    for c in chosen:
        meta = snap.docs.get(c.doc_id, {})
        if meta.get("dup_role") == "derived" and c.vector is not None:
            same = [o for o in cands if o.vector is not None and o.doc_id != c.doc_id
                    and snap.docs.get(o.doc_id, {}).get("dup_role") == "original"
                    and snap.docs[o.doc_id].get("dup_group") == meta.get("dup_group")
                    and float(o.vector @ c.vector) >= SAME_SENTENCE and figures(o.text) == figures(c.text)]
            if same:
                best = max(same, key=lambda o: float(o.vector @ c.vector))  # type: ignore[operator]
                c = replace(best, score=max(best.score, c.score), typed=best.typed or c.typed)
        if all((c.doc_id, c.start) != (o.doc_id, o.start) for o in out):
            out.append(c)
    return out


_FIGURE_RE = re.compile(r"\d+(?:[.,]\d+)*")


def figures(text: str) -> frozenset[str]:
    """The figures a sentence states ("$240 billion last year" -> {"240"}), commas of thousands removed."""
    return frozenset(f.replace(",", "") for f in _FIGURE_RE.findall(text))


def rivals(chosen: list[Candidate], cands: list[Candidate]) -> list[tuple[Candidate, Candidate]]:
    """Sources that contradict an answer: for each chosen sentence, the best-scored candidate of another article
    that says nearly the same (cosine >= SAME_SENTENCE) about the same names with other figures ("$573 billion"
    against "$240 billion"; not "X was born in 1950" against "Y was born in 1952"). Shown beside it, so that a
    planted or mistaken article cannot quietly replace what the others say. Near-duplicate copies count too: a copy that changed the figures is not a copy of them (and an article
    stitched from others' sentences is grouped with them, see SECURITY.md)."""
    out: list[tuple[Candidate, Candidate]] = []
    taken = {(c.doc_id, c.start) for c in chosen}
    for c in chosen:
        mine = figures(c.text)
        if c.vector is None or not mine:
            continue
        who = set(names(c.text))
        against = [o for o in cands if o.vector is not None and (o.doc_id, o.start) not in taken
                   and o.doc_id != c.doc_id and float(o.vector @ c.vector) >= SAME_SENTENCE
                   and figures(o.text) and figures(o.text) != mine and set(names(o.text)) == who]
        if against:
            best = max(against, key=lambda o: o.score)
            taken.add((best.doc_id, best.start))
            out.append((c, best))
    return out


DISAGREE_SIMILAR = 0.7  # cosine above which two quotes of one answer are read as the same statement (not tuned)


def name_words(text: str) -> frozenset[str]:
    return frozenset(w for n in names(text) for w in n.split())


def disagreements(chosen: list[Candidate]) -> list[tuple[int, int]]:
    """Pairs (1-based citation numbers) of an answer's quotes from different articles that make nearly the same
    statement (cosine >= DISAGREE_SIMILAR) with other figures ("23 percent" / "90 percent"), or with other names
    where neither quote's names hold the other's ("Dmitry Medvedev" / "Dmitry Lloyd Austin"; not "Xi" /
    "Xi Jinping"). The answer then says that its sources disagree."""
    out = []
    for i, a in enumerate(chosen):
        for j in range(i + 1, len(chosen)):
            b = chosen[j]
            if a.doc_id == b.doc_id or a.vector is None or b.vector is None or float(a.vector @ b.vector) < DISAGREE_SIMILAR:
                continue
            fa, fb = figures(a.text), figures(b.text)
            na, nb = name_words(a.text), name_words(b.text)
            if (fa and fb and fa != fb) or (na and nb and not na <= nb and not nb <= na):
                out.append((i + 1, j + 1))
    return out


def also_in(snap: Snapshot, c: Candidate) -> tuple[str, ...]:
    """Near-duplicate articles (from the passage's also_in and the doc's group) holding a sentence that says
    the same as the quote."""
    if c.vector is None:
        return ()
    group = snap.docs[c.doc_id].get("dup_group", "")
    others = set(c.passage.also_in) | set(snap.group_members(group))
    found = []
    for doc_id in sorted(others - {c.doc_id}):
        vectors = snap.doc_sentences(doc_id).vectors
        if len(vectors) and float((vectors @ c.vector).max()) >= SAME_SENTENCE:
            found.append(doc_id)
    return tuple(found)


def page_of(pages: str, offset: int) -> int:
    """The page an offset of a PDF's text lies on, from its record's page starts (JSON [[offset, page], …]);
    0 for articles without pages."""
    if not pages:
        return 0
    starts = json.loads(pages)
    page = 0
    for start, number in starts:
        if start > offset:
            break
        page = number
    return page


def cite(snap: Snapshot, chosen: list[Candidate]) -> tuple[str, list[Citation]]:
    parts, citations = [], []
    for number, c in enumerate(chosen, 1):
        meta = snap.docs[c.doc_id]
        citations.append(
            Citation(
                number=number,
                doc_id=c.doc_id,
                title=snap.title(c.doc_id),
                author=meta.get("author", ""),
                date=meta.get("date", ""),
                quote=c.text,
                passage=c.passage.text,
                start=c.start,
                end=c.end,
                score=round(c.score, 4),
                also_in=also_in(snap, c),
                page=page_of(meta.get("pages", ""), c.start),
            )
        )
        parts.append(f"{c.text} [{number}]")
    return " ".join(parts), citations


def abstention(snap: Snapshot, cands: list[Candidate]) -> tuple[str, list[Citation]]:
    """The abstention sentence, and the closest passage (the best candidate's) cited as not an answer."""
    if not cands:
        return ABSTAIN_TEXT, []
    best = max(cands, key=lambda c: c.score)
    _, citations = cite(snap, [best])
    closest = replace(citations[0], not_answer=True)
    return f"{ABSTAIN_TEXT} {CLOSEST_TEXT.format(title=closest.title)}", [closest]


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


def short_answer(c: Candidate, kind: str, question: str) -> str:
    """The span of the quote that answers a question asking for a number, date, person, place, organisation or
    author: of the spans of that kind not already in the question, the one nearest the words the sentence
    shares with the question (answers sit next to what the question mentions). "" when none."""
    if not kind:
        return ""
    text = c.text
    asked = {w.lower() for w in re.findall(r"[\w$%]+", question)}
    qwords = set(words(question))
    counted = re.search(r"\bhow many ([\w-]+)", question, re.I)  # "How many colors?" -> colors
    spans = [(s, e) for s, e in _spans(text, kind, c.passage.author, set(words(counted.group(1))) if counted else set())
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
