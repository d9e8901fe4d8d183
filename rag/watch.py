"""`rag watch`: keep the index in step with its folders as files come, change and go (watchfiles).

Started, it first reconciles: every file under the folders is added or updated, and every article whose file
under them is gone is removed (a watcher that crashed, or was not running, missed those). Then each burst of
changes is one batch: files still being written wait until their size and time hold still (`settle`), editors'
temporary and backup files are left alone (hidden files, `~` backups, swap files, unsupported suffixes), the
new and changed files are added in one write and the deleted ones removed in one more; a line per change goes to
the log. Another process answering from the same index (`rag serve`, `rag chat`, embedded or through a Chroma
server) sees each batch at its next question: the index's change counter tells it to look again.

    Watcher(assistant, ["articles/"]).run()            # until Ctrl-C (or `stop`, from another thread)
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .assistant import Assistant
from .errors import CorpusError, RagError
from .load import SIDECAR_NAME, SUPPORTED_SUFFIXES
from .types import IndexReport

SETTLE_S = 0.5  # a file is read once its size and modification time held still this long
SETTLE_LIMIT_S = 120.0  # one still changing after this long is read as it is (and again when it changes)
DEBOUNCE_MS = 400  # changes this close together are one batch


def wanted(path: str) -> bool:
    """A file the watcher indexes: a supported article (or a folder's corpus.json), not a hidden, backup or
    temporary file an editor or a download leaves beside it."""
    name = os.path.basename(path)
    if not name or name.startswith((".", "~$", "#")) or name.endswith("~"):
        return False
    return name == SIDECAR_NAME or Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def settled(paths: Iterable[str], settle: float = SETTLE_S, limit: float = SETTLE_LIMIT_S,
            sleep: Callable[[float], Any] = time.sleep) -> list[str]:
    """The paths that exist once each has held its size and modification time for `settle` seconds (a copy or
    a download in progress is waited for; at most `limit` seconds in all)."""
    stamps = {p: _stamp(p) for p in paths}
    deadline = time.monotonic() + limit
    while True:
        sleep(settle)
        now = {p: _stamp(p) for p in stamps}
        moving = [p for p in stamps if now[p] != stamps[p] and now[p] is not None]
        stamps = now
        if not moving or time.monotonic() > deadline:
            return sorted(p for p, s in stamps.items() if s is not None)


class Watcher:
    """Keeps `assistant`'s index in step with `folders` (default: the folders `rag index --corpus` recorded)."""

    def __init__(self, assistant: Assistant, folders: Iterable[str | Path] | None = None, *,
                 settle: float = SETTLE_S, debounce_ms: int = DEBOUNCE_MS,
                 log: Callable[[str], Any] = print) -> None:
        self.assistant = assistant
        chosen = [str(f) for f in folders] if folders else assistant.corpus()
        if not chosen:
            raise CorpusError("No folders to watch: name them (`rag watch --corpus DIR`), or index them first "
                              "(`rag index --corpus DIR` records them).")
        missing = [f for f in chosen if not Path(f).is_dir()]
        if missing:
            raise CorpusError(f"Not a folder: {missing[0]} (rag watch watches folders).")
        self.folders = [os.path.abspath(f) for f in chosen]
        self.settle = settle
        self.debounce_ms = debounce_ms
        self.log = log
        self._stop = threading.Event()
        self.batches = 0  # batches applied since start (tests and the log)

    # ------------------------------------------------------------ one batch
    def reconcile(self) -> None:
        """Add or update every file under the folders, remove the articles whose files are gone."""
        self._add(self.folders)
        self._remove(folders=self.folders)

    def apply(self, paths: Iterable[str]) -> None:
        """One batch of changed paths (added, modified or deleted, in any order): those there now are read once
        settled and added or updated; the articles of those gone are removed."""
        paths = sorted({os.path.abspath(p) for p in paths})
        sidecars = {os.path.dirname(p) for p in paths if os.path.basename(p) == SIDECAR_NAME and os.path.exists(p)}
        present = settled([p for p in paths if os.path.isfile(p) and os.path.basename(p) != SIDECAR_NAME],
                          self.settle) if paths else []
        folders = sorted(sidecars)  # a folder's metadata changed: its articles are read again
        self._add([*folders, *[p for p in present if os.path.dirname(p) not in sidecars]])
        self._remove(paths=[p for p in paths if not os.path.exists(p)])
        self.batches += 1

    def _add(self, paths: list[str]) -> None:
        paths = [p for p in paths if os.path.exists(p)]
        if not paths:
            return
        try:
            report = self.assistant.add(paths, progress=False)
        except CorpusError as exc:  # one deleted since the check: the batch that saw it go removes it
            self.log(f"error: {exc}")
            return
        self._report(report)

    def _report(self, report: IndexReport) -> None:
        for f in report.files:
            if f.status == "unchanged":
                continue
            what = f" ({f.doc_id[:8]})" if f.doc_id else ""
            self.log(f"{f.status} {self._shown(f.path)}{what}" + (f": {f.reason}" if f.reason else ""))

    def _remove(self, folders: Sequence[str] = (), paths: Sequence[str] = ()) -> None:
        if not folders and not paths:
            return
        for info in self.assistant.remove_gone(folders, paths):
            self.log(f"removed {self._shown(info.path)} ({info.doc_id[:8]})")

    def wanted(self, path: str) -> bool:
        """`wanted`, and not inside a hidden folder of a watched folder (`rag index` leaves those out too)."""
        if not wanted(path):
            return False
        for folder in self.folders:
            if path.startswith(folder + os.sep):
                return not any(part.startswith(".") for part in os.path.relpath(path, folder).split(os.sep)[:-1])
        return True

    def _shown(self, path: str) -> str:
        for folder in self.folders:
            if path.startswith(folder + os.sep):
                return os.path.relpath(path, folder)
        return path

    # ------------------------------------------------------------ the loop
    def run(self, ready: Callable[[], Any] | None = None) -> None:
        """Reconcile, then apply each burst of changes until `stop()` (or Ctrl-C)."""
        import watchfiles

        self.log(f"Watching {', '.join(self.folders)}: reconciling first…")
        self.reconcile()
        self.log("Up to date; watching for changes (Ctrl-C stops).")
        if ready is not None:
            ready()
        for changes in watchfiles.watch(*self.folders, watch_filter=lambda _c, p: self.wanted(p),
                                        debounce=self.debounce_ms, step=50, stop_event=self._stop,
                                        raise_interrupt=False):
            try:
                self.apply(p for _, p in changes)
            except RagError as exc:  # the index busy or a server gone: say so, keep watching
                self.log(f"error: {exc}")

    def stop(self) -> None:
        self._stop.set()

    def start(self) -> threading.Thread:
        """Run in a daemon thread (`rag serve --watch`, `rag chat --watch`); errors are logged, not raised."""
        def target() -> None:
            with contextlib.suppress(Exception):
                try:
                    self.run()
                except Exception as exc:
                    self.log(f"error: the watcher stopped: {type(exc).__name__}: {exc}")
                    raise

        thread = threading.Thread(target=target, name="rag-watch", daemon=True)
        thread.start()
        return thread
