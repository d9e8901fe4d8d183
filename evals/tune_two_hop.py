"""Choose the second hop's constants (rag/answerer.py HOP_BELOW, HOP_MIN) on HotpotQA questions 51-88, which
the hotpotqa suite (questions 1-50) does not report.

    python -m evals.tune_two_hop     # needs the hotpotqa-full index: rag eval --suite hotpotqa-full builds it

Prints, for a grid of (HOP_BELOW, HOP_MIN) (a hop is tried when the confidence is below HOP_BELOW or the best
sentence lacks the kind of answer asked for), the share of the 38 tuning questions answered right (every gold
alias in the answer text) and how many answers used a second hop.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from evals.results import save  # noqa: E402
from rag import Assistant, Settings  # noqa: E402
from rag.answerer import BRIDGE  # noqa: E402
from rag.metrics import answer_correct  # noqa: E402
from rag.tuning import HOP_BELOW, HOP_MIN  # noqa: E402


def main() -> None:
    items = [json.loads(line) for line in (ROOT / "evals/data/hotpotqa/questions.jsonl").read_text().splitlines()][50:]
    assistant = Assistant(settings=Settings(index_dir=ROOT / "evals/.cache/index-hotpotqa-full", quiet=True,
                                            abstain_threshold=0.0, two_hop=False), auto_build=False)
    rows = []
    for item in items:
        ev = assistant.evidence(item["question"])
        chosen, conf = assistant.answerer.decide(ev)  # as `ask` decides: the candidates that may answer, the confidence
        if not chosen:
            rows.append((conf, False, -1.0, False, False, False))
            continue
        top = max(chosen, key=lambda c: c.score)
        hop = assistant.answerer.second_hop(ev, top, min_score=0.0)
        one = answer_correct(" ".join(c.text for c in chosen), item["answers"])
        two = hop is not None and answer_correct(" ".join([*(c.text for c in chosen), hop.text]), item["answers"])
        bridge = bool(BRIDGE.search(item["question"].split(" ", 1)[-1]))
        rows.append((conf, bool(ev.kind) and not top.typed, hop.score if hop else -1.0, one, two, bridge))
    grid = []
    print(f"no second hop: accuracy {sum(r[3] for r in rows) / len(rows):.3f}")
    for below in (0.0, 0.1, 0.2, 0.3, 0.5, 1.01):
        for hop_min in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
            right = used = 0
            for conf, untyped, score, one, two, _ in rows:
                if (conf < below or untyped) and score >= hop_min:
                    used += 1
                    right += two
                else:
                    right += one
            print(f"HOP_BELOW {below:.2f} HOP_MIN {hop_min:g}: accuracy {right / len(rows):.3f}, second hop used {used}")
            grid.append({"rule": "confidence below HOP_BELOW or untyped", "HOP_BELOW": below, "HOP_MIN": hop_min,
                         "accuracy": round(right / len(rows), 3), "hops": used})
    for hop_min in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5):  # or: the question has a relative clause (a bridge: "the director who ...")
        right = used = 0
        for conf, untyped, score, one, two, bridge in rows:
            if (conf < 0.2 or untyped or bridge) and score >= hop_min:
                used += 1
                right += two
            else:
                right += one
        print(f"relative clause or HOP_BELOW 0.20, HOP_MIN {hop_min:g}: accuracy {right / len(rows):.3f}, used {used}")
        grid.append({"rule": "relative clause, confidence below HOP_BELOW or untyped", "HOP_BELOW": 0.2,
                     "HOP_MIN": hop_min, "accuracy": round(right / len(rows), 3), "hops": used})
    # Chosen by hand from the grid, for cost (rag/tuning.py): the relative-clause rule at HOP_BELOW 0.2, HOP_MIN 0.3
    # gains most of what a hop on every question gains with a second search on few questions.
    print(f"\nin use (paste into rag/tuning.py): HOP_BELOW = {HOP_BELOW}, HOP_MIN = {HOP_MIN}")
    save("tune_two_hop", {"questions": len(rows), "no_hop_accuracy": round(sum(r[3] for r in rows) / len(rows), 3),
                          "grid": grid, "in_use": {"HOP_BELOW": HOP_BELOW, "HOP_MIN": HOP_MIN}})


if __name__ == "__main__":
    main()
