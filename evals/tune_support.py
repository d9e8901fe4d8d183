"""Measure the verifier's support thresholds (rag/generate.py LEX_SUPPORT, SEM_SUPPORT).

    python -m evals.tune_support

Supported pairs are real paraphrases the bundled corpus holds: each sentence of the back-translated
Atlantic article (004) and of its AI summary (001) against the original's (003) passage holding its
counterpart (best sentence match >= 0.8 for the translation, >= 0.7 for the summary). Unsupported pairs: the
same sentences against the closest passage of the two unrelated articles (000, 002) — same topic, not the
same claim — and the translation's sentences with one number or name changed against their true passage.
Prints, for a grid of thresholds, how many supported pairs are kept and unsupported ones dropped.
"""

from __future__ import annotations

import re

import numpy as np

from evals.results import save
from rag import Assistant, Settings
from rag.generate import support
from rag.tuning import LEX_SUPPORT, SEM_SUPPORT
from rag.types import Passage

ORIGINAL, TRANSLATION, SUMMARY = "374d6bb032ee0bc8", "88c1b2cb2a6f0332", "db1d52b1e11284bc"
UNRELATED = ("c982d2a58cfeaac4", "6aacf5f90c36c43e")
SWAPS = [("240", "340"), ("90", "60"), ("Iran", "Syria"), ("October", "March"), ("2022", "2019"), ("Lloyd Austin", "Antony Blinken"),
         ("Russia", "Belarus"), ("Putin", "Lukashenko")]


def passage_of(snap, chunk_id: str) -> Passage:
    rec = snap.chunk(chunk_id)
    return Passage(rec.doc_id, chunk_id, snap.title(rec.doc_id), snap.chunk_text(rec), 0.0, rec.start, rec.end)


def main() -> None:
    assistant = Assistant(settings=Settings(quiet=True))
    _, snap = assistant.opened()
    embedder = assistant.embedder
    rows_of: dict[str, list[str]] = {}
    for cid, doc, _, _ in snap.all_chunks():
        rows_of.setdefault(doc, []).append(cid)
    snap.fetch_chunks([c for cs in rows_of.values() for c in cs])
    pos, neg = [], []
    for derived, floor in ((TRANSLATION, 0.8), (SUMMARY, 0.7)):
        sents = snap.doc_sentences(derived)
        for (start, end), vec in zip(sents.spans, sents.vectors, strict=True):
            text = snap.texts[derived][start:end]
            if len(text.split()) < 6:
                continue
            orig = snap.doc_sentences(ORIGINAL)
            sims = orig.vectors @ vec
            if sims.max() < floor:
                continue
            o_start = orig.spans[int(sims.argmax())][0]
            holder = next(r for r in rows_of[ORIGINAL] if snap.chunk(r).start <= o_start < snap.chunk(r).end)
            pos.append(support(snap, text, vec, [passage_of(snap, holder)])[:2])
            other = [r for d in UNRELATED for r in rows_of[d]]
            best_other = max(other, key=lambda r: float(snap.chunk(r).vector @ vec))
            neg.append(support(snap, text, vec, [passage_of(snap, best_other)])[:2])
            if derived == TRANSLATION:
                for old, new in SWAPS:
                    if re.search(rf"\b{re.escape(old)}\b", text):
                        changed = re.sub(rf"\b{re.escape(old)}\b", new, text, count=1)
                        neg.append(support(snap, changed, embedder.embed_query(changed), [passage_of(snap, holder)])[:2])
                        break
    pos_a, neg_a = np.array(pos), np.array(neg)
    print(f"{len(pos)} supported pairs, {len(neg)} unsupported pairs (of which changed facts: {len(neg) - len(pos)})")
    print(f"{'lex>=':>6} {'sem>=':>6} {'kept supported':>15} {'dropped unsupported':>20} {'balanced acc':>13}")
    grid = []
    for lex_t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        for sem_t in (0.5, 0.6, 0.7, 0.8):
            kept = float(np.mean((pos_a[:, 0] >= lex_t) & (pos_a[:, 1] >= sem_t)))
            dropped = float(np.mean(~((neg_a[:, 0] >= lex_t) & (neg_a[:, 1] >= sem_t))))
            grid.append({"lex": lex_t, "sem": sem_t, "kept_supported": round(kept, 3),
                         "dropped_unsupported": round(dropped, 3), "balanced": round((kept + dropped) / 2, 3)})
            mark = "  <- in use" if (lex_t, sem_t) == (LEX_SUPPORT, SEM_SUPPORT) else ""
            print(f"{lex_t:6.2f} {sem_t:6.2f} {kept:15.3f} {dropped:20.3f} {(kept + dropped) / 2:13.3f}{mark}")
    # The rule: the best balanced accuracy; among ties the pair that keeps most supported sentences, then the
    # lowest bars (a generated sentence is dropped only when the evidence is clearly against it).
    best = max(grid, key=lambda g: (g["balanced"], g["kept_supported"], -g["lex"], -g["sem"]))
    print("\nchosen (paste into rag/tuning.py):")
    print(f"LEX_SUPPORT = {best['lex']}\nSEM_SUPPORT = {best['sem']}")
    save("tune_support", {"supported_pairs": len(pos), "unsupported_pairs": len(neg), "grid": grid,
                          "chosen": {"LEX_SUPPORT": best["lex"], "SEM_SUPPORT": best["sem"]}})

if __name__ == "__main__":
    main()
