"""Uploads: the folder where the web chat's and the API's uploaded articles (and fetched links) are kept, so that
`Assistant.index()` finds them again on later runs, and the record of the links pages came from."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from .errors import UnsupportedFile
from .load import SIDECAR_NAME, load_sidecar, safe_name, upload_problem
from .types import FileResult, IndexReport, SkippedFile
from .web import FetchError, fetch


def renamed(report: IndexReport, names: dict[str, str], before: Iterable[FileResult] = ()) -> IndexReport:
    """`report` with its file entries named as the caller knows them (`names`: path in the report -> name to
    show; any other path by its file name, never a server path), after `before` (files that never reached the
    index), and its `skipped` list to match."""
    report.files = [*before, *(dataclasses.replace(r, path=names.get(r.path, Path(r.path).name)) for r in report.files)]
    report.skipped = [SkippedFile(r.path, r.reason) for r in report.files if r.status == "skipped"]
    return report


class Uploads:
    """The uploads folder (absolute) and what is kept there."""

    def __init__(self, folder: Path, max_file_mb: float, fetch_timeout: float, allow_private: bool = False) -> None:
        self.folder = folder
        self.limit = max_file_mb * 2**20
        self.fetch_timeout = fetch_timeout
        self.allow_private = allow_private
        self._sidecar_lock = threading.Lock()

    def keep(self, files: Iterable[tuple[str, bytes | str | Path]]) -> tuple[dict[str, str], list[FileResult]]:
        """Copy each file (name as uploaded, its bytes or a path to read) into the folder. Returns the stored
        paths (-> name as uploaded) and the files refused (unsupported type, over the size limit), not copied."""
        refused: list[FileResult] = []
        targets: dict[str, str] = {}
        for name, data in files:
            shown = Path(name or "").name or "(unnamed)"
            reason = upload_problem(shown, data, self.limit)
            if reason:
                refused.append(FileResult(shown, "skipped", reason=reason))
                continue
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / safe_name(shown)
            if isinstance(data, bytes):
                target.write_bytes(data)
            else:
                shutil.copyfile(data, target)
            targets[str(target)] = shown
        return targets, refused

    def fetch(self, urls: Iterable[str]) -> tuple[list[tuple[str, bytes]], dict[str, str], list[FileResult]]:
        """Fetch each link once (rag/web.py: http/https only, the time and size limits) and record where each
        page came from. Returns the pages (file name, bytes), file name -> link, and the links that failed."""
        pages, failed = [], []
        for url in urls:
            try:
                pages.append(fetch(url, timeout=self.fetch_timeout, max_bytes=int(self.limit),
                                   allow_private=self.allow_private))
            except FetchError as exc:
                failed.append(FileResult(url, "skipped", reason=str(exc)))
        links = {page.name: page.url for page in pages}
        if pages:
            self._link_sidecar(links)
        return [(page.name, page.data) for page in pages], links, failed

    def forget(self, path: str, url: str = "") -> None:
        """After an article is removed: delete its copy here, if it is one (else the next `index()`, which reads
        this folder, would bring it back), and the record of its link."""
        stored = Path(path)
        if stored.parent.resolve() == self.folder and stored.is_file():
            stored.unlink()
            if url:
                self._link_sidecar(drop=stored.name)

    def _link_sidecar(self, add: dict[str, str] | None = None, drop: str | None = None) -> None:
        """Record (or forget) the links uploaded pages came from, in the uploads folder's corpus.json."""
        path = self.folder / SIDECAR_NAME
        with self._sidecar_lock:
            try:
                entries = load_sidecar(self.folder) if path.is_file() else {}
            except UnsupportedFile:
                entries = {}
            for name, url in (add or {}).items():
                entries.setdefault(name, {})["url"] = url
            if drop:
                entries.pop(drop, None)
            if not entries and not path.is_file():
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(path)
