"""Sentence-aware chunking. Every chunk is a run of whole sentences and keeps its character offsets into the
cleaned article, so `article.text[chunk.start:chunk.end] == chunk.text`, and so does every sentence span.

Size: the default 500 characters (about 100 word pieces, well inside the embedding model's 256-token window)
with one sentence of overlap was chosen by measurement: `python -m evals.tune_chunking` compares dense retrieval
hit@k and MRR on evals/questions.jsonl for sizes 300-1400 and overlaps 0-2 (table in evals/README.md):
500/1 reached hit@5 1.000 and MRR 0.887; 700/1 0.969 and 0.807; 1000/1 0.812 and 0.720.
"""

from __future__ import annotations

import re

from .tuning import CHUNK_OVERLAP, CHUNK_SIZE
from .types import Article, Chunk

# Words after which a full stop does not end a sentence.
ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "u.s", "u.k", "u.n", "e.u",
    "gen", "gov", "sen", "rep", "lt", "col", "capt", "sgt", "inc", "ltd", "co", "corp", "fig", "approx",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "a.m", "p.m", "d.c",
}
_END_RE = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?P<markers>)(?=\s+)")
# The same end, with any citation markers after it kept in the sentence (a model's reply: "... last year. [1]").
_END_MARKED_RE = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?P<markers>(?:\s*\[\d+(?:\s*,\s*\d+)*\])*)(?=\s+)")
_NEXT_START_RE = re.compile(r"\s+[\"'\u201c\u2018(\[]?[A-Z0-9]")
_HARD_LIMIT_FACTOR = 1.5  # a sentence longer than this many chunk sizes is cut at spaces


def split_sentences(text: str, *, markers: bool = False) -> list[tuple[int, int]]:
    """(start, end) of every sentence: the one sentence splitter (articles, questions' gold text, and with
    `markers` a model's reply, whose [n] markers after a sentence's end stay with it). Paragraph breaks always
    end a sentence; headlines count as one."""
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text):
        p_start, p_text = para.start(), para.group()
        cursor = 0
        for match in (_END_MARKED_RE if markers else _END_RE).finditer(p_text):
            end = match.end()
            if not _NEXT_START_RE.match(p_text, end):
                continue
            stop = match.start("markers")  # where the sentence's own punctuation ends
            word = re.search(r"([\w.]+)[.!?]*[\"'\u201d\u2019)\]]*$", p_text[cursor:stop])
            token = word.group(1).rstrip(".").lower() if word else ""
            if p_text[stop - 1] == "." and (token in ABBREVIATIONS or re.fullmatch(r"[a-z]", token)):
                continue  # "U.S. President", "Patricia M. Kim"
            spans.append((p_start + cursor, p_start + end))
            cursor = end
            while cursor < len(p_text) and p_text[cursor].isspace():
                cursor += 1
        if cursor < len(p_text):
            spans.append((p_start + cursor, p_start + len(p_text.rstrip())))
    return [(s, e) for s, e in spans if e > s]


def _cut_long(text: str, span: tuple[int, int], size: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than the hard limit into pieces of at most `size` characters at spaces."""
    start, end = span
    if end - start <= size * _HARD_LIMIT_FACTOR:
        return [span]
    pieces: list[tuple[int, int]] = []
    while end - start > size:
        cut = text.rfind(" ", start + 1, start + size)
        cut = cut if cut > start else start + size
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def chunk_article(article: Article, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `size` characters (a longer sentence stands alone), each
    chunk after the first starting with the last `overlap` sentences of the one before."""
    text = article.text
    sentences = [piece for span in split_sentences(text) for piece in _cut_long(text, span, size)]
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i + 1
        while j < len(sentences) and sentences[j][1] - sentences[i][0] <= size:
            j += 1
        start, end = sentences[i][0], sentences[j - 1][1]
        chunks.append(
            Chunk(
                chunk_id=f"{article.doc_id}:{len(chunks):04d}",
                doc_id=article.doc_id,
                position=len(chunks),
                start=start,
                end=end,
                text=text[start:end],
                sentences=tuple(sentences[i:j]),
            )
        )
        if j >= len(sentences):
            break
        # Step back `overlap` sentences, but always move forward by at least one.
        i = max(j - overlap, i + 1)
    return chunks


def article_sentences(article: Article) -> list[tuple[int, int]]:
    """The sentence spans the index stores for the answerer (same splitting as the chunks use)."""
    return split_sentences(article.text)
