"""`rag serve` as a subprocess for the service tests and evals/bench_soak_api.py: start it on a free loopback port, wait
for /healthz, read its memory, threads and open files from /proc, stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


def start_service(index_dir: Path, port: int, *, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
                  output: IO | int = subprocess.DEVNULL, seconds: float = 300) -> subprocess.Popen:
    """`python -m rag.cli serve --port PORT` on INDEX_DIR (the bundled index is built there when it is empty);
    returns once /healthz answers 200. Raises RuntimeError if it exits or does not answer in time."""
    full = os.environ | {"RAG_INDEX_DIR": str(index_dir), "GRADIO_ANALYTICS_ENABLED": "False",
                         "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "RAG_QUIET": "true",
                         "PYTHONPATH": str(ROOT)} | (env or {})
    full.pop("RAG_UI_AUTH", None)
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *args], cwd=ROOT,
                            env=full, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rag serve exited with {proc.returncode}")
        try:
            health(port)
            return proc
        except (OSError, ValueError):
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"rag serve did not answer on port {port} within {seconds:.0f}s")


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return json.loads(r.read())


def proc_stats(pid: int) -> dict[str, int]:
    """Resident memory now and at its peak (KiB), threads and open file descriptors of a running process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            fields[key] = int(value.split()[0])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_kb": fields["VmRSS"], "peak_rss_kb": fields["VmHWM"], "threads": fields["Threads"], "fds": fds}


def stop(proc: subprocess.Popen, seconds: float = 60, sig: int = signal.SIGTERM) -> int:
    """SIGTERM (or `sig`: SIGINT is Ctrl+C), then wait (SIGKILL after `seconds`); the exit code."""
    proc.send_signal(sig)
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
