"""The learned evidence scorer: P(this sentence answers the question) from the features of rag/features.py.

The model ships as data in `rag/models/evidence_scorer.json`: gradient-boosted trees (LightGBM, dumped to
JSON and evaluated here with numpy, so LightGBM is needed only to train) that score each sentence; a
logistic calibrator over the question's best sentence (`ANSWER_FEATURES`) that gives the probability that
it answers (the answer's `confidence`); and the default abstention threshold, chosen on out-of-fold
predictions over the training articles for a stated false-refusal rate. `evals/train_scorer.py`
rebuilds the file bit-for-bit and prints its held-out numbers; `evals/README.md` gives the data, the split,
the curve and the limits.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RagError
from .features import FEATURES

MODEL_FILE = Path(__file__).resolve().parent / "models" / "evidence_scorer.json"
# What the calibrator sees of a question's candidates: the best sentence's probability and its margin over the
# second; the best cosine of any sentence; the best sentence's own cosine, passage cosine, word coverage and
# soft alignment; whether it holds the kind of answer asked for (1 when none is asked); whether the question
# names something no article mentions; the share of the question's names and numbers the best sentence (with
# its neighbours) holds.
ANSWER_FEATURES = ("best", "margin", "max_sem", "top_sem", "top_psem", "top_lex", "top_align", "type_ok",
                   "unknown_name", "names_found", "numbers_found")


TYPED_KINDS = ("kind_number", "kind_date", "kind_author")
# The rules that may keep a candidate or an answer from answering, each measured by `python -m evals.measure_misses
# --rules` (what it removes, right and wrong, on every suite; evals/README.md "Misses"). A rule is in force
# (IN_FORCE) only where it removes more wrong answers than right ones on the development suite (dev-varied); the
# others stay available to evals and to `Answerer.rules`, and what they look at is a feature of the scorer all
# the same. Figures: right answers removed / wrong answers removed (abstentions made included), dev-varied and,
# in brackets, all seven suites of the 2026-12-06 measurement:
# - "byline": a question about an article's byline is answered only by a sentence holding its byline (0/0; 1/3);
# - "kind": a question asking for a number or a date only by a sentence holding one (rag/question.py's grammar)
#   — not in force: 8/1 (11/3); it is the `typed` feature;
# - "amount": "kind" for the asks that want an amount or a date and nothing else ("How many…?", "In what year…?",
#   rag/question.py strict_kind), not "when" or "how long";
# - "condition": when some passage mentions every year or number the question names, only sentences of such
#   passages — not in force: 0/1 with 2 abstentions broken (3/5 with 2 broken); the `num_in_passage` feature;
# - "question": a sentence that itself asks a question answers none (0/0; 0/1);
# - "year", "number", "name" (not vetoes of candidates but of the answer, rag/answerer.py): an answer whose
#   sentence, neighbours, passage and title lack a year, a figure or a name the question names (a name: nor any
#   other retrieved passage, nor the article's byline and publication), while they give another, abstains and
#   says what the articles give instead (rag/question.py unmet_condition): year 0/3 (0/12), number 0/1 (1/13),
#   name 5/9 (10/41).
RULES = ("byline", "kind", "amount", "condition", "question", "year", "number", "name")
IN_FORCE = ("byline", "amount", "question", "year", "number", "name")


def vetoes(x: np.ndarray, rules: tuple[str, ...] | frozenset[str] = IN_FORCE, strict: bool = False) -> dict[str, np.ndarray]:
    """For each candidate rule in force, the mask of candidates it keeps (rows of `x`); `strict`: the question
    wants an amount or a date and nothing else (rag/question.py strict_kind)."""
    col = {name: i for i, name in enumerate(FEATURES)}
    out: dict[str, np.ndarray] = {}
    if not len(x):
        return out
    if "byline" in rules and x[0, col["kind_author"]]:
        out["byline"] = x[:, col["typed"]] > 0
    if "kind" in rules and any(x[0, col[k]] for k in TYPED_KINDS if k != "kind_author"):
        out["kind"] = x[:, col["typed"]] > 0
    if "amount" in rules and strict and (x[0, col["kind_number"]] or x[0, col["kind_date"]]):
        out["amount"] = x[:, col["typed"]] > 0
    if "condition" in rules:
        # (When no passage mentions them all, the number may sit in the other passage of a two-hop question: no
        # restriction.)
        named = x[:, col["num_in_passage"]] >= 1.0
        before = np.ones(len(x), dtype=bool)
        for rule in ("byline", "kind", "amount"):
            before &= out.get(rule, True)
        if (before & named).any():
            out["condition"] = named
    if "question" in rules:
        out["question"] = x[:, col["is_question"]] < 0.5
    return out


def answer_pool(x: np.ndarray, rules: tuple[str, ...] | frozenset[str] = IN_FORCE, strict: bool = False) -> np.ndarray:
    """Indices of the candidates that may answer: those every rule in force keeps (`vetoes`). Empty: the answer
    abstains whatever the threshold."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    keep = np.ones(len(x), dtype=bool)
    for mask in vetoes(x, rules, strict).values():
        keep &= mask
    return np.flatnonzero(keep)


def answer_features(probs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The calibrator's inputs (ANSWER_FEATURES) from the candidates' probabilities and feature rows."""
    if not len(probs):
        return np.zeros(len(ANSWER_FEATURES))
    order = np.argsort(-probs, kind="stable")
    top = order[0]
    second = probs[order[1]] if len(order) > 1 else 0.0
    col = {name: i for i, name in enumerate(FEATURES)}
    asked_kind = 1.0 - x[top, col["kind_other"]]
    return np.asarray([probs[top], probs[top] - second, x[:, col["sem"]].max(), x[top, col["sem"]],
                       x[top, col["psem"]], x[top, col["lex"]], x[top, col["align"]],
                       x[top, col["typed"]] if asked_kind else 1.0, x[top, col["unknown_name"]],
                       x[top, col["name_in_sentence"]], x[top, col["num_in_sentence"]]], dtype=np.float64)


class Trees:
    """A LightGBM binary model from `Booster.dump_model()`, flattened to padded arrays (trees x nodes) so that
    all trees descend one level at a time for all rows at once."""

    def __init__(self, dump: dict[str, Any]) -> None:
        flat = [self._flatten(info["tree_structure"]) for info in dump["tree_info"]]
        width = max((len(f[0]) for f in flat), default=1)

        def pad(k: int, fill: float, dtype: Any) -> np.ndarray:
            return np.asarray([t[k] + [fill] * (width - len(t[k])) for t in flat], dtype=dtype)

        self.feature = pad(0, -1, np.int64)
        self.threshold = pad(1, 0.0, np.float64)
        self.left, self.right = pad(2, 0, np.int64), pad(3, 0, np.int64)
        self.value = pad(4, 0.0, np.float64)
        self.feature = np.where(self.feature < 0, 0, self.feature)  # a leaf: any feature, it points at itself

    @staticmethod
    def _flatten(root: dict[str, Any]) -> tuple[list[int], list[float], list[int], list[int], list[float]]:
        """One tree as node arrays (feature, threshold, left, right, leaf value); a leaf has feature -1 and
        points at itself, so that descending further keeps it there."""
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        value: list[float] = []
        stack: list[tuple[dict[str, Any], int, str]] = [(root, -1, "")]
        while stack:
            node, parent, side = stack.pop()
            i = len(feature)
            if parent >= 0:
                (left if side == "l" else right)[parent] = i
            feature.append(-1)
            threshold.append(0.0)
            left.append(i)
            right.append(i)
            value.append(float(node.get("leaf_value", 0.0)))
            if "split_index" in node:
                if node.get("decision_type", "<=") != "<=":
                    raise RagError("evidence scorer: only numerical '<=' splits are supported")
                feature[i] = int(node["split_feature"])
                threshold[i] = float(node["threshold"])
                stack.append((node["right_child"], i, "r"))
                stack.append((node["left_child"], i, "l"))
        return feature, threshold, left, right, value

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The summed leaf values (log-odds) for each row of `x`: every tree descends all rows at once, one level a
        step, on the node arrays laid end to end (flat indices: a third of the time of indexing them by (tree,
        node)), until no row moves (a leaf points at itself)."""
        n_trees, width = self.feature.shape
        base = (np.arange(n_trees) * width)[:, None]
        node = np.repeat(base, len(x), axis=1)
        rows = np.arange(len(x))[None, :]
        values = np.ascontiguousarray(x.T).ravel()  # feature-major: feature f of row r at f * len(x) + r
        feature, threshold = self.feature.ravel(), self.threshold.ravel()
        left, right = self.left.ravel(), self.right.ravel()
        for _ in range(width):
            go_left = values[feature[node] * len(x) + rows] <= threshold[node]
            step = np.where(go_left, left[node], right[node]) + base
            if np.array_equal(step, node):
                break
            node = step
        return self.value.ravel()[node].sum(axis=0)


class Scorer:
    """Sentence probabilities and the answer's calibrated confidence."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if tuple(spec["features"]) != FEATURES:
            raise RagError(
                "The evidence scorer file was trained on other features than rag/features.py computes: "
                "rebuild it with `python -m evals.train_scorer`."
            )
        self.spec = spec
        self.version = str(spec["version"])
        self.threshold = float(spec["threshold"])
        self.trees = Trees(spec["model"])
        cal = spec["calibration"]
        if tuple(cal["features"]) != ANSWER_FEATURES:
            raise RagError("The evidence scorer's calibrator expects other inputs: rebuild it with "
                           "`python -m evals.train_scorer`.")
        self._mean = np.asarray(cal["mean"], dtype=np.float64)
        self._scale = np.asarray(cal["scale"], dtype=np.float64)
        self._coef = np.asarray(cal["coef"], dtype=np.float64)
        self._intercept = float(cal["intercept"])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(sentence answers the question) for each row, as the trees' sigmoid (ranking, not calibrated)."""
        if not len(x):
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-self.trees.raw(x.astype(np.float64))))

    def confidence(self, probs: np.ndarray, x: np.ndarray) -> float:
        """Calibrated P(the best sentence answers the question): a logistic regression over ANSWER_FEATURES,
        fitted on out-of-fold predictions over training articles. 0.0 when there is no candidate."""
        if not len(probs):
            return 0.0
        z = (answer_features(probs, x) - self._mean) / self._scale
        return float(1.0 / (1.0 + np.exp(-(z @ self._coef + self._intercept))))


@functools.lru_cache(maxsize=4)
def load_scorer(path: str | None = None) -> Scorer:
    file = Path(path) if path else MODEL_FILE
    try:
        spec = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RagError(f"Cannot read the evidence scorer {file}: {exc}. Reinstall rag or rebuild it with "
                       "`python -m evals.train_scorer`.") from exc
    return Scorer(spec)
