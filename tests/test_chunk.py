import pytest

from rag.chunk import chunk_article, split_sentences
from rag.load import bundled_corpus, doc_id_for, load_articles
from rag.types import Article


def _article(text):
    return Article(doc_id=doc_id_for(text), path="x.txt", text=text)


@pytest.mark.parametrize("size,overlap", [(300, 0), (700, 1), (1200, 2)])
def test_every_chunk_is_the_article_slice_at_its_offsets(size, overlap):
    for article in load_articles([bundled_corpus()]).articles:
        chunks = chunk_article(article, size, overlap)
        assert chunks, article.path
        for chunk in chunks:
            assert article.text[chunk.start : chunk.end] == chunk.text
            assert chunk.sentences[0][0] == chunk.start and chunk.sentences[-1][1] == chunk.end
            for s, e in chunk.sentences:
                assert chunk.start <= s < e <= chunk.end
            assert len(chunk.text) <= size or len(chunk.sentences) == 1, (len(chunk.text), chunk.text[:80])
        assert [c.chunk_id for c in chunks] == [f"{article.doc_id}:{i:04d}" for i in range(len(chunks))]


def test_chunks_cover_every_sentence_and_overlap_by_one():
    article = load_articles([bundled_corpus()]).articles[3]
    chunks = chunk_article(article, 500, 1)
    covered = {s for c in chunks for s in c.sentences}
    assert covered == set(split_sentences(article.text))
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.sentences[0] == prev.sentences[-1], "one sentence of overlap"


def test_abbreviations_and_initials_do_not_end_sentences():
    text = "U.S. President Donald Trump met Patricia M. Kim today. Mr. Lee said no. She left!"
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == ["U.S. President Donald Trump met Patricia M. Kim today.", "Mr. Lee said no.", "She left!"]


def test_quotes_and_paragraphs_end_sentences():
    text = "He called it \u201cvery serious.\u201d Then he left\n\nA headline without a stop"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "He called it \u201cvery serious.\u201d", "Then he left", "A headline without a stop",
    ]


def test_overlong_sentence_is_cut_at_spaces():
    text = " ".join(["word"] * 600)  # 2999 characters, no full stop
    chunks = chunk_article(_article(text), 700, 1)
    assert len(chunks) >= 5
    assert all(len(c.text) <= 700 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
