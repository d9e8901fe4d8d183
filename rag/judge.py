"""The offline support judge for citations (ALCE-style recall and precision), and its agreement with the hand
labels of evals/judge_labels.jsonl."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import normalize
from .tuning import FUZZY


class Judge:
    """Offline support judge (does `evidence` support `claim`?), in the spirit of ALCE's NLI check:
    1. exact containment: the claim (without its final stop) is a substring of the evidence -> supported;
    2. a number or name of the claim that the evidence lacks -> not supported;
    3. fuzzy containment: the claim is nearly (difflib >= FUZZY) an evidence sentence -> supported;
    4. else the measured support rule: content words covered (>= LEX_SUPPORT) and an evidence sentence, or
       two adjacent ones, close to the claim (cos >= SEM_SUPPORT).
    Agreement with hand labels: evals/judge_labels.jsonl, reported by `rag eval`."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._cache: dict[str, np.ndarray] = {}

    def _vectors(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            for t, v in zip(todo, self.embedder.embed(todo), strict=True):
                self._cache[t] = v
        return np.stack([self._cache[t] for t in texts])

    def supports(self, claim: str, evidence: str) -> bool:
        from .chunk import split_sentences
        from .generate import facts_missing
        from .lexical import words
        from .tuning import LEX_SUPPORT, SEM_SUPPORT
        from .types import Passage

        claim = " ".join(re.sub(r"\[\d+\]", "", claim).split())
        if not claim or not evidence.strip():
            return False
        flat = " ".join(evidence.split()).lower().replace("’", "'")
        if claim.rstrip(".!? ").lower().replace("’", "'") in flat:
            return True
        if facts_missing(claim, [Passage("", "", "", evidence, 0.0, 0, len(evidence))]):
            return False
        sentences = [evidence[s:e] for s, e in split_sentences(evidence)] or [evidence]
        if any(difflib.SequenceMatcher(None, claim.lower(), s.lower()).ratio() >= FUZZY for s in sentences):
            return True
        content = set(words(claim))
        lex = len(content & set(words(evidence))) / len(content) if content else 0.0
        windows = sentences + [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]
        vectors = self._vectors([claim, *windows])
        return lex >= LEX_SUPPORT and float((vectors[1:] @ vectors[0]).max()) >= SEM_SUPPORT


def answer_sentences(answer: Any) -> list[tuple[str, list[Any]]]:
    """(sentence, its citations) of an answer: text up to each run of [n] markers."""
    by_number = {c.number: c for c in answer.citations}
    out = []
    for match in re.finditer(r"(.+?)((?:\s*\[\d+\])+)", answer.text):
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", match.group(2))]
        out.append((match.group(1).strip(), [by_number[n] for n in numbers if n in by_number]))
    return out


def cites_gold(citation: Any, item: dict[str, Any], spans: list[tuple[str, int, int]]) -> bool:
    """The cited quote overlaps a gold evidence span, or contains a gold answer."""
    overlaps = any(d == citation.doc_id and min(e, citation.end) > max(s, citation.start) for d, s, e in spans)
    return overlaps or any(f" {normalize(a)} " in f" {normalize(citation.quote)} " for g in item["answers"] for a in g)


def citation_scores(judge: Judge, answer: Any) -> tuple[list[float], list[float]]:
    """ALCE (Gao et al. 2023): recall per sentence (the union of its citations supports it); precision per
    citation (the sentence is supported, and the citation supports it alone or is needed: without it the
    rest would not)."""
    recalls, precisions = [], []
    for sentence, cites in answer_sentences(answer):
        union = "\n".join(c.passage for c in cites)
        recall = bool(cites) and judge.supports(sentence, union)
        recalls.append(float(recall))
        for c in cites:
            rest = "\n".join(o.passage for o in cites if o is not c)
            needed = not rest or not judge.supports(sentence, rest)
            precisions.append(float(recall and (judge.supports(sentence, c.passage) or needed)))
    return recalls, precisions


def judge_agreement(judge: Judge, labels_path: Path) -> dict[str, float]:
    """Agreement of the judge with hand labels ({"claim", "passage", "supported"} per line)."""
    rows = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    verdicts = [(judge.supports(r["claim"], r["passage"]), bool(r["supported"])) for r in rows]
    tp = sum(v and g for v, g in verdicts)
    fp = sum(v and not g for v, g in verdicts)
    fn = sum(g and not v for v, g in verdicts)
    return {
        "pairs": len(rows),
        "agreement": sum(v == g for v, g in verdicts) / len(rows),
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }
