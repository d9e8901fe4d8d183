"""Optional generative backends, never the default, always checked.

`RAG_LLM` picks one, through llama-index LLM classes:
- `openai:<base_url>:<model>`: any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio), e.g.
  `openai:http://127.0.0.1:8000/v1:qwen2.5-7b-instruct` (extra `rag[llm]`);
- `ollama:<model>` (extra `rag[ollama]`, server at OLLAMA_HOST or 127.0.0.1:11434);
- `gguf:<path>`: a local GGUF file through llama-cpp-python (extra `rag[llama-cpp]`, compiles on install).

The model sees the retrieved passages numbered [1]..[k] and must cite them. Its reply is split into
sentences; a citation to a number that is not in the evidence is dropped; a sentence is kept only when the
union of its cited passages supports it (lexical coverage and embedding similarity, thresholds measured in
evals/tune_support.py); each kept citation quotes the passage sentence closest to the claim, with offsets. When
nothing supported remains, or the backend is dead or slow, the extractive answer is returned with a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .chunk import split_sentences as chunk_sentences
from .embed import Embedder
from .errors import BackendUnavailable, RagError
from .lexical import words
from .prompts import ABSTAIN_TEXT, EVIDENCE_LINE, SYSTEM_PROMPT, USER_PROMPT
from .question import names
from .snapshot import Snapshot
from .tuning import LEX_SUPPORT, SEM_SUPPORT
from .types import Citation, Passage

# Support thresholds LEX_SUPPORT and SEM_SUPPORT: measured by `python -m evals.tune_support` (rag/tuning.py).
_MARKER_RE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def load_llm(spec: str, timeout: float) -> Any:
    """A llama-index LLM for a RAG_LLM spec. Imports happen here, only when a backend is configured."""
    kind, _, rest = spec.partition(":")
    try:
        if kind == "openai":
            base_url, _, model = rest.rpartition(":")
            if not base_url.startswith(("http://", "https://")) or not model:
                raise RagError(f"RAG_LLM={spec!r}: expected openai:<base_url>:<model>, e.g. openai:http://127.0.0.1:8000/v1:my-model")
            from llama_index.llms.openai_like import OpenAILike

            return OpenAILike(model=model, api_base=base_url, api_key="not-needed", is_chat_model=True,
                              timeout=timeout, max_retries=0, temperature=0.0, max_tokens=400, context_window=8192)
        if kind == "ollama":
            import os

            from llama_index.llms.ollama import Ollama

            return Ollama(model=rest, request_timeout=timeout, temperature=0.0,
                          base_url=os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434"))
        if kind == "gguf":
            if not Path(rest).is_file():
                raise RagError(f"RAG_LLM={spec!r}: no GGUF file at {rest}")
            from llama_index.llms.llama_cpp import LlamaCPP

            return LlamaCPP(model_path=rest, temperature=0.0, max_new_tokens=400, context_window=4096, verbose=False)
    except ImportError as exc:
        extra = {"openai": "llm", "ollama": "ollama", "gguf": "llama-cpp"}[kind]
        raise BackendUnavailable(f"RAG_LLM={spec!r} needs the optional extra: pip install 'rag[{extra}]' ({exc.name} missing)") from exc
    raise RagError(f"RAG_LLM={spec!r}: unknown backend {kind!r}; use openai:<base_url>:<model>, ollama:<model> or gguf:<path>")


def messages(question: str, passages: list[Passage]) -> list[Any]:
    from llama_index.core.llms import ChatMessage, MessageRole

    evidence = "\n".join(
        EVIDENCE_LINE.format(number=i, title=p.title, text=" ".join(p.text.split())) for i, p in enumerate(passages, 1)
    )
    return [
        ChatMessage(role=MessageRole.SYSTEM, content=SYSTEM_PROMPT),
        ChatMessage(role=MessageRole.USER, content=USER_PROMPT.format(evidence=evidence, question=question)),
    ]


def split_sentences(reply: str) -> list[str]:
    """Sentences of a model reply, each with the markers that follow it ("U.S. officials" is not cut): the
    article splitter (rag/chunk.py) with markers kept."""
    return [reply[s:e].strip() for s, e in chunk_sentences(reply, markers=True)]


@dataclass
class Checked:
    """The verified part of a reply, and what was dropped."""

    sentences: list[tuple[str, list[Citation]]] = field(default_factory=list)
    dropped_sentences: int = 0
    invalid_numbers: set[int] = field(default_factory=set)


class Verifier:
    def __init__(self, snap: Snapshot, embedder: Embedder, passages: list[Passage]) -> None:
        self.snap, self.embedder, self.passages = snap, embedder, passages
        self.result = Checked()

    def check(self, raw: str) -> tuple[str, list[Citation]] | None:
        """Verify one reply sentence; return it (markers removed) with its citations, or None if dropped."""
        numbers = [int(n) for group in _MARKER_RE.findall(raw) for n in group.split(",")]
        text = re.sub(r"\s+([.!?,;:])", r"\1", " ".join(_MARKER_RE.sub("", raw).split())).strip()
        if not text or text.rstrip(".") == ABSTAIN_TEXT.rstrip("."):
            return None
        valid = []
        for n in numbers:
            if 1 <= n <= len(self.passages):
                if n not in valid:
                    valid.append(n)
            else:
                self.result.invalid_numbers.add(n)
        if not valid:
            self.result.dropped_sentences += 1
            return None
        vector = self.embedder.embed_query(text)
        cited = [self.passages[n - 1] for n in valid]
        lex, sem, best = support(self.snap, text, vector, cited)
        if lex < LEX_SUPPORT or sem < SEM_SUPPORT:
            self.result.dropped_sentences += 1
            return None
        citations = []
        for (cos, start, end), p in zip(best, cited, strict=True):
            quote = self.snap.texts[p.doc_id][start:end]
            citations.append(Citation(0, p.doc_id, p.title, p.author, p.date, quote, p.text, start, end, round(cos, 4), p.also_in))
        self.result.sentences.append((text, citations))
        return text, citations


def closest(snap: Snapshot, passage: Passage, vector: np.ndarray) -> tuple[float, int, int]:
    """(cosine, start, end) of the passage sentence closest to a claim's embedding."""
    rec = snap.chunk(passage.chunk_id)
    best = (-1.0, passage.start, passage.end)
    for start, end in rec.sentences if rec is not None else ():
        svec = snap.sentence_vector(passage.doc_id, start)
        if svec is not None:
            cos = float(svec @ vector)
            if cos > best[0]:
                best = (cos, start, end)
    return best


_FACT_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")


def facts_missing(text: str, cited: list[Passage]) -> list[str]:
    """Numbers and names of the claim that none of its cited passages contains ("$340 billion" against a
    passage that says $240 billion; "Syria" against one that says Iran)."""
    evidence = " ".join(p.text for p in cited)
    folded = evidence.lower().replace("’", "'")
    numbers = set(_FACT_NUMBER_RE.findall(evidence))
    missing = [n for n in _FACT_NUMBER_RE.findall(text) if n not in numbers]
    for name in names(text):
        if name.lower().replace("’", "'") not in folded and not all(part.lower() in folded for part in name.split()):
            missing.append(name)
    return missing


def support(
    snap: Snapshot, text: str, vector: np.ndarray, cited: list[Passage]
) -> tuple[float, float, list[tuple[float, int, int]]]:
    """(lexical coverage, best sentence cosine, closest sentence per passage) of a claim against the union
    of its cited passages. A claim with a number or name the passages lack has coverage 0."""
    content = set(words(text))
    covered = set().union(*(set(words(p.text)) for p in cited))
    lex = len(content & covered) / len(content) if content else 0.0
    if facts_missing(text, cited):
        lex = 0.0
    best = [closest(snap, p, vector) for p in cited]
    return lex, max(b[0] for b in best), best


def number(checked: list[tuple[str, list[Citation]]]) -> tuple[str, list[Citation]]:
    """Answer text with [n] markers and the citations numbered in order of first use (one per quote)."""
    citations: list[Citation] = []
    index: dict[tuple[str, int], int] = {}
    parts = []
    for text, cites in checked:
        marks = []
        for c in cites:
            key = (c.doc_id, c.start)
            if key not in index:
                index[key] = len(citations) + 1
                citations.append(Citation(index[key], c.doc_id, c.title, c.author, c.date, c.quote, c.passage,
                                          c.start, c.end, c.score, c.also_in))
            marks.append(f"[{index[key]}]")
        parts.append(f"{text} {''.join(marks)}")
    return " ".join(parts), citations


def notes_for(checked: Checked) -> list[str]:
    notes = []
    if checked.invalid_numbers:
        notes.append(f"dropped citations to passages that do not exist: {sorted(checked.invalid_numbers)}")
    if checked.dropped_sentences:
        notes.append(f"dropped {checked.dropped_sentences} sentence(s) the cited passages do not support")
    return notes


def generate(llm: Any, question: str, passages: list[Passage], verifier: Verifier) -> Checked:
    """Ask the model, verify every sentence of the reply."""
    reply = llm.chat(messages(question, passages)).message.content or ""
    for raw in split_sentences(reply):
        verifier.check(raw)
    return verifier.result


def generate_stream(llm: Any, question: str, passages: list[Passage], verifier: Verifier) -> Iterator[tuple[str, list[Citation]]]:
    """Stream the model's reply, yielding each sentence once it is complete and verified."""
    buffer, complete = "", 0
    for chunk in llm.stream_chat(messages(question, passages)):
        buffer += chunk.delta or ""
        parts = split_sentences(buffer)
        for raw in parts[complete:-1]:  # every part but the last is complete; the last may still grow
            done = verifier.check(raw)
            if done:
                yield done
        complete = max(complete, len(parts) - 1)
    for raw in split_sentences(buffer)[complete:]:
        done = verifier.check(raw)
        if done:
            yield done
