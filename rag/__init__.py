"""rag: offline, grounded question answering over a corpus of articles.

Importing this package loads no model and opens no database; the first call does.
"""

from .assistant import Assistant
from .errors import (
    BackendUnavailable,
    CorpusError,
    DocumentNotFound,
    EmbeddingMismatch,
    FetchError,
    IndexMismatch,
    IndexNotFound,
    InvalidQuery,
    ModelUnavailable,
    RagError,
    ScopeError,
    StoreUnavailable,
    UnsupportedFile,
)
from .prompts import ABSTAIN_TEXT
from .scope import Scope
from .settings import Settings
from .types import (
    Answer,
    Article,
    Chunk,
    Citation,
    DocumentInfo,
    FileResult,
    IndexReport,
    Passage,
    SkippedFile,
)
from .version import __version__

__all__ = [
    "__version__",
    "ABSTAIN_TEXT",
    "Answer",
    "Article",
    "Assistant",
    "BackendUnavailable",
    "Chunk",
    "Citation",
    "CorpusError",
    "DocumentInfo",
    "DocumentNotFound",
    "EmbeddingMismatch",
    "FetchError",
    "FileResult",
    "IndexMismatch",
    "IndexNotFound",
    "IndexReport",
    "InvalidQuery",
    "ModelUnavailable",
    "Passage",
    "RagError",
    "Scope",
    "ScopeError",
    "Settings",
    "SkippedFile",
    "StoreUnavailable",
    "UnsupportedFile",
]
