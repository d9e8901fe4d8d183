import os

import pytest

from rag.errors import CorpusError
from rag.load import load_articles


@pytest.fixture
def messy(tmp_path):
    folder = tmp_path / "messy"
    folder.mkdir()
    (folder / "good.txt").write_text("A good article about trade. It has two sentences.", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Caf\xe9 na\xefve r\xe9sum\xe9 d\xe9j\xe0 vu \xe0 Montr\xe9al, \xe9t\xe9 fran\xe7ais.".encode("latin-1"))
    (folder / "utf16.txt").write_text("Sixteen bit text is still text.", encoding="utf-16")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / "only-boilerplate.txt").write_text("No comments:\nPost a Comment\n", encoding="utf-8")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 ...")
    os.symlink(folder / "missing-target.txt", folder / "dangling.txt")
    (folder / "corpus.json").write_text("{not json", encoding="utf-8")
    (folder / ".hidden.txt").write_text("Hidden files are not articles.", encoding="utf-8")
    return folder


def test_bad_files_are_skipped_with_reasons_and_good_ones_load(messy):
    loaded = load_articles([messy])
    names = sorted(a.path.rsplit("/", 1)[-1] for a in loaded.articles)
    assert names == ["good.txt", "latin1.txt", "utf16.txt"]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in loaded.skipped}
    assert "binary" in reasons["binary.txt"]
    assert reasons["empty.txt"] == "empty file"
    assert "no article text" in reasons["only-boilerplate.txt"]
    assert reasons["report.pdf"].startswith("unreadable PDF")
    assert "unreadable" in reasons["dangling.txt"]
    assert "sidecar" in reasons["corpus.json"]
    assert ".hidden.txt" not in reasons
    assert all("\n" not in r for r in reasons.values()), "reasons are one line each"


def test_detected_encoding_decodes_text(messy):
    article = next(a for a in load_articles([messy]).articles if a.path.endswith("latin1.txt"))
    assert "Café naïve résumé" in article.text


def test_exact_duplicate_files_are_skipped(tmp_path):
    (tmp_path / "a.txt").write_text("Same words in both files.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Same  words in both files.\n\n", encoding="utf-8")
    loaded = load_articles([tmp_path])
    assert len(loaded.articles) == 1
    assert loaded.skipped[0].reason.startswith("same text as")


def test_too_large_file_is_skipped(tmp_path):
    (tmp_path / "big.txt").write_text("word " * 300_000, encoding="utf-8")
    loaded = load_articles([tmp_path], max_bytes=1_000_000)
    assert not loaded.articles and "too large" in loaded.skipped[0].reason


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="No such file or folder"):
        load_articles([tmp_path / "nope"])
