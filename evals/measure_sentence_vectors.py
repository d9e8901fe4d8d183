"""What embedding every sentence (besides every chunk) buys: the evidence scorer refitted without the
features that need sentence vectors, on the same committed rows and the same article split as
evals/train_scorer.py, and its held-out sentence choice compared with the shipped feature set.

    python -m evals.measure_sentence_vectors

Embedding chunks only would take the index from ~2.9 texts per chunk to 1.0 (issue 10 asks for <= 1.5 or a
reason); the sentence vectors feed `sem` and `sem_rel` (question-sentence cosine, also relative to the best
candidate), the near-duplicate detection (sentence containment), the verifier and the redundancy check.
"""

from __future__ import annotations

import numpy as np

from evals.results import save
from evals.train_scorer import HELD_OUT, ROWS, TRAIN, fit, per_question
from rag.features import FEATURES

SENTENCE_VECTOR_FEATURES = ("sem", "sem_rel")


def main() -> None:
    data = dict(np.load(ROWS, allow_pickle=False))
    data.pop("features")
    x, y, qid, art, unans = data["x"], data["y"], data["qid"], data["article"], data["unanswerable"]
    train, test = np.isin(art, TRAIN), np.isin(art, HELD_OUT)
    drop = [FEATURES.index(f) for f in SENTENCE_VECTOR_FEATURES]
    print(f"held-out articles {HELD_OUT}; {int(test.sum())} candidate rows")
    kept = []
    for name, cols in (("all 38 features (shipped)", []), ("without sentence vectors (sem, sem_rel)", drop)):
        xx = x.copy()
        xx[:, cols] = 0.0
        model = fit(xx[train], y[train])
        q = per_question(model, xx[test], y[test], qid[test], unans[test])
        answerable = q["kind"] == 0
        print(f"  {name:42} top-1 sentence holds the answer: {q['correct'][answerable].mean():.3f} "
              f"(of {int(answerable.sum())} answerable held-out questions)")
        kept.append({"features": name, "top1_holds_answer": round(float(q["correct"][answerable].mean()), 3),
                     "answerable_questions": int(answerable.sum())})
    save("measure_sentence_vectors", {"held_out": list(HELD_OUT), "rows": kept})


if __name__ == "__main__":
    main()
