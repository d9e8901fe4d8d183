"""The answering policy: from a question's evidence (candidates scored by the first pass) to an `Answer`.

1. The evidence scorer (rag/scorer.py) scores every candidate sentence of the retrieved passages; for a
   question asking for a number, a date or an article's author only sentences holding one may answer
   (`scorer.answer_pool`).
2. The reader (rag/reader.py), a cross-encoder trained here, reads the question with the first pass's best
   `top_n` sentences (each with its article's title and the sentence before it) and orders them by its logit
   plus a weight of the first pass's log-odds (`reader.combine`); the calibrated confidence over the best
   one (with the first pass's own confidence beside it) is the answer's `confidence`, and its span head
   marks the short answer. (Questions about an article's byline — "who wrote
   the article about X?" — keep the first pass: no public training data asks them.)
3. The best sentence answers, with up to two more that score nearly as well (`candidates.select`). When the
   best sentence does not hold the kind of answer asked for, or the question names a bridge ("the director of
   film X was born where?"), a second hop searches again with the question and that sentence and may add one
   quote from another article.
4. Below the abstention threshold the answer is the abstention sentence, followed by the closest passage
   cited as not an answer.

Imports run one way: question <- features <- candidates <- answerer <- assistant; the reader and the scorer
depend on neither candidates nor answerer.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import candidates as cands_mod
from . import features as feats
from . import question as kinds
from .candidates import Candidate, Evidence
from .features import FEATURES
from .followup import History
from .prompts import DISAGREE_NOTE
from .question import CONDITIONS, short_answer, unmet_condition
from .reader import SPEC_FILE, combine, context_of
from .scorer import IN_FORCE, MODEL_FILE, answer_pool
from .settings import Settings
from .snapshot import Gathered, Snapshot
from .store import Store
from .tuning import HOP_BELOW, HOP_MIN, MERGE_MARGIN, SAME_SENTENCE
from .types import Answer, Passage

# Second hop (two-hop questions): tried when the answer's confidence is below HOP_BELOW, its best sentence
# lacks the kind of answer asked for, or the question holds a relative clause after its first word (BRIDGE:
# "the woman who portrayed X", "the university whose campus is in Y": a bridge entity to find first); its
# sentence joins when its probability is at least HOP_MIN (rag/tuning.py: chosen on HotpotQA questions 51-88).
BRIDGE = re.compile(r"\b(who|whom|whose|which|that|where|when)\b", re.I)

# (snapshot, query, k) -> the k passages retrieval finds and the query's vector: `retrieve.find` with the embedding
# model and the retrieval settings in force (Assistant.search's policy)
Find = Callable[..., tuple[list[Passage], np.ndarray]]  # (snap, query, k, docs) -> passages, the query's vector


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def context(g: Gathered, c: Candidate) -> str:
    """What the reader reads after a sentence: its article's title (none for an untitled article: its file name
    would tell the reader a format, not a topic) and the sentence before it."""
    sents = g.sentences[c.doc_id]
    i = sents.row.get(c.start)
    previous = ""
    if i is not None and i > 0:
        s, e = sents.spans[i - 1]
        previous = g.texts[c.doc_id][s:e]
    return context_of(g.docs.get(c.doc_id, {}).get("title", ""), previous)


class Answerer:
    """The answering policy: reads a question (with its conversation) into the evidence, chooses the sentences
    that answer, the confidence and the short answer, and writes the extractive answer. `reader` None: the
    evidence scorer alone (its calibrated confidence and threshold). `find` embeds a query and retrieves its
    passages with the model and the settings in force (the `Assistant` passes its own)."""

    def __init__(self, scorer: Any, reader: Any, find: Find, *,
                 threshold: float | None = None, top_n: int | None = None, two_hop: bool = True,
                 pieces: Any = None, top_k: int = 5) -> None:
        self.scorer = scorer
        self.reader = reader
        self.find = find
        self.top_k = top_k  # passages the second hop reads
        self.top_n = top_n or (reader.spec.top_n if reader is not None else 0)
        self.two_hop = two_hop
        self.pieces = pieces
        self.fixed = threshold  # Settings.abstain_threshold: one threshold whatever answers
        self.rules: frozenset[str] = frozenset(IN_FORCE)  # the rules in force (rag/scorer.py; evals change them)

    @property
    def threshold(self) -> float:
        """The threshold in force: the one set for all, else the reader's (the first pass's without a reader)."""
        if self.fixed is not None:
            return self.fixed
        return self.reader.spec.threshold if self.reader is not None else self.scorer.threshold

    def threshold_for(self, ev: Evidence) -> float:
        """The threshold for this question's confidence: the reader's, or the first pass's own when the reader
        does not read it (questions about an article's byline), unless one was set for all."""
        if self.fixed is None and self.reader is not None and ev.kind == "author":
            return self.scorer.threshold
        return self.threshold

    # ------------------------------------------------------------ the evidence
    def evidence(self, question: str, history: History | None, k: int, opened: tuple[Store, Snapshot], *,
                 merge: bool = False, docs: frozenset[str] | None = None) -> Evidence:
        """Every candidate sentence of the retrieved passages, scored by the evidence scorer, with the features it
        saw. `merge`: search with the conversation even when the question does not look like a follow-up; `docs`:
        the articles in scope (None: all)."""
        q = kinds.read(question, history, k, force=merge)  # the question checked, resolved and read, once
        snap = opened[1]
        passages, vector = self.find(snap, q.query, k, docs)
        # the question's words against the index (once), then its passages' data in one pass; the candidates and
        # their features are computed from that alone
        qinfo = feats.question_info(snap, q, self.pieces)
        gathered = cands_mod.gather(snap, passages)
        cands = cands_mod.candidates(gathered, passages)
        features = cands_mod.score(cands, gathered, vector, qinfo, self.scorer, self.pieces)
        return Evidence(q.turn.text, q.query, q.kind, passages, cands, features, snap, gathered, q, opened[0], docs)

    def extractive(self, question: str, history: History | None, k: int, opened: tuple[Store, Snapshot],
                   started: float, docs: frozenset[str] | None = None) -> tuple[Answer, Evidence]:
        """The extractive answer and the evidence it was chosen from; `started` (perf_counter) times retrieval;
        `docs`: the articles in scope (None: all)."""
        ev = self.evidence(question, history, k, opened, docs=docs)
        retrieved = time.perf_counter()
        chosen, confidence = self.decide(ev)
        if history and kinds.merged_follow_up(ev.asked, history):  # (no call for a question alone)
            # "what is the point of the project?" in a conversation about a library: a follow-up without a
            # pronoun. Also read it with the conversation, and keep that reading when it is clearly surer.
            merged = self.evidence(question, history, k, opened, merge=True, docs=docs)
            merged_chosen, merged_confidence = self.decide(merged)
            if merged_confidence >= max(self.threshold_for(merged), confidence + MERGE_MARGIN):
                ev, chosen, confidence = merged, merged_chosen, merged_confidence
        result = self.answer(ev, chosen, confidence)
        result.timings = {"retrieve_ms": round((retrieved - started) * 1000, 2)}
        return result, ev

    # ------------------------------------------------------------ reading
    def read(self, ev: Evidence, pool: list[Candidate], question: str) -> np.ndarray | None:
        """The combined scores (the reader's logit with the first pass's log-odds, `reader.combine`) of the first
        pass's best `top_n` of `pool`, which are re-scored in place: their `score` becomes the combined
        probability, `short` the reader's span; the rest keep the first pass's order, scaled below every read
        one. None when the reader is off or has nothing to read."""
        if self.reader is None or not pool or ev.kind == "author":
            return None
        ranked = sorted(pool, key=lambda c: -c.score)
        read, rest = ranked[: self.top_n], ranked[self.top_n:]
        readings = self.reader.read(question, [c.text for c in read], [context(ev.gathered, c) for c in read])
        logits = combine(np.asarray([r.logit for r in readings]), np.asarray([c.score for c in read]),
                         self.reader.spec.first_weight)
        probs = sigmoid(logits)
        floor = float(probs.min()) if len(probs) else 0.0
        for c, r, p in zip(read, readings, probs, strict=True):
            c.first, c.score, c.short = c.score, float(p), r.short
        for c in rest:  # below every sentence the reader read, in the first pass's order
            c.first, c.score = c.score, floor * c.score * 0.5
        return logits

    def decide(self, ev: Evidence) -> tuple[list[Candidate], float]:
        """The sentences that answer and the confidence. Only sentences that hold the number, date or byline
        asked for may answer such a question (none: confidence 0, the answer abstains)."""
        idx = answer_pool(ev.features, self.rules, ev.asked.turn.strict)
        pool = [ev.candidates[i] for i in idx]
        first = self.scorer.confidence(np.asarray([c.score for c in pool]), ev.features[idx])
        if ev.kind == "author" and pool:
            # "Who wrote the article about X?": as sure as the bylined articles are about X (their best sentence
            # other than the byline), not as the byline line itself, which answers no question by its words
            bylined = {c.doc_id for c in pool}  # the articles whose byline may answer
            content = np.asarray([i for i, c in enumerate(ev.candidates) if not c.typed and c.doc_id in bylined],
                                 dtype=np.int64)
            if len(content):
                rows = ev.features[content].copy()
                rows[:, FEATURES.index("typed")] = 1.0  # the byline asked for is there: its own line
                first = self.scorer.confidence(np.asarray([ev.candidates[i].score for i in content]), rows)
        ev.trace.update(pool=[int(i) for i in idx], first_confidence=first,
                        ranked_first=sorted(pool, key=lambda c: -c.score)[: self.top_n])
        logits = self.read(ev, pool, ev.asked.for_reader)
        chosen = cands_mod.prefer_originals(ev.snap, cands_mod.select(pool, ev.kind), ev.candidates)
        confidence = first if logits is None else self.reader.spec.confidence(logits, first)
        ev.trace["confidence"] = confidence
        return chosen, confidence

    def second_hop(self, ev: Evidence, first: Candidate, min_score: float = HOP_MIN) -> Any | None:
        """For a question one sentence cannot answer ("Where was the director of film X born?"): search again
        with the question and the best sentence (which names the bridge: the director), and return the best
        sentence of another article when it scores at least HOP_MIN and holds the kind of answer asked for."""
        q = ev.asked.hop(first.text)
        passages, vector = self.find(ev.snap, q.query, self.top_k, ev.docs)
        gathered = cands_mod.gather(ev.snap, passages)
        group = ev.gathered.docs.get(first.doc_id, {}).get("dup_group") or first.doc_id
        found = [c for c in cands_mod.candidates(gathered, passages)
                 if c.doc_id != first.doc_id and (gathered.docs.get(c.doc_id, {}).get("dup_group") or c.doc_id) != group
                 and not (c.vector is not None and first.vector is not None
                          and float(c.vector @ first.vector) >= SAME_SENTENCE)]
        if not found:
            return None
        qinfo = feats.question_info(ev.snap, q, self.pieces)
        cands_mod.score(found, gathered, vector, qinfo, self.scorer, self.pieces)
        best = max(found, key=lambda c: c.score)
        if best.score < min_score or (ev.kind and not best.typed):
            return None
        return best

    # ------------------------------------------------------------ the answer
    def answer(self, ev: Evidence, chosen: list[Candidate], confidence: float) -> Answer:
        """The answer from `decide`'s choice: quotes with citations, the second hop, contradicting sources and the
        short answer; or the abstention with the closest passage."""
        top = max(chosen, key=lambda c: c.score) if chosen else None
        threshold = self.threshold_for(ev)
        unmet = None
        conditions = self.rules & set(CONDITIONS)
        if top is not None and conditions:
            # the question names a year (a figure, a name) the answer's sentence, neighbours, passage and title all
            # lack, and they give another: the answer is about something else (rag/question.py unmet_condition)
            def elsewhere() -> str:  # made only when the answer's own text lacks a condition
                docs = [ev.snap.docs.get(d, {}) for d in dict.fromkeys([top.doc_id, *(p.doc_id for p in ev.passages)])]
                return " ".join([p.text for p in ev.passages]
                                + [str(m.get(k, "")) for m in docs for k in ("title", "author", "publication")])

            unmet = unmet_condition(ev.asked.turn, top.text, feats.neighbours(ev.gathered, top), top.passage.text,
                                    ev.snap.title(top.doc_id), conditions - ({"name"} if ev.kind == "author" else set()),
                                    elsewhere)
            if unmet is not None:
                confidence = 0.0
                ev.trace["unmet"] = unmet
        if top is not None and unmet is None and confidence >= threshold and self.two_hop and (
            confidence < HOP_BELOW or (ev.kind and not top.typed) or BRIDGE.search(ev.question.split(" ", 1)[-1])
        ):
            extra = self.second_hop(ev, top)
            if extra is not None:
                chosen = [*chosen, extra]
        if top is not None and unmet is not None and confidence <= threshold:
            text, closest = cands_mod.unmet(ev.snap, top, *unmet[1:], ev.docs)
            return Answer(text, closest, True, ev.question, ev.query, confidence=0.0)
        if top is None or confidence < threshold:
            text, closest = cands_mod.abstention(ev.snap, ev.candidates, ev.docs)
            return Answer(text, closest, True, ev.question, ev.query, confidence=round(confidence, 4))
        contradicted = cands_mod.rivals(chosen, ev.candidates)
        for c, rival in contradicted:  # each contradicting quote right after the one it contradicts
            chosen.insert(chosen.index(c) + 1, rival)
        text, citations = cands_mod.cite(ev.snap, chosen, ev.docs)
        result = Answer(text, citations, False, ev.question, ev.query, confidence=round(confidence, 4),
                        short=self.short(top, ev))
        disagree = cands_mod.disagreements(chosen)
        if disagree:
            result.notes.append(DISAGREE_NOTE.format(pairs=", ".join(f"[{a}] and [{b}]" for a, b in disagree)))
        return result

    def short(self, top: Candidate, ev: Evidence) -> str:
        """The short answer, as the reader's settings say (`ReaderSpec.short`, chosen on development articles):
        the rule for the kind of answer asked for (numbers, dates, names, bylines) and/or the reader's span."""
        rule = short_answer(top.text, top.passage.author, ev.kind, ev.asked.turn)
        mode = self.reader.spec.short if self.reader is not None else "rules"
        if mode == "rules" or (mode == "hybrid" and rule) or top.short[0] < 0 or ev.kind == "author":
            return rule
        a, b = top.short
        return top.text[a:b].strip(" ,.;:")


def models_record(settings: Settings) -> dict[str, Any]:
    """What the manifest records of the models that answer beside the index: the evidence scorer's and the
    reader's version and file hash (the reader's ONNX file, as its settings file states it)."""
    out: dict[str, Any] = {}
    path = Path(settings.scorer_file) if settings.scorer_file else MODEL_FILE
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        version = json.loads(path.read_text(encoding="utf-8")).get("version", "?")
        out["evidence_scorer"] = f"v{version} sha256:{digest}"
    except (OSError, ValueError):
        pass
    if settings.reader:
        spec = Path(settings.reader_file) if settings.reader_file else SPEC_FILE
        try:
            raw = json.loads(spec.read_text(encoding="utf-8"))
            out["reader"] = f"v{raw.get('version', '?')} sha256:{str(raw.get('sha256', ''))[:12]}"
        except (OSError, ValueError):
            pass
    return out
