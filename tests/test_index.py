"""Incremental indexing into a real embedded Chroma, with the deterministic fake embedder."""

import shutil

import pytest

from rag import Assistant, Settings
from rag.errors import (
    CorpusError,
    DocumentNotFound,
    EmbeddingMismatch,
    IndexMismatch,
    IndexNotFound,
    InvalidQuery,
)
from rag.indexer import Indexer, signature
from rag.store import Store

from .conftest import fake_embedder


def _ids(assistant, which="chunks"):
    store = assistant.opened()[0]
    if which == "sentences":  # kept beside the index (rag/sentences.py)
        from rag.sentences import SentenceStore

        return SentenceStore(store.sentences_path()).ids()
    return sorted(store.all_ids(store.chunks))


def test_first_build_indexes_everything(assistant, corpus):
    report = assistant.index([corpus], progress=False)
    assert (report.documents, report.added, report.unchanged, report.removed) == (5, 5, 0, 0)
    assert report.embedded == report.chunks > 0
    assert len(_ids(assistant)) == report.chunks
    doc_ids = {d.doc_id for d in assistant.documents()}
    assert {i.split(":")[0] for i in _ids(assistant)} == doc_ids
    assert report.to_dict()["skipped"] == []


def test_reindex_unchanged_corpus_embeds_nothing(assistant, corpus):
    first = assistant.index([corpus], progress=False)
    ids = _ids(assistant), _ids(assistant, "sentences")
    again = assistant.index([corpus], progress=False)
    assert (again.embedded, again.embedded_sentences, again.added, again.unchanged) == (0, 0, 0, 5)
    assert (again.documents, again.chunks) == (first.documents, first.chunks)
    assert (_ids(assistant), _ids(assistant, "sentences")) == ids


def test_changed_article_replaces_its_chunks(assistant, corpus):
    assistant.index([corpus], progress=False)
    path = corpus / "000_a0f9ff2e868f1ae0.txt"
    old_id = next(d.doc_id for d in assistant.documents() if d.path == str(path))
    path.write_text(path.read_text(encoding="utf-8") + "\nA brand new closing sentence about tariffs.\n", encoding="utf-8")
    report = assistant.index([corpus], progress=False)
    assert (report.updated, report.added, report.removed, report.unchanged) == (1, 0, 0, 4)
    assert 0 < report.embedded < report.chunks
    docs = {d.doc_id: d for d in assistant.documents()}
    assert old_id not in docs and len(docs) == 5
    assert not [i for i in _ids(assistant) if i.startswith(old_id)], "old chunks are gone"
    new_id = next(d for d in docs.values() if d.path == str(path)).doc_id
    stored = assistant.opened()[0].chunks.get(where={"doc_id": new_id}, include=["documents"])["documents"]
    assert len(stored) == docs[new_id].chunks and any("about tariffs." in t for t in stored)


def test_deleted_article_is_removed(assistant, corpus):
    assistant.index([corpus], progress=False)
    gone = corpus / "002_8f46a799f27b259f.txt"
    gone_id = next(d.doc_id for d in assistant.documents() if d.path == str(gone))
    gone.unlink()
    report = assistant.index([corpus], progress=False)
    assert (report.removed, report.documents, report.embedded) == (1, 4, 0)
    assert not [i for i in _ids(assistant) + _ids(assistant, "sentences") if i.startswith(gone_id)]


def test_unreadable_file_keeps_its_previous_version(assistant, corpus):
    assistant.index([corpus], progress=False)
    path = corpus / "000_a0f9ff2e868f1ae0.txt"
    path.write_bytes(b"\x00\x01\x02 binary now")
    report = assistant.index([corpus], progress=False)
    assert report.removed == 0 and report.documents == 5
    assert any(s.path == str(path) and "binary" in s.reason for s in report.skipped)


def test_add_and_remove_single_articles(assistant, corpus, tmp_path):
    assistant.index([corpus], progress=False)
    extra = tmp_path / "extra.md"
    extra.write_text("# Grain Deal\n\nBy Ann Lee\n\nThe grain corridor reopened in March after talks.", encoding="utf-8")
    report = assistant.add([extra], progress=False)
    assert (report.added, report.documents, report.removed) == (1, 6, 0)
    info = next(d for d in assistant.documents() if d.path == str(extra))
    assert (info.title, info.author) == ("Grain Deal", "Ann Lee")
    removed = assistant.remove(info.doc_id[:8])
    assert removed.doc_id == info.doc_id
    assert len(assistant.documents()) == 5
    with pytest.raises(DocumentNotFound, match="rag docs"):
        assistant.remove("ffffffffffff")


def test_mirror_removes_articles_from_another_corpus(assistant, corpus, tmp_path):
    assistant.index([corpus], progress=False)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(corpus / "000_a0f9ff2e868f1ae0.txt", other)
    report = assistant.index([other], progress=False)
    assert (report.documents, report.removed, report.unchanged) == (1, 4, 1)


def test_search_returns_ranked_passages_with_offsets(assistant, corpus):
    assistant.index([corpus], progress=False)
    passages = assistant.search("record $240 billion trade between China and Russia", k=4)
    assert len(passages) == 4
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    texts = {d.doc_id: assistant.opened()[0].docs.get(ids=[d.doc_id], include=["documents"])["documents"][0] for d in assistant.documents()}
    for p in passages:
        assert texts[p.doc_id][p.start : p.end] == p.text
    assert "$240 billion" in passages[0].text


@pytest.mark.parametrize("query,match", [("", "empty"), ("   ", "empty"), ("x" * 2001, "limit is 2000")])
def test_bad_queries_are_clear_errors(assistant, corpus, query, match):
    assistant.index([corpus], progress=False)
    with pytest.raises(InvalidQuery, match=match):
        assistant.search(query)


def test_missing_index_is_a_clear_error(tmp_path):
    a = Assistant(index_dir=tmp_path / "nowhere", embedder=fake_embedder(), auto_build=False)
    with pytest.raises(IndexNotFound, match=r"No index at .*nowhere — run `rag index` first"):
        a.search("anything")
    assert not (tmp_path / "nowhere").exists(), "looking for an index must not create one"


def test_auto_build_uses_the_bundled_corpus(tmp_path):
    a = Assistant(index_dir=tmp_path / "auto", embedder=fake_embedder())
    assert len(a.search("North Korean troops in Russia", k=2)) == 2
    assert len(a.documents()) == 5


def test_other_embedding_model_is_refused_with_both_names(assistant, corpus, tmp_path):
    assistant.index([corpus], progress=False)
    other = Assistant(index_dir=tmp_path / "index", embedder=fake_embedder("other-model", 32), auto_build=False)
    with pytest.raises(EmbeddingMismatch) as err:
        other.search("trade")
    message = str(err.value)
    assert "fake-wordhash-64" in message and "other-model" in message and "rag index --rebuild" in message
    with pytest.raises(EmbeddingMismatch):
        other.index([corpus], progress=False)
    report = other.index([corpus], rebuild=True, progress=False)
    assert report.added == 5 and other.search("trade", k=1)


def test_other_chunk_settings_are_refused(assistant, corpus, tmp_path):
    assistant.index([corpus], progress=False)
    settings = Settings(index_dir=tmp_path / "index", chunk_size=400)
    other = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    with pytest.raises(IndexMismatch, match=r"chunk_size 500 \(index\) vs 400 \(now\).*--rebuild"):
        other.search("trade")


def test_leftovers_of_an_interrupted_write_are_repaired(assistant, corpus):
    assistant.index([corpus], progress=False)
    store = assistant.opened()[0]
    victim = assistant.documents()[0]
    store.docs.delete(ids=[victim.doc_id])  # as if killed after the chunks, before the record
    assistant.refresh()  # the record went behind the assistant's back: forget what it read
    assert all(p.doc_id != victim.doc_id for p in assistant.search("China Russia North Korea", k=40))
    report = assistant.index([corpus], progress=False)
    assert (report.added, report.unchanged, report.documents) == (1, 4, 5)
    assert len(_ids(assistant)) == report.chunks


def test_empty_corpus_folder_is_an_error(assistant, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="No articles found"):
        assistant.index([tmp_path / "empty"], progress=False)


def test_indexer_signature_names_model_and_chunking(embedder):
    sig = signature(Settings(), embedder)
    assert sig["embed_model"] == "fake-wordhash-64" and sig["embed_dim"] == 64
    assert {"rag_format", "space", "chunk_size", "chunk_overlap", "cleaner"} <= set(sig)
    assert isinstance(Indexer(Store(Settings()), embedder, Settings()), Indexer)


def test_empty_index_answers_nothing_without_error(assistant, corpus):
    assistant.index([corpus], progress=False)
    for doc in assistant.documents():
        assistant.remove(doc.doc_id)
    assert assistant.search("anything at all", k=3) == []
    assert assistant.ask("What is in the articles?").abstained


def test_sentence_file_of_the_earlier_layout_is_converted_on_open(assistant, corpus):
    """An index whose sentence file holds a row a sentence (before rows by article) answers the same after it is
    opened: every article's sentences, spans and vectors converted, the articles with none still counted as
    present, the old tables gone and their space given back."""
    import sqlite3

    import numpy as np

    from rag.sentences import SentenceStore

    assistant.index([corpus], progress=False)
    path = assistant.opened()[0].sentences_path()
    store = SentenceStore(path)
    doc_ids = sorted(d.doc_id for d in assistant.documents())
    rows, ids = store.get(doc_ids), store.ids()
    store.close()
    old = path.with_name("old.sqlite")
    db = sqlite3.connect(old)
    db.executescript("""CREATE TABLE sentences (doc TEXT, position INTEGER, start INTEGER, end INTEGER,
        words INTEGER, vec BLOB, PRIMARY KEY (doc, position)) WITHOUT ROWID;
        CREATE TABLE docs (doc TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;""")
    for doc_id, held in rows.items():
        db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
                       [(doc_id, p, s, e, w, v.tobytes()) for p, s, e, w, v in held])
        db.execute("INSERT INTO docs VALUES (?, ?)", (doc_id, len(held)))
    db.execute("INSERT INTO docs VALUES ('no-sentences', 0)")
    db.commit()
    db.close()
    converted = SentenceStore(old)
    tables = {n for (n,) in converted.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"articles"}
    assert converted.ids() == ids and converted.count("no-sentences") == 0 and converted.count("absent") is None
    got = converted.get(doc_ids)
    assert set(got) == set(rows) == set(doc_ids)
    for doc_id in doc_ids:
        assert [r[:4] for r in got[doc_id]] == [r[:4] for r in rows[doc_id]]
        assert np.array_equal(np.stack([r[4] for r in got[doc_id]]), np.stack([r[4] for r in rows[doc_id]]))
    assert converted.db.execute("PRAGMA freelist_count").fetchone()[0] == 0, "the old layout's space is given back"
    converted.close()
    SentenceStore(old).close()  # opened again: nothing left to convert
