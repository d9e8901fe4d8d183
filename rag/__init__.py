"""rag: offline, grounded question answering over a corpus of articles.

Importing this package loads no model and opens no database; the first call does.
"""

from .assistant import Assistant
from .errors import (
    BackendUnavailable,
    CorpusError,
    DocumentNotFound,
    EmbeddingMismatch,
    IndexMismatch,
    IndexNotFound,
    InvalidQuery,
    ModelUnavailable,
    RagError,
    StoreUnavailable,
    UnsupportedFile,
)
from .settings import Settings
from .types import Article, Chunk, DocumentInfo, IndexReport, Passage, SkippedFile

__all__ = [
    "Article",
    "Assistant",
    "BackendUnavailable",
    "Chunk",
    "CorpusError",
    "DocumentInfo",
    "DocumentNotFound",
    "EmbeddingMismatch",
    "IndexMismatch",
    "IndexNotFound",
    "IndexReport",
    "InvalidQuery",
    "ModelUnavailable",
    "Passage",
    "RagError",
    "Settings",
    "SkippedFile",
    "StoreUnavailable",
    "UnsupportedFile",
]
__version__ = "0.1.0"
