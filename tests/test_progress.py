"""Progress a person can read: a bar on a terminal; in a log (output redirected to a file) a line when a stage
starts and one when it ends, never `\\r` frames."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.progress import Bar, is_terminal


def test_in_a_log_a_stage_is_a_line_at_its_start_and_one_at_its_end():
    log = io.StringIO()
    with Bar(300, "Embedding", "text", stream=log) as bar:
        for _ in range(3):
            bar.update(100)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 2, log.getvalue()
    assert lines[0] == "Embedding: 300 texts…"
    assert lines[1].startswith("Embedding: 300 of 300 texts in ")


def test_on_a_terminal_it_is_a_bar_and_off_it_says_nothing():
    leader, follower = os.openpty()
    with open(follower, "w", closefd=True) as terminal:
        assert is_terminal(terminal)
        with Bar(3, "Embedding", "text", stream=terminal) as bar:
            bar.update(3)
        terminal.flush()
        drawn = os.read(leader, 65536).decode()
    os.close(leader)
    assert "\r" in drawn and "Embedding:   0%|" in drawn and "0/3" in drawn
    quiet = io.StringIO()
    with Bar(3, "Embedding", "text", enabled=False, stream=quiet) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""


@pytest.mark.integration
def test_rag_index_into_a_log_file_writes_lines_not_frames(tmp_path):
    exe = shutil.which("rag") or str(Path(sys.executable).parent / "rag")
    with open(tmp_path / "index.log", "w") as log:
        done = subprocess.run([exe, "index", "--index-dir", str(tmp_path / "index")], stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL, timeout=600, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    text = (tmp_path / "index.log").read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b[" not in text, text
    assert any(line.startswith("Embedding: ") and line.endswith("texts…") for line in text.splitlines()), text
    assert any(line.startswith("Embedding: ") and " s" in line and " of " in line for line in text.splitlines()), text
