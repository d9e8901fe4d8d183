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
# What the calibrator sees of a question's candidates: the best sentence's probability, its margin over the
# second, the best cosine of any sentence, and the best sentence's own cosine, passage cosine and coverage.
ANSWER_FEATURES = ("best", "margin", "max_sem", "top_sem", "top_psem", "top_lex")


def answer_features(probs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The calibrator's inputs (ANSWER_FEATURES) from the candidates' probabilities and feature rows."""
    if not len(probs):
        return np.zeros(len(ANSWER_FEATURES))
    order = np.argsort(-probs, kind="stable")
    top = order[0]
    second = probs[order[1]] if len(order) > 1 else 0.0
    col = {name: i for i, name in enumerate(FEATURES)}
    return np.asarray([probs[top], probs[top] - second, x[:, col["sem"]].max(), x[top, col["sem"]],
                       x[top, col["psem"]], x[top, col["lex"]]], dtype=np.float64)


class Trees:
    """A LightGBM binary model from `Booster.dump_model()`, flattened to arrays for vectorised prediction."""

    def __init__(self, dump: dict[str, Any]) -> None:
        self.trees = []
        for info in dump["tree_info"]:
            feature, threshold, left, right, value = [], [], [], [], []

            def walk(node: dict[str, Any]) -> int:
                i = len(feature)
                feature.append(-1)
                threshold.append(0.0)
                left.append(-1)
                right.append(-1)
                value.append(float(node.get("leaf_value", 0.0)))
                if "split_index" in node:
                    if node.get("decision_type", "<=") != "<=":
                        raise RagError("evidence scorer: only numerical '<=' splits are supported")
                    feature[i] = int(node["split_feature"])
                    threshold[i] = float(node["threshold"])
                    left[i] = walk(node["left_child"])
                    right[i] = walk(node["right_child"])
                return i

            walk(info["tree_structure"])
            self.trees.append(tuple(np.asarray(a) for a in (feature, threshold, left, right, value)))

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The summed leaf values (log-odds) for each row of `x`."""
        total = np.zeros(len(x), dtype=np.float64)
        rows = np.arange(len(x))
        for feature, threshold, left, right, value in self.trees:
            node = np.zeros(len(x), dtype=np.int64)
            while True:
                f = feature[node]
                inner = f >= 0
                if not inner.any():
                    break
                go_left = x[rows, np.where(inner, f, 0)] <= threshold[node]
                node = np.where(inner, np.where(go_left, left[node], right[node]), node)
            total += value[node]
        return total


class Scorer:
    """Sentence probabilities and the answer's calibrated confidence."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if tuple(spec["features"]) != FEATURES:
            raise RagError(
                "The evidence scorer file was trained on other features than rag/features.py computes: "
                "rebuild it with `python evals/train_scorer.py`."
            )
        self.spec = spec
        self.version = str(spec["version"])
        self.threshold = float(spec["threshold"])
        self.trees = Trees(spec["model"])
        cal = spec["calibration"]
        if tuple(cal["features"]) != ANSWER_FEATURES:
            raise RagError("The evidence scorer's calibrator expects other inputs: rebuild it with "
                           "`python evals/train_scorer.py`.")
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
                       "`python evals/train_scorer.py`.") from exc
    return Scorer(spec)
