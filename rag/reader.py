"""The reader: a cross-encoder that reads the question with one candidate sentence and its context.

It is MiniLM (the packaged all-MiniLM-L6-v2 weights) fine-tuned here by `evals/train_reader.py` on public QA
data, split by article (model card: `evals/READER.md`), and shipped as an int8 ONNX file in `rag/models/`
with its tokenizer and a JSON file of settings. Two heads:

- `logit`: does this sentence answer the question? (sigmoid -> probability; the answer's confidence and the
  abstention decision are calibrated from it, `ReaderSpec.confidence`);
- `start`/`end`: where the short answer lies inside the sentence (token logits; `Reading.short`).

The input is one sequence, `[CLS] question [SEP] sentence [SEP] context [SEP]`, where the context is the
article's title and the sentence before this one; the question is cut to QUESTION_TOKENS, the context is
cut first when the whole exceeds the model's `max_tokens`, then the end of the sentence. The same function
(`encode`) builds the training and the run-time inputs, so the two cannot drift apart.

At run time only onnxruntime and tokenizers are needed (no torch).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RagError
from .runtime import cpu_session

MODELS = Path(__file__).resolve().parent / "models"
SPEC_FILE = MODELS / "reader.json"
QUESTION_TOKENS = 40  # a question longer than this is cut (conversation-merged queries can be long)
MAX_ANSWER_TOKENS = 24  # the longest short answer the span head may mark
CLS, SEP, PAD = 101, 102, 0


@dataclass
class Encoded:
    """One (question, sentence, context) input: token ids, token types, and for each token of the sentence
    its character span inside the sentence (`spans`) and its position in `ids` (`first`..`first+len(spans)`)."""

    ids: list[int]
    types: list[int]
    first: int
    spans: list[tuple[int, int]]


def encode(tokenizer: Any, question: str, sentences: list[str], contexts: list[str], max_tokens: int) -> list[Encoded]:
    """The reader's inputs for one question and its candidate sentences (each with its context string)."""
    q = tokenizer.encode(question, add_special_tokens=False).ids[:QUESTION_TOKENS]
    sents = tokenizer.encode_batch(list(sentences), add_special_tokens=False) if sentences else []
    ctxs = tokenizer.encode_batch(list(contexts), add_special_tokens=False) if contexts else []
    out = []
    for s, c in zip(sents, ctxs, strict=True):
        room = max_tokens - len(q) - 4
        s_ids = s.ids[: max(room, 1)]
        c_ids = c.ids[: max(room - len(s_ids), 0)]
        ids = [CLS, *q, SEP, *s_ids, SEP, *c_ids, SEP]
        types = [0] * (len(q) + 2) + [1] * (len(s_ids) + len(c_ids) + 2)
        out.append(Encoded(ids, types, len(q) + 2, [tuple(o) for o in s.offsets[: len(s_ids)]]))
    return out


def context_of(title: str, previous: str) -> str:
    """The context string read after the sentence: the article's title and the sentence before it."""
    return f"{title.strip()} | {previous.strip()}".strip(" |")


def batch(items: list[Encoded]) -> dict[str, np.ndarray]:
    """Padded arrays (to the longest input) for the ONNX model."""
    width = max(len(e.ids) for e in items)
    ids = np.full((len(items), width), PAD, dtype=np.int64)
    types = np.zeros((len(items), width), dtype=np.int64)
    mask = np.zeros((len(items), width), dtype=np.int64)
    for i, e in enumerate(items):
        ids[i, : len(e.ids)] = e.ids
        types[i, : len(e.types)] = e.types
        mask[i, : len(e.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def best_span(start: np.ndarray, end: np.ndarray, e: Encoded) -> tuple[int, int, float]:
    """The best (start_char, end_char, score) inside the sentence: start <= end, at most MAX_ANSWER_TOKENS
    tokens, score = start logit + end logit. (-1, -1, -inf) when the sentence has no token."""
    n = len(e.spans)
    if not n:
        return -1, -1, float("-inf")
    s = start[e.first: e.first + n]
    t = end[e.first: e.first + n]
    scores = s[:, None] + t[None, :]
    i, j = np.indices(scores.shape)
    scores = np.where((j >= i) & (j - i < MAX_ANSWER_TOKENS), scores, -np.inf)
    a, b = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return e.spans[a][0], e.spans[b][1], float(scores[a, b])


CURRENCY_SIGNS = "$£€¥₹#"  # written before a quantity with no space: part of it
NUMBER_SIGNS = "+-−~"  # the same, before a digit only ("-3", not the hyphen of "long-range")
TRAILING_SIGNS = "%‰"


def with_signs(text: str, a: int, b: int) -> tuple[int, int]:
    """A span of `text` widened over the signs written against its ends ("$" of "$240", "%" of "12%"): the
    tokenizer makes them tokens of their own, and the span head may leave them out."""
    if a < 0:
        return a, b
    while a > 0 and (text[a - 1] in CURRENCY_SIGNS or (text[a - 1] in NUMBER_SIGNS and text[a:a + 1].isdigit())):
        a -= 1
    while b < len(text) and text[b] in TRAILING_SIGNS:
        b += 1
    return a, b


def combine(logits: np.ndarray, first: np.ndarray, weight: float) -> np.ndarray:
    """What candidates are ordered by: the reader's logit plus `weight` times the first pass's log-odds (the
    evidence scorer sees features the reader does not, such as retrieval ranks and the article's other
    sentences; the weight is chosen on development articles)."""
    p = np.clip(np.asarray(first, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.asarray(logits, dtype=np.float64) + weight * np.log(p / (1 - p))


@dataclass
class ReaderSpec:
    """The settings file written by evals/train_reader.py beside the ONNX model."""

    version: str
    onnx: str
    sha256: str
    max_tokens: int
    top_n: int
    first_weight: float  # weight of the first pass's log-odds beside the reader's logit (`combine`)
    calibration: dict[str, Any]
    threshold: float
    short: str  # how short answers are marked: "reader" (span head), "rules", or "hybrid" (rules where they find a
    # span, the span head elsewhere): whichever scored best on development articles

    @classmethod
    def load(cls, path: Path) -> ReaderSpec:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RagError(f"Cannot read the reader settings {path}: {exc}. Reinstall rag or rebuild the reader "
                           "with `python -m evals.train_reader`.") from exc

    def confidence(self, logits: np.ndarray, first: float) -> float:
        """Calibrated P(the best sentence answers): a logistic regression over the best combined score
        (`combine`), its margin over the second, and the log-odds of the first pass's own calibrated confidence
        (`first`: the evidence scorer's), fitted on development articles. 0.0 when there is no candidate."""
        if not len(logits):
            return 0.0
        cal = self.calibration
        z = float(confidence_features(logits, first) @ np.asarray(cal["coef"], dtype=np.float64) + float(cal["intercept"]))
        return float(1.0 / (1.0 + np.exp(-z)))


def confidence_features(logits: np.ndarray, first: float) -> np.ndarray:
    """The calibrator's inputs: the best score, its margin over the second (10 when alone), the first pass's
    confidence as log-odds."""
    ordered = np.sort(np.asarray(logits, dtype=np.float64))[::-1]
    second = ordered[1] if len(ordered) > 1 else ordered[0] - 10.0
    p = min(max(float(first), 1e-4), 1 - 1e-4)
    return np.asarray([ordered[0], ordered[0] - second, np.log(p / (1 - p))], dtype=np.float64)


@dataclass
class Reading:
    """The reader's output for one candidate: its logit and the short answer it marks inside the sentence."""

    logit: float
    short: tuple[int, int]  # character span inside the sentence; (-1, -1) when none


class Reader:
    """The ONNX reader and its tokenizer; `read` scores a question's candidates in one batch."""

    def __init__(self, spec: ReaderSpec, folder: Path = MODELS, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self.spec = spec
        model = folder / spec.onnx
        if not model.is_file():
            raise RagError(f"The reader model {model} is missing: reinstall rag or rebuild it with "
                           "`python -m evals.train_reader`.")
        self.tokenizer = Tokenizer.from_file(str(folder / "reader_tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.session = cpu_session(model, threads)

    def read(self, question: str, sentences: list[str], contexts: list[str],
             max_tokens: int | None = None) -> list[Reading]:
        if not sentences:
            return []
        items = encode(self.tokenizer, question, sentences, contexts, max_tokens or self.spec.max_tokens)
        logit, start, end = self.session.run(None, batch(items))
        out = []
        for i, e in enumerate(items):
            a, b, _ = best_span(start[i], end[i], e)
            out.append(Reading(float(logit[i]), with_signs(sentences[i], a, b)))
        return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=2)
def load_reader(spec_file: str | None = None, threads: int | None = None) -> Reader:
    """The shipped reader (or the one a settings file names), loaded once per process (per thread count)."""
    path = Path(spec_file) if spec_file else SPEC_FILE
    return Reader(ReaderSpec.load(path), path.parent, threads or 0)
