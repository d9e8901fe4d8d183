"""Near-duplicate and derived articles (translations, summaries, reposts).

Score of a pair: *sentence containment*: for each sentence (of five words or more) of the shorter article,
the cosine of its best match among the other article's sentences, averaged. A translation or a summary keeps
most sentences' meaning, so its sentences all find a close match; an article that only shares the topic does
not. Measured on the bundled corpus with all-MiniLM-L6-v2: the Atlantic article, its back-translation and
its AI summary score 0.64-0.92 with each other; every other pair scores <= 0.54 (default threshold 0.59).
Word shingles were measured too and rejected: they catch the translation (3-gram containment 0.52) but not
the summary (0.06, against 0.02 for unrelated pairs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Above this many articles, only each article's nearest neighbours by centroid are scored.
ALL_PAIRS_LIMIT = 300
NEIGHBOURS = 20
_SPLIT_LIMIT = 200  # groups larger than this are not checked for compilations (cubic in the group's size)
MIN_WORDS = 5


@dataclass
class DocVectors:
    doc_id: str
    sentences: np.ndarray  # normalised sentence embeddings used for scoring (n x dim)
    length: int  # characters of the article
    derived_hint: str = ""  # non-empty when the text says it is a copy


@dataclass
class Group:
    original: str
    members: list[str]  # the original first
    scores: dict[str, float] = field(default_factory=dict)  # member -> best score linking it to the group


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """Mean best-match cosine of the shorter side's rows against the longer side's rows."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return float((small @ big.T).max(axis=1).mean())


def original_first(doc_id: str, length: int, derived_hint: str) -> tuple[bool, int, str]:
    """Sort key of a group's members, the original first: an article that does not say it is a copy, then the
    longest, then by id (stable)."""
    return bool(derived_hint), -length, doc_id


def _candidate_pairs(docs: list[DocVectors]) -> list[tuple[int, int]]:
    n = len(docs)
    if n <= ALL_PAIRS_LIMIT:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    centroids = np.stack([d.sentences.mean(axis=0) if len(d.sentences) else np.zeros(docs[0].sentences.shape[1]) for d in docs])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
    sims = centroids @ centroids.T
    pairs: set[tuple[int, int]] = set()
    for i in range(n):
        for j in np.argsort(-sims[i])[1 : NEIGHBOURS + 1]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    return sorted(pairs)


def split_hubs(docs: list[DocVectors], threshold: float) -> list[Group] | None:
    """A group that holds a *compilation*, split: an article linked to two members that are not linked to each
    other (a digest or a planted article stitched from the sentences of several unrelated ones, or a short piece
    drawing on both) is no copy of either and no original of both. Without this it ties unrelated articles into
    one group and, being the longest, is elected their original, so retrieval folds their passages into its own
    (measured: evals/measure_poisoning.py, SECURITY.md). The price: an original with two summaries that do not link to
    each other is no longer grouped with them; they are shown as separate passages instead of folded, which
    hides nothing. Returns None when the group has no such member (keep it as it is); else the groups its
    other members form among themselves (the compilations stay out of every group)."""
    n = len(docs)
    if n < 3 or n > _SPLIT_LIMIT:
        return None
    scores: dict[tuple[int, int], float] = {}

    def score(i: int, j: int) -> float:
        key = (min(i, j), max(i, j))
        if key not in scores:
            scores[key] = containment(docs[i].sentences, docs[j].sentences)
        return scores[key]

    def linked(i: int, j: int) -> bool:
        return score(i, j) >= threshold

    hubs = set()
    for x in range(n):
        inside = [a for a in range(n) if a != x and linked(a, x)]
        if any(not linked(a, b) for i, a in enumerate(inside) for b in inside[i + 1 :]):
            hubs.add(x)
    if not hubs:
        return None
    rest = [i for i in range(n) if i not in hubs]
    return find_groups([docs[i] for i in rest], threshold, split=False,
                       score=lambda i, j: score(rest[i], rest[j]))  # every pair was scored above


def find_groups(docs: list[DocVectors], threshold: float, *, split: bool = True,
                score: Callable[[int, int], float] | None = None) -> list[Group]:
    """Groups of two or more articles linked by containment >= threshold (transitively), compilations split off
    (`split_hubs`). `score(i, j)`: the containment of a pair when the caller has them all already (every pair
    is then read from it); otherwise computed, for the candidate pairs only."""
    parent = list(range(len(docs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    best: dict[int, float] = {}
    if score is None:
        pairs = _candidate_pairs(docs)

        def score(i: int, j: int) -> float:
            return containment(docs[i].sentences, docs[j].sentences)
    else:
        pairs = [(i, j) for i in range(len(docs)) for j in range(i + 1, len(docs))]
    for i, j in pairs:
        pair = score(i, j)
        if pair >= threshold:
            parent[root(i)] = root(j)
            best[i] = max(best.get(i, 0.0), pair)
            best[j] = max(best.get(j, 0.0), pair)
    members: dict[int, list[int]] = {}
    for i in range(len(docs)):
        members.setdefault(root(i), []).append(i)
    groups = []
    for idx in members.values():
        if len(idx) < 2:
            continue
        parts = split_hubs([docs[i] for i in idx], threshold) if split else None
        if parts is not None:
            groups.extend(parts)
            continue
        idx.sort(key=lambda i: original_first(docs[i].doc_id, docs[i].length, docs[i].derived_hint))
        groups.append(
            Group(
                original=docs[idx[0]].doc_id,
                members=[docs[i].doc_id for i in idx],
                scores={docs[i].doc_id: round(best[i], 4) for i in idx},
            )
        )
    return sorted(groups, key=lambda g: g.original)


# ---------------------------------------------------------------- keeping groups as articles come and go
# An article's assignment: (its group's original, "original" or "derived", its best containment score);
# ("", "", 0.0) when it is in no group.
Assignment = dict[str, tuple[str, str, float]]


def assign_all(docs: list[DocVectors], records: dict[str, dict[str, Any]], threshold: float) -> Assignment:
    """Every article's assignment worked out afresh (the threshold or the rule changed, or an older index)."""
    assignment: Assignment = {d: ("", "", 0.0) for d in records}
    for group in find_groups(docs, threshold):
        for member in group.members:
            role = "original" if member == group.original else "derived"
            assignment[member] = (group.original, role, group.scores[member])
    return assignment


def assign_changed(records: dict[str, dict[str, Any]], added: list[str], touched: set[str], threshold: float,
                   neighbours: Callable[[list[str]], dict[str, list[str]]],
                   fetch: Callable[[list[str]], dict[str, DocVectors]]) -> Assignment:
    """New assignments for the articles whose group may have changed, after `added` came and articles left
    the groups `touched`: each new article scored against `neighbours(added)` (all others, or its nearest by
    centroid), the groups an article left scored again among their remaining members. `records`: article
    id -> its stored record (dup_group, dup_score, length, derived_hint); `fetch(ids)`: their vectors."""
    members: dict[str, set[str]] = {}
    for d, m in records.items():
        if m.get("dup_group"):
            members.setdefault(m["dup_group"], set()).add(d)
    # Groups an article left: their remaining members, linked again among themselves.
    regroup: list[set[str]] = [members.get(g, set()) - set(added) for g in touched]
    # New articles: linked to the existing groups (whole) and articles they score high against.
    neighbours = neighbours(added) if added else {}
    needed = sorted(set(added) | {o for ns in neighbours.values() for o in ns} | {d for r in regroup for d in r})
    vectors = fetch(needed)
    best: dict[str, float] = {d: float(records[d].get("dup_score", 0.0) or 0.0) for d in needed}
    parent = {d: d for d in needed}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    def link(a: str, b: str) -> None:
        score = containment(vectors[a].sentences, vectors[b].sentences)
        if score >= threshold:
            parent[root(a)] = root(b)
            best[a], best[b] = max(best[a], score), max(best[b], score)

    regrouped = {d for r in regroup for d in r}
    first: dict[str, str] = {}
    for d in needed:  # members of one existing group (not being regrouped) stay together
        group = records[d].get("dup_group", "")
        if group and d not in regrouped:
            if group in first:
                parent[root(d)] = root(first[group])
            else:
                first[group] = d
    for group in regroup:  # scored afresh: the members' old best scores may have come from the one removed
        for d in group:
            best[d] = 0.0
        ordered = sorted(group)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                link(a, b)
    for d in added:
        best[d] = 0.0
        for o in neighbours.get(d, []):
            link(d, o)
    # Whole existing groups go along with any member that got linked.
    components: dict[str, set[str]] = {}
    for d in needed:
        components.setdefault(root(d), set()).add(d)
    assignment: dict[str, tuple[str, str, float]] = {}
    for comp in components.values():
        full = set(comp)
        for d in comp:
            group = records[d].get("dup_group", "")
            if group and d not in regrouped:
                full |= members.get(group, set()) - regrouped
        if len(full) < 2:
            for d in full:
                assignment[d] = ("", "", 0.0)
            continue
        parts = None
        if len(full) > 2:  # members of existing groups not scored above are fetched once, here
            vectors.update(fetch(sorted(d for d in full if d not in vectors)))
            parts = split_hubs([vectors[d] for d in sorted(full)], threshold)
        if parts is not None:  # a compilation among them: the same split as a full recompute makes
            for d in full:
                assignment[d] = ("", "", 0.0)
            for part in parts:
                for d in part.members:
                    assignment[d] = (part.original, "original" if d == part.original else "derived", part.scores[d])
            continue
        ordered = sorted(full, key=lambda d: original_first(d, int(records[d].get("length", 0)),
                                                            records[d].get("derived_hint", "")))
        original = ordered[0]
        for d in ordered:
            score = best.get(d, float(records[d].get("dup_score", 0.0) or 0.0))
            assignment[d] = (original, "original" if d == original else "derived", round(score, 4))
    return assignment
