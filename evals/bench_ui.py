"""Latency of the web chat as a user sees it, in a real headless Chromium, against the same answers streamed
in-process by `Assistant.stream` in the same run (the baseline: what the UI adds is the difference).

    python -m evals.bench_ui [--rounds 10] [--index-dir DIR] [--screenshot docs/chat.png]
                             [--scope-screenshot docs/chat-scope.png]

Starts `python ui.py` on a free port (building the index first if the folder has none), opens the page in
Debian's chromium through Playwright, and for each round asks one question in a new conversation. Times are
taken inside the page (performance.now(), a MutationObserver) from the Enter key to
  - first token: the first answer text in the chat (the "Searching the articles…" placeholder excluded);
  - full answer: the sources panel showing this answer's cited passages (the last update of a turn).
Medians over the rounds are printed with the in-process times and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from evals.results import save
from rag import Answer, Assistant, Settings
from tests.helpers.web import CHROMIUM_FLAGS, chromium, free_port, start_ui, stop

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS = [
    "How much did trade between China and Russia reach last year?",
    "Who invaded South Korea with Soviet and Chinese support?",
    "Which four states have cooperated in the war in Ukraine?",
    "Who warned that North Korean troops joining the war would be a very, very serious issue?",
    "What share of North Korea's foreign trade does China account for?",
]
SHOWCASE = "Who warned that North Korean troops joining the war would be a very, very serious issue?"
OBSERVER = """() => {
  window.__t = {};
  const box = document.querySelector('#question textarea');
  box.addEventListener('keydown', e => { if (e.key === 'Enter') window.__t = {enter: performance.now()}; }, true);
  new MutationObserver(() => {
    const t = window.__t; if (!t.enter) return;
    const bots = document.querySelectorAll('#chat .bot');
    const last = bots.length ? bots[bots.length - 1].innerText : '';
    if (!t.first && last && !last.includes('Searching the articles')) t.first = performance.now();
    if (!t.full && document.querySelector('#sources').innerText.includes(window.__expect)) t.full = performance.now();
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def in_process(index_dir: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Time to the first streamed piece and to the final Answer of `Assistant.stream`, warm."""
    assistant = Assistant(settings=Settings(index_dir=index_dir, quiet=True))
    assistant.ask(QUESTIONS[0])  # warm
    first, full = [], []
    for i in range(rounds):
        started = time.perf_counter()
        got_first = None
        for piece in assistant.stream(QUESTIONS[i % len(QUESTIONS)]):
            if got_first is None:
                got_first = time.perf_counter()
            if isinstance(piece, Answer):
                full.append((time.perf_counter() - started) * 1000)
        first.append(((got_first or time.perf_counter()) - started) * 1000)
    return first, full


SCOPED = "004_53b3ae9ca0e733ff.txt"  # The Atlantic's copy: unscoped, the answer cites another article


def scoped_screenshot(page, target: Path) -> None:
    """The README's picture of a scoped question: one article ticked in the Articles tab, asked in the chat."""
    page.get_by_role("button", name="New conversation").click()
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_selector("#documents table")
    page.get_by_label(SCOPED, exact=False).check()
    page.click("#scope-set")
    page.wait_for_function("document.querySelector('#scope-note').innerText.includes('will be asked')")
    page.get_by_role("tab", name="Chat").click()
    page.fill("#question textarea", SHOWCASE)
    page.press("#question textarea", "Enter")
    page.wait_for_selector("#sources .source")
    page.wait_for_timeout(500)
    page.evaluate("window.scrollTo(0, 0)")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    print(f"screenshot: {target}")


def in_browser(url: str, rounds: int, screenshot: Path | None,
               scope_screenshot: Path | None = None) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        sys.exit("Debian's chromium is needed: apt-get install chromium")
    first, full = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        page.goto(url)
        page.wait_for_selector("#question textarea")
        page.evaluate(OBSERVER)
        for i in range(rounds + 1):  # round 0 warms the page and the server
            page.get_by_role("button", name="New conversation").click()
            page.wait_for_function("() => !document.querySelector('#chat .bot')")
            page.evaluate("q => { window.__expect = 'Q1: ' + q; }", QUESTIONS[i % len(QUESTIONS)])
            page.fill("#question textarea", QUESTIONS[i % len(QUESTIONS)])
            page.press("#question textarea", "Enter")
            page.wait_for_function("() => window.__t.first && window.__t.full", timeout=60000)
            t = page.evaluate("window.__t")
            if i:
                first.append(t["first"] - t["enter"])
                full.append(t["full"] - t["enter"])
        if screenshot:
            page.get_by_role("button", name="New conversation").click()
            page.fill("#question textarea", SHOWCASE)
            page.press("#question textarea", "Enter")
            page.wait_for_selector("#sources .source")
            page.locator("#chat a.cite").first.click()
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(500)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
            print(f"screenshot: {screenshot}")
        if scope_screenshot:
            scoped_screenshot(page, scope_screenshot)
        browser.close()
    return first, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="questions timed (default 10)")
    parser.add_argument("--index-dir", type=Path, default=None, help="index folder (default: a fresh one, built first)")
    parser.add_argument("--screenshot", type=Path, default=None, help="save a screenshot of a cited answer here")
    parser.add_argument("--scope-screenshot", type=Path, default=None,
                        help="save a screenshot of a question asked of one ticked article here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        if not (index_dir / "chroma.sqlite3").exists():
            print(f"building the bundled index in {index_dir} …", flush=True)
            Assistant(settings=Settings(index_dir=index_dir, quiet=True)).index(progress=False)
        base_first, base_full = in_process(index_dir, args.rounds)
        port = free_port()
        server = start_ui(index_dir, port)
        try:
            ui_first, ui_full = in_browser(f"http://127.0.0.1:{port}/", args.rounds, args.screenshot,
                                           args.scope_screenshot)
        finally:
            stop(server)
    med = statistics.median
    print(f"{args.rounds} questions, warm, median (min-max) in ms")
    print(f"{'':28}{'first token':>22}{'full answer':>22}")
    print(f"{'Assistant.stream in-process':28}{med(base_first):10.1f} ({min(base_first):.0f}-{max(base_first):.0f})"
          f"{med(base_full):12.1f} ({min(base_full):.0f}-{max(base_full):.0f})")
    print(f"{'web chat in Chromium':28}{med(ui_first):10.1f} ({min(ui_first):.0f}-{max(ui_first):.0f})"
          f"{med(ui_full):12.1f} ({min(ui_full):.0f}-{max(ui_full):.0f})")
    print(f"ratio browser / in-process: first token {med(ui_first) / med(base_first):.1f}x, "
          f"full answer {med(ui_full) / med(base_full):.1f}x")
    save("bench_ui", {"rounds": args.rounds, "rows": [
        {"what": "Assistant.stream in-process", "first_token_ms": round(med(base_first), 1), "full_ms": round(med(base_full), 1)},
        {"what": "web chat in Chromium", "first_token_ms": round(med(ui_first), 1), "full_ms": round(med(ui_full), 1)}],
        "ratio_first_token": round(med(ui_first) / med(base_first), 2), "ratio_full": round(med(ui_full) / med(base_full), 2)})


if __name__ == "__main__":
    main()
