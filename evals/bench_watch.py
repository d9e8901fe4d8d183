"""How soon does `rag watch` make a saved file answerable (issue 30)? Real processes, the real model.

`rag watch` runs as its own process on a folder holding a copy of the bundled articles (its index built first
by `rag index --corpus`); this process answers from the same index, as `rag serve` would. Then:

- a one-page text, saved `--repeat` times (each with a fact of its own): seconds from the save (the file's
  write returning) to the first answer that cites it; target p50 ≤ 5 s;
- a 50-page PDF (fpdf2; 150 paragraphs, one fact on its last page): seconds from the save to the first answer
  that cites it, against `rag add` of the same PDF into a copy of the index, timed as a user runs it (a new
  process); target ≤ `rag add` + 2 s;
- a burst: 100 files added, 30 of them edited, 20 deleted, all at once; the index afterwards against a fresh
  `rag index` of the folder (target: the same articles, nothing lost).

    python -m evals.bench_watch [--repeat 5]      (needs fpdf2 and fonts-dejavu-core, as evals/measure_formats)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evals.measure_formats import to_pdf
from evals.results import save
from rag import Assistant, Settings
from rag.load import bundled_corpus
from tests.helpers.service import stop

ROOT = Path(__file__).resolve().parents[1]


def env_for(index: Path) -> dict[str, str]:
    return os.environ | {"RAG_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                         "PYTHONPATH": str(ROOT), "RAG_QUIET": "true"}


def rag(*args: str, index: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag.cli", *args], env=env_for(index), cwd=ROOT, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def until_cited(assistant: Assistant, question: str, name: str, saved: float, limit: float = 300) -> float:
    """Seconds from `saved` (perf_counter) to the first answer citing the file `name`."""
    while time.perf_counter() - saved < limit:
        answer = assistant.ask(question)
        if not answer.abstained and any(os.path.basename(assistant.opened()[1].docs.get(c.doc_id, {}).get("path", ""))
                                        == name for c in answer.citations):
            return time.perf_counter() - saved
        time.sleep(0.05)
    raise RuntimeError(f"no answer cited {name} within {limit:.0f} s")


def state(index: Path) -> set[tuple[str, str]]:
    a = Assistant(settings=Settings(index_dir=index, quiet=True), auto_build=False)
    return {(os.path.basename(d.path), d.doc_id) for d in a.documents()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="one-page texts saved, one after another")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    folder, index = work / "articles", work / "index"
    shutil.copytree(bundled_corpus(), folder)
    rag("index", "--corpus", str(folder), "-q", index=index)
    log = (work / "watch.log").open("w")
    watcher = subprocess.Popen([sys.executable, "-m", "rag.cli", "watch"], env=env_for(index), cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)
    assistant = Assistant(settings=Settings(index_dir=index, quiet=True), auto_build=False)
    assistant.ask("warm up")
    try:
        deadline = time.monotonic() + 300
        while "Up to date" not in (work / "watch.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        text_s = []
        cities = ["Lisbon", "Tromsø", "Valparaíso", "Windhoek", "Tbilisi", "Hobart", "Quito", "Bergen", "Accra", "Perth"]
        for i in range(args.repeat):
            city = cities[i % len(cities)]
            name = f"memo-{i}.txt"
            body = f"Harbour memo {i}\n\n" + "\n\n".join(
                [f"The {city} shipyard delivered {17 + i} icebreakers to the northern fleet in 2031."]
                + [f"Paragraph {n} of the memo covers routine matters of the {city} port office." for n in range(12)])
            saved = time.perf_counter()
            (folder / name).write_text(body, encoding="utf-8")
            text_s.append(until_cited(assistant, f"How many icebreakers did the {city} shipyard deliver?", name, saved))
            print(f"one-page text {i + 1}: {text_s[-1]:.2f} s")

        # the 50-page PDF: first timed through `rag add` into a copy of the index, then saved into the folder
        pdf = work / "report.pdf"
        paragraphs = [f"Section {n} of the annual report describes the maintenance of the dry docks and the "
                      f"cranes of the eastern harbour in some detail, with figures for each quarter." for n in range(149)]
        paragraphs.append("The eastern harbour authority ordered 64 tugboats from the Gdańsk yard in 2032.")
        to_pdf("\n\n".join(paragraphs), pdf)
        pages = int(subprocess.run([sys.executable, "-c", f"import pypdf; print(len(pypdf.PdfReader({str(pdf)!r}).pages))"],
                                   capture_output=True, text=True, check=True).stdout)
        copy = work / "index-copy"
        shutil.copytree(index, copy)
        add_s = rag("add", str(pdf), "-q", index=copy)
        saved = time.perf_counter()
        shutil.copyfile(pdf, folder / "report.pdf")
        pdf_s = until_cited(assistant, "How many tugboats did the eastern harbour authority order?", "report.pdf", saved)
        print(f"{pages}-page PDF: {pdf_s:.2f} s from the save to an answer; `rag add` of it {add_s:.2f} s")

        # the burst
        burst = folder / "burst"
        burst.mkdir()
        for i in range(100):
            (burst / f"n{i:03d}.txt").write_text(f"Note {i}\n\nDepot {i} stored {i * 7} crates of tin in {1950 + i}.\n",
                                                 encoding="utf-8")
        for i in range(30):
            (burst / f"n{i:03d}.txt").write_text(f"Note {i}\n\nDepot {i} was rebuilt and stored {i + 900} crates.\n",
                                                 encoding="utf-8")
        for i in range(30, 50):
            (burst / f"n{i:03d}.txt").unlink()
        fresh = work / "index-fresh"
        rag("index", "--corpus", str(folder), "-q", index=fresh)
        expected = state(fresh)
        started, got = time.perf_counter(), set()
        while time.perf_counter() - started < 300:
            got = state(index)
            if got == expected:
                break
            time.sleep(0.5)
        burst_s = time.perf_counter() - started
        print(f"burst: {len(expected)} articles expected, {len(got)} in the watched index, "
              f"{len(got ^ expected)} differing, settled {burst_s:.1f} s after a fresh index was made")
    finally:
        stop(watcher, 30, signal.SIGINT)
        log.close()
    figures = {
        "text_p50_s": round(statistics.median(text_s), 2), "text_max_s": round(max(text_s), 2), "texts": len(text_s),
        "pdf_pages": pages, "pdf_s": round(pdf_s, 2), "rag_add_pdf_s": round(add_s, 2),
        "pdf_minus_add_s": round(pdf_s - add_s, 2),
        "burst_expected_articles": len(expected), "burst_differing": len(got ^ expected),
    }
    for key, value in figures.items():
        print(f"{key:24s} {value}")
    save("bench_watch", figures, command=f"python -m evals.bench_watch --repeat {args.repeat}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
