"""Typed results. Every public call returns one of these, with the same shape every time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Article:
    """One cleaned article, ready to chunk. `text` is the cleaned text every offset refers to."""

    doc_id: str
    path: str
    text: str
    title: str = ""
    author: str = ""
    publication: str = ""
    date: str = ""
    source: str = ""
    derived_hint: str = ""  # why the text says it is a copy ("originally published …"), else ""
    format: str = ""  # txt, md, html, pdf or docx
    pages: tuple[tuple[int, int], ...] = ()  # PDFs: (offset in text where a page starts, its page number)
    url: str = ""  # the link it was fetched from (`rag add https://…`), else ""
    ocr_pages: tuple[int, ...] = ()  # pages whose text was read by OCR (its quotes may hold recognition errors)
    file_date: str = ""  # the file's modification date (YYYY-MM-DD, UTC): a scope's date when the text gives none

    @property
    def label(self) -> str:
        """What to call the article in lists: its title, else its file name."""
        return self.title or self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one article. `text == article.text[start:end]`."""

    chunk_id: str
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # absolute (start, end) offsets of the sentences it holds


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with what is known of its article."""

    doc_id: str
    chunk_id: str
    title: str
    text: str
    score: float
    start: int
    end: int
    path: str = ""
    author: str = ""
    date: str = ""
    duplicate_group: str = ""
    also_in: tuple[str, ...] = ()  # doc_ids of near-duplicate articles whose passage says the same
    merged: tuple[str, ...] = ()  # chunk_ids of those near-duplicate passages, folded into this one
    dense_rank: int = 0  # 1-based rank in dense retrieval, 0 when not retrieved that way
    bm25_rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer: the exact quote, where it sits, and the passage it came from."""

    number: int
    doc_id: str
    title: str
    author: str
    date: str
    quote: str  # exact text of the cleaned article at [start:end]
    passage: str  # the retrieved chunk the quote lies in
    start: int
    end: int
    score: float
    also_in: tuple[str, ...] = ()  # doc_ids of near-duplicate articles that say the same
    not_answer: bool = False  # shown with an abstention as the closest passage, not as support for an answer
    page: int = 0  # the page the quote starts on (PDFs), else 0
    ocr: bool = False  # the quote's page was read by OCR: it may hold recognition errors
    outside_scope: bool = False  # from an article outside the question's scope (offered when those in it don't say)

    @property
    def page_label(self) -> str:
        """"p. 3", "p. 3, read by OCR", or "" (an article without pages)."""
        label = f"p. {self.page}" if self.page else ""
        return f"{label}, read by OCR" if self.ocr and label else ("read by OCR" if self.ocr else label)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """`text` holds [n] markers; each n is a `citations` entry. `abstained` answers start with ABSTAIN_TEXT and
    may cite the closest passage, marked `not_answer`. `confidence` is the calibrated probability that the best
    sentence answers the question; `short` the short answer inside the best quote: the reader's span, or (with
    the reader off, or for an article's byline) the span of the number, date, name or byline asked for ("" when
    none)."""

    text: str
    citations: list[Citation]
    abstained: bool
    question: str  # as asked
    query: str  # as searched (a follow-up merged with the turns it depends on)
    backend: str = "extractive"
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds: retrieve, answer, total
    notes: list[str] = field(default_factory=list)  # e.g. "dropped 1 unsupported sentence from the LLM"
    confidence: float = 0.0
    short: str = ""
    # the articles it was asked of: the scope's fields (`Scope.to_dict`) and "articles", how many it named; {}: all
    scope: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DocumentInfo:
    """An indexed article as listed by `rag docs` and the UI."""

    doc_id: str
    title: str
    path: str
    author: str
    publication: str
    date: str
    source: str
    chunks: int
    sentences: int
    duplicate_group: str = ""  # doc_id of the group's original; "" when the article has no near-duplicate
    duplicate_role: str = ""  # "original" or "derived" inside a group
    duplicate_score: float = 0.0  # containment score that linked it to the group
    format: str = ""  # txt, md, html, pdf or docx ("" for indexes built before formats were recorded)
    pages: int = 0  # pages with text (PDFs), else 0
    url: str = ""  # the link it was fetched from, else ""
    ocr: bool = False  # some of its text was read by OCR (scanned pages, page images)
    file_date: str = ""  # its file's modification date when indexed (YYYY-MM-DD; a scope's date when it gives none)

    @property
    def label(self) -> str:
        return self.title or self.path.rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"label": self.label}


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class FileResult:
    """What one run did with one file: "added", "updated", "unchanged" or "skipped" (with the reason)."""

    path: str
    status: str
    doc_id: str = ""
    reason: str = ""


@dataclass
class IndexReport:
    """What one `index`/`add` run did. Counts are articles unless named otherwise."""

    documents: int = 0  # articles in the index after the run
    chunks: int = 0  # chunks in the index after the run
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0  # chunks embedded in this run
    embedded_sentences: int = 0
    embedded_texts: int = 0  # distinct texts the model embedded (chunks and sentences, each text once)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: embed, write, duplicates
    skipped: list[SkippedFile] = field(default_factory=list)
    duplicate_groups: list[list[str]] = field(default_factory=list)  # doc_ids, the original first
    seconds: float = 0.0
    files: list[FileResult] = field(default_factory=list)  # one entry per file read, in the order read

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [{"file": s.path, "reason": s.reason} for s in self.skipped]
        data["files"] = [asdict(f) for f in self.files]
        return data


@dataclass
class Candidate:
    """A sentence of a retrieved passage that an answer may quote (offsets into its cleaned article), with its
    scores as answering goes."""

    doc_id: str
    start: int
    end: int
    text: str
    passage: Passage
    rank: int
    score: float = 0.0
    typed: bool = False
    vector: np.ndarray | None = None
    first: float = 0.0  # the first pass's (evidence scorer's) probability, once the reader has re-scored it
    short: tuple[int, int] = (-1, -1)  # the reader's short answer inside `text`, when it read this sentence
