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
Beside them, ten times as many *varied* questions (evals/varied.py: the reader's training split of SQuADShifts —
new Wikipedia, Reddit, Amazon reviews — and SelQA, 28,106 questions over 2,881 files, asked over their own index;
their rows are committed as VARIED_ROWS), with changed-condition copies of VARIED_SYNTHETIC_SHARE of them. Their
development articles (the `dev-varied` suite's) are not among them. `--compare` fits the SQuAD-only model beside
the shipped one.

Split, by article (no article on both sides):
- training articles (TRAIN, and the varied ones): the model is fitted here; the calibration map and the
  abstention threshold come from out-of-fold predictions (each SQuAD training article a fold, the varied articles
  in VARIED_FOLDS folds by a hash of their name); the varied questions' out-of-fold probabilities are kept
  (evals/.cache/varied/oof.npz) for `python -m evals.train_reader combine`;
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
# The varied questions' rows (evals/varied.py; features as float16) and the candidates of those the reader never
# read (evals/train_reader.py combine reads them): `--varied` only, not committed (the shipped model does not use
# them: see the module's docstring).
VARIED_ROWS = CACHE / "varied" / "rows.npz"
VARIED_MODEL = CACHE / "varied" / "evidence_scorer.json"  # the model fitted with them (`--varied`; not shipped)
VARIED_SIDE = CACHE / "varied" / "candidates.jsonl.gz"
VARIED_SYNTHETIC_SHARE = 0.25
VARIED_FOLDS = 4  # the varied articles' share of the out-of-fold split: by a hash of the file name
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
    """The sentence holds a gold answer (SQuAD, SQuADShifts), or is one of the answer sentences SelQA marks."""
    body = f" {normalize(text)} "
    if any(f" {normalize(a)} " in body for group in item["answers"] for a in group if normalize(a)):
        return True
    return any(s and (s in body or body.strip() in s) for s in (normalize(x) for x in item.get("sentences", ())))


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


def varied_items() -> tuple[list[dict], int]:
    """The varied questions (evals/varied.py: the reader's training split of SQuADShifts and SelQA) with
    changed-condition copies of VARIED_SYNTHETIC_SHARE of the answerable ones (seeded), each naming its file;
    and how many of the reader's shuffled training questions the reader read."""
    from evals import varied

    items, seen = varied.load()
    rng = random.Random(SEED)
    out = []
    for item in items:
        item = dict(item, evidence_files=[item["article"]], source_article=item["article"])
        out.append(item)
        if item["unanswerable"] or rng.random() >= VARIED_SYNTHETIC_SHARE:
            continue
        text = (varied.CORPUS / item["article"]).read_text(encoding="utf-8")
        made = changed_condition(item["question"], text, rng)
        if made:
            out.append(dict(item, id=f"{item['id']}-changed", question=made[0], answers=[], sentences=[],
                            unanswerable=True, synthetic=made[1]))
    return out, seen


def ask_rows(assistant, items: list[dict], side: Path | None = None, wanted=lambda item: False) -> dict[str, np.ndarray]:
    """Feature rows of every candidate of every item, asked through the pipeline; with `side`, each `wanted`
    item's candidates (text, the reader's context, byline) are written there as one JSON line per item."""
    import gzip

    from tqdm import tqdm

    from rag.answerer import context

    xs, labels, qids, articles, unans = [], [], [], [], []
    handle = gzip.open(side, "wt", encoding="utf-8") if side else None  # noqa: SIM115 (closed below)
    try:
        for n, item in enumerate(tqdm(items, desc="features", unit="q", mininterval=30)):
            ev = assistant.evidence(item["question"])
            art = article_of(item)
            ys = []
            for c, row in zip(ev.candidates, ev.features, strict=True):
                path = ev.snap.docs[c.doc_id].get("path", "")
                good = not item["unanswerable"] and path.endswith("/" + art) and holds_answer(c.text, item)
                xs.append(row)
                ys.append(int(good))
                qids.append(n)
                articles.append(art)
                unans.append(SYNTHETIC if item.get("synthetic") else int(item["unanswerable"]))
            labels += ys
            if handle and wanted(item):
                handle.write(json.dumps({"qid": n, "q": item["question"], "group": item.get("group", -1),
                                         "src": item.get("src", ""),
                                         "cands": [[c.text, context(ev.gathered, c), c.passage.author]
                                                   for c in ev.candidates]}, ensure_ascii=False) + "\n")
    finally:
        if handle:
            handle.close()
    return {"x": np.asarray(xs, np.float32), "y": np.asarray(labels, np.int8), "qid": np.asarray(qids, np.int32),
            "article": np.asarray(articles), "unanswerable": np.asarray(unans, np.int8)}


def extract_varied(index_dir: Path, ask: bool = False, keep: bool = True) -> dict[str, np.ndarray]:
    """Feature rows of the varied questions (evals/varied.py): the committed VARIED_ROWS when made with today's
    FEATURES, else asked again through the pipeline over their own index (`index_dir`, built when missing);
    the candidates of the questions the reader never read go to VARIED_SIDE (for evals/train_reader.py combine)."""
    from evals import varied
    from rag import Assistant, Settings

    if not ask and VARIED_ROWS.is_file():
        data = dict(np.load(VARIED_ROWS, allow_pickle=False))
        if tuple(data.pop("features").tolist()) == FEATURES:
            data["x"] = data["x"].astype(np.float32)
            data["article"] = data.pop("article_names")[data.pop("article_code")]
            return data
        print(f"{VARIED_ROWS.name} was made with other features: asking every varied question again", file=sys.stderr)
    items, seen = varied_items()
    assistant = Assistant(settings=Settings(index_dir=index_dir, quiet=True), auto_build=False, scorer=Unscored())
    if not (index_dir / "chroma.sqlite3").is_file():
        assistant.index([varied.CORPUS], progress=True)
    data = ask_rows(assistant, items, VARIED_SIDE, lambda item: item["group"] >= seen)
    data["article"] = np.asarray(["varied:" + a for a in data["article"]])
    if keep:
        VARIED_ROWS.parent.mkdir(parents=True, exist_ok=True)
        names, code = np.unique(data["article"], return_inverse=True)  # the file names once, not per row
        np.savez_compressed(VARIED_ROWS, features=np.asarray(FEATURES), x=data["x"].astype(np.float16), y=data["y"],
                            qid=data["qid"], unanswerable=data["unanswerable"], article_names=names,
                            article_code=code.astype(np.int32))
        print(f"wrote {VARIED_ROWS}", file=sys.stderr)
    data["x"] = data["x"].astype(np.float16).astype(np.float32)  # as committed: the same fit either way
    return data


def extract(index_dir: Path, ask: bool = False, keep: bool = True) -> dict[str, np.ndarray]:
    """Feature rows of every candidate of every question. By default the committed rows (ROWS) when they were
    made with today's FEATURES; `ask` (or stale rows) asks every question again through the pipeline and,
    with `keep`, writes ROWS anew."""
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
    data = ask_rows(assistant, items)
    if keep:
        np.savez_compressed(ROWS, features=np.asarray(FEATURES), **data)
        print(f"wrote {ROWS}", file=sys.stderr)
    return data


def merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Two row sets as one (b's question numbers after a's)."""
    offset = int(a["qid"].max()) + 1 if len(a["qid"]) else 0
    return {k: np.concatenate([a[k], b[k] + offset if k == "qid" else b[k]]) for k in ("x", "y", "qid", "article",
                                                                                      "unanswerable")}


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
    feats, correct, reachable, kind, empty, qids = [], [], [], [], [], []

    def add(p: np.ndarray, rows_x: np.ndarray, labels: np.ndarray, k: int, q: int) -> None:
        qids.append(q)
        pool = answer_pool(rows_x)  # as at run time: only typed sentences may answer a typed question
        empty.append(not len(pool))
        feats.append(answer_features(p[pool], rows_x[pool]) if len(pool) else answer_features(p, rows_x))
        correct.append(int(labels[pool][np.argmax(p[pool])]) if len(pool) else 0)
        reachable.append(int(labels.max()))
        kind.append(k)

    for q in np.unique(qid):
        rows = np.flatnonzero(qid == q)
        add(probs[rows], x[rows], y[rows], int(unans[rows[0]]), int(q))
        keep = rows[y[rows] == 0]
        if masked and not unans[rows[0]] and y[rows].any() and len(keep) >= 3:
            kx = _relative(x[keep])
            add(model.predict(kx), kx, y[keep], 2, int(q))
    return {"x": np.asarray(feats), "correct": np.asarray(correct), "reachable": np.asarray(reachable),
            "kind": np.asarray(kind), "unanswerable": (np.asarray(kind) > 0).astype(int), "empty": np.asarray(empty),
            "qid": np.asarray(qids)}


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


def train(data: dict[str, np.ndarray], synthetic: bool = True) -> tuple[dict, np.ndarray]:
    """The model file's contents (fitted on the training rows, figures on the held-out ones) and each row's
    out-of-fold probability (NaN outside the training articles: what `train_reader combine` reads)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rag.scorer import ANSWER_FEATURES

    if not synthetic:  # as before the changed-condition questions: for the comparison
        keep = data["unanswerable"] != SYNTHETIC
        data = {k: v[keep] for k, v in data.items()}
    x, y, qid, art, unans = data["x"], data["y"], data["qid"], data["article"], data["unanswerable"]
    varied = np.char.startswith(art.astype(str), "varied:")
    train_rows = np.isin(art, TRAIN) | varied
    test_rows = np.isin(art, HELD_OUT)
    # Out-of-fold over the training articles (each SQuAD training article a fold of its own; the varied articles
    # in VARIED_FOLDS folds by a hash of their name): what the calibrator and the threshold are fitted on, so
    # that neither sees the scorer's predictions on its own training rows.
    folds = [art == held for held in TRAIN]
    if varied.any():
        bucket = np.asarray([int(hashlib.sha256(a.encode()).hexdigest()[:8], 16) % VARIED_FOLDS for a in art[varied]])
        for b in range(VARIED_FOLDS):
            fold = np.zeros(len(art), dtype=bool)
            fold[np.flatnonzero(varied)[bucket == b]] = True
            folds.append(fold)
    parts = []
    oof = np.full(len(x), np.nan)
    for fold in folds:
        model = fit(x[train_rows & ~fold], y[train_rows & ~fold])
        oof[fold] = model.predict(x[fold])
        parts.append(per_question(model, x[fold], y[fold], qid[fold], unans[fold], probs=oof[fold], masked=True))
    q_oof = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    fitted = ~q_oof["empty"]  # an empty pool abstains whatever the confidence: nothing to calibrate
    scaler = StandardScaler().fit(q_oof["x"][fitted])
    calibrator = LogisticRegression(max_iter=2000, C=1.0).fit(scaler.transform(q_oof["x"][fitted]),
                                                              q_oof["correct"][fitted])

    def confidence(q: dict[str, np.ndarray]) -> np.ndarray:
        return np.where(q["empty"], 0.0, calibrator.predict_proba(scaler.transform(q["x"]))[:, 1])

    conf_oof = confidence(q_oof)
    tau = float(np.quantile(conf_oof[q_oof["kind"] == 0], TARGET_FALSE_REFUSALS, method="lower"))
    print(f"threshold {tau:.4f} (out-of-fold over {len(TRAIN)} SQuAD training articles"
          + (f" and {len(np.unique(art[varied]))} varied ones" if varied.any() else "") + ", "
          f"false refusals <= {TARGET_FALSE_REFUSALS})")
    metrics = {"out_of_fold_training_articles": report("out-of-fold (training articles)", q_oof, conf_oof, tau)}
    if varied.any():
        squad_q = np.isin(q_oof["qid"], np.unique(qid[~varied]))
        metrics["out_of_fold_squad_articles"] = report(
            "out-of-fold, SQuAD training articles only (Zelda's real adversarial questions)",
            {k: v[squad_q] for k, v in q_oof.items()}, conf_oof[squad_q], tau)

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
    } | ({"varied": {"articles": int(len(np.unique(art[varied]))), "questions": int(len(np.unique(qid[varied])))}}
         if varied.any() else {}), oof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, default=CACHE / "index-squad2",
                        help="Index of the SQuAD articles (built when missing). [default: evals/.cache/index-squad2]")
    parser.add_argument("--out", type=Path, default=OUT, help=f"Model file to write. [default: {OUT.relative_to(ROOT)}]")
    parser.add_argument("--check", action="store_true", help="Do not write; fail if the rebuilt file differs.")
    parser.add_argument("--ask", action="store_true",
                        help="Ask every question again through the pipeline (needs the index; about 2 minutes) and "
                             f"rewrite {ROWS.relative_to(ROOT)} instead of fitting on the committed rows.")
    parser.add_argument("--varied-index-dir", type=Path, default=CACHE / "index-varied",
                        help="Index of the varied articles (evals/varied.py; built when missing). "
                             "[default: evals/.cache/index-varied]")
    parser.add_argument("--varied", action="store_true",
                        help="Also fit with the varied questions (evals/varied.py; asked over their own index when "
                             f"{VARIED_ROWS.relative_to(ROOT)} is missing: about 30 minutes with the index) and print "
                             "and keep (evals/results/train_scorer-varied.json) its figures beside the shipped "
                             "model's; writes the out-of-fold probabilities `train_reader combine` reads. Never "
                             "writes the model file.")
    args = parser.parse_args()
    rows = extract(args.index_dir, ask=args.ask, keep=not args.check)
    if args.varied:
        more = extract_varied(args.varied_index_dir, ask=args.ask)
        print("-- with the varied questions (a comparison: not the shipped model) --")
        spec, oof = train(merge(rows, more))
        np.savez_compressed(CACHE / "varied" / "oof.npz", probs=oof[len(rows["y"]):], qid=more["qid"])
        VARIED_MODEL.write_text(json.dumps(spec, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
        save("train_scorer-varied", {"threshold": spec["threshold"], "trained_on": {
            k: v for k, v in spec["trained_on"].items() if k != "params"}, "metrics": spec["metrics"]})
    print("-- without the changed-condition questions (for comparison) --")
    before = train(rows, synthetic=False)[0]["metrics"]
    print("-- with them (the shipped model) --")
    spec, _ = train(rows)
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
