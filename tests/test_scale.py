"""What makes the index hold at scale: BM25 on disk updated article by article, an index opened without
reading its chunks, a generation counter that lets processes see each other's writes (embedded and through a
real `chroma run` server), near-duplicate groups worked out incrementally, and the ONNX embedding backend."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Assistant, Settings
from rag.chunk import chunk_article
from rag.lexical import LexicalIndex, words
from rag.load import bundled_corpus, load_articles

from .conftest import fake_embedder
from .test_chroma_server import chroma_server  # noqa: F401 -- the fixture

ROOT = Path(__file__).resolve().parents[1]
LITHIUM = ("# The Lithium Accord\n\nBolivia agreed to sell 40,000 tonnes of lithium to Pyongyang under the "
           "Lithium Accord signed in La Paz.\n")


def bundled_chunks() -> list[tuple[str, str]]:
    return [(c.chunk_id, c.text) for a in load_articles([bundled_corpus()]).articles for c in chunk_article(a)]


def reference_bm25(items: list[tuple[str, str]], query: str, k1: float = 1.5, b: float = 0.75) -> dict[str, float]:
    """BM25 (Lucene's variant) written out directly from the formula, over an in-memory list."""
    docs = {cid: words(text) or ["∅"] for cid, text in items}
    n = len(docs)
    avgdl = sum(map(len, docs.values())) / n
    df: dict[str, int] = {}
    for toks in docs.values():
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
    scores = {}
    for cid, toks in docs.items():
        total = 0.0
        for q in words(query):
            if q not in df:
                continue
            tf = toks.count(q)
            idf = math.log(1 + (n - df[q] + 0.5) / (df[q] + 0.5))
            total += idf * tf / (tf + k1 * (1 - b + b * len(toks) / avgdl))
        if total > 0:
            scores[cid] = total
    return scores


QUERIES = ["trade between China and Russia", "North Korean troops in Kursk", "oil exports to India",
           "treaty on comprehensive strategic partnership", "Kim Jong-un visit"]


def assert_same_ranking(index: LexicalIndex, items: list[tuple[str, str]], query: str) -> None:
    want = reference_bm25(items, query)
    got = index.top(query, 10)
    best = sorted(want.items(), key=lambda kv: -kv[1])[:10]
    assert [round(s, 4) for _, s in got] == [round(s, 4) for _, s in best], query
    assert {c for c, _ in got} <= set(want), query
    for cid, score in got:
        assert want[cid] == pytest.approx(score, rel=1e-5), (query, cid)


def test_lexical_index_scores_as_the_bm25_formula(tmp_path):
    items = bundled_chunks()
    index = LexicalIndex(tmp_path / "lex.sqlite")
    index.add(items[:40])
    index.add(items[40:])
    index.add(items[:3])  # already there: left as it is
    assert index.size == len(items)
    for q in QUERIES:
        assert_same_ranking(index, items, q)
    assert index.df(["china", "zzzz"]) == {"china": sum("china" in words(t) for _, t in items)}


def test_removing_then_compacting_gives_the_scores_of_an_index_built_without(tmp_path):
    items = bundled_chunks()
    doc = items[0][0].split(":")[0]
    kept = [(c, t) for c, t in items if not c.startswith(doc)]
    index = LexicalIndex(tmp_path / "lex.sqlite")
    index.add(items)
    assert index.remove_prefix(f"{doc}:") == len(items) - len(kept)
    assert index.size == len(kept) and not any(c.startswith(doc) for c in index.ids())
    for q in QUERIES:
        assert_same_ranking(index, kept, q)
    index.compact()
    for q in QUERIES:
        assert_same_ranking(index, kept, q)
    index.close()
    again = LexicalIndex(tmp_path / "lex.sqlite")  # on disk: nothing to rebuild
    assert again.size == len(kept)
    assert_same_ranking(again, kept, QUERIES[0])


def test_a_chunk_removed_then_added_again_scores_as_before(tmp_path):
    items = bundled_chunks()
    doc = items[0][0].split(":")[0]
    index = LexicalIndex(tmp_path / "lex.sqlite")
    index.add(items)
    index.remove_prefix(f"{doc}:")
    index.add([(c, t) for c, t in items if c.startswith(doc)])  # the article comes back: the same chunk ids
    assert index.size == len(items)
    for q in QUERIES:
        assert_same_ranking(index, items, q)


def test_the_last_chunks_removed_then_added_again_take_new_rows(tmp_path):
    # the removed rows are the highest: numbering the new ones after the dead rows are gone would reuse a number,
    # and the dead postings naming it would count for the new chunk
    items = bundled_chunks()
    doc = items[-1][0].split(":")[0]
    index = LexicalIndex(tmp_path / "lex.sqlite")
    index.add(items)
    top = index.db.execute("SELECT MAX(row) FROM chunks").fetchone()[0]
    index.remove_prefix(f"{doc}:")
    index.add([(c, t) for c, t in items if c.startswith(doc)])
    rows = [r for (r,) in index.db.execute("SELECT row FROM chunks WHERE id LIKE ?", (f"{doc}:%",))]
    assert rows and min(rows) > top
    for q in QUERIES:
        assert_same_ranking(index, items, q)


def test_postings_are_rewritten_when_a_third_of_them_are_dead_not_at_every_removal(tmp_path):
    items = bundled_chunks()
    docs = list(dict.fromkeys(c.split(":")[0] for c, _ in items))
    index = LexicalIndex(tmp_path / "lex.sqlite")
    index.add(items)
    pairs = index.db.execute("SELECT SUM(n) FROM postings").fetchone()[0]
    index.remove_prefix(f"{docs[0]}:")  # one article of five: its pairs stay, marked dead
    assert index._stat("dead") > 0 and index.db.execute("SELECT SUM(n) FROM postings").fetchone()[0] == pairs
    for doc in docs[1:3]:  # three of five: more than a third dead, rewritten
        index.remove_prefix(f"{doc}:")
    assert index._stat("dead") == 0
    kept = [(c, t) for c, t in items if c.split(":")[0] in docs[3:]]
    assert index.db.execute("SELECT SUM(n) FROM postings").fetchone()[0] < pairs / 2
    for q in QUERIES:
        assert_same_ranking(index, kept, q)


def test_one_add_of_many_chunks_writes_what_adds_one_by_one_write(tmp_path):
    items = bundled_chunks()
    together, apart = LexicalIndex(tmp_path / "a.sqlite"), LexicalIndex(tmp_path / "b.sqlite")
    together.add(items)
    for item in items:
        apart.add([item])
    for table, order in (("chunks", "row"), ("terms", "id")):
        assert list(together.db.execute(f"SELECT * FROM {table} ORDER BY {order}")) == \
            list(apart.db.execute(f"SELECT * FROM {table} ORDER BY {order}")), table
    for q in QUERIES:
        assert together.top(q, 20) == apart.top(q, 20)


def test_postings_of_a_common_word_span_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(LexicalIndex, "BLOCK", 4)
    items = [(f"d:{i:04d}", f"common word number{i}") for i in range(11)]
    index = LexicalIndex(tmp_path / "lex.sqlite")
    index.add(items[:5])
    index.add(items[5:])
    assert len(index.top("common", 100)) == 11
    assert index.db.execute("SELECT COUNT(*) FROM postings WHERE term = (SELECT id FROM terms WHERE term='common')").fetchone()[0] == 3
    assert_same_ranking(index, items, "common number7")


def test_opening_an_index_reads_no_chunk_and_a_question_reads_only_what_it_retrieves(assistant, corpus):
    assistant.index([corpus], progress=False)
    _, snap = assistant.opened()
    assert snap.docs.loaded == 0 and snap.cached() == (0, 0), "opening read something"
    assistant.search("record trade between China and Russia", k=3)
    total = assistant.opened()[0].chunks.count()
    assert 0 < snap.cached()[0] <= 2 * assistant.settings.candidates < total + 2 * assistant.settings.candidates
    assert 0 < snap.docs.loaded <= 5


def test_generation_counts_changes_only(assistant, corpus, tmp_path):
    assistant.index([corpus], progress=False)
    first = assistant.generation
    assistant.index([corpus], progress=False)  # nothing changed
    assert assistant.generation == first, "a no-op index must not make other processes drop their caches"
    article = tmp_path / "lithium.md"
    article.write_text(LITHIUM, encoding="utf-8")
    added = assistant.add([article], progress=False)
    assert assistant.generation == first + 1
    assistant.remove(added.files[0].doc_id)
    assert assistant.generation == first + 2


def test_a_lost_lexical_index_is_rebuilt_from_the_store(assistant, corpus):
    assistant.index([corpus], progress=False)
    before = [p.chunk_id for p in assistant.search("record trade between China and Russia", k=5)]
    path = assistant.opened()[0].lexical_path()
    assistant.close()
    for f in path.parent.glob(path.name + "*"):
        f.unlink()
    fresh = Assistant(settings=assistant.settings, embedder=fake_embedder(), auto_build=False)
    assert [p.chunk_id for p in fresh.search("record trade between China and Russia", k=5)] == before
    store, snap = fresh.opened()
    assert snap.lexical.size == store.chunks.count()


def test_an_interrupted_write_is_repaired_from_its_pending_list(assistant, corpus):
    assistant.index([corpus], progress=False)
    store = assistant.opened()[0]
    victim = next(iter(assistant.opened()[1].docs))
    store.docs.delete(ids=[victim])  # as if killed after the chunks, before the record
    store.set_meta(pending=json.dumps([victim]))
    report = assistant.index([corpus], progress=False)
    assert report.added == 1 and report.documents == 5
    assert store.get_meta("pending") == "[]"
    assert [f.doc_id for f in report.files if f.status == "added"] == [victim]
    assert len(store.chunks.get(where={"doc_id": victim}, include=[])["ids"]) == assistant.opened()[1].docs[victim]["n_chunks"]


# ---------------------------------------------------------------- with the real model


@pytest.mark.integration
def test_onnx_backend_gives_the_torch_vectors(real_embedder):
    from rag.embed import load_embedder

    texts = [t for _, t in bundled_chunks()[:24]] + ["How much did trade between China and Russia reach?"]
    torch_embedder = load_embedder(backend="torch")
    onnx = real_embedder.embed(texts)
    reference = torch_embedder.embed(texts)
    assert real_embedder.model.__class__.__name__ == "OnnxEncoder"
    assert float((onnx * reference).sum(axis=1).min()) > 0.9999
    q = texts[-1]
    assert float(real_embedder.embed_query(q) @ torch_embedder.embed_query(q)) > 0.9999


@pytest.mark.integration
@pytest.mark.parametrize("all_pairs_limit", [300, 2], ids=["all-pairs", "nearest-neighbours"])
def test_groups_worked_out_article_by_article_equal_those_of_one_run(tmp_path, real_embedder, monkeypatch,
                                                                      all_pairs_limit):
    import rag.indexer

    monkeypatch.setattr(rag.indexer, "ALL_PAIRS_LIMIT", all_pairs_limit)  # 2: new articles meet neighbours only
    corpus = bundled_corpus()
    whole = Assistant(settings=Settings(index_dir=tmp_path / "whole", quiet=True), embedder=real_embedder, auto_build=False)
    one_run = whole.index([corpus], progress=False).duplicate_groups
    assert one_run and len(one_run[0]) == 3, one_run
    single = Assistant(settings=Settings(index_dir=tmp_path / "single", quiet=True), embedder=real_embedder, auto_build=False)
    for path in sorted(corpus.glob("*.txt"), reverse=True):
        report = single.add([path], progress=False)
    assert report.duplicate_groups == one_run
    # The original leaves: the translation and the summary are scored again between themselves.
    single.remove(one_run[0][0])
    rest = Assistant(settings=Settings(index_dir=tmp_path / "rest", quiet=True), embedder=real_embedder, auto_build=False)
    folder = tmp_path / "rest-corpus"
    shutil.copytree(corpus, folder)
    original_path = next(d.path for d in whole.documents() if d.doc_id == one_run[0][0])
    (folder / Path(original_path).name).unlink()
    want = {tuple(g) for g in rest.index([folder], progress=False).duplicate_groups}
    got = {tuple(g) for g in _groups(single)}
    assert got == want


def test_a_removal_reads_its_article_and_group_not_every_record(assistant, corpus, monkeypatch):
    from rag.store import Store

    assistant.index([corpus], progress=False)
    docs = assistant.documents()
    grouped = next(d for d in docs if d.duplicate_group == d.doc_id)  # a group's original: the group bears its id
    members = {d.doc_id for d in docs if d.duplicate_group == grouped.duplicate_group}

    def every_record(*args, **kwargs):
        raise AssertionError("a removal read every article record")

    monkeypatch.setattr(Store, "iter_docs", every_record)
    assistant.remove(grouped.doc_id[:10])  # by a unique prefix
    monkeypatch.undo()
    left = {d.doc_id: d for d in assistant.documents()}
    assert grouped.doc_id not in left and len(left) == len(docs) - 1
    with pytest.raises(Exception, match="matches no indexed article"):
        assistant.remove(grouped.doc_id)
    # the group it left was worked out again (test_groups_worked_out_article_by_article_equal_those_of_one_run
    # checks how): none of the members left is still in a group named after the article that went
    assert not any(left[d].duplicate_group == grouped.doc_id for d in members - {grouped.doc_id})


def test_a_removal_by_a_prefix_several_ids_share_names_how_many_and_removes_none(assistant, corpus):
    for i in range(12):  # 17 articles: two ids surely share their first hex digit
        (corpus / f"note-{i}.txt").write_text(f"Note {i}\n\nThe quota for item {i} was {i * 7} tonnes.\n", encoding="utf-8")
    assistant.index([corpus], progress=False)
    ids = [d.doc_id for d in assistant.documents()]
    prefix = next(c for c in "0123456789abcdef" if sum(d.startswith(c) for d in ids) > 1)
    shared = sum(d.startswith(prefix) for d in ids)
    with pytest.raises(Exception, match=f"matches {shared} indexed article"):
        assistant.remove(prefix)
    assert len(assistant.documents()) == len(ids)


def _groups(assistant: Assistant) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for d in assistant.documents():
        if d.duplicate_group:
            groups.setdefault(d.duplicate_group, []).append(d.doc_id)
    return [sorted(m, key=lambda x: (x != g, x)) for g, m in sorted(groups.items())]


class App:
    """tests/helpers/app_process.py: one long-lived app process, one JSON command per line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests/helpers/app_process.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert json.loads(self.proc.stdout.readline())["ready"]

    def __call__(self, op: str, arg: str = "") -> dict:
        self.proc.stdin.write(json.dumps({"op": op, "arg": arg}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _env(index_dir: Path, url: str | None) -> dict[str, str]:
    env = os.environ | {"RAG_INDEX_DIR": str(index_dir), "RAG_QUIET": "true", "HF_HUB_OFFLINE": "1",
                        "ANONYMIZED_TELEMETRY": "False"}
    if url:
        env["RAG_CHROMA_URL"] = url
    return env


def _share_one_index(tmp_path: Path, url: str | None) -> None:
    """Two app processes and a `rag` CLI process on one index: each sees the others' writes on its next
    question, with no restart."""
    # With a server, each app keeps its own local state (its BM25 cache) in its own folder: what they share
    # is the server. Embedded, they share the folder, as two chats on one machine do.
    dirs = [tmp_path / "app-a", tmp_path / "app-b"] if url else [tmp_path / "index"] * 2
    corpus = tmp_path / "corpus"
    shutil.copytree(bundled_corpus(), corpus)
    cli = [str(Path(sys.executable).parent / "rag")]
    subprocess.run([*cli, "index", "--corpus", str(corpus)], env=_env(dirs[0], url), check=True, capture_output=True)
    a, b = App(_env(dirs[0], url)), App(_env(dirs[1], url))
    try:
        question = "How much lithium did Bolivia agree to sell to Pyongyang?"
        before = b("ask", question)
        assert "40,000" not in before["text"]
        article = tmp_path / "lithium.md"
        article.write_text(LITHIUM, encoding="utf-8")
        added = a("add", str(article))
        assert added["added"] == 1 and added["generation"] == before["generation"] + 1
        after = b("ask", question)
        assert "40,000 tonnes" in after["text"] and after["generation"] == added["generation"], after
        assert added["doc_id"] in b("search", "Lithium Accord Bolivia")["docs"]
        # A third process (the CLI) removes it; both apps stop quoting it on their next question.
        subprocess.run([*cli, "remove", added["doc_id"]], env=_env(dirs[1], url), check=True, capture_output=True)
        for app in (a, b):
            gone = app("ask", question)
            assert "40,000" not in gone["text"] and added["doc_id"] not in gone["docs"], gone
            assert added["doc_id"] not in app("search", "Lithium Accord Bolivia")["docs"]
    finally:
        a.close()
        b.close()


@pytest.mark.integration
def test_processes_sharing_a_chroma_server_see_each_others_writes(tmp_path, chroma_server):  # noqa: F811
    _share_one_index(tmp_path, chroma_server)


@pytest.mark.integration
def test_processes_sharing_an_embedded_index_see_each_others_writes(tmp_path):
    _share_one_index(tmp_path, None)


def test_bench_scale_help_runs():
    out = subprocess.run([sys.executable, "-m", "evals.bench_scale", "--help"], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0 and "--sizes" in out.stdout, out.stderr


@pytest.mark.integration
def test_answering_imports_neither_torch_nor_llama_index(tmp_path, real_embedder, corpus):
    """Cold start: a process that only answers loads the ONNX model and Chroma, nothing heavier."""
    Assistant(settings=Settings(index_dir=tmp_path / "index", quiet=True), embedder=real_embedder,
              auto_build=False).index([corpus], progress=False)
    code = ("import sys; from rag import Assistant, Settings; "
            f"a = Assistant(settings=Settings(index_dir={str(tmp_path / 'index')!r}), auto_build=False); "
            "print(a.ask('How much did trade between China and Russia reach last year?').text); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'llama_index.core') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path / "index", None),
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    text, imported = out.stdout.strip().splitlines()[-2:]
    assert "$240 billion" in text and imported == "[]", (text, imported)


def test_rag_bench_is_on_the_cli():
    from click.testing import CliRunner

    from rag.cli import cli

    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0 and "--sizes" in result.output and "--json" in result.output, result.output


def test_a_question_reads_its_passages_in_one_pass_not_per_sentence(assistant, corpus, monkeypatch):
    # retrieval ranks with the records it gathered, and the candidates and their features read what was gathered
    # for the passages kept: none of the snapshot's per-item readers is called on the way (a fresh view)
    from rag.snapshot import Snapshot

    assistant.index([corpus], progress=False)
    calls: list[str] = []
    for name in ("chunk", "text", "doc_sentences", "sentence_vector", "title"):
        original = getattr(Snapshot, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Snapshot, name, counted)
    ev = assistant.evidence("How much did trade between China and Russia reach?")
    assert ev.candidates and ev.features.shape[0] == len(ev.candidates)
    assert calls == []


def test_a_question_goes_down_the_layers_once(assistant, corpus):
    # its text is read once (question.read) and then searched and read by the reader: at most 6 climbs back up
    # a layer in the walk evals/measure_walk.py follows (14 before it was read once)
    from evals.measure_walk import rank, walk

    assistant.index([corpus], progress=False)
    question = "How much did trade between China and Russia reach last year?"
    assistant.ask(question)
    modules = [module for module, _ in walk(assistant, question, objects=False)]
    stays = [m for i, m in enumerate(modules) if i == 0 or modules[i - 1] != m]
    climbs = sum(rank(b) > rank(a) for a, b in zip(stays, stays[1:], strict=False))
    assert stays[0] == "answerer" and {"question", "retrieve", "reader"} <= set(stays)
    assert 0 < climbs <= 6, stays


def test_the_answerer_finds_what_search_finds_and_the_query_vector_it_ranked_with(assistant, corpus):
    from rag.retrieve import find

    assistant.index([corpus], progress=False)
    question = "How much did trade between China and Russia reach?"
    _, snap = assistant.opened()
    passages, vector = find(snap, question, 5, embedder=assistant.embedder, mode=assistant.settings.retrieval,
                            candidates=assistant.settings.candidates)
    assert [p.chunk_id for p in passages] == [p.chunk_id for p in assistant.search(question, 5)]
    assert np.allclose(vector, assistant.embedder.embed_query(question))
    assert [p.chunk_id for p in assistant.evidence(question).passages] == [p.chunk_id for p in passages]


def test_collections_write_their_graph_every_100_writes_and_an_older_index_is_set_so_by_its_next_writer(
        assistant, corpus, tmp_path):
    from rag.store import SYNC_THRESHOLD, Store

    assistant.index([corpus], progress=False)
    store = assistant.opened()[0]
    collections = (store.chunks, store.sentences, store.docs)
    assert SYNC_THRESHOLD == 100
    assert all(c.configuration["hnsw"]["sync_threshold"] == SYNC_THRESHOLD for c in collections)
    for c in collections:  # as an index made before the setting
        c.modify(configuration={"hnsw": {"sync_threshold": 1000}})
    extra = tmp_path / "extra.txt"
    extra.write_text("Extra\n\nThe lithium levy rose to 9 percent.\n", encoding="utf-8")
    assistant.add([extra], progress=False)
    fresh = Store(assistant.settings)
    fresh.open(assistant.opened()[0].chunks.metadata)
    assert all(c.configuration["hnsw"]["sync_threshold"] == SYNC_THRESHOLD
               for c in (fresh.chunks, fresh.sentences, fresh.docs))


def test_the_bm25_index_written_in_batches_equals_one_written_at_once(tmp_path, corpus, monkeypatch):
    import rag.indexer

    def bm25_rows(root: Path, batch: int) -> list[tuple]:
        monkeypatch.setattr(rag.indexer, "LEXICAL_BATCH", batch)
        a = Assistant(settings=Settings(index_dir=root, quiet=True), embedder=fake_embedder(), auto_build=False)
        a.index([corpus], progress=False)
        lexical = LexicalIndex(a.opened()[0].lexical_path())
        return sorted(lexical.db.execute("SELECT id, len, terms, tfs FROM chunks WHERE len > 0"))

    many = bm25_rows(tmp_path / "small-batches", 7)
    one = bm25_rows(tmp_path / "one-batch", 10**6)
    assert many and many == one
