"""Named eval suites (evals/suites.toml): a corpus, a question file and the floors CI gates on, per suite.

`rag eval --suite NAME` (repeatable, or `all`) indexes each suite's corpus into its own index under the cache
folder (incrementally: a second run embeds nothing), runs `evaluate.evaluate` on it, writes one report folder
per suite and a summary with every suite side by side and their macro average.
"""

from __future__ import annotations

import json
import math
import statistics
import tomllib
from pathlib import Path
from typing import Any

from .errors import RagError

SUITES_FILE = Path(__file__).resolve().parents[1] / "evals" / "suites.toml"  # in a checkout
MACRO_KEYS = ("answer_accuracy", "false_refusal_rate", "abstention_recall", "citation_precision", "citation_recall",
              "auroc", "abstention_at_5pct_false_refusals", "ece", "short_em", "short_f1")


def load_suites(path: Path | None = None) -> tuple[Path, dict[str, dict[str, Any]]]:
    """(the file, its suites by name) with paths made absolute against the file's checkout."""
    path = path or SUITES_FILE
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RagError(f"Cannot read the suites file {path}: {exc}") from exc
    root = path.resolve().parents[1]
    suites = spec.get("suites", {})
    if not suites:
        raise RagError(f"{path}: no [suites.NAME] tables")
    for name, suite in suites.items():
        for key in ("questions", "corpus"):
            if key not in suite:
                raise RagError(f"{path}: suite {name!r} has no {key!r}")
        suite["questions"] = root / suite["questions"]
        if suite["corpus"] != "bundled":
            suite["corpus"] = root / suite["corpus"]
        if "corpus_files" in suite:
            suite["corpus_files"] = root / suite["corpus_files"]
    return path, suites


def pick(suites: dict[str, dict[str, Any]], names: tuple[str, ...]) -> list[str]:
    """The suites to run, in order: "all" stands for every suite without `default = false`; others by name."""
    unknown = [n for n in names if n not in suites and n != "all"]
    if unknown:
        raise RagError(f"Unknown suite(s) {', '.join(unknown)}; known: all, {', '.join(suites)}")
    chosen: list[str] = []
    for name in names or ("all",):
        chosen += [n for n, s in suites.items() if s.get("default", True)] if name == "all" else [name]
    return list(dict.fromkeys(chosen))


def corpus_paths(suite: dict[str, Any]) -> list[Path] | None:
    """What to index for a suite (None: the bundled articles)."""
    if suite["corpus"] == "bundled":
        return None
    if "corpus_files" in suite:
        names = [n.strip() for n in suite["corpus_files"].read_text(encoding="utf-8").splitlines() if n.strip()]
        return [suite["corpus"] / n for n in names]
    return [suite["corpus"]]


def run_suite(name: str, suite: dict[str, Any], cache: Path, base_settings: Any, embedder: Any,
              progress: bool) -> dict[str, Any]:
    from .assistant import Assistant
    from .evaluate import evaluate

    settings = base_settings.model_copy(update={"index_dir": cache / f"index-{name}", "chroma_url": None})
    assistant = Assistant(settings=settings, embedder=embedder, auto_build=False)
    assistant.index(corpus_paths(suite), progress=progress)
    report = evaluate(assistant, suite["questions"], progress=progress)
    report["suite"] = name
    report["description"] = suite.get("description", "")
    return report


def macro(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The mean of each metric over the suites that measure it."""
    out: dict[str, Any] = {}
    for key in MACRO_KEYS:
        # answer metrics over suites with answerable questions, abstention over those with unanswerable ones
        # (0 elsewhere by construction, not a measurement), the rest where measured
        needs = {"answer_accuracy": "answerable", "false_refusal_rate": "answerable", "citation_precision":
                 "answerable", "citation_recall": "answerable", "abstention_recall": "unanswerable"}.get(key)
        values = [r["metrics"][key] for r in reports.values()
                  if (r["metrics"][needs] if needs else isinstance(r["metrics"].get(key), (int, float)))]
        values = [v for v in values if not math.isnan(v)]
        out[key] = statistics.fmean(values) if values else None
    return out


def summary_table(reports: dict[str, dict[str, Any]], keys: list[str]) -> str:
    from .report import cell

    names = list(reports)
    lines = [f"| metric | {' | '.join(names)} | macro |", f"|---|{'---|' * (len(names) + 1)}"]
    average = macro(reports)
    for key in keys:
        cells = [cell(key, reports[name]["metrics"].get(key)) for name in names]
        lines.append(f"| {key} | {' | '.join(cells)} | {cell(key, average.get(key))} |")
    return "\n".join(lines)


def write_summary(reports: dict[str, dict[str, Any]], folder: Path, keys: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"suites": {n: {"description": r.get("description", ""), "metrics": r["metrics"]} for n, r in reports.items()},
            "macro": macro(reports)}
    (folder / "summary.json").write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    md = ["# rag eval — suites", "", summary_table(reports, ["questions", "answerable", "unanswerable", *keys]), ""]
    md += [f"- **{n}**: {r.get('description', '')} (report: `{n}/report.md`)" for n, r in reports.items()]
    (folder / "summary.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return [folder / "summary.json", folder / "summary.md"]


def gate_suites(reports: dict[str, dict[str, Any]], suites: dict[str, dict[str, Any]], where: str) -> list[str]:
    """Every suite's metrics against its own floors and ceilings in the suites file."""
    from .evaluate import check_limits

    failures = []
    for name, report in reports.items():
        limits = {k: suites[name].get(k, {}) for k in ("floors", "ceilings")}
        failures += [f"{name}: {f}" for f in check_limits(report["metrics"], limits, f"{where} [suites.{name}]")]
    return failures
