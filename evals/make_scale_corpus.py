"""Corpora of 1x, 10x, 100x and 1000x the bundled articles, made from public text, and an embedding cache
keyed by text hash, for `evals/bench_scale.py`.

- 1x is the five bundled articles. Every larger size holds them plus synthetic articles: each a title line
  and runs of up to four consecutive paragraphs from source articles (the bundled articles and
  the public ones under `evals/data/` and `../shared/datasets/`: SQuAD 2.0, HotpotQA, CoQA/QuAC; CC BY-SA 4.0,
  see their SOURCE.md), about as long as a bundled article (5 KB). Article i is the same at every size
  (seeded by i), so each size holds the smaller ones.
- The cache (`evals/.cache/scale/embeddings.sqlite`) maps sha256(model id, text) to the vector. It only saves
  the embedding arithmetic: chunking, writing Chroma, BM25, duplicate detection and answering all run as
  users run them. `python -m evals.make_scale_corpus --fill 1000` embeds what is missing (once; the texts of 1000x
  take about half an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag.chunk import article_sentences, chunk_article
from rag.embed import Embedder
from rag.load import bundled_corpus, load_articles

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "evals" / ".cache" / "scale"
SOURCES = [ROOT / "evals" / "data", ROOT.parent / "shared" / "datasets"]
SIZES = (1, 10, 100, 1000)
TARGET_CHARS = 5100  # the bundled articles' mean length


def source_articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of every public source article, cleaned as `rag` cleans them, in a fixed order."""
    folders = [bundled_corpus()]
    for base in SOURCES:
        if base.is_dir():
            folders += sorted(p for p in base.glob("*/corpus") if p.is_dir())
    seen: set[str] = set()
    out = []
    for folder in folders:
        for article in sorted(load_articles([folder]).articles, key=lambda a: a.path):
            if article.doc_id in seen:
                continue
            seen.add(article.doc_id)
            paras = [p.strip() for p in article.text.split("\n") if len(p.split()) >= 8]
            if paras:
                out.append((article.title or Path(article.path).stem, paras))
    return out


def synthetic(i: int, pool: list[tuple[str, list[str]]]) -> str:
    rng = random.Random(i)
    titles, paras = [], []
    while sum(map(len, paras)) < TARGET_CHARS:
        title, source = pool[rng.randrange(len(pool))]
        start = rng.randrange(len(source))
        run = source[start : start + rng.randint(1, 4)]
        titles.append(title)
        paras += run
    return f"{' and '.join(list(dict.fromkeys(titles))[:3])}: notes {i}\n\n" + "\n\n".join(paras) + "\n"


def build(size: int, work: Path) -> Path:
    """The folder of the corpus `size` times the bundled one (written once, then reused)."""
    folder = work / f"corpus-{size}x"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    bundled = sorted(bundled_corpus().glob("*.txt"))
    for path in bundled:
        (folder / path.name).write_bytes(path.read_bytes())
    pool = source_articles() if size > 1 else []
    for i in range(len(bundled), len(bundled) * size):
        (folder / f"synthetic-{i:05d}.txt").write_text(synthetic(i, pool), encoding="utf-8")
    done.touch()
    return folder


class EmbeddingCache:
    """sha256(model id + text) -> float32 vector, in one SQLite file."""

    def __init__(self, path: Path, model_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS vec (key BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        self.model_id = model_id

    def key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.model_id}\0{text}".encode()).digest()

    def get(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        keys = [self.key(t) for t in texts]
        found: dict[bytes, bytes] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            rows = self.db.execute(f"SELECT key, v FROM vec WHERE key IN ({','.join('?' * len(part))})", part)
            found.update(rows.fetchall())
        return [np.frombuffer(found[k], dtype=np.float32) if k in found else None for k in keys]

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?)",
                            [(self.key(t), np.asarray(v, np.float32).tobytes()) for t, v in zip(texts, vectors, strict=True)])
        self.db.commit()


class CachedEmbedder(Embedder):
    """The real embedder, with document vectors looked up in the cache first (queries are always embedded)."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        super().__init__(lambda: inner.model, inner.model_id, inner.dim, inner.batch_size)
        self.inner, self.cache = inner, cache
        self.hits = self.misses = 0

    def embed(self, texts: Sequence[str], progress: Callable[[int], object] | None = None) -> np.ndarray:
        cached = self.cache.get(texts)
        missing = [i for i, v in enumerate(cached) if v is None]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, v in enumerate(cached):
            if v is not None:
                out[i] = v
        if missing:
            vectors = self.inner.embed([texts[i] for i in missing])
            out[missing] = vectors
            self.cache.put([texts[i] for i in missing], vectors)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if progress:
            progress(len(texts))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def texts_of(folder: Path, chunk_size: int = 500, overlap: int = 1) -> list[str]:
    """Every text an index of the folder embeds: its chunks and its sentences."""
    out: list[str] = []
    for article in load_articles([folder]).articles:
        out += [c.text for c in chunk_article(article, chunk_size, overlap)]
        out += [article.text[s:e] for s, e in article_sentences(article)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the scale corpora and fill the embedding cache.")
    parser.add_argument("--fill", type=int, choices=SIZES, default=1000, help="size whose texts to embed")
    args = parser.parse_args()
    from tqdm import tqdm

    from rag.embed import load_embedder

    folder = build(args.fill, CACHE)
    for size in SIZES:
        if size < args.fill:
            build(size, CACHE)
    inner = load_embedder()
    cache = EmbeddingCache(CACHE / "embeddings.sqlite", inner.model_id)
    texts = list(dict.fromkeys(texts_of(folder)))
    todo = [t for t, v in zip(texts, cache.get(texts), strict=True) if v is None]
    print(f"{len(texts)} distinct texts, {len(todo)} to embed", flush=True)
    step = 512
    with tqdm(total=len(todo), unit="text", mininterval=30, file=sys.stdout) as bar:
        for i in range(0, len(todo), step):
            part = todo[i : i + step]
            cache.put(part, inner.embed(part))
            bar.update(len(part))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
