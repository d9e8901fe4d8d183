"""The ledger (rag/tuning.py) agrees with the code that uses it, with what the tuning scripts last kept
(evals/results/*.json), with the shipped model files, and, for the scripts that take seconds, with a rerun."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import tuning
from rag.tuning import LEDGER

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "evals" / "results"


def lookup(record: dict, path: str):
    value = record["figures"]
    for part in path.split("."):
        value = value[part]
    return value


def test_every_constant_of_the_ledger_has_one_entry_with_its_value():
    constants = {n: v for n, v in vars(tuning).items() if n.isupper() and isinstance(v, int | float)}
    names = [e.name for e in LEDGER]
    assert len(names) == len(set(names)), "an entry is written twice"
    assert set(names) == set(constants), f"constants without an entry or entries without a constant: " \
                                         f"{set(names) ^ set(constants)}"
    for e in LEDGER:
        assert e.value == constants[e.name], e.name
        assert e.source and e.why and e.used_in, f"{e.name}: value, use, source and reason are all required"


def test_each_entry_is_used_where_it_says():
    """Every module an entry names in `used_in` (module.function, or Settings.field) imports the constant."""
    import re

    for e in LEDGER:
        named = {m.lower() for m in re.findall(r"\b([A-Za-z_]+)\.(?!py\b)[A-Za-z_]+", e.used_in)}
        named = {m for m in named if (ROOT / "rag" / f"{m}.py").is_file()}
        assert named, f"{e.name}: used_in names no module of rag/"
        for module in named:
            source = (ROOT / "rag" / f"{module}.py").read_text(encoding="utf-8")
            assert re.search(rf"\b{e.name}\b", source), f"{e.name} is not used in rag/{module}.py"


def test_sources_name_scripts_that_exist():
    for e in LEDGER:
        for word in e.source.replace("(", " ").replace(")", " ").replace("'s", "").split():
            if word.startswith("evals/") and word.endswith(".py"):
                assert (ROOT / word).is_file(), f"{e.name}: {word} does not exist"


def test_nothing_in_rag_writes_a_ledger_number_as_a_literal_default():
    """The modules that use a ledger number import it: no `= 0.75`-style copy of a cosine bar elsewhere."""
    bars = {e.value for e in LEDGER if isinstance(e.value, float) and 0 < e.value < 1}
    offenders = []
    for path in (ROOT / "rag").glob("*.py"):
        if path.name == "tuning.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                defaults = [d for d in node.args.defaults + node.args.kw_defaults if d is not None]
                offenders += [f"{path.name}:{node.name}={d.value}" for d in defaults
                              if isinstance(d, ast.Constant) and d.value in bars]
    assert not offenders, offenders


def test_each_tuned_entry_agrees_with_what_its_script_kept():
    """value == the script's choice, or the entry says the script chooses otherwise (script_says) and why."""
    for e in LEDGER:
        if not e.result:
            continue
        name, path = e.result.split(":")
        record = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        chosen = lookup(record, path)
        expected = e.value if e.script_says is None else e.script_says
        assert chosen == expected, (f"{e.name}: the ledger holds {e.value} (script_says {e.script_says}) but "
                                    f"`{record['command']}` kept {chosen} on {record['date']}")
        if e.script_says is not None:
            assert str(e.script_says) in e.why.replace("/", " "), f"{e.name}: `why` must say what the script chose"


def test_model_thresholds_agree_with_their_training_scripts():
    scorer = json.loads((ROOT / "rag" / "models" / "evidence_scorer.json").read_text(encoding="utf-8"))
    kept = json.loads((RESULTS / "train_scorer.json").read_text(encoding="utf-8"))
    assert scorer["threshold"] == kept["figures"]["threshold"]
    assert scorer["metrics"] == kept["figures"]["metrics"]
    reader = json.loads((ROOT / "rag" / "models" / "reader.json").read_text(encoding="utf-8"))
    heldout = json.loads((RESULTS / "train_reader-heldout.json").read_text(encoding="utf-8"))
    assert reader["threshold"] == heldout["figures"]["threshold"] and reader["top_n"] == heldout["figures"]["top_n"]


def rerun(module: str, tmp_path: Path, *args: str) -> dict:
    env = os.environ | {"EVALS_RESULTS_DIR": str(tmp_path / "results")}
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    name = module.split(".")[-1]
    return {"stdout": done.stdout, "record": json.loads((tmp_path / "results" / f"{name}.json").read_text())}


@pytest.mark.slow
def test_cheap_tuning_scripts_rerun_to_the_ledger(tmp_path):
    """tune_support and tune_chunking (about a minute together, real model) choose what the ledger says they
    choose, and print it ready to paste."""
    for module in ("evals.tune_support", "evals.tune_chunking"):
        out = rerun(module, tmp_path)
        assert "paste into rag/tuning.py" in out["stdout"]
        for e in LEDGER:
            if e.result.startswith(module.split(".")[-1] + ":"):
                chosen = lookup(out["record"], e.result.split(":")[1])
                assert chosen == (e.value if e.script_says is None else e.script_says), e.name
                assert f"{e.name} = {chosen}" in out["stdout"]


@pytest.mark.slow
def test_the_evidence_scorer_refits_to_the_shipped_file(tmp_path):
    """`python -m evals.train_scorer --check` fits the scorer again on the committed rows: the shipped model's
    trees exactly, fitted floats to 1e-9 relative, the threshold and figures to their printed precision
    (seconds; needs the dev extras' lightgbm)."""
    pytest.importorskip("lightgbm")
    out = rerun("evals.train_scorer", tmp_path, "--check")
    assert "identical to the shipped file" in out["stdout"]


def test_a_rebuilt_model_is_compared_with_a_stated_tolerance_not_bytes():
    """What another CPU or BLAS changes (the 13th digit of a coefficient) is the same model; a changed tree, a
    changed feature or a threshold that moves at its printed precision is not."""
    from evals.results import differences

    shipped = {"threshold": 0.051311, "metrics": {"acc": 0.6354359925788498, "nan": float("nan")},
               "calibration": {"coef": [0.16636030551402783, -1.5]}, "features": ["a", "b"],
               "model": {"tree_info": [{"tree_structure": {"split_feature": 3, "threshold": 0.25,
                                                           "left_child": {"leaf_value": 0.1}}}]}}
    import copy

    same = copy.deepcopy(shipped)
    same["calibration"]["coef"][0] = 0.1663603055140216  # the refit of issue 28
    same["metrics"]["acc"] = 0.63543599257884
    assert differences(shipped, same, printed={"threshold": 4, "metrics": 3}) == []
    for change, where in ((lambda d: d["model"]["tree_info"][0]["tree_structure"].update(split_feature=4), "split_feature"),
                          (lambda d: d["calibration"]["coef"].__setitem__(1, -1.5000001), "coef[1]"),
                          (lambda d: d.update(threshold=0.0521), "threshold"),
                          (lambda d: d["metrics"].update(acc=0.637), "metrics.acc"),
                          (lambda d: d["features"].append("c"), "features"),
                          (lambda d: d.pop("features"), "keys")):
        other = copy.deepcopy(shipped)
        change(other)
        found = differences(shipped, other, printed={"threshold": 4, "metrics": 3})
        assert len(found) == 1 and where in found[0], (where, found)


def test_the_measured_combination_sees_the_first_pass_and_the_readers_order():
    """evals/train_reader.py combine (a measurement, issue 28): each read candidate's row is its first-pass
    features, then the first pass's log-odds and rank, the reader's logit, its distance below the best, its rank."""
    import numpy as np

    from evals.train_reader import COMBINE_EXTRA, combination_rows

    x = np.arange(6, dtype=float).reshape(3, 2)
    rows = combination_rows(x, np.asarray([2.0, -1.0, 0.5]), np.asarray([0.2, 0.9, 0.5]))
    assert rows.shape == (3, 2 + len(COMBINE_EXTRA)) and (rows[:, :2] == x).all()
    extra = dict(zip(COMBINE_EXTRA, rows[:, 2:].T, strict=True))
    assert extra["first_rank"].tolist() == [2, 0, 1] and extra["reader_rank"].tolist() == [0, 2, 1]
    assert extra["reader_rel"].tolist() == [0.0, -3.0, -1.5]
    assert extra["first_log_odds"][1] > 0 > extra["first_log_odds"][0]
