"""Candidates: the sentences of the retrieved passages an answer may quote, their first-pass scores, and
what is done with the chosen ones (originals preferred over copies, contradicting sources, citations).

1. The sentences of the retrieved passages are the candidates (their embeddings were computed at index
   time, so only the question is embedded now).
2. The learned evidence scorer (rag/scorer.py, features in rag/features.py) gives each a first-pass
   probability that it answers the question (`score`); the reader (rag/reader.py) then reads the best few
   (rag/answerer.py).
3. `select` takes the best sentence and up to two more that score nearly as well; `cite` numbers them.

Every sentence of an answer is an exact quote of a cleaned article with its offsets, cited as [n].
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import features
from .prompts import ABSTAIN_TEXT, CLOSEST_TEXT, CONDITION_TEXT
from .question import Question, figures, name_words, names
from .snapshot import Gathered, Snapshot
from .store import Store
from .tuning import DISAGREE_SIMILAR, MAX_SENTENCES, RATIO, SAME_SENTENCE
from .types import Candidate, Citation, Passage

# RATIO, MAX_SENTENCES, SAME_SENTENCE, DISAGREE_SIMILAR: values and derivations in rag/tuning.py.


@dataclass
class Evidence:
    """What an answer is chosen from: the retrieved passages, their candidate sentences scored by the evidence
    scorer (the first pass: `candidates[i].score` is its P(answers) until the reader re-scores the best few in
    `Answerer.decide`), and the feature matrix the scorer saw (rows = candidates)."""

    question: str
    query: str
    kind: str
    passages: list[Passage]
    candidates: list[Candidate]
    features: np.ndarray
    snap: Snapshot
    gathered: Gathered  # what `gather` read for the passages: the candidates and features were made from it
    asked: Question  # the question as `question.read` read it (question, query and kind above are its own)
    store: Store | None = None
    docs: frozenset[str] | None = None  # the articles in scope (`Snapshot.in_scope`); None: all
    # what `Answerer.decide` did, for evals (evals/measure_misses.py): the indices of the candidates the veto rules
    # left (`pool`), the ones the reader read (`ranked_first`), the first pass's and the final confidence
    trace: dict[str, Any] = field(default_factory=dict)


def gather(snap: Snapshot, passages: list[Passage]) -> Gathered:
    """What the passages' candidates and their features read of the index, in one pass (`Snapshot.gather`)."""
    return snap.gather([chunk_id for p in passages for chunk_id in (p.chunk_id, *p.merged)])


def candidates(g: Gathered, passages: list[Passage]) -> list[Candidate]:
    """Every sentence of the passages (`g`: what `gather` read for them), in passage order."""
    out: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    for rank, p in enumerate(passages, 1):
        # The passage's own chunk, then the near-duplicate chunks merged into it: a sentence only a
        # translation or summary has (a photo caption, say) stays quotable.
        for chunk_id in (p.chunk_id, *p.merged):
            rec = g.chunks.get(chunk_id)
            if rec is None:
                continue
            doc_id = rec.doc_id
            text = g.texts[doc_id]
            chunk_passage = p if chunk_id == p.chunk_id else replace(
                p, doc_id=doc_id, chunk_id=chunk_id, title=g.title(doc_id), text=g.chunk_text(rec),
                start=rec.start, end=rec.end, also_in=(p.doc_id,), merged=(),
            )
            for start, end in rec.sentences:
                if (doc_id, start) in seen:
                    continue
                seen.add((doc_id, start))
                vector = g.sentence_vector(doc_id, start)
                out.append(Candidate(doc_id, start, end, text[start:end], chunk_passage, rank, vector=vector))
    return out


def score(cands: list[Candidate], g: Gathered, qvec: np.ndarray, qinfo: features.QuestionInfo, scorer: Any,
          pieces: Any = None) -> np.ndarray:
    """Give each candidate the scorer's probability that it answers (`score`); returns the feature matrix.
    `qinfo`: what the features read of the question (`features.question_info`)."""
    kind = qinfo.kind
    x = features.matrix(g, cands, qvec, qinfo, pieces)
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


def also_in(snap: Snapshot, c: Candidate, docs: frozenset[str] | None = None) -> tuple[str, ...]:
    """Near-duplicate articles (from the passage's also_in and the doc's group; of those in scope, `docs`)
    holding a sentence that says the same as the quote."""
    if c.vector is None:
        return ()
    group = snap.docs[c.doc_id].get("dup_group", "")
    others = set(c.passage.also_in) | set(snap.group_members(group))
    if docs is not None:
        others &= docs
    found = []
    for doc_id, sents in snap.sentences_of(sorted(others - {c.doc_id})).items():  # read in one pass
        if len(sents.vectors) and float((sents.vectors @ c.vector).max()) >= SAME_SENTENCE:
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


def cite(snap: Snapshot, chosen: list[Candidate], docs: frozenset[str] | None = None) -> tuple[str, list[Citation]]:
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
                also_in=also_in(snap, c, docs),
                page=(page := page_of(meta.get("pages", ""), c.start)),
                ocr=page in json.loads(meta.get("ocr_pages") or "[]"),
            )
        )
        parts.append(f"{c.text} [{number}]")
    return " ".join(parts), citations


def abstention(snap: Snapshot, cands: list[Candidate], docs: frozenset[str] | None = None
               ) -> tuple[str, list[Citation]]:
    """The abstention sentence, and the closest passage (the best candidate's) cited as not an answer."""
    if not cands:
        return ABSTAIN_TEXT, []
    best = max(cands, key=lambda c: c.score)
    _, citations = cite(snap, [best], docs)
    closest = replace(citations[0], not_answer=True)
    return f"{ABSTAIN_TEXT} {CLOSEST_TEXT.format(title=closest.title)}", [closest]


def unmet(snap: Snapshot, best: Candidate, asked: str, given: str, docs: frozenset[str] | None = None
          ) -> tuple[str, list[Citation]]:
    """The abstention for an answer about another year than the question names: what the articles give instead,
    quoted and cited as [1], marked not an answer."""
    _, citations = cite(snap, [best], docs)
    closest = replace(citations[0], not_answer=True)
    return (f"{ABSTAIN_TEXT} " + CONDITION_TEXT.format(asked=asked, given=given, title=closest.title,
                                                        quote=closest.quote), [closest])
