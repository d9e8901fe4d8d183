"""What the repository tracks: source, data and shipped models, never build artefacts."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_build_artefact_is_tracked():
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    artefacts = [f for f in tracked.splitlines()
                 if f.endswith((".whl", ".tar.gz")) or ".egg-info/" in f or f.startswith(("build/", "dist/"))]
    assert artefacts == [], f"build artefacts are tracked: {artefacts} (git rm --cached them; .gitignore has them)"
