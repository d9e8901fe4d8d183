"""Collections: one index holds several named corpora, each with its own articles, BM25 index, near-duplicate
groups, generation and uploads; `default` is the index every earlier version built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.errors import CorpusError, IndexNotFound, RagError

from .conftest import fake_embedder
from .test_chroma_server import chroma_server  # noqa: F401  (a real `chroma run` on loopback)

ROOT = Path(__file__).resolve().parents[1]


def article(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def two(tmp_path):
    """An index with the bundled articles in `default` and one article each in `alpha` and `beta`."""
    index = tmp_path / "index"
    emb = fake_embedder()
    default = Assistant(index_dir=index, embedder=emb, auto_build=False)
    default.index(progress=False)
    alpha = Assistant(index_dir=index, collection="alpha", embedder=emb, auto_build=False)
    alpha.add([article(tmp_path / "a", "a.txt", "Alpha memo\n\nThe alpha project shipped 40 widgets to Lisbon.\n")],
              progress=False)
    beta = Assistant(index_dir=index, collection="beta", embedder=emb, auto_build=False)
    beta.add([article(tmp_path / "b", "b.txt", "Beta memo\n\nThe beta team hired 7 engineers in Oslo.\n")],
             progress=False)
    return default, alpha, beta


def test_each_collection_holds_only_its_own_articles(two):
    default, alpha, beta = two
    assert [d.title for d in alpha.documents()] == ["Alpha memo"]
    assert [d.title for d in beta.documents()] == ["Beta memo"]
    assert len(default.documents()) == 5 and "Alpha memo" not in {d.title for d in default.documents()}
    assert all("Lisbon" not in p.text for p in beta.search("alpha project widgets Lisbon", k=5))
    assert all("Lisbon" not in p.text for p in default.search("alpha project widgets Lisbon", k=5))
    assert any("Lisbon" in p.text for p in alpha.search("alpha project widgets Lisbon", k=5))
    assert "Oslo" not in alpha.ask("How many engineers did the beta team hire?").text


def test_collections_are_listed_with_counts_default_first(two):
    default, _, _ = two
    found = default.collections()
    assert [c["name"] for c in found] == ["default", "alpha", "beta"]
    assert [c["articles"] for c in found] == [5, 1, 1] and all(c["chunks"] >= c["articles"] for c in found)


def test_each_collection_has_its_own_bm25_file_generation_and_uploads(two, tmp_path):
    default, alpha, beta = two
    index = tmp_path / "index"
    assert (index / "lexical-articles.sqlite").is_file()  # the default keeps the file names of before
    assert (index / "lexical-alpha.sqlite").is_file() and (index / "lexical-beta.sqlite").is_file()
    before = (default.generation, beta.generation)
    alpha.upload([("note.txt", b"Alpha note\n\nThe alpha project also opened an office in Porto.\n")])
    assert alpha.uploads_dir == (index / "uploads-alpha").resolve() and any(alpha.uploads_dir.iterdir())
    assert not (index / "uploads").exists() or not any((index / "uploads").iterdir())
    default.refresh()
    beta.refresh()
    assert (default.generation, beta.generation) == before, "a write to one collection moves only its generation"
    assert len(alpha.documents()) == 2 and len(beta.documents()) == 1


def test_removing_a_collection_drops_it_and_nothing_else(two, tmp_path):
    default, alpha, beta = two
    alpha.upload([("note.txt", b"Alpha note\n\nThe alpha project also opened an office in Porto.\n")])
    default.remove_collection("alpha")
    index = tmp_path / "index"
    assert [c["name"] for c in default.collections()] == ["default", "beta"]
    assert not (index / "lexical-alpha.sqlite").exists() and not (index / "uploads-alpha").exists()
    assert not (index / "sentences-alpha.sqlite").exists()
    with pytest.raises(IndexNotFound, match="No collection 'alpha'.*rag collections"):
        Assistant(index_dir=index, collection="alpha", embedder=fake_embedder(), auto_build=False).search("x")
    assert len(beta.documents()) == 1 and len(default.documents()) == 5
    with pytest.raises(IndexNotFound):
        default.remove_collection("alpha")


def test_an_index_built_before_collections_is_the_default_collection(tmp_path):
    """Indexes built before collections named their Chroma collections `articles-*` (RAG_COLLECTION was that
    prefix): `default` and `articles` open them unchanged."""
    import chromadb

    index = tmp_path / "index"
    Assistant(index_dir=index, embedder=fake_embedder(), auto_build=False).index(progress=False)
    client = chromadb.PersistentClient(path=str(index))
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    assert names == {"articles-chunks", "articles-sentences", "articles-docs", "articles-changes"}  # + the change log
    same = Assistant(index_dir=index, collection="articles", embedder=fake_embedder(), auto_build=False)
    assert len(same.documents()) == 5 and same.uploads_dir == (index / "uploads").resolve()


def test_names_and_missing_collections_are_clear_errors(tmp_path):
    with pytest.raises(RagError, match="not a collection name"):
        Assistant(index_dir=tmp_path / "index", collection="no spaces")
    a = Assistant(index_dir=tmp_path / "index", collection="fresh", embedder=fake_embedder())
    with pytest.raises(IndexNotFound):  # auto_build fills only the default collection with the bundled articles
        a.search("trade")
    with pytest.raises(CorpusError, match="no default corpus"):
        a.index(progress=False)
    Assistant(index_dir=tmp_path / "index", embedder=fake_embedder(), auto_build=False).index(progress=False)
    with pytest.raises(IndexNotFound, match="No collection 'fresh'.*rag index --collection fresh"):
        a.search("trade")


def test_settings_carry_the_collection(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_COLLECTION", "beta")
    assert Settings().collection == "beta"
    assert Assistant(index_dir=tmp_path).settings.collection == "beta"
    assert Assistant(index_dir=tmp_path, collection="alpha").settings.collection == "alpha"


@pytest.mark.integration
def test_collections_from_the_command_line(tmp_path):
    """`--collection` on add, ask, search, docs, remove; RAG_COLLECTION; `rag collections` and its remove."""
    index = tmp_path / "index"
    a = article(tmp_path / "a", "a.txt", "Alpha memo\n\nThe alpha project shipped 40 widgets to Lisbon in 2024.\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"RAG_INDEX_DIR": str(index)}

    def rag(*args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=tmp_path, env=env | extra, input=stdin,
                              capture_output=True, text=True, timeout=300)

    assert rag("add", "--collection", "alpha", "-q", str(a)).returncode == 0
    listed = rag("collections", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["alpha"]
    answer = rag("ask", "--collection", "alpha", "How many widgets did the alpha project ship?")
    assert answer.returncode == 0 and "40 widgets" in answer.stdout, answer.stderr
    assert "40 widgets" in rag("ask", "How many widgets did the alpha project ship?", RAG_COLLECTION="alpha").stdout
    missing = rag("ask", "How many widgets did the alpha project ship?")
    assert missing.returncode == 1 and "no default collection" in missing.stderr
    hits = rag("search", "--collection", "alpha", "--json", "widgets Lisbon")
    assert hits.returncode == 0 and "Lisbon" in hits.stdout
    docs = rag("docs", "--collection", "alpha", "--json")
    doc_id = json.loads(docs.stdout.splitlines()[0])["doc_id"]
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "w1", "question": "How many widgets did the alpha project ship?",
                                     "answers": [["40"]], "evidence": [{"doc_id": doc_id, "quote": "40 widgets"}]})
                         + "\n", encoding="utf-8")
    scored = rag("eval", "--collection", "alpha", "--questions", str(questions), "--report", str(tmp_path / "r"),
                 "--quiet", "--json")
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout.splitlines()[-1])["answer_accuracy"] == 1.0  # asked of alpha, not of default
    assert rag("remove", "--collection", "alpha", doc_id[:8]).returncode == 0
    assert rag("docs", "--collection", "alpha", "--json").stdout.strip() == ""
    refused = rag("collections", "remove", "alpha", stdin="n\n")
    assert refused.returncode != 0 and "Drop collection 'alpha'" in refused.stdout  # asked, answered no
    assert "alpha" in rag("collections").stdout  # kept
    assert rag("collections", "remove", "alpha", "--yes").returncode == 0
    assert "alpha" not in rag("collections").stdout
    bad = rag("ask", "--collection", "a b", "x")
    assert bad.returncode == 1 and "not a collection name" in bad.stderr


@pytest.mark.integration
def test_collections_through_a_chroma_server(chroma_server, tmp_path):  # noqa: F811
    settings = Settings(chroma_url=chroma_server, index_dir=tmp_path / "local")
    emb = fake_embedder()
    alpha = Assistant(settings=settings, collection="alpha", embedder=emb, auto_build=False)
    alpha.add([article(tmp_path / "a", "a.txt", "Alpha memo\n\nThe alpha project shipped 40 widgets to Lisbon.\n")],
              progress=False)
    beta = Assistant(settings=settings, collection="beta", embedder=emb, auto_build=False)
    beta.add([article(tmp_path / "b", "b.txt", "Beta memo\n\nThe beta team hired 7 engineers in Oslo.\n")],
             progress=False)
    assert [(c["name"], c["articles"]) for c in alpha.collections()] == [("alpha", 1), ("beta", 1)]
    assert all("Lisbon" not in p.text for p in beta.search("alpha project widgets Lisbon", k=5))
    assert any("Lisbon" in p.text for p in alpha.search("alpha project widgets Lisbon", k=5))
    beta.remove_collection("alpha")
    assert [c["name"] for c in beta.collections()] == ["beta"] and len(beta.documents()) == 1
