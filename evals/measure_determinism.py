"""The same answer every time: ask a suite in several processes (each with its own hash seed and thread count)
and compare every answer, citation, short answer and confidence.

    python -m evals.measure_determinism --suite squad2                 # two processes, compared
    python -m evals.measure_determinism --suite squad2 --runs 3
    python -m evals.measure_determinism --ask squad2 --out answers.json   # one process's answers (what each run does)

The suite's index is built once (evals/.cache, as `rag eval` builds it); the runs then only read it. Each run is a
new process with another PYTHONHASHSEED (set and dict order of strings) and another RAG_THREADS (onnxruntime's
threads): what differs between processes on one machine. Answers must agree exactly and confidences to TOLERANCE.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "evals" / ".cache"
TOLERANCE = 1e-6


def answers(suite: str, cache: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Every question of the suite asked once: what an answer shows of itself."""
    from rag import Assistant, Settings
    from rag.evaluate import load_questions
    from rag.suites import corpus_paths, load_suites

    _, suites = load_suites()
    assistant = Assistant(settings=Settings(index_dir=cache / f"index-{suite}", quiet=True), auto_build=False)
    assistant.index(corpus_paths(suites[suite]), progress=False)
    out = []
    for item in load_questions(suites[suite]["questions"])[:limit]:
        a = assistant.ask(item["question"], item.get("history"))
        out.append({"id": item["id"], "text": a.text, "short": a.short, "abstained": a.abstained,
                    "confidence": a.confidence,
                    "citations": [[c.doc_id, c.start, c.end, c.not_answer] for c in a.citations]})
    return out


def differences(runs: list[list[dict[str, Any]]], tolerance: float = TOLERANCE) -> list[str]:
    """What differs between the first run and each other one."""
    out = []
    for n, other in enumerate(runs[1:], 2):
        for a, b in zip(runs[0], other, strict=True):
            for key in ("text", "short", "abstained", "citations"):
                if a[key] != b[key]:
                    out.append(f"run {n}, {a['id']}: {key} {str(a[key])[:80]!r} vs {str(b[key])[:80]!r}")
            if abs(a["confidence"] - b["confidence"]) > tolerance:
                out.append(f"run {n}, {a['id']}: confidence {a['confidence']} vs {b['confidence']}")
    return out


def run_processes(suite: str, runs: int, cache: Path, limit: int | None = None) -> list[list[dict[str, Any]]]:
    answers(suite, cache, limit=1)  # build the index once, here
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            out = Path(tmp) / f"run{n}.json"
            env = os.environ | {"PYTHONHASHSEED": str(n + 1), "RAG_THREADS": str(1 + n % 2)}
            cmd = [sys.executable, "-m", "evals.measure_determinism", "--ask", suite, "--out", str(out),
                   "--cache", str(cache)] + (["--limit", str(limit)] if limit else [])
            subprocess.run(cmd, cwd=ROOT, env=env, check=True)
            results.append(json.loads(out.read_text(encoding="utf-8")))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="squad2", help="Suite of evals/suites.toml to ask. [default: squad2]")
    parser.add_argument("--runs", type=int, default=2, help="Processes to compare. [default: 2]")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N questions.")
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where the suites' indexes are kept.")
    parser.add_argument("--ask", metavar="SUITE", help="Ask SUITE in this process and write its answers to --out.")
    parser.add_argument("--out", type=Path, help="With --ask: the JSON file to write.")
    args = parser.parse_args()
    if args.ask:
        args.out.write_text(json.dumps(answers(args.ask, args.cache, args.limit)), encoding="utf-8")
        return
    started = time.perf_counter()
    runs = run_processes(args.suite, args.runs, args.cache, args.limit)
    found = differences(runs)
    print(f"{args.suite}: {len(runs[0])} questions, {args.runs} processes, {len(found)} differences "
          f"({time.perf_counter() - started:.0f} s)")
    for line in found[:40]:
        print("  " + line)
    from evals.results import save

    save("measure_determinism", {"suite": args.suite, "questions": len(runs[0]), "runs": args.runs,
                                 "differences": len(found), "examples": found[:20]})
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
