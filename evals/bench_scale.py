"""Scale benchmark: the bundled corpus at 1x, 10x, 100x and 1000x (evals/make_scale_corpus.py), in the embedded
store and through a Chroma server (`chroma run` on loopback), with llama-index's plain retriever and a bare
`import torch` measured side by side in the same run.

    python -m evals.bench_scale [--sizes 1,10,100,1000] [--modes embedded,server] [--json FILE]
    rag bench --json                      (the same, from the installed CLI)

Per size and mode it prints: index time and texts embedded (document vectors come from the embedding cache
of make_scale_corpus.py, keyed by text hash, so that 1000x indexes in minutes; every other step runs as users run
it), disk, time to the first answer of a fresh `rag ask` process, peak RSS of an answering process, warm
`ask` p50/p95 and peak RSS (after the questions alone, and after the writes too), adding a new article (the first add of a process, which imports llama-index, and a second one,
with its own embedding time beside it) and removing it, the
near-duplicate step's share of the add, and the growth exponent of each figure from 1x to the largest size
(log-log slope: 0 = flat, 1 = linear).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from evals.make_scale_corpus import (
    CACHE,
    ROOT,
    CachedEmbedder,
    EmbeddingCache,
    build,
    source_articles,
    synthetic,
)
from evals.results import save

QUESTIONS = [
    "How much did trade between China and Russia reach last year?",
    "What did North Korea send to Russia?",
    "Who visited Pyongyang in 2024?",
    "What do China and Russia want from North Korea?",
    "Why is China wary of the Russia-North Korea treaty?",
    "What did Kim Jong-un and Putin sign?",
    "How many North Korean troops were sent to Russia?",
    "What is the position of South Korea?",
]
ENV = os.environ | {"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}
BIN = Path(sys.executable).parent


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries that over exec
    from the process that forked, so a child of a large parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """`chroma run` on loopback, for server mode."""

    def __init__(self, path: Path) -> None:
        self.port = free_port()
        self.path = path
        self.proc = subprocess.Popen(
            [str(BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("chroma run did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def settings_env(index_dir: Path, url: str | None) -> dict[str, str]:
    env = ENV | {"RAG_INDEX_DIR": str(index_dir), "RAG_QUIET": "true"}
    if url:
        env["RAG_CHROMA_URL"] = url
    else:
        env.pop("RAG_CHROMA_URL", None)
    return env


def build_index(size: int, index_dir: Path, url: str | None) -> dict[str, Any]:
    from rag import Settings
    from rag.embed import load_embedder
    from rag.indexer import Indexer
    from rag.store import Store

    corpus = build(size, CACHE)
    settings = Settings(index_dir=index_dir, chroma_url=url, quiet=True)
    inner = load_embedder()
    embedder = CachedEmbedder(inner, EmbeddingCache(CACHE / "embeddings.sqlite", inner.model_id))
    started = time.perf_counter()
    report = Indexer(Store(settings), embedder, settings).sync([corpus], progress=False)
    seconds = time.perf_counter() - started
    return {
        "articles": report.documents, "chunks": report.chunks, "index_s": round(seconds, 1),
        "texts_embedded": report.embedded_texts, "texts_per_chunk": round(report.embedded_texts / max(report.chunks, 1), 2),
        "cache_misses": embedder.misses, "index_timings": report.timings,
    }


def cold_ask(index_dir: Path, url: str | None, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([str(BIN / "rag"), "ask", QUESTIONS[0]], env=settings_env(index_dir, url), check=True,
                       capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def import_torch(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True, env=ENV)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def child(index_dir: str, url: str | None, size: int, rounds: int) -> None:
    """In a fresh process: first answer, warm answers, add and remove one article, peak RSS; then llama-index's
    plain retriever over the same collection and questions (after the RSS reading: it imports torch)."""
    started = time.perf_counter()
    from rag import Assistant, Settings

    settings = Settings(index_dir=Path(index_dir), chroma_url=url, quiet=True)
    assistant = Assistant(settings=settings, auto_build=False)
    assistant.ask(QUESTIONS[0])
    first_s = time.perf_counter() - started
    ask_ms, embed_ms = [], []
    for _ in range(rounds):
        for q in QUESTIONS:
            t = time.perf_counter()
            assistant.embedder.embed_query(q)
            embed_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            assistant.ask(q)
            ask_ms.append((time.perf_counter() - t) * 1000)
    rss_answering_mb = peak_rss_mb()  # before any write
    # New articles (texts never indexed: their embeddings are computed for real) added, asked about, removed.
    # The first write of a process imports llama-index (what it writes the chunks through): reported apart.
    from rag.chunk import article_sentences, chunk_article
    from rag.load import load_articles

    pool = source_articles()
    adds = []
    for n in range(2):
        new = Path(index_dir).parent / f"new-article-{os.getpid()}-{n}.txt"
        new.write_text(synthetic(10_000_000 + 10 * size + n, pool), encoding="utf-8")
        article = load_articles([new]).articles[0]
        texts = [c.text for c in chunk_article(article)] + [article.text[s:e] for s, e in article_sentences(article)]
        t = time.perf_counter()
        assistant.embedder.embed(list(dict.fromkeys(texts)))
        own_embed_s = time.perf_counter() - t
        t = time.perf_counter()
        report = assistant.add([new], progress=False)
        adds.append((time.perf_counter() - t, own_embed_s, report))
        new.unlink()
    add_first_s = adds[0][0]
    add_s, own_embed_s, report = adds[1]
    t = time.perf_counter()
    assistant.ask(QUESTIONS[1])
    after_add_ms = (time.perf_counter() - t) * 1000
    before_removes = assistant.opened()[0].state()
    t = time.perf_counter()
    assistant.remove(report.files[0].doc_id)
    remove_s = time.perf_counter() - t
    assistant.remove(adds[0][2].files[0].doc_id)
    # What another process pays once when this one changed the index (a server's app processes each keep their
    # own BM25 index): catching up from the change log, which names the two articles removed (its BM25 index as
    # of before the removes), and, when the log cannot say (a crashed writer, an older version), by comparing
    # every chunk id with the store.
    from rag.indexer import reconcile_lexical

    store, snap = assistant.opened()
    lexical = snap.lexical
    lexical.set_generation(before_removes)
    t = time.perf_counter()
    reconcile_lexical(store, lexical)
    log_catch_up_s = time.perf_counter() - t
    lexical.set_generation(None)
    t = time.perf_counter()
    reconcile_lexical(store, lexical)
    catch_up_s = time.perf_counter() - t
    t = time.perf_counter()
    assistant.refresh()
    assistant.ask(QUESTIONS[2])
    reopen_ms = (time.perf_counter() - t) * 1000
    rss_mb = peak_rss_mb()
    baseline = llama_index_baseline(assistant, rounds)
    print(json.dumps({
        "first_answer_in_process_s": round(first_s, 2), "ask_p50_ms": round(statistics.median(ask_ms), 1),
        "ask_p95_ms": round(pct(ask_ms, 95), 1), "embed_query_p50_ms": round(statistics.median(embed_ms), 2),
        "add_first_s": round(add_first_s, 2), "add_s": round(add_s, 2), "add_own_embedding_s": round(own_embed_s, 2),
        "add_duplicates_s": report.timings.get("duplicates", 0.0), "ask_after_add_ms": round(after_add_ms, 1),
        "remove_s": round(remove_s, 2), "lexical_catch_up_s": round(catch_up_s, 2),
        "lexical_catch_up_log_s": round(log_catch_up_s, 3),
        "ask_after_reopen_ms": round(reopen_ms, 1), "peak_rss_answering_mb": round(rss_answering_mb),
        "peak_rss_mb": round(rss_mb), **baseline,
    }))


def llama_index_baseline(assistant: Any, rounds: int) -> dict[str, float]:
    """llama-index's plain `VectorStoreIndex` retriever (top 5) over the same Chroma collection, with the same
    model: through its own HuggingFaceEmbedding (torch, what a llama-index user runs), and through ours."""
    from llama_index.core import VectorStoreIndex

    from rag.embed import _load_hf, resolve_model

    store, _ = assistant.opened()
    out = {}
    models = {"llamaindex_hf": _load_hf(resolve_model(assistant.settings.embed_model)[0], 32),
              "llamaindex_onnx": assistant.embedder.llama_index_model()}
    for name, model in models.items():
        retriever = VectorStoreIndex.from_vector_store(store.vector_store, embed_model=model).as_retriever(similarity_top_k=5)
        retriever.retrieve(QUESTIONS[0])
        times = []
        for _ in range(rounds):
            for q in QUESTIONS:
                t = time.perf_counter()
                retriever.retrieve(q)
                times.append((time.perf_counter() - t) * 1000)
        out[f"{name}_p50_ms"] = round(statistics.median(times), 1)
        out[f"{name}_p95_ms"] = round(pct(times, 95), 1)
    return out


def measure(size: int, mode: str, rounds: int, cold_repeat: int) -> dict[str, Any]:
    work = CACHE / "runs" / f"{mode}-{size}x"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    index_dir = work / "index"
    server = ChromaServer(work / "chroma") if mode == "server" else None
    url = server.url if server else None
    try:
        row: dict[str, Any] = {"size": size, "mode": mode}
        row |= build_index(size, index_dir, url)
        row["disk_mb"] = round((du(index_dir) + (du(work / "chroma") if server else 0)) / 2**20, 1)
        row["cold_rag_ask_s"] = round(cold_ask(index_dir, url, cold_repeat), 2)
        cmd = [sys.executable, "-m", "evals.bench_scale", "--child", str(index_dir), "--size", str(size),
               "--rounds", str(rounds)]
        if url:
            cmd += ["--chroma-url", url]
        out = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"the measuring process failed ({out.returncode}):\n{out.stderr[-3000:]}")
        row |= json.loads(out.stdout.strip().splitlines()[-1])
        if server:
            row["server_peak_rss_mb"] = round(server.peak_rss_mb())
        return row
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def exponent(rows: list[dict[str, Any]], key: str) -> float | None:
    import numpy as np

    pts = [(r["size"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and r[key] > 0]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return round(float(np.polyfit(x, y, 1)[0]), 2)


KEYS = ["articles", "chunks", "index_s", "texts_embedded", "texts_per_chunk", "disk_mb", "cold_rag_ask_s",
        "first_answer_in_process_s", "peak_rss_answering_mb", "peak_rss_mb", "ask_p50_ms", "ask_p95_ms", "llamaindex_hf_p50_ms",
        "llamaindex_onnx_p50_ms", "embed_query_p50_ms", "add_first_s", "add_s", "add_own_embedding_s", "add_duplicates_s",
        "remove_s", "lexical_catch_up_log_s", "lexical_catch_up_s", "ask_after_reopen_ms", "server_peak_rss_mb"]


def table(rows: list[dict[str, Any]], torch_s: float) -> str:
    modes = sorted({r["mode"] for r in rows}, key=["embedded", "server"].index)
    lines = []
    for mode in modes:
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["size"])
        lines.append(f"\n{mode} ({'RAG_CHROMA_URL, chroma run on loopback' if mode == 'server' else 'PersistentClient'})")
        lines.append("| figure | " + " | ".join(f"{r['size']}x" for r in mine) + " | growth exponent |")
        lines.append("|---|" + "---|" * (len(mine) + 1))
        for key in KEYS:
            if not any(key in r for r in mine):
                continue
            exp = exponent(mine, key)
            lines.append(f"| {key} | " + " | ".join(str(r.get(key, "—")) for r in mine) + f" | {exp if exp is not None else '—'} |")
        base = mine[0]
        top = mine[-1]
        lines.append(f"\nratios ({mode}): warm ask p95 {top['size']}x / 1x = {top['ask_p95_ms'] / base['ask_p95_ms']:.2f} "
                     f"(target <= 3); cold `rag ask` 1x / `import torch` {torch_s:.2f} s = {base['cold_rag_ask_s'] / torch_s:.2f} "
                     f"(target <= 2.5); warm ask p50 / llama-index retriever p50 at 1x: "
                     f"{base['ask_p50_ms'] / base['llamaindex_hf_p50_ms']:.2f} (its HuggingFaceEmbedding), "
                     f"{base['ask_p50_ms'] / base['llamaindex_onnx_p50_ms']:.2f} (our ONNX model) (target <= 1); "
                     f"add overhead at {top['size']}x = {top['add_s'] - top['add_own_embedding_s']:.2f} s (target <= 2)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,1000", help="multiples of the bundled corpus, comma-separated")
    parser.add_argument("--modes", default="embedded,server", help="embedded, server or both")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions for warm latency")
    parser.add_argument("--cold-repeat", type=int, default=3, help="fresh `rag ask` processes per size")
    parser.add_argument("--json", dest="json_file", default=None, help="also write every figure to this file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--chroma-url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.chroma_url, args.size, args.rounds)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    torch_s = import_torch(args.cold_repeat)
    print(f"`python -c 'import torch'`: {torch_s:.2f} s (median of {args.cold_repeat})", flush=True)
    rows = []
    for size in sizes:
        for mode in modes:
            row = measure(size, mode, args.rounds, args.cold_repeat)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(table(rows, torch_s))
    if args.json_file:
        Path(args.json_file).write_text(json.dumps({"import_torch_s": torch_s, "rows": rows}, indent=1))
    save("bench_scale", {"import_torch_s": torch_s, "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    main()
