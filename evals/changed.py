"""Unanswerable questions made the way SQuAD 2.0's writers made theirs: one condition of an answerable question
changed — a year, a figure or a name swapped for another of the same kind from the same article, an antonym, or a
negation — while the article stays as it is. Used by evals/train_scorer.py (training rows for the scorer and
the calibrator, from its training articles) and evals/make_dev_suite.py (the dev-varied suite's unanswerable
questions, from development articles). Some changed questions stay answerable (a swapped name that also fits, a
negation the article also answers): they are noise in the data, not a claim.
"""

from __future__ import annotations

import functools
import random
import re

ANTONYMS = {"first": "last", "last": "first", "largest": "smallest", "smallest": "largest", "most": "least",
            "least": "most", "highest": "lowest", "lowest": "highest", "earliest": "latest", "latest": "earliest",
            "before": "after", "after": "before", "oldest": "youngest", "youngest": "oldest", "north": "south",
            "south": "north", "east": "west", "west": "east", "increase": "decrease", "decrease": "increase",
            "won": "lost", "lost": "won", "best": "worst", "worst": "best", "longest": "shortest", "shortest": "longest"}
_AUX = re.compile(r"\b(is|was|are|were)\b")


@functools.lru_cache(maxsize=64)
def _article_conditions(article: str) -> tuple[list[str], list[str], list[str]]:
    """The years, figures and names an article states (computed once per article)."""
    from rag.lexical import STOPWORDS
    from rag.question import date_spans, names, number_spans

    years = sorted({article[a:b] for a, b in date_spans(article) if re.fullmatch(r"\d{3,4}", article[a:b])})
    figures = sorted({article[a:b] for a, b in number_spans(article) if re.fullmatch(r"\d[\d,.]*", article[a:b])})
    found = sorted({n for n in names(article) if all(len(w) >= 3 and w.lower() not in STOPWORDS for w in n.split())})
    return years, figures, found


def changed_condition(question: str, article: str, rng: random.Random) -> tuple[str, str] | None:
    """An unanswerable question made the way SQuAD 2.0's writers made theirs: one condition of an answerable
    question changed — a year, a figure or a name swapped for another of the same kind from the same article, an
    antonym, or a negation. Returns (the question, what was changed) or None when nothing can be changed."""
    from rag.question import date_spans, names, number_spans

    def spans_of(text: str, finder) -> list[str]:
        return [text[a:b] for a, b in finder(text)]

    options: list[tuple[str, str]] = []
    years = [y for y in spans_of(question, date_spans) if re.fullmatch(r"\d{3,4}", y)]
    art_years, art_figures, art_names = _article_conditions(article)
    for y in years:
        others = [o for o in art_years if o != y]
        if others:
            options.append((question.replace(y, rng.choice(others), 1), "year"))
    figures = [f for f in spans_of(question, number_spans) if re.fullmatch(r"\d[\d,.]*", f)]
    for f in figures:
        others = [o for o in art_figures if o != f]
        if others:
            options.append((re.sub(rf"(?<![\d.,]){re.escape(f)}(?![\d])", rng.choice(others), question, count=1), "number"))
    from rag.lexical import STOPWORDS

    def is_name(n: str) -> bool:
        return all(len(w) >= 3 and w.lower() not in STOPWORDS for w in n.split())

    asked = [n for n in names(question) if is_name(n) and len(n) >= 4]
    pool = [n for n in art_names if n not in question]
    for name in asked:
        same = [n for n in pool if len(n.split()) == len(name.split()) and n.lower() != name.lower()]
        if same:
            options.append((question.replace(name, rng.choice(same), 1), "name"))
    for word in re.findall(r"[a-z]+", question):
        if word in ANTONYMS:
            options.append((re.sub(rf"\b{word}\b", ANTONYMS[word], question, count=1), "antonym"))
            break
    aux = _AUX.search(question)
    if aux and " not " not in question:
        options.append((question[: aux.end()] + " not" + question[aux.end():], "negation"))
    options = [o for o in options if o[0] != question]
    swaps = [o for o in options if o[1] in ("year", "number", "name")]  # first the conditions, as SQuAD's writers
    return rng.choice(swaps or options) if options else None
