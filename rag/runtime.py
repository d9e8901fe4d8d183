"""onnxruntime sessions on the CPU, set up one way for the embedding model and the reader.

Spinning is off: by default each session's worker threads spin for a while after every run, waiting for the
next. A question runs two sessions in turn (the query embedding, then the reader), so each one's spinning
threads took the cores from the other: with spinning off, warm `ask` p50 on the bundled index went from 49.6
to 21.5 ms and one query embedding inside it from 7.8 to 3.0 ms (2 cores, `evals/HISTORY.md`, 2026-12-07).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def cpu_session(model: str | Path, threads: int = 0) -> Any:
    """An onnxruntime session of `model` on the CPU: `threads` intra-op threads (0: the cores, at most 8), one
    inter-op thread, no spinning, warnings only."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
