"""Eval results that stay (evals/results.py): each script keeps its figures with how they were made, and the
tables of evals/README.md are exactly what those files hold (cog)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals import results

ROOT = Path(__file__).resolve().parents[1]


def test_save_keeps_figures_with_how_they_were_made(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALS_RESULTS_DIR", str(tmp_path))
    path = results.save("example", {"accuracy": 0.5, "rows": [{"a": 1}]}, command="python -m evals.example --x 1")
    record = json.loads(path.read_text())
    assert path == tmp_path / "example.json"
    assert record["figures"] == {"accuracy": 0.5, "rows": [{"a": 1}]}
    assert record["command"] == "python -m evals.example --x 1"
    assert record["date"][:2] == "20" and record["machine"]["cpus"] >= 1
    assert record["commit"] is None or len(record["commit"]) >= 7  # None outside a git checkout
    assert results.load("example", tmp_path)["figures"]["accuracy"] == 0.5
    with pytest.raises(ValueError):
        results.save("../escape", {})
    with pytest.raises(FileNotFoundError, match="run the script"):
        results.load("never-run", tmp_path)


def test_a_script_run_as_a_module_records_its_command(tmp_path):
    env = {"EVALS_RESULTS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "from evals.results import save; save('probe', {'x': 1})"
    (tmp_path / "probe_mod.py").write_text(code)
    done = subprocess.run([sys.executable, "-m", "probe_mod", "--flag", "a b"], cwd=tmp_path, capture_output=True,
                          text=True, env=env | {"PYTHONPATH": f"{ROOT}:{tmp_path}"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "probe.json").read_text())["command"] == "python -m probe_mod --flag 'a b'"


def test_suite_figures_come_from_a_rag_eval_summary(tmp_path):
    summary = {"suites": {"s1": {"description": "d", "metrics": {"answer_accuracy": 0.7, "curve": [1, 2], "auroc": None,
                                                                 "questions": 10, "answerable": 10, "unanswerable": 0,
                                                                 "abstention_recall": 0.0}},
                          "s2": {"metrics": {"answer_accuracy": 0.5, "auroc": None, "questions": 4, "answerable": 2,
                                             "unanswerable": 2, "abstention_recall": 0.5}}},
               "macro": {"answer_accuracy": 0.6, "abstention_recall": 0.5}}
    figures = results.suites_from_summary(summary)
    assert figures["suites"]["s1"] == {"answer_accuracy": 0.7, "auroc": None, "questions": 10, "answerable": 10,
                                       "unanswerable": 0, "abstention_recall": 0.0}  # the curve stays in the report
    with pytest.raises(ValueError, match="not a `rag eval"):
        results.suites_from_summary({"metrics": {}})
    results.save("suites", figures, folder=tmp_path)
    table = results.suites_table(tmp_path)
    assert "| answer_accuracy | 0.700 | 0.500 | 0.600 |" in table
    assert "| abstention_recall | — | 0.500 | 0.500 |" in table  # s1 has nothing to abstain on
    assert "auroc" not in table  # measured nowhere: left out
    results.save("one", {"suites": {"s2": figures["suites"]["s2"]}, "macro": {}}, folder=tmp_path)
    assert "| answer_accuracy | 0.500 |" in results.suites_table(tmp_path, "one")  # no macro of one suite


def test_every_kept_result_is_well_formed():
    files = sorted((ROOT / "evals" / "results").glob("*.json"))
    assert files, "no results kept"
    for path in files:
        record = json.loads(path.read_text())
        assert record["name"] == path.stem
        assert record["command"].startswith(("python -m evals.", "rag eval")), record["command"]
        assert {"date", "commit", "machine", "figures"} <= set(record), path.name


def test_the_readme_tables_are_what_the_results_hold():
    """`cog --check`: regenerating evals/README.md from evals/results/*.json changes nothing."""
    cog = shutil.which("cog", path=str(Path(sys.executable).parent))
    assert cog, "cogapp (a dev extra) is missing: make install-dev"
    done = subprocess.run([cog, "--check", "--diff", "-P", "-I", str(ROOT), "evals/README.md"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, ("evals/README.md is not what evals/results/ holds; run "
                                  "`cog -r -P -I . evals/README.md`\n" + done.stdout[-3000:] + done.stderr[-2000:])
