"""Indexing benchmark on the bundled corpus, with its baseline measured side by side in the same run.

    python evals/bench_index.py [--repeat 3]

Prints:
- cold build: `rag index` in a fresh process on an empty index folder (imports, model load, embedding, writes);
- no-op re-index: `rag index` in a fresh process when nothing changed;
- embedding throughput: our `Embedder.embed` and a full `Indexer` sync (chunks + sentence embeddings + Chroma
  writes) against bare `SentenceTransformer.encode` on the same chunk texts, alternated, medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag import Settings  # noqa: E402
from rag.chunk import chunk_article  # noqa: E402
from rag.embed import load_embedder, resolve_model  # noqa: E402
from rag.indexer import Indexer  # noqa: E402
from rag.load import bundled_corpus, load_articles  # noqa: E402
from rag.settings import DEFAULT_EMBED_MODEL  # noqa: E402
from rag.store import Store  # noqa: E402

RAG = str(Path(sys.executable).parent / "rag")


def timed_cli(args: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    out = subprocess.run([RAG, *args], capture_output=True, text=True, check=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        cold, noop = [], []
        for i in range(args.repeat):
            folder = work / f"cli-{i}"
            seconds, report = timed_cli(["index", "--index-dir", str(folder), "--json", "--quiet"])
            cold.append(seconds)
            seconds, again = timed_cli(["index", "--index-dir", str(folder), "--json", "--quiet"])
            assert again["embedded"] == 0, again
            noop.append(seconds)
        print(f"corpus: {report['documents']} articles, {report['chunks']} chunks, "
              f"{report['embedded_sentences']} sentences")
        print(f"cold `rag index` (fresh process, empty index): median {statistics.median(cold):6.2f} s  {[round(s, 2) for s in cold]}")
        print(f"no-op `rag index` (fresh process, unchanged):  median {statistics.median(noop):6.2f} s  {[round(s, 2) for s in noop]}")

        from sentence_transformers import SentenceTransformer

        path, _ = resolve_model(DEFAULT_EMBED_MODEL)
        bare = SentenceTransformer(path, device="cpu")
        embedder = load_embedder()
        articles = load_articles([bundled_corpus()]).articles
        settings = Settings(quiet=True)
        texts = [c.text for a in articles for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)]
        bare.encode(texts[:8])
        embedder.embed(texts[:8])  # warm both
        rows: dict[str, list[float]] = {"bare SentenceTransformer.encode": [], "rag Embedder.embed": [], "rag Indexer.sync (full)": []}
        for i in range(args.repeat):
            started = time.perf_counter()
            bare.encode(texts, batch_size=32, normalize_embeddings=True)
            rows["bare SentenceTransformer.encode"].append(len(texts) / (time.perf_counter() - started))
            started = time.perf_counter()
            embedder.embed(texts)
            rows["rag Embedder.embed"].append(len(texts) / (time.perf_counter() - started))
            store = Store(Settings(index_dir=work / f"sync-{i}", quiet=True))
            report = Indexer(store, embedder, settings).sync([bundled_corpus()], progress=False)
            rows["rag Indexer.sync (full)"].append(report.embedded / report.seconds)
        base = statistics.median(rows["bare SentenceTransformer.encode"])
        print(f"\nembedding throughput on the same {len(texts)} chunks (chunks/s, median of {args.repeat}):")
        for name, values in rows.items():
            median = statistics.median(values)
            print(f"  {name:34} {median:7.1f} chunks/s   ratio to bare {median / base:5.2f}")
        print("  (Indexer.sync also embeds every sentence and writes to Chroma; its chunks/s counts chunks only)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
