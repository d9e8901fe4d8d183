"""Progress a person can read wherever it goes: a tqdm bar on a terminal; in a log (the chat's or the server's
output redirected to a file, CI) a line when a stage starts and one when it ends, never `\\r` frames.

The tqdm object runs in both cases, drawing only on a terminal, because the web chat's progress display follows
tqdm bars (Gradio's `track_tqdm`).
"""

from __future__ import annotations

import io
import sys
import time
from typing import Any, TextIO


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


class _Nowhere(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


class Bar:
    """`with Bar(total, "Embedding", "text", enabled) as bar: bar.update(n)`."""

    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        from tqdm import tqdm

        self.stream = stream if stream is not None else sys.stderr
        self.terminal = is_terminal(self.stream)
        self.enabled = enabled
        self.desc, self.unit, self.total = desc, unit, total
        self.done = 0
        self.started = time.perf_counter()
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream if self.terminal else _Nowhere(),
                        disable=not enabled, leave=False)
        if enabled and not self.terminal:
            self.line(f"{desc}: {total:,} {unit}{'s' if total != 1 else ''}…")

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()
        if self.enabled and not self.terminal:
            self.line(f"{self.desc}: {self.done:,} of {self.total:,} {self.unit}s in "
                      f"{time.perf_counter() - self.started:.1f} s")

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def say(text: str, enabled: bool = True, stream: TextIO | None = None) -> None:
    """One line of progress (a stage starting), on a terminal and in a log alike."""
    if enabled:
        print(text, file=stream if stream is not None else sys.stderr, flush=True)
