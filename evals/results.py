"""Results that stay: every eval script ends with `save(name, figures)`, which writes `evals/results/<name>.json`
(committed), so a figure in a table can be compared with a rerun and with the commit it was measured on.

A record holds the figures and how they were made: the date (UTC), the command, the commit and whether the
checkout had uncommitted changes, and the machine (CPUs, Python). The tables in `evals/README.md` are written
from these files by cog (`cog -r evals/README.md`; `tests/test_results.py` runs `cog --check`), so the README
shows what the files hold and nothing older.

    python -m evals.results suites evals/reports/latest/summary.json   # keep a `rag eval --suite all` run (make eval)
    python -m evals.results show [NAME]                               # list the records, or print one
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "evals" / "results"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _command() -> str:
    """How this process was started, as `python -m evals.<name> ...` (the form the README documents)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    argv = sys.argv[1:]
    if spec is not None and spec.name:
        return shlex.join(["python", "-m", spec.name, *argv])
    return shlex.join(["python", *sys.argv])


def save(name: str, figures: dict[str, Any], *, command: str | None = None, folder: Path | None = None) -> Path:
    """Write figures as evals/results/<name>.json (atomically) with the date, command, commit and machine.
    EVALS_RESULTS_DIR, when set, names another folder (the tests that run a script keep its figures there)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"A result's name is a plain file name, not {name!r}.")
    status = _git("status", "--porcelain", "--untracked-files=no")
    record = {
        "name": name,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "command": command or _command(),
        "commit": _git("rev-parse", "--short=7", "HEAD"),
        "uncommitted_changes": bool(status) if status is not None else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": figures,
    }
    folder = folder or Path(os.environ.get("EVALS_RESULTS_DIR") or RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False, default=_plain) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"figures kept in {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", file=sys.stderr)
    return path


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, paths and tuples as JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def load(name: str, folder: Path | None = None) -> dict[str, Any]:
    path = (folder or RESULTS) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"No results for {name!r}: run the script that writes {path.name} "
                                f"(see evals/README.md).")
    return json.loads(path.read_text(encoding="utf-8"))


# --- Markdown for the README (called from cog blocks) --------------------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(record: dict[str, Any]) -> str:
    """The line under a generated table: what made it, when, on what."""
    dirty = " + uncommitted changes" if record.get("uncommitted_changes") else ""
    machine = record.get("machine", {})
    return (f"_`{record['command']}` on {record['date']}, commit {record.get('commit') or '?'}{dirty}, "
            f"{machine.get('cpus', '?')} CPUs; `evals/results/{record['name']}.json`._")


SUITE_METRICS: list[tuple[str, str]] = [
    ("answer_accuracy", "answer_accuracy"),
    ("false_refusal_rate", "false_refusal_rate"),
    ("abstention_recall", "abstention_recall"),
    ("auroc", "auroc (answerable vs not)"),
    ("abstention_at_5pct_false_refusals", "abstention at 5% false refusals"),
    ("ece", "ece"),
    ("followup_false_refusal_rate", "followup_false_refusal_rate"),
    ("citation_recall", "citation_recall"),
    ("citation_precision", "citation_precision"),
    ("citation_gold_precision", "citation_gold_precision"),
    ("retrieval_hit_at_5", "retrieval_hit_at_5"),
    ("short_f1", "short_f1 (answers with a short answer)"),
    ("two_hop_answers", "two_hop_answers"),
    ("p50_ms", "p50_ms"),
]


def suites_table(folder: Path | None = None, name: str = "suites") -> str:
    """Every suite of a kept `rag eval --suite ...` run, one column each, plus the macro average when there are
    several. A figure a suite cannot measure (abstention without unanswerable questions) shows as —."""
    record = load(name, folder)
    fig = record["figures"]
    suites = list(fig["suites"])
    macro = fig.get("macro", {}) if len(suites) > 1 else None

    def value(suite: dict[str, Any], key: str) -> Any:
        if key == "abstention_recall" and not suite.get("unanswerable"):
            return None
        return suite.get(key)

    rows = [["questions (answerable / unanswerable)",
             *(f"{fig['suites'][s].get('questions')} ({fig['suites'][s].get('answerable')} / "
               f"{fig['suites'][s].get('unanswerable')})" for s in suites), *(["—"] if macro is not None else [])]]
    for key, label in SUITE_METRICS:
        values = [value(fig["suites"][s], key) for s in suites]
        if all(v is None for v in values):
            continue
        digits = 1 if key.endswith("_ms") else 3
        rows.append([label, *(fmt(v, digits) for v in values), *([fmt(macro.get(key), digits)] if macro is not None else [])])
    header = ["metric", *suites, *(["macro"] if macro is not None else [])]
    return markdown(header, rows) + "\n\n" + provenance(record)


def misses_table(name: str = "measure_misses", folder: Path | None = None) -> str:
    """Where the answers of every suite were lost (`python -m evals.measure_misses`): one column per suite, the
    classes of evals/measure_misses.py as rows (answerable questions, then unanswerable ones)."""
    record = load(name, folder)
    fig = record["figures"]
    suites = list(fig["suites"])
    classes: list[str] = []
    for s in suites:
        classes += [c for c in fig["suites"][s]["counts"] if c not in classes]
    rows = [["questions (answerable / unanswerable)",
             *(f"{fig['suites'][s]['answerable']} / {fig['suites'][s]['unanswerable']}" for s in suites)],
            ["accuracy", *(fmt(fig["suites"][s]["accuracy"]) for s in suites)],
            ["false refusals", *(fmt(fig["suites"][s]["false_refusals"]) for s in suites)],
            ["abstention on unanswerable", *(fmt(fig["suites"][s].get("abstention")) for s in suites)]]
    for c in classes:
        counts = [fig["suites"][s]["counts"].get(c, 0) for s in suites]
        unanswerable_class = c == "abstained" or c.startswith("answered:")
        if any(counts):
            rows.append([f"{'unanswerable, ' if unanswerable_class else ''}{c}", *(str(n) if
                         (fig["suites"][s]["unanswerable"] if unanswerable_class else fig["suites"][s]["answerable"])
                         else "—" for s, n in zip(suites, counts, strict=True))])
    rows.append(["right sentence, wrong short answer", *(f"{fig['suites'][s]['short_wrong']} of "
                 f"{fig['suites'][s]['short_given']}" for s in suites)])
    return markdown(["class", *suites], rows) + "\n\n" + provenance(record)


def rules_table(name: str, folder: Path | None = None) -> str:
    """What each rule switched in a `measure_misses.py --rules` run removed, all its suites together."""
    record = load(name, folder)
    fig = record["figures"]
    out = ""
    if fig.get("rules_total"):
        rule_rows = [[r, "yes" if r in fig.get("rules_in_force", []) else "no", t["right_removed"],
                      t["wrong_removed"], t["abstentions_made"], t["abstentions_broken"]]
                     for r, t in fig["rules_total"].items()]
        out += f"Suites: {', '.join(fig['rules'])}; rules in force then: {', '.join(fig.get('rules_in_force', []))}.\n\n"
        out += markdown(["rule", "in force", "right answers it removes", "wrong answers it removes",
                         "abstentions it makes", "abstentions it breaks"], rule_rows)
    return out + "\n\n" + provenance(record)


def table_of(name: str, header: Sequence[str], row: Callable[[Any], Sequence[Any]], key: str,
             folder: Path | None = None) -> str:
    """A table with one row per item of figures[key] (a list), made by row(item)."""
    record = load(name, folder)
    return markdown(header, (row(item) for item in record["figures"][key])) + "\n\n" + provenance(record)


# --- the command line ----------------------------------------------------------------------------------------------

def suites_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The scalar figures of `rag eval --suite all --report DIR`'s DIR/summary.json (curves and per-tag tables
    stay in the report)."""
    if "suites" not in summary:
        raise ValueError("not a `rag eval --suite ...` summary (it has no 'suites')")
    def scalars(metrics: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in metrics.items() if v is None or isinstance(v, (int, float, str))}
    return {"suites": {name: scalars(suite.get("metrics", suite)) for name, suite in summary["suites"].items()},
            "macro": scalars(summary.get("macro", {}))}


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if v is None or isinstance(v, (int, float, str))}


def baselines_from_report(report: dict[str, Any]) -> dict[str, Any]:
    """rag's metrics and each baseline's, from `rag eval --baselines --report DIR`'s DIR/report.json."""
    if "baselines" not in report or "metrics" not in report:
        raise ValueError("not a `rag eval --baselines` report (it has no 'baselines')")
    return {"rag (hybrid)": _scalars(report["metrics"])} | {k: _scalars(v) for k, v in report["baselines"].items()}


def differences(shipped: Any, rebuilt: Any, *, rel: float = 1e-9, printed: dict[str, int] | None = None,
                path: str = "") -> list[str]:
    """Where a rebuilt model file differs from the shipped one beyond what another machine may change: the
    structure, every string, integer and boolean (a tree's split features and shape) exactly; floats to `rel`
    relative (another CPU, BLAS or scikit-learn release moves the 13th-15th digit of a fitted coefficient);
    and the keys named in `printed` (a top-level key -> decimal places: the abstention threshold, reported
    figures) to the precision they are printed at. Empty: the same model."""
    printed = printed or {}
    top = path.split(".", 1)[0].split("[", 1)[0]
    if isinstance(shipped, dict) and isinstance(rebuilt, dict):
        if set(shipped) != set(rebuilt):
            return [f"{path or 'the file'}: keys {sorted(set(shipped) ^ set(rebuilt))} on one side only"]
        return [d for k in sorted(shipped) for d in differences(shipped[k], rebuilt[k], rel=rel, printed=printed,
                                                                 path=f"{path}.{k}" if path else k)]
    if isinstance(shipped, list) and isinstance(rebuilt, list):
        if len(shipped) != len(rebuilt):
            return [f"{path}: {len(shipped)} items shipped, {len(rebuilt)} rebuilt"]
        return [d for i, (a, b) in enumerate(zip(shipped, rebuilt, strict=True))
                for d in differences(a, b, rel=rel, printed=printed, path=f"{path}[{i}]")]
    if isinstance(shipped, float) or isinstance(rebuilt, float):
        if isinstance(shipped, bool) or isinstance(rebuilt, bool) or not isinstance(shipped, int | float) \
                or not isinstance(rebuilt, int | float):
            return [f"{path}: {shipped!r} shipped, {rebuilt!r} rebuilt"]
        a, b = float(shipped), float(rebuilt)
        if a != a and b != b:  # both NaN (a figure not measured)
            return []
        if top in printed:
            digits = printed[top]
            return [] if round(a, digits) == round(b, digits) else [
                f"{path}: {a:.{digits}f} shipped, {b:.{digits}f} rebuilt (compared at the {digits} decimals printed)"]
        if abs(a - b) <= rel * max(abs(a), abs(b), 1e-300) or a == b:
            return []
        return [f"{path}: {a!r} shipped, {b!r} rebuilt (relative difference {abs(a - b) / max(abs(a), abs(b)):.1e} > {rel:g})"]
    if type(shipped) is not type(rebuilt) or shipped != rebuilt:
        return [f"{path}: {shipped!r} shipped, {rebuilt!r} rebuilt"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.results", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    keep = sub.add_parser("suites", help="keep the figures of a `rag eval --suite all` report as results/suites.json")
    keep.add_argument("summary", type=Path, help="the report's summary.json (make eval: evals/reports/latest/summary.json)")
    keep.add_argument("--name", default="suites", help="the result's name [default: suites; e.g. suites-hotpotqa-full]")
    one = sub.add_parser("baselines", help="keep a `rag eval --baselines --report DIR` run as results/baselines.json")
    one.add_argument("report", type=Path, help="the run's report.json")
    show = sub.add_parser("show", help="list the kept results, or print one")
    show.add_argument("name", nargs="?")
    args = parser.parse_args(argv)
    if args.what == "suites":
        try:
            summary = json.loads(args.summary.read_text(encoding="utf-8"))
            figures = suites_from_summary(summary)
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read {args.summary}: {exc}")
        names = " ".join(f"--suite {n}" for n in figures["suites"])
        command = ("rag eval --suite all --gate evals/suites.toml (make eval)" if args.name == "suites"
                   else f"rag eval {names}")
        save(args.name, figures, command=command)
        return 0
    if args.what == "baselines":
        try:
            figures = baselines_from_report(json.loads(args.report.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read {args.report}: {exc}")
        save("baselines", figures, command="rag eval --baselines (bundled questions, ./index)")
        return 0
    if args.name:
        print(json.dumps(load(args.name), indent=1, ensure_ascii=False))
        return 0
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        print(f"{record['name']:26} {record['date']}  {record.get('commit') or '?':8} {record['command']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --- one renderer per kept result (the cog blocks of evals/README.md call these) -----------------------------------


def scorer_table(folder: Path | None = None) -> str:
    record = load("train_scorer", folder)
    m = record["figures"]["metrics"]
    oof, held = m["out_of_fold_training_articles"], m["held_out_articles"]
    rows = [("best sentence holds the answer (top-1)", "top1_accuracy"),
            ("a candidate holds it (retrieval ceiling)", "reachable"),
            ("false refusals at the threshold", "false_refusals"),
            ("abstention, adversarial unanswerable", "abstention_unanswerable"),
            ("abstention, masked (answer not in the passages)", "abstention_masked"),
            ("AUROC answerable vs adversarial", "auroc_unanswerable"),
            ("AUROC answerable vs masked", "auroc_masked"),
            ("ECE", "ece")]
    body = markdown(["", "out-of-fold (6 training articles)", "held-out (4 articles)"],
                    [(label, oof[key], held[key]) for label, key in rows])
    return (body + f"\n\nThreshold {record['figures']['threshold']} (false refusals ≤ "
            f"{record['figures']['target_false_refusals']} out of fold).\n\n" + provenance(record))


def chunking_table(folder: Path | None = None) -> str:
    record = load("tune_chunking", folder)
    fig = record["figures"]
    chosen = (fig["chosen"]["CHUNK_SIZE"], fig["chosen"]["CHUNK_OVERLAP"])
    rows = []
    for r in fig["rows"]:
        name = r["configuration"].replace("rag chunk_article ", "").replace("baseline ", "baseline: llama-index ")
        mark = " (the script's choice)" if name == f"size={chosen[0]} overlap={chosen[1]}" else ""
        rows.append((name + mark, r["hit@1"], r["hit@3"], r["hit@5"], r["mrr"], r["chunks"], fmt(r["mean_chars"], 0)))
    return (f"{fig['questions']} questions with evidence, {fig['model']}, dense retrieval only:\n\n"
            + markdown(["configuration", "hit@1", "hit@3", "hit@5", "MRR", "chunks", "mean chars"], rows)
            + "\n\n" + provenance(record))


def latency_table(folder: Path | None = None) -> str:
    record = load("bench_ask", folder)
    fig = record["figures"]
    body = markdown(["", "p50 ms", "p95 ms"], [(r["what"], fmt(r["p50_ms"], 1), fmt(r["p95_ms"], 1)) for r in fig["rows"]])
    ratios = ", ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in fig["ratios"].items())
    return (f"{fig['questions']} bundled questions × {fig['repeat']}, warm, alternating in one process:\n\n{body}\n\n"
            f"Ratios: {ratios}.\n\n" + provenance(record))


def index_table(folder: Path | None = None) -> str:
    record = load("bench_index", folder)
    fig = record["figures"]
    body = markdown(["", "texts/s", "ratio to bare encode"],
                    [(r["what"], fmt(r["texts_per_s"], 1), fmt(r["ratio_to_bare"], 2)) for r in fig["rows"]])
    return (f"{fig['texts']} distinct texts of {fig['articles']} articles, median of {fig['repeat']}:\n\n{body}\n\n"
            f"Cold `rag index` in a fresh process {fig['cold_index_s']} s; a no-op re-index {fig['noop_index_s']} s; "
            f"texts embedded per chunk {fig['texts_per_chunk']}.\n\n" + provenance(record))


def figures_table(name: str, labels: dict[str, str], folder: Path | None = None) -> str:
    """One row per figure named in labels (figure key -> row label)."""
    record = load(name, folder)
    fig = record["figures"]
    return markdown(["", "value"], [(label, fmt(fig.get(key))) for key, label in labels.items()]) + "\n\n" + provenance(record)


def extraction_table(name: str = "measure_extraction-test", folder: Path | None = None) -> str:
    record = load(name, folder)
    rows = [(f"{r['reader']}, {r['pages']}", r["precision"], r["recall"], r["f1"], f"{r['tp']}/{r['fn']}/{r['fp']}/{r['tn']}")
            for r in record["figures"]["rows"]]
    return (f"{record['figures']['pages']} pages:\n\n"
            + markdown(["reader, pages", "precision", "recall", "F1", "tp/fn/fp/tn"], rows) + "\n\n" + provenance(record))


def formats_table(folder: Path | None = None) -> str:
    record = load("measure_formats", folder)
    fig = record["figures"]
    rows = [(f"`.{r['format']}`", r["answer_accuracy"], r["false_refusal_rate"], r["abstention_recall"],
             r["citation_gold_precision"]) for r in fig["formats"]]
    return (markdown(["corpus", "answer accuracy", "false refusals", "abstention", "citation gold precision"], rows)
            + f"\n\nCitations of the PDF run naming the page their paragraph was written on: "
              f"{fig['pdf_pages_right']}/{fig['pdf_pages_checked']}.\n\n" + provenance(record))


def ocr_table(folder: Path | None = None) -> str:
    record = load("measure_ocr", folder)
    fig = record["figures"]
    engines = markdown(["engine", "pages", "character error rate", "worst page", "s per page"],
                       [(r["engine"], r["pages"], fmt(r["cer"], 4), fmt(r["cer_worst_page"], 4), fmt(r["s_per_page"], 2))
                        for r in fig["engines"]])
    out = f"Engines on the same scanned pages ({fig['engine']}; scans at {fig['scan_dpi']} dpi):\n\n{engines}"
    if "suite" in fig:
        out += "\n\nThe bundled suite answered from the scans and from the `.txt` originals, same run:\n\n" + markdown(
            ["corpus", "answer accuracy", "false refusals", "articles read by OCR", "index s"],
            [(f"`{kind}`", s["answer_accuracy"], s["false_refusal_rate"], s["ocr_articles"], fmt(s["index_s"], 1))
             for kind, s in fig["suite"].items()])
        out += f"\n\nDifference, scans − `.txt`: {fig['accuracy_difference']:+.3f} (target: within 0.03)."
    if "bad_files" in fig:
        out += "\n\nBad files (this process's peak RSS after each):\n\n" + markdown(
            ["file", "outcome", "s", "peak RSS MB"],
            [(f"`{r['file']}`", r["outcome"].replace("|", "/"), fmt(r["s"], 2), fmt(r["peak_rss_mb"], 0))
             for r in fig["bad_files"]])
    return out + "\n\n" + provenance(record)


def support_table(folder: Path | None = None) -> str:
    record = load("tune_support", folder)
    fig = record["figures"]
    chosen = (fig["chosen"]["LEX_SUPPORT"], fig["chosen"]["SEM_SUPPORT"])
    rows = [(("**" if (g["lex"], g["sem"]) == chosen else "") + f"{g['lex']:.1f} / {g['sem']:.1f}"
             + (" (chosen)**" if (g["lex"], g["sem"]) == chosen else ""),
             g["kept_supported"], g["dropped_unsupported"], g["balanced"]) for g in fig["grid"] if g["lex"] <= 0.5]
    return (f"{fig['supported_pairs']} supported pairs, {fig['unsupported_pairs']} unsupported (grid rows with "
            f"lexical ≤ 0.5; the file holds all):\n\n"
            + markdown(["lexical ≥ / cosine ≥", "kept supported", "dropped unsupported", "balanced"], rows)
            + "\n\n" + provenance(record))


def two_hop_table(folder: Path | None = None) -> str:
    record = load("tune_two_hop", folder)
    fig = record["figures"]
    use = fig["in_use"]
    rows = [("no second hop", fig["no_hop_accuracy"], 0)]
    for g in fig["grid"]:
        default = (g["rule"].startswith("relative") and g["HOP_BELOW"] == use["HOP_BELOW"]
                   and g["HOP_MIN"] == use["HOP_MIN"])
        label = f"{g['rule']}, HOP_BELOW {g['HOP_BELOW']:g}, HOP_MIN {g['HOP_MIN']:g}" + (" **(in use)**" if default else "")
        rows.append((label, g["accuracy"], g["hops"]))
    return (f"{fig['questions']} tuning questions:\n\n" + markdown(["trigger", "accuracy", "hops used"], rows)
            + "\n\n" + provenance(record))


BASELINE_KEYS = ["retrieval_hit_at_1", "retrieval_hit_at_3", "retrieval_hit_at_5", "mrr", "ndcg_at_5",
                 "answer_accuracy", "citation_gold_precision", "abstention_recall", "false_refusal_rate", "auroc",
                 "ece", "short_f1", "p50_ms", "embed_p50_ms"]


def baselines_table(folder: Path | None = None) -> str:
    record = load("baselines", folder)
    fig = record["figures"]
    names = list(fig)
    rows = [[key, *(fmt(fig[n].get(key), 1 if key.endswith("_ms") else 3) for n in names)] for key in BASELINE_KEYS
            if any(fig[n].get(key) is not None for n in names)]
    return markdown(["metric", *names], rows) + "\n\n" + provenance(record)


def fts5_table(folder: Path | None = None) -> str:
    record = load("measure_fts5", folder)
    fig = record["figures"]
    rows = [(r["suite"], r["chunks"], r["top1_agreement"], r["top20_overlap"], r["identical_answers"],
             r["ours_accuracy_at_0"], r["fts5_accuracy_at_0"], fmt(r["ours_p50_ms"], 2), fmt(r["fts5_p50_ms"], 2))
            for r in fig["suites"]]
    s = fig.get("scale")
    if s:
        rows.append((f"{s['scale']}× bundled (synthetic)", s["chunks"], s["top1_agreement"], "—", "—", "—", "—",
                     fmt(s["ours_p50_ms"], 2), fmt(s["fts5_p50_ms"], 2)))
    body = markdown(["index", "chunks", "top-1 agree", "top-20 overlap", "identical answers", "accuracy ours",
                     "accuracy FTS5", "query p50 ms ours", "FTS5"], rows)
    return body + f"\n\nVerdict: **{fig['verdict']}**.\n\n" + provenance(record)


def scale_table(folder: Path | None = None) -> str:
    record = load("bench_scale", folder)
    keys = [("size", "size ×"), ("mode", "mode"), ("chunks", "chunks"), ("ask_p50_ms", "ask p50 ms"),
            ("ask_p95_ms", "ask p95 ms"), ("cold_rag_ask_s", "cold `rag ask` s"),
            ("first_answer_in_process_s", "first answer s"), ("add_s", "add s"),
            ("lexical_catch_up_s", "BM25 catch-up s"), ("peak_rss_answering_mb", "RSS answering MB")]
    rows = [[fmt(r.get(k), 2) if isinstance(r.get(k), float) else fmt(r.get(k)) for k, _ in keys]
            for r in record["figures"]["rows"]]
    return markdown([label for _, label in keys], rows) + "\n\n" + provenance(record)
