"""The walk of a question through the code, as a reader following `question` from `Answerer.extractive` counts it
(issue 29: "≤ 6 climbs back up a layer").

    python -m evals.measure_walk                       # the bundled index, one question, the walk printed
    python -m evals.measure_walk --objects             # follow the parsed question (question.Question) too
    python -m evals.measure_walk --question "…" --index-dir DIR

What is followed: every call into a rag module that receives the question's text (the question, or a text
holding it: the searched query, a follow-up merged with its turns), and with `--objects` also the question as
`question.read` parsed it. Each distinct call edge (calling function -> called function) is followed the first
time only: a loop over the candidate sentences reads as one call, as it does on the page. The caches of parsed
texts are emptied first, so the walk is a new question's. A *stay* is a run of the walk in one module; a *climb*
is a move (a call or a return) to a module of a higher layer, in the order of ARCHITECTURE.md
(tests/test_layers.py: the layers, and question < features < candidates < answerer inside the answer layer).
Figures go to evals/results/measure_walk.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from evals.results import save
from tests.test_layers import ANSWER_ORDER, LAYERS

LAYER = {module: rank for _, (rank, modules) in LAYERS.items() for module in modules}
QUESTION = "How much did trade between China and Russia reach last year?"


def rank(module: str) -> tuple[int, int]:
    return LAYER.get(module, 9), ANSWER_ORDER.index(module) if module in ANSWER_ORDER else 0


def walk(assistant: Any, question: str, objects: bool) -> list[tuple[str, str]]:
    """(module, function) each time the walk enters a module or comes back to it ("<-name": the return of name)."""
    import rag.question as parsed

    def holds(value: Any) -> bool:
        if isinstance(value, str):
            return question in value
        if isinstance(value, (list, tuple)):
            return any(isinstance(v, str) and question in v for v in value[:50])
        return objects and isinstance(value, kinds)

    # (getattr: the script also measures commits from before the question was parsed once, for comparison)
    kinds = tuple(getattr(parsed, name) for name in ("Question", "Asked") if hasattr(parsed, name))
    seen: set[Any] = set()
    stack: list[tuple[tuple[str, str], bool]] = []
    steps: list[tuple[str, str]] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event not in ("call", "return"):
            return
        code = frame.f_code
        if f"{os.sep}rag{os.sep}" not in code.co_filename or "site-packages" in code.co_filename:
            return
        module = Path(code.co_filename).stem
        if event == "call":
            names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            caller = next((s for s in reversed(stack) if s[1]), None)
            edge = (caller[0] if caller else None, (module, code.co_name))
            shown = any(holds(frame.f_locals.get(n)) for n in names) and edge not in seen
            seen.add(edge)
            stack.append(((module, code.co_name), shown))
            if shown:
                steps.append((module, code.co_name))
        elif stack:
            _, shown = stack.pop()
            caller = next((s for s in reversed(stack) if s[1]), None)
            if shown and caller:
                steps.append((caller[0][0], "<-" + code.co_name))

    for cached in ("parse", "_date_spans", "_number_spans"):
        if hasattr(parsed, cached):
            getattr(parsed, cached).cache_clear()
    answerer, opened = assistant.answerer, assistant.opened()
    sys.setprofile(profile)
    try:
        answerer.extractive(question, None, assistant.settings.top_k, opened, time.perf_counter())
    finally:
        sys.setprofile(None)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--objects", action="store_true", help="follow the parsed question object too")
    parser.add_argument("--index-dir", default=None, help="an index (default: the bundled one, built if missing)")
    args = parser.parse_args()
    from rag import Assistant, Settings

    settings = Settings(quiet=True)
    if args.index_dir:
        settings = settings.model_copy(update={"index_dir": Path(args.index_dir)})
    assistant = Assistant(settings=settings)
    assistant.ask(args.question)  # warm: models loaded, index opened
    stays: list[list[Any]] = []
    for module, name in walk(assistant, args.question, args.objects):
        if stays and stays[-1][0] == module:
            stays[-1][1].append(name)
        else:
            stays.append([module, [name]])
    climbs = [i + 1 for i, (a, b) in enumerate(zip(stays, stays[1:], strict=False)) if rank(b[0]) > rank(a[0])]
    entered = dict(Counter(module for module, _ in stays).most_common())
    for i, (module, names) in enumerate(stays):
        print(f" {'^' if i in climbs else ' '} {module:10} {' '.join(names)[:140]}")
    print(f"{len(stays)} stays in {len(entered)} modules, {len(climbs)} climbs back up a layer (^); entered: {entered}")
    save("measure_walk" + ("-objects" if args.objects else ""),
         {"question": args.question, "objects": args.objects, "stays": len(stays), "modules": len(entered),
          "climbs": len(climbs), "entered": entered, "walk": [f"{m}: {' '.join(n)}" for m, n in stays]})


if __name__ == "__main__":
    main()
