"""Shared by the web tests and evals/bench_ui.py: free loopback ports, `python ui.py` as a subprocess, and the
flags that keep Debian's headless chromium off the network (Playwright drives it; it never downloads one)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A loopback port nobody listens on (the socket is closed again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str | None:
    """Debian's chromium, or None when it is not installed."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


def start_ui(index_dir: Path, port: int, output: IO | int = subprocess.DEVNULL, cwd: Path | None = None,
             seconds: float = 300, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python ui.py --port PORT` on INDEX_DIR (built from the bundled articles if empty), offline; returns once
    the page answers. Raises RuntimeError if it exits or does not answer in time."""
    extra = env or {}
    env = os.environ | {"RAG_INDEX_DIR": str(index_dir), "GRADIO_ANALYTICS_ENABLED": "False",
                        "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "RAG_QUIET": "true"} | extra
    env.pop("RAG_UI_AUTH", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "ui.py"), "--port", str(port)], cwd=cwd, env=env,
                            stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ui.py exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"ui.py did not answer on port {port} within {seconds:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
