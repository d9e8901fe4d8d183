"""Article metadata taken from what the text says: headline, byline, dateline, "originally published …".

Nothing is guessed: a field the text (or an optional sidecar) does not give stays empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

_NAME_TOKEN = r"(?:[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?|[A-Z]\.)"
# A line that is only a person's name: "Patricia M. Kim", "Michel Schuman".
_NAME_RE = re.compile(rf"^{_NAME_TOKEN}(?: {_NAME_TOKEN}){{1,3}}$")
_BYLINE_RE = re.compile(rf"^by:?\s+(?P<name>{_NAME_TOKEN}(?: {_NAME_TOKEN}){{1,3}}(?: and {_NAME_TOKEN}(?: {_NAME_TOKEN}){{1,3}})?)\.?$", re.IGNORECASE)
_ISO_DATE_RE = re.compile(r"\b(?:date|published|posted|updated)\s*:?\s*(?P<date>\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)
_PUBLISHED_IN_RE = re.compile(
    r"originally published(?: in [A-Z][a-z]+)?(?: (?:on|in|by))?(?: the)?(?: website| magazine| newspaper)?"
    r"(?: of)? (?P<pub>(?:The )?[A-Z][\w&.-]*(?: [A-Z][\w&.-]*){0,4})",
)
_MAX_TITLE_WORDS = 25


@dataclass
class Metadata:
    title: str = ""
    author: str = ""
    publication: str = ""
    date: str = ""
    source: str = ""
    derived_hint: str = ""

    def fill_from(self, other: dict[str, str] | Metadata) -> None:
        """Fill the fields still empty from `other`; never overwrite what the text said."""
        values = other if isinstance(other, dict) else {f.name: getattr(other, f.name) for f in fields(other)}
        for f in fields(self):
            value = str(values.get(f.name) or "").strip()
            if value and not getattr(self, f.name):
                setattr(self, f.name, value)


def _looks_like_title(line: str) -> bool:
    words = line.split()
    if not words or len(words) > _MAX_TITLE_WORDS or len(line) > 200:
        return False
    if _BYLINE_RE.match(line) or _ISO_DATE_RE.search(line):
        return False
    # A headline has no closing full stop ("… for Beijing?" and "Xi's Gamble: …" qualify; a lead sentence not).
    return not line.endswith(".")


def extract_metadata(text: str, source: str = "") -> Metadata:
    """Metadata from the first lines of a cleaned article. `source` comes from cleaning ("Original Source")."""
    meta = Metadata(source=source)
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    head = paragraphs[:4]
    bylines = [m for m in map(_BYLINE_RE.match, head) if m]
    if bylines:
        meta.author = bylines[0].group("name")
    for i, para in enumerate(head):
        if _BYLINE_RE.match(para):
            continue
        # A name alone on the first line is the author ("Patricia M. Kim"), unless a byline says who is.
        if i == 0 and len(paragraphs) > 1 and _NAME_RE.match(para) and not bylines:
            meta.author = para
            continue
        date = _ISO_DATE_RE.search(para)
        if date and not meta.date:
            meta.date = date.group("date")
        published = _PUBLISHED_IN_RE.search(para)
        if published and not meta.publication:
            meta.publication = published.group("pub").strip()
            meta.derived_hint = "originally published elsewhere"
    if len(paragraphs) > 1 and paragraphs[0] != meta.author and _looks_like_title(paragraphs[0]):
        meta.title = paragraphs[0]
    if source and not meta.derived_hint:
        meta.derived_hint = f"names an original source ({source})"
    return meta
