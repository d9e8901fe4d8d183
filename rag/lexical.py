"""Words for lexical matching: a tokenizer with stop words and a light English stemmer, and the BM25 index
over the chunks (bm25s), saved beside the index and rebuilt when the set of chunks changes."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from pathlib import Path

import numpy as np

TOKENIZER_VERSION = 3  # 3: accents folded (Beyoncé meets Beyonce)
STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "also", "according", "said", "says", "say", "did", "does", "according", "whose"]
)
_WORD_RE = re.compile(r"[a-z0-9]+(?:[.'’][a-z0-9]+)*")


def stem(word: str) -> str:
    """A light suffix stripper: enough to meet 'sanctioned'/'sanctions', 'troops'/'troop'."""
    for suffix, keep in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)] + keep
            break
    # a final silent e goes too, so that 'invade', 'invaded' and 'invading' meet
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


@functools.lru_cache(maxsize=200_000)
def word_set(text: str) -> frozenset[str]:
    """`set(words(text))`, cached: candidate sentences and passages recur from question to question."""
    return frozenset(words(text))


def words(text: str) -> list[str]:
    """Content words, lower-cased and stemmed, in order (repeats kept)."""
    out = []
    if not text.isascii():  # fold accents: "Beyoncé" and "Beyonce", "Chopin's Études" and "etudes" meet
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    for raw in _WORD_RE.findall(text.lower().replace("’", "'")):
        raw = raw.replace(".", "").removesuffix("'s")
        if raw and raw not in STOPWORDS:
            out.append(stem(raw))
    return out


class BM25:
    """BM25 over a fixed list of texts; `scores(query)` gives one score per text."""

    def __init__(self, texts: list[str], cache_dir: Path | None = None, key: str = "") -> None:
        import bm25s

        self.size = len(texts)
        folder = cache_dir / f"bm25-{key}" if cache_dir and key else None
        if folder and (folder / "params.index.json").is_file():
            self.model = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
            return
        self.model = bm25s.BM25()
        tokens = [words(t) or ["∅"] for t in texts]
        self.model.index(tokens, show_progress=False)
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
            self.model.save(str(folder), show_progress=False)
            for old in folder.parent.glob("bm25-*"):  # keep only the current one
                if old != folder:
                    for f in old.iterdir():
                        f.unlink()
                    old.rmdir()

    def scores(self, query: str) -> np.ndarray:
        tokens = [t for t in words(query) if t in self.model.vocab_dict]
        if not tokens or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.model.get_scores(tokens), dtype=np.float32)


def corpus_key(ids: list[str]) -> str:
    return hashlib.sha256(json.dumps([TOKENIZER_VERSION, sorted(ids)]).encode()).hexdigest()[:16]
