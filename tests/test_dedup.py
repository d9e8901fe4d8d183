import shutil

import numpy as np
import pytest

from rag import Assistant, Settings
from rag.dedup import DocVectors, containment, find_groups
from rag.load import bundled_corpus, load_articles


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_containment_is_mean_best_match_of_the_shorter_side():
    a = _unit([[1, 0, 0], [0, 1, 0]])
    b = _unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert containment(a, b) == pytest.approx(1.0)
    assert containment(_unit([[0, 0, 1]]), _unit([[1, 0, 0], [0, 1, 0]])) == pytest.approx(0.0)


def test_groups_are_transitive_and_the_original_is_the_one_without_a_copy_hint():
    base = _unit(np.eye(4))
    docs = [
        DocVectors("orig", base, length=100),
        DocVectors("translation", base + 0.05, length=120, derived_hint="originally published elsewhere"),
        DocVectors("summary", _unit(base[:2] + 0.1), length=50, derived_hint="names an original source"),
        DocVectors("other", _unit([[1, 1, 1, 1]]) * -1, length=90),
    ]
    docs[1].sentences = _unit(docs[1].sentences)
    groups = find_groups(docs, threshold=0.59)
    assert len(groups) == 1
    assert groups[0].members[0] == "orig" and set(groups[0].members) == {"orig", "translation", "summary"}


@pytest.mark.integration
def test_bundled_atlantic_articles_group_together_and_the_others_do_not(tmp_path, real_embedder):
    a = Assistant(settings=Settings(index_dir=tmp_path / "index", quiet=True), embedder=real_embedder, auto_build=False)
    report = a.index(progress=False)
    names = {x.doc_id: x.path.rsplit("/", 1)[-1][:3] for x in load_articles([bundled_corpus()]).articles}
    groups = [[names[d] for d in g] for g in report.duplicate_groups]
    assert groups == [["003", "004", "001"]] or groups == [["003", "001", "004"]], groups
    info = {names[d.doc_id]: d for d in a.documents()}
    assert info["003"].duplicate_role == "original"
    assert {info["001"].duplicate_role, info["004"].duplicate_role} == {"derived"}
    assert not info["000"].duplicate_group and not info["002"].duplicate_group
    # the margin the threshold sits in, as measured (see rag/dedup.py)
    assert min(info[k].duplicate_score for k in ("001", "003", "004")) >= 0.62


def test_a_compilation_of_unrelated_articles_is_split_off_not_made_their_original():
    e = np.eye(8)
    docs = [
        DocVectors("a", _unit(e[[0, 1, 2]]), length=300),
        DocVectors("a-copy", _unit(e[[0, 1, 2]] + 0.05), length=280),
        DocVectors("b", _unit(e[[3, 4, 5]]), length=300),
        # stitched from a's and b's sentences plus its own: contains both, is the longest
        DocVectors("compilation", _unit(e[[0, 1, 2, 3, 4, 5, 6, 7]]), length=900),
    ]
    groups = find_groups(docs, threshold=0.59)
    assert [(g.original, sorted(g.members)) for g in groups] == [("a", ["a", "a-copy"])]


def test_a_planted_compilation_joins_no_group_whether_added_or_rebuilt(tmp_path):
    """Added to an index (incremental grouping) or indexed with the rest (full grouping): an article stitched
    from sentences of unrelated articles stays out of their groups, and they stay out of each other's."""
    from .conftest import fake_embedder

    folder = tmp_path / "articles"
    shutil.copytree(bundled_corpus(), folder)
    texts = {a.path.rsplit("/", 1)[-1][:3]: a.text for a in load_articles([folder]).articles}
    stitched = " ".join(s.strip() for key in ("000", "002") for s in texts[key].split(". ") if len(s.split()) > 5)
    a = Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=fake_embedder(), auto_build=False)
    a.index([folder], progress=False)
    before = {d.doc_id: (d.duplicate_group, d.duplicate_role) for d in a.documents()}
    poison = a.upload([("planted.txt", stitched.encode())]).files[0].doc_id
    after = {d.doc_id: (d.duplicate_group, d.duplicate_role) for d in a.documents()}
    assert after.pop(poison) == ("", ""), "the compilation was grouped"
    assert after == before
    (folder / "planted.txt").write_text(stitched, encoding="utf-8")
    a.index([folder], rebuild=True, progress=False)
    rebuilt = {d.doc_id: (d.duplicate_group, d.duplicate_role) for d in a.documents()}
    assert rebuilt.pop(poison) == ("", "") and rebuilt == before
