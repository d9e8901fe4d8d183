"""Indexing benchmark on the bundled corpus, with its baseline measured side by side in the same run.

    python -m evals.bench_index [--repeat 3]

Prints:
- cold build: `rag index` in a fresh process on an empty index folder (imports, model load, embedding, writes);
- no-op re-index: `rag index` in a fresh process when nothing changed;
- embedding throughput on the texts an index must embed (every distinct chunk and sentence): bare
  `SentenceTransformer.encode`, our `Embedder.embed` (ONNX, and torch), and a full `Indexer.sync` (embedding,
  Chroma writes, BM25, near-duplicates) in texts/s, alternated, medians and ratios to the bare encode; and
  the texts embedded per chunk.

`--corpus DIR` measures another folder (e.g. evals/.cache/scale/corpus-10x after evals/make_scale_corpus.py).
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

from evals.results import save
from rag import Settings
from rag.chunk import article_sentences, chunk_article
from rag.embed import load_embedder, resolve_model
from rag.indexer import Indexer
from rag.load import bundled_corpus, load_articles
from rag.settings import DEFAULT_EMBED_MODEL
from rag.store import Store

RAG = str(Path(sys.executable).parent / "rag")


def timed_cli(args: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    out = subprocess.run([RAG, *args], capture_output=True, text=True, check=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    parser.add_argument("--corpus", default=None, help="folder of articles (default: the bundled ones)")
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
        torch_embedder = load_embedder(backend="torch")
        corpus = Path(args.corpus) if args.corpus else bundled_corpus()
        articles = load_articles([corpus]).articles
        settings = Settings(quiet=True)
        texts = list(dict.fromkeys(
            [c.text for a in articles for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)]
            + [a.text[s:e] for a in articles for s, e in article_sentences(a)]))
        bare.encode(texts[:8])
        embedder.embed(texts[:8])  # warm all three
        torch_embedder.embed(texts[:8])
        rows: dict[str, list[float]] = {"bare SentenceTransformer.encode": [], "rag Embedder.embed (onnx)": [],
                                        "rag Embedder.embed (torch)": [], "rag Indexer.sync (full)": []}
        per_chunk = 0.0
        for i in range(args.repeat):
            started = time.perf_counter()
            bare.encode(texts, batch_size=32, normalize_embeddings=True)
            rows["bare SentenceTransformer.encode"].append(len(texts) / (time.perf_counter() - started))
            for name, model in (("onnx", embedder), ("torch", torch_embedder)):
                started = time.perf_counter()
                model.embed(texts)
                rows[f"rag Embedder.embed ({name})"].append(len(texts) / (time.perf_counter() - started))
            store = Store(Settings(index_dir=work / f"sync-{i}", quiet=True))
            report = Indexer(store, embedder, settings).sync([corpus], progress=False)
            rows["rag Indexer.sync (full)"].append(report.embedded_texts / report.seconds)
            per_chunk = report.embedded_texts / max(report.chunks, 1)
        base = statistics.median(rows["bare SentenceTransformer.encode"])
        print(f"\nthroughput on the {len(texts)} distinct texts an index of {len(articles)} articles embeds "
              f"(texts/s, median of {args.repeat}):")
        for name, values in rows.items():
            median = statistics.median(values)
            print(f"  {name:34} {median:7.1f} texts/s   ratio to bare {median / base:5.2f}")
        print(f"  texts embedded per chunk: {per_chunk:.2f} (every chunk and every sentence, each distinct text once)")
        save("bench_index", {"texts": len(texts), "articles": len(articles), "repeat": args.repeat,
                             "cold_index_s": round(statistics.median(cold), 2),
                             "noop_index_s": round(statistics.median(noop), 2),
                             "rows": [{"what": name, "texts_per_s": round(statistics.median(v), 1),
                                       "ratio_to_bare": round(statistics.median(v) / base, 2)}
                                      for name, v in rows.items()],
                             "texts_per_chunk": round(per_chunk, 2)})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
