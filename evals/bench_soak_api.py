"""Soak test of `rag serve`: a bounded loop of asks (plain and streamed, through the official `openai` package),
searches, uploads and removals from several clients at once for --seconds, sampling the server's resident memory,
threads and open file descriptors from /proc every --every seconds.

    python -m evals.bench_soak_api --seconds 600 [--clients 4] [--json soak.json]

Prints the curve and a verdict; exits 1 on any error or when memory, threads or file handles grow:
  rss_stable      the peak RSS of the last third of the run is at most 10% above the peak of the first third
                  after warm-up (the first 20% of the run is warm-up: caches filling, the model's arenas)
  threads_stable  threads after the run (clients idle) at most 2 more than at the end of warm-up
  fds_stable      open file descriptors after the run at most 5 more than at the end of warm-up
The index stays the same size: every upload is removed again in the same cycle.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from evals.results import save
from tests.helpers.service import health, proc_stats, start_service, stop
from tests.helpers.web import free_port

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS = [
    "How much did trade between China and Russia reach last year?",
    "What share of North Korea's foreign trade does China account for?",
    "Which four states have cooperated in the war in Ukraine?",
    "What is the capital of France?",
    "Who warned that North Korean troops joining the war would be a very, very serious issue?",
]
WARMUP = 0.2


class Soak:
    def __init__(self, url: str, seconds: float) -> None:
        from openai import OpenAI

        self.url, self.deadline = url, time.monotonic() + seconds
        self.openai = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
        self.requests = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def count(self, ok: bool, what: str) -> None:
        with self.lock:
            self.requests += 1
            if not ok:
                self.errors.append(what)

    def client(self, n: int) -> None:
        http = httpx.Client(base_url=self.url, timeout=120)
        i = 0
        while time.monotonic() < self.deadline:
            question = QUESTIONS[(n + i) % len(QUESTIONS)]
            try:
                done = self.openai.chat.completions.create(model="rag", messages=[{"role": "user", "content": question}])
                self.count(bool(done.choices[0].message.content), f"empty answer to {question!r}")
                stream = self.openai.chat.completions.create(model="rag", stream=True,
                                                             messages=[{"role": "user", "content": question}])
                text = "".join(c.choices[0].delta.content or "" for c in stream)
                self.count(text == done.choices[0].message.content, f"streamed answer differs for {question!r}")
                r = http.post("/v1/search", json={"query": question, "k": 3})
                self.count(r.status_code == 200 and len(r.json()["data"]) == 3, f"search {r.status_code} {r.text[:200]}")
                if n == 0:  # one client also writes: upload an article, ask about it, remove it
                    tag = uuid.uuid4().hex[:8]
                    body = f"# Soak note {tag}\n\nThe soak counter {tag} recorded cycle {i} of the long run test."
                    r = http.post("/v1/documents", files=[("file", (f"soak-{tag}.md", body.encode(), "text/markdown"))])
                    self.count(r.status_code == 201, f"upload {r.status_code} {r.text[:200]}")
                    if r.status_code == 201:
                        doc = r.json()["data"][0]["doc_id"]
                        r = http.delete(f"/v1/documents/{doc}")
                        self.count(r.status_code == 200, f"remove {r.status_code} {r.text[:200]}")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                self.count(False, f"{type(exc).__name__}: {exc}"[:300])
            i += 1
        http.close()


def verdict(samples: list[dict], after: dict, seconds: float) -> dict:
    warm = [s for s in samples if s["t"] >= WARMUP * seconds] or samples
    third = max(1, len(warm) // 3)
    first, last = warm[:third], warm[-third:]
    base = warm[0]
    first_peak = max(s["rss_kb"] for s in first)
    last_peak = max(s["rss_kb"] for s in last)
    return {
        "rss_first_third_peak_mb": round(first_peak / 1024, 1), "rss_last_third_peak_mb": round(last_peak / 1024, 1),
        "rss_growth": round(last_peak / first_peak, 3), "rss_stable": last_peak <= 1.10 * first_peak,
        "threads_after_warmup": base["threads"], "threads_after": after["threads"],
        "threads_stable": after["threads"] <= base["threads"] + 2,
        "fds_after_warmup": base["fds"], "fds_after": after["fds"], "fds_stable": after["fds"] <= base["fds"] + 5,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="how long the loop runs (default 600)")
    parser.add_argument("--clients", type=int, default=4, help="clients at once (default 4; one of them writes)")
    parser.add_argument("--every", type=float, default=10, help="seconds between samples (default 10)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the index (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="write the samples and the verdict here")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="rag-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with (work / "serve.log").open("w") as log:
        proc = start_service(work / "index", port, args=("--no-chat",), output=log)
        url = f"http://127.0.0.1:{port}"
        soak = Soak(url, args.seconds)
        threads = [threading.Thread(target=soak.client, args=(n,)) for n in range(args.clients)]
        started = time.monotonic()
        samples = [{"t": 0.0, **proc_stats(proc.pid), "requests": 0}]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(min(args.every, max(0.1, soak.deadline - time.monotonic() + 0.1)))
            samples.append({"t": round(time.monotonic() - started, 1), **proc_stats(proc.pid), "requests": soak.requests})
        for t in threads:
            t.join()
        time.sleep(3)  # idle: worker threads that should end have ended
        after = {**proc_stats(proc.pid), "queue": health(port)["queue"]}
        code = stop(proc)
    result = {"seconds": args.seconds, "clients": args.clients, "requests": soak.requests,
              "errors": len(soak.errors), "error_samples": soak.errors[:10], "exit_code": code,
              "samples": samples, "after": after, "verdict": verdict(samples, after, args.seconds)}
    print(f"{'t (s)':>7} {'RSS MB':>8} {'threads':>8} {'fds':>5} {'requests':>9}")
    for s in samples:
        print(f"{s['t']:7.0f} {s['rss_kb'] / 1024:8.1f} {s['threads']:8d} {s['fds']:5d} {s['requests']:9d}")
    print(f"after the run: RSS {after['rss_kb'] / 1024:.1f} MB, peak {after['peak_rss_kb'] / 1024:.1f} MB, "
          f"{after['threads']} threads, {after['fds']} fds; queue {after['queue']}")
    print(f"{soak.requests} requests in {args.seconds:.0f} s, {len(soak.errors)} errors; exit code on SIGTERM {code}")
    print("verdict:", json.dumps(result["verdict"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    save("bench_soak_api", {k: v for k, v in result.items() if k != "samples"}
         | {"samples": samples[:: max(1, len(samples) // 12)]})
    v = result["verdict"]
    ok = not soak.errors and code == 0 and v["rss_stable"] and v["threads_stable"] and v["fds_stable"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
