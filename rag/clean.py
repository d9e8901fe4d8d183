"""Clean article text: Unicode normalisation, invisible characters, whitespace, page boilerplate.

Cleaning works line by line on whole lines only, so it can never cut into an article sentence. What it removes
is page furniture that is not article text (comment widgets, counters, UUIDs, repeated pull quotes) and the
"Original Source: …" line, which it returns as metadata instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Bump when cleaning changes what text is produced: indexes built with another version must be rebuilt.
CLEANER_VERSION = 1

# Zero-width and format characters (Unicode category Cf: ZWSP, ZWJ, BOM, soft hyphen, bidi controls,
# the U+E0000 tag block), variation selectors, and C0/C1 controls other than newline and tab.
_VARIATION_SELECTORS = {chr(c) for c in range(0xFE00, 0xFE10)} | {chr(c) for c in range(0xE0100, 0xE01F0)}


def _is_invisible(ch: str) -> bool:
    if ch in "\n\t":
        return False
    cat = unicodedata.category(ch)
    return cat in ("Cf", "Cc", "Co", "Cn") or ch in _VARIATION_SELECTORS


# Whole lines that are page furniture, matched case-insensitively after whitespace normalisation.
BOILERPLATE_LINES = [
    r"no comments:?",
    r"\d+ comments?:?",
    r"post a comment",
    r"leave a (reply|comment)",
    r"your email address will not be published\.?(?: required fields are marked \*?)?",
    r"required fields are marked \*?",
    r"share this( article| story)?:?",
    r"like this:?",
    r"loading\.\.\.",
    r"(click|tap) here to (subscribe|share).*",
    r"advertisement",
]
_BOILERPLATE_RE = re.compile(r"^(?:" + "|".join(BOILERPLATE_LINES) + r")$", re.IGNORECASE)
_COUNTER_RE = re.compile(r"^\d{1,6}$")  # stray view/like counters: a short number alone on a line
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_ORIGINAL_SOURCE_RE = re.compile(r"^original source\s*:\s*(?P<source>\S.*)$", re.IGNORECASE)
_SPACES_RE = re.compile(r"[^\S\n]+")


@dataclass
class Cleaned:
    text: str
    source: str = ""  # from an "Original Source: …" line
    removed: list[str] = field(default_factory=list)  # the lines taken out, for reports and tests


def normalize_unicode(text: str) -> str:
    """NFKC, invisible characters removed, line endings unified, runs of spaces folded to one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if not _is_invisible(ch))
    # NFKC maps NBSP and other spaces to U+0020; tabs and any remaining space separators fold too.
    return _SPACES_RE.sub(" ", text)


def _paragraphs(text: str) -> list[str]:
    """Split into paragraphs. Lines of a block are joined when the block is hard-wrapped prose."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        # Hard-wrapped prose: every line but the last of similar editor width, most ending mid-sentence.
        inner = lines[:-1]
        wrapped = (
            len(lines) > 2
            and all(40 <= len(line) <= 100 for line in inner)
            and sum(not line.endswith((".", "!", "?", ":", '"', "\u201d")) for line in inner) * 2 > len(inner)
        )
        if wrapped:
            paragraphs.append(" ".join(lines))
        else:
            paragraphs.extend(lines)
    return paragraphs


def _fold(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.casefold()).strip()


def clean_text(raw: str) -> Cleaned:
    """Clean one article. Paragraphs in the result are separated by a blank line."""
    result = Cleaned(text="")
    kept: list[str] = []
    for para in _paragraphs(normalize_unicode(raw)):
        match = _ORIGINAL_SOURCE_RE.match(para)
        if match:
            result.source = result.source or match.group("source").strip()
            result.removed.append(para)
        elif _BOILERPLATE_RE.match(para) or _COUNTER_RE.match(para) or _UUID_RE.match(para):
            result.removed.append(para)
        else:
            kept.append(para)
    # Pull quotes: a paragraph repeated verbatim inside a longer paragraph of the same article. The sentence
    # stays where the article has it; only the repeat goes.
    folded = [_fold(p) for p in kept]
    final: list[str] = []
    for i, para in enumerate(kept):
        repeat = len(folded[i]) >= 40 and any(
            j != i and len(folded[j]) > len(folded[i]) and folded[i] in folded[j] for j in range(len(kept))
        )
        if repeat:
            result.removed.append(para)
        else:
            final.append(para)
    result.text = "\n\n".join(final)
    return result
