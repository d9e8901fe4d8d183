"""Errors raised by rag. Every message says what happened and what to do next.

The CLI turns any `RagError` into a one-line message and a non-zero exit code.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error rag raises on purpose."""


class IndexNotFound(RagError):
    """There is no index where one was expected."""


class IndexMismatch(RagError):
    """The index was built with other settings (format, chunking) than the ones in use now."""


class EmbeddingMismatch(IndexMismatch):
    """The index was built with another embedding model (or dimension) than the one in use now."""


class UnsupportedFile(RagError):
    """A file cannot be read as an article (wrong type, binary, empty, too large, unreadable)."""


class CorpusError(RagError):
    """A corpus path does not exist or holds nothing that can be indexed."""


class DocumentNotFound(RagError):
    """No indexed article matches the given id."""


class StoreUnavailable(RagError):
    """The Chroma store cannot be opened or reached."""


class ModelUnavailable(RagError):
    """The embedding model cannot be loaded."""


class BackendUnavailable(RagError):
    """A generative backend the user configured cannot be reached."""


class InvalidQuery(RagError):
    """A question or query is empty or too long."""


class FetchError(RagError):
    """A link could not be fetched as an article (not http/https, a refused redirect, a time-out, too large, not
    a page, PDF, Word file or text). The message is the reason alone; callers name the link."""


class Busy(RagError):
    """The service has as many calls in progress or waiting as it allows (`rag serve`: Settings.api_workers and
    api_queue); retry shortly."""


class ScopeError(RagError):
    """A scope (rag/scope.py) that cannot be applied: a field that names no article, an id prefix that names
    several, a date that is not one. The message names it and says where to look (`rag docs`)."""
