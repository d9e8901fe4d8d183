"""Reports of an eval run: the metrics table (terminal and Markdown), report.md with the abstention curve and
every question, the PNG plots (matplotlib, imported only here), and the change against an earlier run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

LOWER_IS_BETTER = {"false_refusal_rate", "false_answer_rate", "ece", "followup_false_refusal_rate", "p50_ms", "p95_ms", "retrieval_p50_ms", "embed_p50_ms"}


TABLE_KEYS = [
    "retrieval_hit_at_1", "retrieval_hit_at_3", "retrieval_hit_at_5", "mrr", "ndcg_at_5", "answer_accuracy", "token_f1",
    "citation_recall", "citation_precision", "citation_gold_precision", "abstention_recall", "false_refusal_rate", "false_answer_rate",
    "auroc", "abstention_at_5pct_false_refusals", "ece", "followup_false_refusal_rate", "short_coverage", "short_em", "short_f1",
    "two_hop_answers", "p50_ms",
    "p95_ms", "retrieval_p50_ms", "embed_p50_ms",
]


def cell(key: str, value: Any) -> str:
    """A metric as a table cell: counts as integers, milliseconds to 0.1, shares to 0.001, "—" if unmeasured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if key in ("questions", "answerable", "unanswerable", "followups"):
        return str(int(value))
    return f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"


def table(columns: dict[str, dict[str, Any]]) -> str:
    names = list(columns)
    lines = [f"| metric | {' | '.join(names)} |", f"|---|{'---|' * len(names)}"]
    for key in TABLE_KEYS:
        cells = [cell(key, columns[name].get(key)) for name in names]
        lines.append(f"| {key} | {' | '.join(cells)} |")
    return "\n".join(lines)


def write_report(report: dict[str, Any], folder: Path) -> list[Path]:
    """report.json, report.md and three PNG plots in `folder`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json", folder / "report.md"]
    written[0].write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    columns = {"rag (hybrid)": report["metrics"], **report.get("baselines", {})}
    md = [f"# rag eval — {report['questions_file']}", "",
          f"{report['metrics']['questions']} questions ({report['metrics']['answerable']} answerable, "
          f"{report['metrics']['unanswerable']} unanswerable, {report['metrics']['followups']} follow-ups); "
          f"abstain threshold {report['metrics']['threshold']}.", "", table(columns), "",
          f"Judge agreement with hand labels: {report.get('judge', {})}", "", "## Per tag", "",
          "| tag | n | accuracy |", "|---|---|---|"]
    md += [f"| {t} | {v['n']} | {v['accuracy']:.3f} |" for t, v in report["per_tag"].items()]
    md += ["", "## Abstention curve", "", "| τ | accuracy | abstention recall | false refusals | false answers |", "|---|---|---|---|---|"]
    md += [f"| {c['threshold']:.3f} | {c['answer_accuracy']:.3f} | {c['abstention_recall']:.3f} | {c['false_refusal_rate']:.3f} | {c['false_answer_rate']:.3f} |" for c in report["curve"]]
    md += ["", "## Questions", "", "| id | verdict | score | question | answer |", "|---|---|---|---|---|"]
    md += [f"| {q['id']} | {q['verdict']} | {q['score']:.3f} | {q['question']} | {q['answer'][:120].replace('|', '/')} |" for q in report["rows"]]
    written[1].write_text("\n".join(md) + "\n", encoding="utf-8")

    tags = report["per_tag"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(list(tags), [v["accuracy"] for v in tags.values()], color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_xlabel("answer accuracy")
    ax.set_title("Accuracy per tag")
    fig.tight_layout()
    fig.savefig(folder / "accuracy_per_tag.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [c["threshold"] for c in report["curve"]]
    for key, label in (("answer_accuracy", "answered correctly"), ("abstention_recall", "unanswerable abstained"),
                       ("false_refusal_rate", "answerable refused")):
        ax.plot(xs, [c[key] for c in report["curve"]], label=label)
    ax.axvline(report["metrics"]["threshold"], color="grey", linestyle="--", label="threshold in use")
    ax.set_xlabel("abstain threshold")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.set_title("Abstention curve")
    fig.tight_layout()
    fig.savefig(folder / "abstention_curve.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    bins = report.get("reliability", [])
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    ax.bar([b["lo"] + 0.05 for b in bins], [b["accuracy"] for b in bins], width=0.09, alpha=0.7,
           label="share answered right")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="#c44e52", label="bins")
    ax.set_xlabel("confidence")
    ax.set_ylabel("answered right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ece = report["metrics"].get("ece")
    ax.set_title(f"Reliability diagram (ECE {ece:.3f})" if ece is not None else "Reliability diagram")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist([q["ask_ms"] for q in report["rows"]], bins=20, alpha=0.7, label="ask")
    ax.hist([q["embed_ms"] for q in report["rows"]], bins=20, alpha=0.7, label="one query embedding")
    ax.set_xlabel("milliseconds")
    ax.legend()
    ax.set_title("Latency")
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=100)
    plt.close(fig)
    return [*written, folder / "accuracy_per_tag.png", folder / "abstention_curve.png", folder / "reliability.png",
            folder / "latency.png"]


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for key in TABLE_KEYS:
        a, b = old.get("metrics", {}).get(key), new["metrics"].get(key)
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
            continue
        better = (b < a) if key in LOWER_IS_BETTER else (b > a)
        mark = "" if abs(b - a) < 1e-9 else (" better" if better else " worse")
        lines.append(f"{key:22} {a:9.3f} -> {b:9.3f}  ({b - a:+.3f}){mark}")
    return lines
