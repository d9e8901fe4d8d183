"""Train the evidence scorer (rag/models/evidence_scorer.json) on public QA data, with article-level splits.

    python -m evals.train_scorer            # rebuild the shipped file bit-for-bit and print held-out metrics
    python -m evals.train_scorer --check    # rebuild in memory and fail if it differs from the shipped file
    python -m evals.train_scorer --ask      # ask every question again through the pipeline first (new features)

Data: SQuAD 2.0 *train* articles (evals/data/squad2, CC BY-SA 4.0, see its SOURCE.md), all 4,719 questions of
questions_all.jsonl, asked through the real pipeline (the index of all ten articles, hybrid retrieval, top 5
passages): every candidate sentence is a row, labelled 1 when it holds a gold answer and lies in the question's
article. Unanswerable (adversarial) questions give only negative rows. So do the changed-condition questions made here
(`synthetic_items`, SYNTHETIC_SHARE of the training articles' answerable questions, seeded): one condition of an
answerable question changed the way SQuAD 2.0's writers made theirs — a year, a figure or a name swapped for
another of the same kind from the same article, an antonym, a negation — to teach the scorer and the calibrator
what a question the articles do not answer looks like. None is made from Zelda's questions: Zelda's real
adversarial questions are the check (the out-of-fold abstention on them is printed with and without).

Split, by article (no article on both sides):
- training articles (TRAIN): the model is fitted here; the calibration map and the abstention threshold come
  from out-of-fold predictions of a leave-one-article-out GroupKFold over these articles;
- held-out articles (HELD_OUT): never seen in fitting or in choosing the threshold; the numbers printed here
  and the SQuAD suite of `rag eval` (evals/suites.toml) are measured on them.

The model: LightGBM gradient-boosted trees (seeded, one thread, deterministic), dumped to JSON and evaluated
with numpy at run time (rag/scorer.py). A logistic regression on the same features is printed beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from evals.changed import changed_condition  # noqa: E402
from evals.results import differences, save  # noqa: E402
from rag.features import FEATURES  # noqa: E402
from rag.metrics import normalize  # noqa: E402

DATA = ROOT / "evals" / "data" / "squad2"
OUT = ROOT / "rag" / "models" / "evidence_scorer.json"
# The feature rows the model is fitted on: every candidate sentence of every question, as the pipeline saw
# them. Committed, so that fitting is bit-for-bit reproducible: asking again (--ask) reproduces them up to a
# few candidates (two runs on one index differed in 9 of 59,584 rows: near-ties in retrieval).
ROWS = DATA / "scorer_rows.npz"
CACHE = ROOT / "evals" / ".cache"  # the index of the ten articles (built when missing)
TRAIN = ["New_York_City.txt", "Beyonce.txt", "Frederic_Chopin.txt", "2008_Sichuan_earthquake.txt",
         "Sino_Tibetan_relations_during_the_Ming_dynasty.txt", "The_Legend_of_Zelda_Twilight_Princess.txt"]
HELD_OUT = ["Spectre_2015_film.txt", "Solar_energy.txt", "To_Kill_a_Mockingbird.txt", "IPod.txt"]
TARGET_FALSE_REFUSALS = 0.05
SEED = 13
SYNTHETIC = 3  # the `unanswerable` code of a changed-condition question (0 answerable, 1 a real adversarial one)
CHECK_ARTICLES = ("The_Legend_of_Zelda_Twilight_Princess.txt",)  # real adversarial questions: the check
VERSION = "1"
PARAMS = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "seed": SEED, "deterministic": True, "num_threads": 1, "force_row_wise": True, "verbosity": -1,
}
ROUNDS = 200
# What --check compares at the precision it is printed at (top-level key -> decimals); the rest of the file exactly,
# fitted floats to 1e-9 relative (evals.results.differences).
CHECK_PRINTED = {"threshold": 4, "metrics": 3}


class Unscored:
    """Stands in for the scorer while features are extracted (the scorer is what is being trained)."""

    threshold = 0.0

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))

    def confidence(self, best: float) -> float:
        return best


def article_of(item: dict) -> str:
    return (item.get("evidence_files") or [item.get("source_article", "")])[0]


def holds_answer(text: str, item: dict) -> bool:
    body = f" {normalize(text)} "
    return any(f" {normalize(a)} " in body for group in item["answers"] for a in group if normalize(a))


SYNTHETIC_SHARE = 0.5  # of the training articles' answerable questions, one changed copy each (seeded)


def synthetic_items(items: list[dict]) -> list[dict]:
    """Changed copies of answerable questions of the training articles (not Zelda's: its real adversarial
    questions are the check), unanswerable, each naming its source article."""
    rng = random.Random(SEED)
    texts = {f.name: f.read_text(encoding="utf-8") for f in (DATA / "corpus").glob("*.txt")}
    out = []
    for item in items:
        art = article_of(item)
        if item["unanswerable"] or art not in TRAIN or art in CHECK_ARTICLES or rng.random() >= SYNTHETIC_SHARE:
            continue
        made = changed_condition(item["question"], texts[art], rng)
        if made:
            out.append({"id": f"{item['id']}-changed", "question": made[0], "answers": [], "unanswerable": True,
                        "synthetic": made[1], "source_article": art, "evidence_files": []})
    return out


def extract(index_dir: Path, ask: bool = False, keep: bool = True) -> dict[str, np.ndarray]:
    """Feature rows of every candidate of every question. By default the committed rows (ROWS) when they were
    made with today's FEATURES; `ask` (or stale rows) asks every question again through the pipeline and,
    with `keep`, writes ROWS anew."""
    from tqdm import tqdm

    from rag import Assistant, Settings

    if not ask and ROWS.is_file():
        data = dict(np.load(ROWS, allow_pickle=False))
        if tuple(data.pop("features").tolist()) == FEATURES:
            return data
        print(f"{ROWS.name} was made with other features: asking every question again", file=sys.stderr)
    items = [json.loads(line) for line in (DATA / "questions_all.jsonl").read_text(encoding="utf-8").splitlines() if line]
    items += synthetic_items(items)
    assistant = Assistant(settings=Settings(index_dir=index_dir, quiet=True), auto_build=False, scorer=Unscored())
    if not (index_dir / "chroma.sqlite3").is_file():
        assistant.index([DATA / "corpus"], progress=True)
    xs, labels, qids, articles, unans = [], [], [], [], []
    for n, item in enumerate(tqdm(items, desc="features", unit="q", mininterval=10)):
        ev = assistant.evidence(item["question"])
        art = article_of(item)
        for c, row in zip(ev.candidates, ev.features, strict=True):
            path = ev.snap.docs[c.doc_id].get("path", "")
            good = not item["unanswerable"] and path.endswith("/" + art) and holds_answer(c.text, item)
            xs.append(row)
            labels.append(int(good))
            qids.append(n)
            articles.append(art)
            unans.append(SYNTHETIC if item.get("synthetic") else int(item["unanswerable"]))
    data = {"x": np.asarray(xs, np.float32), "y": np.asarray(labels, np.int8), "qid": np.asarray(qids, np.int32),
            "article": np.asarray(articles), "unanswerable": np.asarray(unans, np.int8)}
    if keep:
        np.savez_compressed(ROWS, features=np.asarray(FEATURES), **data)
        print(f"wrote {ROWS}", file=sys.stderr)
    return data


def fit(x: np.ndarray, y: np.ndarray):
    import lightgbm as lgb

    return lgb.train(PARAMS, lgb.Dataset(x, y, feature_name=list(FEATURES), free_raw_data=False), ROUNDS)


def _relative(x: np.ndarray) -> np.ndarray:
    """Recompute the *_rel features of one question's rows (after some rows were removed)."""
    x = x.copy()
    for name in ("sem", "psem", "lex", "align"):
        i, j = FEATURES.index(name), FEATURES.index(f"{name}_rel")
        x[:, j] = x[:, i] - x[:, i].max()
    return x


def per_question(model, x: np.ndarray, y: np.ndarray, qid: np.ndarray, unans: np.ndarray,
                 probs: np.ndarray | None = None, masked: bool = False) -> dict[str, np.ndarray]:
    """Per question: the calibrator's inputs, whether the best sentence holds the answer, whether any does,
    and the kind (0 answerable, 1 unanswerable, 2 masked: an answerable question whose answer-holding
    sentences were removed from its candidates, as when the articles lack the answer)."""
    from rag.scorer import answer_features, answer_pool

    probs = model.predict(x) if probs is None else probs
    feats, correct, reachable, kind, empty = [], [], [], [], []

    def add(p: np.ndarray, rows_x: np.ndarray, labels: np.ndarray, k: int) -> None:
        pool = answer_pool(rows_x)  # as at run time: only typed sentences may answer a typed question
        empty.append(not len(pool))
        feats.append(answer_features(p[pool], rows_x[pool]) if len(pool) else answer_features(p, rows_x))
        correct.append(int(labels[pool][np.argmax(p[pool])]) if len(pool) else 0)
        reachable.append(int(labels.max()))
        kind.append(k)

    for q in np.unique(qid):
        rows = np.flatnonzero(qid == q)
        add(probs[rows], x[rows], y[rows], int(unans[rows[0]]))
        keep = rows[y[rows] == 0]
        if masked and not unans[rows[0]] and y[rows].any() and len(keep) >= 3:
            kx = _relative(x[keep])
            add(model.predict(kx), kx, y[keep], 2)
    return {"x": np.asarray(feats), "correct": np.asarray(correct), "reachable": np.asarray(reachable),
            "kind": np.asarray(kind), "unanswerable": (np.asarray(kind) > 0).astype(int), "empty": np.asarray(empty)}


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    from rag.metrics import auroc as measured

    value = measured(scores, positive)
    return float("nan") if value is None else value


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf >= lo) & ((conf < hi) | (hi == 1.0))
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - correct[inside].mean())
    return float(total)


def report(name: str, q: dict[str, np.ndarray], conf: np.ndarray, tau: float) -> dict[str, float]:
    ans, adv, masked, changed = q["kind"] == 0, q["kind"] == 1, q["kind"] == 2, q["kind"] == SYNTHETIC

    def share(mask: np.ndarray) -> float:
        return float((conf[mask] < tau).mean()) if mask.any() else float("nan")

    out = {
        "answerable": int(ans.sum()), "unanswerable": int(adv.sum()), "masked": int(masked.sum()),
        "reachable": float(q["reachable"][ans].mean()),
        "top1_accuracy": float(q["correct"][ans].mean()),
        "accuracy_at_threshold": float((q["correct"][ans] & (conf[ans] >= tau)).mean()),
        "false_refusals": share(ans),
        "abstention_unanswerable": share(adv),
        "abstention_masked": share(masked),
        "changed_condition": int(changed.sum()),
        "abstention_changed_condition": share(changed),
        "auroc_unanswerable": auroc(conf[ans | adv], ans[ans | adv].astype(int)) if adv.any() else float("nan"),
        "auroc_masked": auroc(conf[ans | masked], ans[ans | masked].astype(int)) if masked.any() else float("nan"),
        "ece": ece(conf, q["correct"].astype(float)),
    }
    print(f"{name}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in out.items()))
    return out


def compact(dump: dict) -> dict:
    """Only what rag/scorer.py reads of a LightGBM dump (the rest is counts and gains)."""
    def node(n: dict) -> dict:
        if "split_index" not in n:
            return {"leaf_value": n["leaf_value"]}
        return {"split_index": n["split_index"], "split_feature": n["split_feature"], "threshold": n["threshold"],
                "decision_type": n["decision_type"], "left_child": node(n["left_child"]),
                "right_child": node(n["right_child"])}
    return {"tree_info": [{"tree_structure": node(t["tree_structure"])} for t in dump["tree_info"]]}


def train(data: dict[str, np.ndarray], synthetic: bool = True) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rag.scorer import ANSWER_FEATURES

    if not synthetic:  # as before the changed-condition questions: for the comparison
        keep = data["unanswerable"] != SYNTHETIC
        data = {k: v[keep] for k, v in data.items()}
    x, y, qid, art, unans = data["x"], data["y"], data["qid"], data["article"], data["unanswerable"]
    train_rows = np.isin(art, TRAIN)
    test_rows = np.isin(art, HELD_OUT)
    # Out-of-fold over the training articles (leave one article out): what the calibrator and the threshold
    # are fitted on, so that neither sees the scorer's predictions on its own training rows.
    parts = []
    for held in TRAIN:
        fold = art == held
        model = fit(x[train_rows & ~fold], y[train_rows & ~fold])
        parts.append(per_question(model, x[fold], y[fold], qid[fold], unans[fold], masked=True))
    q_oof = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    fitted = ~q_oof["empty"]  # an empty pool abstains whatever the confidence: nothing to calibrate
    scaler = StandardScaler().fit(q_oof["x"][fitted])
    calibrator = LogisticRegression(max_iter=2000, C=1.0).fit(scaler.transform(q_oof["x"][fitted]),
                                                              q_oof["correct"][fitted])

    def confidence(q: dict[str, np.ndarray]) -> np.ndarray:
        return np.where(q["empty"], 0.0, calibrator.predict_proba(scaler.transform(q["x"]))[:, 1])

    conf_oof = confidence(q_oof)
    tau = float(np.quantile(conf_oof[q_oof["kind"] == 0], TARGET_FALSE_REFUSALS, method="lower"))
    print(f"threshold {tau:.4f} (out-of-fold over {len(TRAIN)} training articles, "
          f"false refusals <= {TARGET_FALSE_REFUSALS})")
    metrics = {"out_of_fold_training_articles": report("out-of-fold (training articles)", q_oof, conf_oof, tau)}

    final = fit(x[train_rows], y[train_rows])
    q_test = per_question(final, x[test_rows], y[test_rows], qid[test_rows], unans[test_rows], masked=True)
    metrics["held_out_articles"] = report("held-out articles", q_test, confidence(q_test), tau)
    spectre = np.isin(art[test_rows], ["Spectre_2015_film.txt"])
    q_sp = per_question(final, x[test_rows][spectre], y[test_rows][spectre], qid[test_rows][spectre],
                        unans[test_rows][spectre])
    metrics["held_out_spectre_only"] = report("held-out, Spectre only (its own answerable vs adversarial)", q_sp,
                                              confidence(q_sp), tau)

    # Beside it, on the same held-out questions: a logistic regression on the same features, and the best
    # sentence by cosine alone (the top-1 accuracy of sentence choice).
    logit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)).fit(x[train_rows], y[train_rows])
    for name, probs in (("logistic regression", logit.predict_proba(x[test_rows])[:, 1]),
                        ("best cosine", x[test_rows][:, FEATURES.index("sem")])):
        q = per_question(None, x[test_rows], y[test_rows], qid[test_rows], unans[test_rows], probs=probs)
        print(f"baseline {name}, held-out: top1_accuracy {q['correct'][q['kind'] == 0].mean():.3f}")
    gain = final.feature_importance("gain")
    importance = {f: round(float(g) / float(gain.sum()), 4) for f, g in zip(FEATURES, gain, strict=True)}
    return {
        "name": "rag evidence scorer",
        "version": VERSION,
        "features": list(FEATURES),
        "threshold": round(tau, 6),
        "target_false_refusals": TARGET_FALSE_REFUSALS,
        "calibration": {"features": list(ANSWER_FEATURES), "mean": scaler.mean_.tolist(),
                        "scale": scaler.scale_.tolist(), "coef": calibrator.coef_[0].tolist(),
                        "intercept": float(calibrator.intercept_[0])},
        "trained_on": {"data": "SQuAD 2.0 train, evals/data/squad2/questions_all.jsonl (CC BY-SA 4.0), and "
                               "changed-condition copies of the training articles' questions (synthetic_items)",
                       "changed_condition_questions": int(len(np.unique(qid[unans == SYNTHETIC]))),
                       "train_articles": TRAIN, "held_out_articles": HELD_OUT,
                       "rows": int(train_rows.sum()), "positives": int(y[train_rows].sum()),
                       "params": PARAMS, "rounds": ROUNDS},
        "metrics": metrics,
        "feature_gain_share": importance,
        "model": compact(final.dump_model()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, default=CACHE / "index-squad2",
                        help="Index of the SQuAD articles (built when missing). [default: evals/.cache/index-squad2]")
    parser.add_argument("--out", type=Path, default=OUT, help=f"Model file to write. [default: {OUT.relative_to(ROOT)}]")
    parser.add_argument("--check", action="store_true", help="Do not write; fail if the rebuilt file differs.")
    parser.add_argument("--ask", action="store_true",
                        help="Ask every question again through the pipeline (needs the index; about 2 minutes) and "
                             f"rewrite {ROWS.relative_to(ROOT)} instead of fitting on the committed rows.")
    args = parser.parse_args()
    rows = extract(args.index_dir, ask=args.ask, keep=not args.check)
    print("-- without the changed-condition questions (for comparison) --")
    before = train(rows, synthetic=False)["metrics"]
    print("-- with them (the shipped model) --")
    spec = train(rows)
    spec["metrics"]["without_changed_condition_questions"] = {
        k: before[k] for k in ("out_of_fold_training_articles", "held_out_articles")}
    spec["trained_on"]["rows_file"] = str(ROWS.relative_to(ROOT))
    spec["trained_on"]["rows_sha256"] = hashlib.sha256(
        b"".join(np.ascontiguousarray(rows[k]).tobytes() for k in ("x", "y", "qid", "unanswerable"))).hexdigest()
    text = json.dumps(spec, sort_keys=True, separators=(",", ":")) + "\n"
    print(f"\nchosen (the model file carries it): threshold {spec['threshold']}")
    save("train_scorer", {"threshold": spec["threshold"], "target_false_refusals": spec["target_false_refusals"],
                          "metrics": spec["metrics"]})
    if args.check:
        if not args.out.is_file():
            print(f"DIFFERS from the shipped file: there is no {args.out}")
            sys.exit(1)
        # Trees, features and settings exactly; fitted floats to 1e-9 relative (another CPU, BLAS or
        # scikit-learn release moves the calibrator's 13th-15th digit); the threshold to the 4 decimals and the
        # held-out figures to the 3 decimals this script prints them at.
        found = differences(json.loads(args.out.read_text(encoding="utf-8")), json.loads(text),
                            printed=CHECK_PRINTED)
        if found:
            print("DIFFERS from the shipped file:\n  " + "\n  ".join(found[:20]))
            sys.exit(1)
        exact = args.out.read_text(encoding="utf-8") == text
        print("identical to the shipped file" + ("" if exact else " (within the stated tolerance; not byte for byte)"))
        sys.exit(0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text) // 1024} KiB)")


if __name__ == "__main__":
    main()
