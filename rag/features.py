"""Features of a candidate sentence for the learned evidence scorer (rag/scorer.py).

Every feature is a named, documented function of what the index already holds: the question, its embedding,
the candidate sentence with its offsets, its neighbours, its passage (chunk) and article, and the passage's
retrieval ranks. Nothing here is fitted; `FEATURES` fixes the names and their order, which the trained model
file records, and `tests/test_features.py` pins each one's meaning on a tiny example.

Feature groups:
- similarity: MiniLM cosine of the question with the sentence and with its passage, and each relative to
  the best candidate of the same question;
- lexical: IDF-weighted share of the question's content words in the sentence, in the sentence with its
  neighbours, in the passage; the same relative to the best candidate; a soft, ColBERT-style alignment
  (each question word-piece's best match among the sentence's word-pieces, with MiniLM's own word-piece
  embeddings);
- answer type: what the question asks for (number, date, person, place, organisation or other name, author, other; why/how) and whether
  the sentence holds one that the question does not already contain;
- conditions: the numbers/years and names the question is conditioned on, and the share of them found in
  the sentence, its passage and its article; a name no indexed article contains, even with one typo;
- form: the sentence is a question, a title line, opens with a pronoun; its length; the share of its
  words the question does not have (a sentence that only restates the question answers nothing);
- retrieval: the passage's fused rank, dense rank and BM25 rank.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .lexical import STOPWORDS, word_set, word_tuple
from .question import Asked, Question, has_type, parse
from .types import Candidate

if TYPE_CHECKING:
    from .snapshot import Gathered, Snapshot

FEATURES: tuple[str, ...] = (
    "sem", "sem_rel", "psem", "psem_rel",
    "lex", "lex_rel", "lex_window", "lex_passage", "align", "align_rel",
    "kind_number", "kind_date", "kind_person", "kind_place", "kind_name", "kind_author", "kind_other", "wh_why", "wh_how",
    "typed",
    "q_has_numbers", "num_in_sentence", "num_in_passage", "num_in_article",
    "q_has_names", "name_in_sentence", "name_in_passage", "name_in_article", "unknown_name",
    "is_question", "is_title", "starts_pronoun", "log_words", "novelty",
    "inv_rank", "inv_dense_rank", "inv_bm25_rank", "log_q_words",
)

_PRONOUN_START = re.compile(r"^\W*(he|she|it|they|his|her|its|their|this|that|these|those|there|such)\b", re.I)


# ---------------------------------------------------------------- MiniLM word-piece vectors


class WordPieces:
    """MiniLM's own input word-piece embeddings (read from the packaged model's safetensors, no torch) and its
    tokenizer: a static vector per word-piece, L2-normalised, for ColBERT-style soft matching of words."""

    def __init__(self, model_dir: str | Path) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = Path(model_dir)
        with safe_open(str(folder / "model.safetensors"), framework="numpy") as tensors:  # that one tensor only
            key = next(k for k in tensors.keys() if k.endswith("word_embeddings.weight"))  # noqa: SIM118
            matrix = tensors.get_tensor(key).astype(np.float32)
        self.vectors = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-8)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        vocab = self.tokenizer.get_vocab()
        skip = {i for t, i in vocab.items() if t in STOPWORDS or not re.search(r"[a-z0-9]", t) or t.startswith("[")}
        self._skip = skip

    def ids(self, text: str) -> np.ndarray:
        """Word-piece ids of the content words of `text` (stop words, punctuation and specials dropped)."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return np.asarray([i for i in encoding.ids if i not in self._skip], dtype=np.int64)

    def align(self, question_ids: np.ndarray, sentence_ids: np.ndarray) -> float:
        """Mean over the question's word-pieces of the best cosine with any word-piece of the sentence."""
        if not len(question_ids) or not len(sentence_ids):
            return 0.0
        sims = self.vectors[question_ids] @ self.vectors[sentence_ids].T
        return float(sims.max(axis=1).mean())


@functools.lru_cache(maxsize=2)
def load_wordpieces(model_dir: str) -> WordPieces | None:
    """The word-piece table of a sentence-transformers folder, or None when it has no safetensors/tokenizer
    (then the alignment feature falls back to plain lexical coverage)."""
    folder = Path(model_dir)
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        return None
    try:
        return WordPieces(folder)
    except (OSError, StopIteration, ValueError):
        return None


# ---------------------------------------------------------------- the question


_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


def one_edit(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion away from `word` (Norvig)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b} | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in _LETTERS} | {a + c + b for a, b in splits for c in _LETTERS})


def known(word: str, vocabulary: Any) -> bool:
    """The word occurs in some indexed article, or (for words of 4+ letters) one typo away from one does:
    "Tempations" is the Temptations, "Liszy" is Liszt; "India" is not "indo". `vocabulary`: a container of
    words, or a function giving the subset of a set of words that the index holds (Snapshot.known)."""
    lookup = vocabulary if callable(vocabulary) else (lambda ws: {w for w in ws if w in vocabulary})
    if lookup({word}):
        return True
    return len(word) >= 4 and bool(lookup(one_edit(word)))


def unknown_names(question: str, vocabulary: Any) -> list[str]:
    """Names of the question (question_names) none of whose words any indexed article has, even with a typo
    (e.g. a country never mentioned)."""
    return _unknown(parse(question).names, vocabulary)


def _unknown(names: tuple[tuple[str, list[str]], ...], vocabulary: Any) -> list[str]:
    return [n for n, stemmed in names if stemmed and not any(known(w, vocabulary) for w in stemmed)]


@dataclass
class QuestionInfo:
    """What the features need from the question (`question.Question`) and the index, computed once per
    question."""

    query: str  # as searched (a follow-up merged with its turns)
    kind: str  # question_type(): number, date, author, person, place or ""
    typed: Asked  # what the answer type and conditions are read from
    qwords: frozenset[str]
    weights: dict[str, float]  # IDF of each content word
    numbers: tuple[str, ...]
    names: list[list[str]]  # each name as its stemmed words
    unknown: bool  # a name of the question that no indexed article contains
    wh: str
    piece_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def question_info(snap: Snapshot, q: Question, pieces: WordPieces | None) -> QuestionInfo:
    """The question's words against the index: their IDF, and the names no article holds. The word features
    read `q.focus`: the turn's own words plus the names of the earlier turns ("how many printed books does it
    contain?" after "When was the Vatican Library opened?" -> printed, books, contain, Vatican, Library), or the
    whole query when the turn has fewer than two content words of its own ("And?", "How many?")."""
    idf = snap.idf_of(set(q.qwords))
    rarest = snap.max_idf()
    return QuestionInfo(
        query=q.query, kind=q.kind, typed=q.typed, qwords=q.qwords,
        weights={w: idf.get(w, rarest) for w in q.qwords},
        numbers=q.typed.numbers, names=[stemmed for _, stemmed in q.typed.names if stemmed],
        unknown=bool(_unknown(q.typed.names, snap.known)), wh=q.typed.wh,
        piece_ids=pieces.ids(q.focus) if pieces else np.zeros(0, np.int64),
    )


# ---------------------------------------------------------------- per candidate


def coverage(qinfo: QuestionInfo, found: set[str]) -> float:
    """IDF-weighted share of the question's content words that occur in `found`."""
    total = sum(qinfo.weights.values())
    return sum(w for word, w in qinfo.weights.items() if word in found) / total if total else 0.0


def share_found(items: list[list[str]] | list[str], found: set[str], raw: str = "") -> float:
    """Share of the question's names (lists of stemmed words: all must occur) or numbers (strings: as whole
    tokens of `raw`) present; 1.0 when the question has none."""
    if not items:
        return 1.0
    hits = 0
    for item in items:
        if isinstance(item, str):
            hits += bool(re.search(rf"(?<![\d.,]){re.escape(item)}(?![\d])", raw))
        else:
            hits += all(w in found for w in item)
    return hits / len(items)


def neighbours(g: Gathered, c: Candidate) -> str:
    """The sentences just before and after a candidate, joined."""
    sents = g.sentences[c.doc_id]
    i = sents.row.get(c.start)
    if i is None:
        return ""
    text = g.texts[c.doc_id]
    return " ".join(text[s:e] for j in (i - 1, i + 1) if 0 <= j < len(sents.spans) for s, e in [sents.spans[j]])


def _is_title(g: Gathered, c: Candidate) -> bool:
    """The article's first line, or a line with no closing punctuation standing alone (a heading)."""
    text = g.texts[c.doc_id]
    line_start = text.rfind("\n", 0, c.start) + 1
    line_end = text.find("\n", c.end)
    line = text[line_start: line_end if line_end >= 0 else len(text)].strip()
    closing = c.text.rstrip().endswith((".", "!", "?", '"', "”", "'", ")", ":", ";"))
    return (line_start == 0 and c.start < 200 and not closing) or (line == c.text.strip() and not closing)


def article_words(g: Gathered, doc_id: str) -> set[str]:
    cache = g.cache.setdefault("article_words", {})
    if doc_id not in cache:
        if len(cache) > 2000:
            cache.clear()
        cache[doc_id] = word_set(g.texts[doc_id])
    return cache[doc_id]


def sentence_pieces(g: Gathered, c: Candidate, pieces: WordPieces) -> np.ndarray:
    cache = g.cache.setdefault("sentence_pieces", {})
    key = (c.doc_id, c.start)
    if key not in cache:
        if len(cache) > 200_000:
            cache.clear()
        cache[key] = pieces.ids(c.text)
    return cache[key]


def matrix(g: Gathered, cands: list[Candidate], qvec: np.ndarray, qinfo: QuestionInfo,
           pieces: WordPieces | None) -> np.ndarray:
    """The feature matrix (one row per candidate, columns in FEATURES order), from what `g` holds: plain
    arithmetic on the gathered texts, records and vectors, no trip to the index."""
    n = len(cands)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if not n:
        return out
    col = {name: i for i, name in enumerate(FEATURES)}
    qcount = len(qinfo.qwords)
    for r, c in enumerate(cands):
        sent_words = word_set(c.text)
        window_words = sent_words | word_set(neighbours(g, c))
        passage_words = word_set(c.passage.text)
        rec = g.chunks.get(c.passage.chunk_id)
        psem = float(rec.vector @ qvec) if rec is not None else 0.0
        meta = g.docs.get(c.doc_id, {})
        typed = bool(qinfo.kind) and has_type(c.text, qinfo.kind, qinfo.typed, meta.get("author", ""))
        lex = coverage(qinfo, sent_words)
        if pieces is not None and len(qinfo.piece_ids):
            align = pieces.align(qinfo.piece_ids, sentence_pieces(g, c, pieces))
        else:
            align = lex
        sentence_words = word_tuple(c.text)
        novel = [w for w in sentence_words if w not in qinfo.qwords]
        values = {
            "sem": float(c.vector @ qvec) if c.vector is not None else 0.0,
            "psem": psem,
            "lex": lex,
            "lex_window": coverage(qinfo, window_words),
            "lex_passage": coverage(qinfo, passage_words),
            "align": align,
            "kind_number": qinfo.kind == "number",
            "kind_date": qinfo.kind == "date",
            "kind_person": qinfo.kind == "person",
            "kind_place": qinfo.kind == "place",
            "kind_name": qinfo.kind == "name",
            "kind_author": qinfo.kind == "author",
            "kind_other": not qinfo.kind,
            "wh_why": qinfo.wh == "why",
            "wh_how": qinfo.wh == "how",
            "typed": typed,
            "q_has_numbers": bool(qinfo.numbers),
            "num_in_sentence": share_found(qinfo.numbers, set(), c.text),
            "num_in_passage": share_found(qinfo.numbers, set(), c.passage.text),
            "num_in_article": share_found(qinfo.numbers, set(), g.texts[c.doc_id]),
            "q_has_names": bool(qinfo.names),
            "name_in_sentence": share_found(qinfo.names, window_words),
            "name_in_passage": share_found(qinfo.names, passage_words),
            # (an article's words are read only when the question names something: 1-2 ms a new article)
            "name_in_article": share_found(qinfo.names, article_words(g, c.doc_id)) if qinfo.names else 1.0,
            "unknown_name": qinfo.unknown,
            "is_question": c.text.rstrip().rstrip('"”’\')').endswith("?"),
            "is_title": _is_title(g, c),
            "starts_pronoun": bool(_PRONOUN_START.match(c.text)),
            "log_words": math.log1p(len(c.text.split())),
            "novelty": len(novel) / max(len(sentence_words), 1),
            "inv_rank": 1.0 / max(c.rank, 1),
            "inv_dense_rank": 1.0 / c.passage.dense_rank if c.passage.dense_rank else 0.0,
            "inv_bm25_rank": 1.0 / c.passage.bm25_rank if c.passage.bm25_rank else 0.0,
            "log_q_words": math.log1p(qcount),
        }
        for name, value in values.items():
            out[r, col[name]] = float(value)
    for name in ("sem", "psem", "lex", "align"):
        out[:, col[f"{name}_rel"]] = out[:, col[name]] - out[:, col[name]].max()
    return out
