"""`rag eval` end to end with the real model: report files, JSON keys, --gate, --compare, bad question files."""

import json

import pytest
from click.testing import CliRunner

from rag import Assistant, Settings
from rag.cli import cli
from rag.evaluate import QUESTIONS_FILE

pytestmark = pytest.mark.integration
KEYS = {"questions", "unanswerable", "retrieval_hit_at_5", "mrr", "answer_accuracy", "citation_precision",
        "citation_recall", "abstention_recall", "false_refusal_rate", "p50_ms"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, real_embedder):
    root = tmp_path_factory.mktemp("evalcli")
    Assistant(settings=Settings(index_dir=root / "index", quiet=True), embedder=real_embedder).index(progress=False)
    lines = QUESTIONS_FILE.read_text(encoding="utf-8").splitlines()
    small = [json.loads(x) for x in lines if json.loads(x)["id"] in ("q001", "q021", "q033", "q049")]
    questions = root / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in small), encoding="utf-8")
    return root, questions


def run(*args):
    return CliRunner().invoke(cli, ["eval", *map(str, args)], catch_exceptions=False)


def test_report_files_and_json_line(setup):
    root, questions = setup
    result = run("--questions", questions, "--index-dir", root / "index", "--report", root / "r1", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(metrics) >= KEYS
    assert (metrics["questions"], metrics["unanswerable"]) == (4, 1)
    assert metrics["answer_accuracy"] == 1.0 and metrics["abstention_recall"] == 1.0
    for name in ("report.json", "report.md", "accuracy_per_tag.png", "abstention_curve.png", "latency.png"):
        assert (root / "r1" / name).stat().st_size > 0, name
    report = json.loads((root / "r1" / "report.json").read_text())
    assert [r["verdict"] for r in report["rows"]] == ["correct", "correct", "abstained", "correct"]
    assert "| answer_accuracy |" in (root / "r1" / "report.md").read_text()


def test_gate_fails_below_a_floor_and_compare_prints_deltas(setup, tmp_path):
    root, questions = setup
    limits = tmp_path / "t.toml"
    limits.write_text("[floors]\nanswer_accuracy = 0.5\n")
    ok = run("--questions", questions, "--index-dir", root / "index", "--report", root / "r2", "--gate", limits, "-q")
    assert ok.exit_code == 0, ok.stderr
    limits.write_text("[floors]\nretrieval_hit_at_1 = 1.01\n")
    failed = run("--questions", questions, "--index-dir", root / "index", "--report", root / "r3", "--gate", limits,
                 "--compare", root / "r2", "-q")
    assert failed.exit_code == 1
    assert "eval gate failed: retrieval_hit_at_1 = 1.000 is below the floor 1.01" in failed.stderr
    assert "change against the earlier report:" in failed.stdout and "answer_accuracy" in failed.stdout


def test_malformed_question_file_is_one_line_error(setup, tmp_path):
    root, _ = setup
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "?", "answers": [["x"]], "evidence": []}\n')
    result = run("--questions", bad, "--index-dir", root / "index", "--report", tmp_path / "r", "-q")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {bad}:1: 'evidence' needs objects with 'doc_id' and 'quote' (or give 'evidence_files')"


def test_missing_index_is_one_line_error(setup, tmp_path):
    _, questions = setup
    result = run("--questions", questions, "--index-dir", tmp_path / "none", "--report", tmp_path / "r", "-q")
    assert result.exit_code == 1 and "run `rag index` first" in result.stderr
