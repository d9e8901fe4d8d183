"""The extractive answerer: evidence first, no generative model.

1. The sentences of the retrieved passages are the candidates (their embeddings were computed at index
   time, so only the question is embedded now).
2. Each gets a score: cosine with the question (weight W_SEM) + the IDF-weighted share of the question's
   content words it contains (W_LEX) + a bonus when it holds the kind of answer asked for and the question
   does not already contain it — a number for "how much", a date for "when", a name for "who"/"where"
   (W_TYPE) + a small prior for the passage's rank (W_RANK). Sentences missing the asked-for kind are
   scaled by TYPE_MISS.
3. The best sentence answers; a second or third is added when it scores nearly as well (>= RATIO of the
   best) and covers question words the first does not (lists, "respectively").
4. Below the threshold (Settings.abstain_threshold, calibrated on evals/questions.jsonl, curve in
   evals/README.md) the answer is the fixed abstention sentence.

Every sentence of the answer is an exact quote of a cleaned article with its offsets, cited as [n].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from .lexical import STOPWORDS, words
from .snapshot import Snapshot
from .types import Citation, Passage

W_SEM, W_LEX, W_TYPE, W_RANK = 0.5, 0.35, 0.12, 0.03
TYPE_MISS = 0.65
UNKNOWN_ENTITY = 0.5  # the question names something (a capitalised word) that no article mentions
RATIO = 0.92
MAX_SENTENCES = 3
SAME_SENTENCE = 0.8  # cosine above which a near-duplicate article's sentence "says the same"

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_QTYPES = [
    ("number", re.compile(r"\b(how (much|many|large|big|long|old|fast)|what (share|percentage|percent|proportion|fraction|amount|number|sum)|(growth|interest|exchange|inflation) rate)\b", re.I)),
    ("date", re.compile(r"\b(when|what (year|month|day|date|time)|in (what|which) (year|month)|on what date|what date)\b", re.I)),
    ("author", re.compile(r"\b(who (wrote|authored|is the author|was the author)|author of|written by|whose article)\b", re.I)),
    ("person", re.compile(r"\b(who|whom|whose)\b", re.I)),
    ("place", re.compile(r"\b(where|which (country|city|place|region|countries)|what (country|city|place))\b", re.I)),
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


def question_type(question: str) -> str:
    head = question.strip()
    for name, pattern in _QTYPES:
        if pattern.search(head):
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
    elif kind in ("person", "place"):
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


def unknown_entities(question: str, vocabulary: dict[str, float]) -> list[str]:
    """Capitalised words of the question that no indexed article contains (e.g. a country never mentioned)."""
    out = []
    for m in re.finditer(r"(?<!^)\b[A-Z][A-Za-z]+\b", question.strip()):
        word = m.group(0)
        if word.lower() in _QUESTION_WORDS:
            continue
        stemmed = words(word)
        if stemmed and all(w not in vocabulary for w in stemmed):
            out.append(word)
    return out


@dataclass
class Candidate:
    doc_id: str
    start: int
    end: int
    text: str
    passage: Passage
    rank: int
    score: float = 0.0
    sem: float = 0.0
    lex: float = 0.0
    typed: bool = False
    vector: np.ndarray | None = None


def candidates(snap: Snapshot, passages: list[Passage]) -> list[Candidate]:
    out: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    for rank, p in enumerate(passages, 1):
        # The passage's own chunk, then the near-duplicate chunks merged into it: a sentence only a
        # translation or summary has (a photo caption, say) stays quotable.
        for chunk_id in (p.chunk_id, *p.merged):
            row = snap.chunk_index.get(chunk_id)
            if row is None:
                continue
            doc_id = snap.chunk_doc[row]
            text = snap.texts[doc_id]
            chunk_passage = p if chunk_id == p.chunk_id else replace(
                p, doc_id=doc_id, chunk_id=chunk_id, title=snap.title(doc_id), text=snap.chunk_text(row),
                start=snap.chunk_span[row][0], end=snap.chunk_span[row][1], also_in=(p.doc_id,), merged=(),
            )
            for start, end in snap.chunk_sentences[row]:
                if (doc_id, start) in seen:
                    continue
                seen.add((doc_id, start))
                srow = snap.sent_index.get((doc_id, start))
                vector = snap.sent_vecs[srow] if srow is not None else None
                out.append(Candidate(doc_id, start, end, text[start:end], chunk_passage, rank, vector=vector))
    return out


_BACK_REFERENCE = re.compile(r"^(he|she|it|they|his|her|its|their|this|that|these|those)\b", re.I)


def context_words(snap: Snapshot, c: Candidate) -> set[str]:
    """The sentence's words; a sentence that opens with a pronoun ("He is pursuing…") also gets the words of
    the sentence before it, where the pronoun's referent usually is."""
    found = set(words(c.text))
    if _BACK_REFERENCE.match(c.text):
        row = snap.sent_index.get((c.doc_id, c.start))
        rows = snap.sent_by_doc.get(c.doc_id, [])
        if row is not None and row in rows and rows.index(row) > 0:
            _, start, end = snap.sent_span[rows[rows.index(row) - 1]]
            found |= set(words(snap.texts[c.doc_id][start:end]))
    return found


def score(cands: list[Candidate], snap: Snapshot, qvec: np.ndarray, query: str, kind: str, type_question: str) -> None:
    idf = snap.idf()
    unknown = unknown_entities(type_question, idf)
    qwords = set(words(query))
    if kind == "author":  # words about the article itself, which its sentences do not contain
        qwords -= set(words("author authored wrote written writer article piece story published"))
    total = sum(idf.get(w, 1.0) for w in qwords) or 1.0
    for c in cands:
        c.sem = float(c.vector @ qvec) if c.vector is not None else 0.0
        c.lex = sum(idf.get(w, 1.0) for w in qwords & context_words(snap, c)) / total
        c.typed = bool(kind) and has_type(c.text, kind, type_question, snap.docs[c.doc_id].get("author", ""))
        c.score = W_SEM * c.sem + W_LEX * c.lex + W_TYPE * c.typed + W_RANK / c.rank
        if kind and not c.typed:
            c.score *= TYPE_MISS
        if unknown:
            c.score *= UNKNOWN_ENTITY
    if kind == "author":
        # "Who wrote the article about X?" describes the article, not its byline: a byline scores as well as
        # the best sentence of its own article would without the penalty.
        best: dict[str, float] = {}
        for c in cands:
            raw = c.score if c.typed else c.score / TYPE_MISS
            best[c.doc_id] = max(best.get(c.doc_id, 0.0), raw)
        for c in cands:
            if c.typed:
                c.score = max(c.score, best[c.doc_id] + W_TYPE)


def select(cands: list[Candidate], query: str, kind: str = "") -> list[Candidate]:
    """The best sentence, plus up to two more that score nearly as well and cover other question words (and,
    when a kind of answer was asked for, hold one too)."""
    if not cands:
        return []
    ranked = sorted(cands, key=lambda c: -c.score)
    chosen = [ranked[0]]
    qwords = set(words(query))
    covered = qwords & set(words(ranked[0].text))
    for c in ranked[1:]:
        if len(chosen) >= MAX_SENTENCES or c.score < RATIO * ranked[0].score:
            break
        new = (qwords & set(words(c.text))) - covered
        redundant = any(
            c.vector is not None and o.vector is not None and float(c.vector @ o.vector) >= SAME_SENTENCE for o in chosen
        )
        if new and not redundant and (c.typed or not kind) and kind != "author":
            chosen.append(c)
            covered |= new
    # In reading order within an article, articles in rank order: the answer reads naturally.
    return sorted(chosen, key=lambda c: (c.rank, c.start))


def also_in(snap: Snapshot, c: Candidate) -> tuple[str, ...]:
    """Near-duplicate articles (from the passage's also_in and the doc's group) holding a sentence that says
    the same as the quote."""
    if c.vector is None:
        return ()
    group = snap.docs[c.doc_id].get("dup_group", "")
    others = set(c.passage.also_in) | {d for d, m in snap.docs.items() if group and m.get("dup_group") == group}
    found = []
    for doc_id in sorted(others - {c.doc_id}):
        rows = snap.sent_by_doc.get(doc_id, [])
        if rows and float((snap.sent_vecs[rows] @ c.vector).max()) >= SAME_SENTENCE:
            found.append(doc_id)
    return tuple(found)


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
            )
        )
        parts.append(f"{c.text} [{number}]")
    return " ".join(parts), citations
