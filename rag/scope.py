"""Scope: the articles a question or a search is asked of ("these three", "only The Atlantic's", "since March").

A `Scope` names articles by id (or a unique id prefix, or a title), author, publication, date range (the date
the article gives, else its file's), format and link/source; the fields combine with "and", the articles named
by `docs` with "or". `resolve` turns it into the set of article ids of a snapshot, which retrieval applies
inside its searches (Chroma's `where` on the chunks' `doc_id`, a row mask on BM25), so that one article among
50,000 still finds its passages. A scope that matches nothing is a `ScopeError` naming what matched nothing.

    >>> Scope.of({"author": "Patricia M. Kim", "since": "2024-03"})
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from .errors import ScopeError
from .load import SUPPORTED_SUFFIXES, file_date, format_of

FORMATS = tuple(dict.fromkeys(format_of(s) for s in SUPPORTED_SUFFIXES))  # txt, md, html, pdf, docx, png, jpg, tiff
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
MIN_PREFIX = 4  # an id prefix shorter than this is too easily many articles'


def _day(text: str, field: str, end: bool) -> str:
    """"2024", "2024-03" or "2024-03-05" as the first (or, with `end`, the last) day it covers, YYYY-MM-DD."""
    m = _DATE.match((text or "").strip())
    if not m:
        raise ScopeError(f"{field} {text!r} is not a date: write it as YYYY, YYYY-MM or YYYY-MM-DD (2024-03-01).")
    year, month, day = int(m.group(1)), int(m.group(2) or (12 if end else 1)), m.group(3)
    try:
        day_n = int(day) if day is not None else calendar.monthrange(year, month)[1] if end else 1
        return dt.date(year, month, day_n).isoformat()
    except ValueError as exc:
        raise ScopeError(f"{field} {text!r} is not a date ({exc}).") from None


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", (text or "").lower()))


def _holds(field_value: str, wanted: str) -> bool:
    """Case-insensitive, by whole words: "kim" holds for "Patricia M. Kim", "atlantic" for "The Atlantic"."""
    wanted = _words(wanted)
    return bool(wanted) and f" {wanted} " in f" {_words(field_value)} "


def article_date(meta: Mapping[str, Any]) -> str:
    """The article's date as YYYY-MM-DD: the one its text (or page, or file properties) gives, else its file's
    modification date (recorded at indexing; for an index made before that, the file's, when it is still there);
    "" when neither is known."""
    given = str(meta.get("date") or "").strip()
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", given)
    if m:
        return f"{m.group(1)}-{m.group(2) or '01'}-{m.group(3) or '01'}"
    if meta.get("file_date"):
        return str(meta["file_date"])
    return file_date(Path(meta["path"])) if meta.get("path") else ""


@dataclass(frozen=True)
class Scope:
    """What a question is asked of. Every field empty: the whole collection."""

    docs: tuple[str, ...] = ()  # article ids, unique id prefixes (at least MIN_PREFIX characters) or titles
    author: str = ""
    publication: str = ""
    since: str = ""  # YYYY, YYYY-MM or YYYY-MM-DD, inclusive
    until: str = ""  # inclusive: "2024-03" runs to 2024-03-31
    format: tuple[str, ...] = ()  # txt, md, html, pdf, docx, png, jpg, tiff
    source: str = ""  # in the link it was fetched from, or the original source it names

    def __post_init__(self) -> None:
        for name in ("docs", "format"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, tuple(v for v in re.split(r"\s*,\s*", value.strip()) if v)
                                   if name == "format" else (value,) if value.strip() else ())
            else:
                object.__setattr__(self, name, tuple(str(v).strip() for v in value if str(v).strip()))
        for name in ("author", "publication", "since", "until", "source"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ScopeError(f"{name} is one text, not {type(value).__name__} ({value!r}); only docs and format "
                                 "take several.")
            object.__setattr__(self, name, (value or "").strip())
        object.__setattr__(self, "format", tuple(f.lower().lstrip(".") for f in self.format))
        unknown = [f for f in self.format if f not in FORMATS]
        if unknown:
            raise ScopeError(f"format {unknown[0]!r} is not one rag reads; the formats are {', '.join(FORMATS)}.")
        since = _day(self.since, "since", end=False) if self.since else ""
        until = _day(self.until, "until", end=True) if self.until else ""
        if since and until and since > until:
            raise ScopeError(f"since {self.since} is after until {self.until}: nothing can be in between.")

    @classmethod
    def of(cls, where: Scope | Mapping[str, Any] | None) -> Scope | None:
        """A scope from a Scope, a mapping of its fields (the API's and MCP's `scope`; unknown keys are an error
        naming the known ones), or None; None (or every field empty) means the whole collection."""
        if where is None:
            return None
        if isinstance(where, Scope):
            scope = where
        elif isinstance(where, Mapping):
            known = {f.name for f in fields(cls)}
            aliases = {"doc": "docs", "doc_id": "docs", "doc_ids": "docs", "documents": "docs", "formats": "format",
                       "link": "source", "url": "source", "from": "since", "to": "until"}
            values: dict[str, Any] = {}
            for key, value in where.items():
                name = aliases.get(key, key)
                if name not in known:
                    raise ScopeError(f"{key!r} is not a scope field; the fields are {', '.join(sorted(known))}.")
                if value is not None:
                    values[name] = value
            scope = cls(**values)
        else:
            raise ScopeError(f"a scope is a mapping of {', '.join(f.name for f in fields(cls))}, "
                             f"not {type(where).__name__}.")
        return scope if scope else None

    FILTER_KEYS = {"doc": "docs", "docs": "docs", "id": "docs", "title": "docs", "author": "author", "by": "author",
                   "publication": "publication", "pub": "publication", "since": "since", "from": "since",
                   "until": "until", "to": "until", "format": "format", "source": "source", "link": "source"}

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        """A typed filter, as the chat's filter box takes it: `author:Kim publication:"The Atlantic" since:2024-03
        format:pdf doc:3f2a` (quote a value with spaces; doc and format repeat). None for an empty filter."""
        import shlex

        try:
            parts = shlex.split(text or "")
        except ValueError as exc:
            raise ScopeError(f"The filter {text!r} is not closed ({exc}): end every quoted value.") from None
        values: dict[str, Any] = {}
        for part in parts:
            key, sep, value = part.partition(":")
            name = cls.FILTER_KEYS.get(key.strip().lower())
            if not sep or name is None or not value.strip():
                raise ScopeError(f"{part!r} is not a filter: write field:value, as author:Kim since:2024-03 "
                                 "(fields: doc, author, publication, since, until, format, source).")
            if name in ("docs", "format"):
                values.setdefault(name, []).append(value.strip())
            else:
                values[name] = value.strip()
        return cls.of(values)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v}

    def describe(self) -> str:
        """In words, as the answer and the chat show it: "2 articles named; by 'Kim'; since 2024-03-01"."""
        parts = []
        if self.docs:
            parts.append(", ".join(repr(d) for d in self.docs))
        if self.author:
            parts.append(f"by {self.author!r}")
        if self.publication:
            parts.append(f"in {self.publication!r}")
        if self.since:
            parts.append(f"since {_day(self.since, 'since', False)}")
        if self.until:
            parts.append(f"until {_day(self.until, 'until', True)}")
        if self.format:
            parts.append("format " + "/".join(self.format))
        if self.source:
            parts.append(f"from {self.source!r}")
        return "; ".join(parts)

    @staticmethod
    def shown(record: Mapping[str, Any]) -> str:
        """An answer's `scope` record in words: "2 articles: by 'Kim'; since 2024-03-01"."""
        n = record.get("articles")
        scope = Scope.of({k: v for k, v in record.items() if k != "articles"})
        words = scope.describe() if scope is not None else "every article"
        return f"{n} article{'' if n == 1 else 's'}: {words}" if isinstance(n, int) else words

    # ------------------------------------------------------------ matching
    def _named(self, records: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """The articles `docs` names: each entry an id, else a unique id prefix, else a title (case-insensitive,
        every article of that title). An entry naming none, or a prefix naming several, is a ScopeError."""
        out: set[str] = set()
        for entry in self.docs:
            if entry in records:
                out.add(entry)
                continue
            prefixed = [d for d in records if d.startswith(entry)] if len(entry) >= MIN_PREFIX else []
            if len(prefixed) == 1:
                out.add(prefixed[0])
                continue
            if len(prefixed) > 1:
                raise ScopeError(f"{entry!r} begins the ids of {len(prefixed)} articles "
                                 f"({', '.join(sorted(prefixed)[:3])}…): give more of the id.")
            titled = [d for d, m in records.items() if str(m.get("title") or "").strip().lower() == entry.lower()
                      or os.path.basename(str(m.get("path") or "")).lower() == entry.lower()]
            if not titled:
                raise ScopeError(f"no article {entry!r} (an id, an id's first {MIN_PREFIX}+ characters, a title or "
                                 "a file name); `rag docs` lists them.")
            out.update(titled)
        return out

    def tests(self) -> list[tuple[str, Any]]:
        """(what it names, test of an article's record) for each field set, `docs` aside."""
        out: list[tuple[str, Any]] = []
        if self.author:
            out.append((f"no article by {self.author!r}; `rag docs` lists authors",
                        lambda m: _holds(str(m.get("author") or ""), self.author)))
        if self.publication:
            out.append((f"no article in {self.publication!r}; `rag docs` lists publications",
                        lambda m: _holds(str(m.get("publication") or ""), self.publication)))
        if self.since or self.until:
            since = _day(self.since, "since", False) if self.since else "0000-00-00"
            until = _day(self.until, "until", True) if self.until else "9999-99-99"
            span = " and ".join(p for p in (f"since {since}" if self.since else "",
                                            f"until {until}" if self.until else "") if p)
            out.append((f"no article dated {span} (by the date it gives, else its file's); `rag docs` lists dates",
                        lambda m: bool(d := article_date(m)) and since <= d <= until))
        if self.format:
            out.append((f"no article in format {'/'.join(self.format)}; `rag docs` lists formats",
                        lambda m: str(m.get("format") or "").lower() in self.format))
        if self.source:
            out.append((f"no article from {self.source!r} (its link or the source it names); `rag docs` lists them",
                        lambda m: self.source.lower() in f"{m.get('url') or ''} {m.get('source') or ''}".lower()))
        return out

    def resolve(self, records: Mapping[str, Mapping[str, Any]] | Iterable[tuple[str, Mapping[str, Any]]]
                ) -> frozenset[str]:
        """The ids of the articles in scope among `records` (doc id → record). Raises ScopeError naming the
        field that matches no article, or the combination that none matches all of."""
        records = records if isinstance(records, Mapping) else dict(records)
        chosen = self._named(records) if self.docs else set(records)
        for message, test in self.tests():
            if not any(test(records[d]) for d in records):
                raise ScopeError(message[0].upper() + message[1:] + ".")
            chosen = {d for d in chosen if test(records[d])}
        if not chosen:
            raise ScopeError(f"No article is all of: {self.describe()}; `rag docs` lists the articles.")
        return frozenset(chosen)


class ScopeFields(BaseModel):
    """A scope as the API's and MCP's requests give it (`{"author": "Kim", "since": "2024-03"}`), checked for
    types and sizes; `where()` is what `Assistant.ask(where=…)` takes. Every field narrows, several `docs` or
    `format`s widen."""

    model_config = ConfigDict(extra="forbid")

    docs: list[StrictStr] | StrictStr | None = Field(default=None, max_length=1000, description=(
        "Article ids, unique id prefixes (4+ characters), titles or file names."))
    author: StrictStr | None = Field(default=None, max_length=200)
    publication: StrictStr | None = Field(default=None, max_length=200)
    since: StrictStr | None = Field(default=None, max_length=10, description="YYYY, YYYY-MM or YYYY-MM-DD, inclusive.")
    until: StrictStr | None = Field(default=None, max_length=10, description="YYYY, YYYY-MM or YYYY-MM-DD, inclusive.")
    format: list[StrictStr] | StrictStr | None = Field(default=None, max_length=10)
    source: StrictStr | None = Field(default=None, max_length=500, description="Held by the article's link or source.")

    def where(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
