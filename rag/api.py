"""The service behind `rag serve`: one FastAPI app that speaks OpenAI's chat API, searches passages, takes and
removes articles, answers a health check, serves the MCP server over streamable HTTP (/mcp) and the web chat (/).

    POST /v1/chat/completions   OpenAI's schema, streamed (server-sent events) or not; the last user message is
                                the question, earlier turns the history; each choice carries `citations`;
                                `"scope": {...}` (an OpenAI client's `extra_body`) asks only some articles
    GET  /v1/models             one model per collection the key may read: "rag" (the server's collection) and
                                "rag/<name>"; "rag-llm" and "rag-llm/<name>" when RAG_LLM is set
    POST /v1/search             {"query", "k", "collection", "scope"} -> passages, best first
    GET  /v1/documents          the indexed articles (?collection=; ?doc=&author=&publication=&since=&until=
                                &format=&source=: those a scope names)
    POST /v1/documents          multipart files, or JSON {"documents": [{"name", "text"}], "collection"}: kept in
                                the collection's uploads folder and indexed (a key that may write)
    DELETE /v1/documents/{id}   remove an article (a unique id prefix is enough; ?collection=)
    GET  /healthz               {"status": "ok", ...}, or 503 when there is no index (never asks for the key)
    /mcp                        the MCP server (rag/mcp_server.py), streamable HTTP
    /                           the web chat (RAG_UI_AUTH asks for its own password)

`create_app(assistant)` builds it (the tests call it on a temporary index); `rag serve` parses flags and runs
uvicorn. Keys (rag/keys.py): `api_key` (one bearer token for everything) and `api_keys` (a file of tokens, each
scoped to collections, read-only or not); a collection a key may not read answers 404 like one that does not
exist. Every limit is a setting (rag/settings.py): `api_workers`
(answers computed at once), `api_queue` (requests waiting; one more gets 429), `max_request_kb` (JSON bodies;
413), `max_file_mb` (each uploaded file; the upload route takes at most that plus 1 MiB per request). Errors
have OpenAI's shape, {"error": {"message", "type", "param", "code"}}, and never carry a traceback.

Answer text goes out as Markdown-safe text by default: the characters that would make an article's words into
a link, an image, HTML or code in a front-end that renders Markdown are backslash-escaped (the [n] markers stay
as they are; `citations` keep the exact quotes). `"content_format": "text"` returns it unescaped.

A scope (rag/scope.py) is {"docs": [id, id prefix or title, …], "author", "publication", "since", "until",
"format": [...], "source"}: each field narrows, several docs or formats widen. One that names no article is a
400 whose message names it (code "scope_matches_nothing"); a scope only narrows the collection the key reads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .assistant import Assistant
from .errors import (
    Busy,
    CorpusError,
    DocumentNotFound,
    IndexMismatch,
    IndexNotFound,
    InvalidQuery,
    ModelUnavailable,
    RagError,
    ScopeError,
    StoreUnavailable,
    UnsupportedFile,
)
from .gate import Gate
from .keys import OPEN, Collections, Key, Keys, collection_of_model
from .retrieve import MAX_QUERY_CHARS
from .scope import ScopeFields
from .settings import COLLECTION_PATTERN, storage_prefix
from .tuning import MAX_K, MAX_READ_K
from .types import Answer, Citation
from .version import __version__

log = logging.getLogger("rag.api")

MODEL = "rag"  # the extractive answerer
LLM_MODEL = "rag-llm"  # the configured generative backend (RAG_LLM), answers checked sentence by sentence
MAX_MESSAGES = 200  # messages in one chat request
UPLOAD_SLACK = 2**20  # bytes an upload request may carry beyond max_file_mb (form fields, boundaries)
MAX_UPLOAD_FILES = 100  # files in one upload request
GRACEFUL_SHUTDOWN_S = 30  # after SIGTERM, in-flight requests get this long to finish
PROTECTED = ("/v1/", "/mcp")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
_MARKDOWN = re.compile(r"([\\`\[\]<>])")
_ESCAPED_MARKER = re.compile(r"\\\[(\d+)\\\]")
T = TypeVar("T")


# ---------------------------------------------------------------- errors
class ApiError(Exception):
    """An error answered with OpenAI's error body and an HTTP status."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def from_rag_error(exc: RagError) -> ApiError:
    """The HTTP status and error type of each kind of `RagError`."""
    if isinstance(exc, Busy):
        return ApiError(429, str(exc), "rate_limit_error", "queue_full", headers={"Retry-After": "1"})
    if isinstance(exc, IndexNotFound):
        return ApiError(503, str(exc), "service_unavailable", "index_missing")
    if isinstance(exc, (IndexMismatch, StoreUnavailable, ModelUnavailable)):
        return ApiError(503, str(exc), "service_unavailable", "index_unavailable")
    if isinstance(exc, DocumentNotFound):
        return ApiError(404, str(exc), "not_found_error", "document_not_found")
    if isinstance(exc, ScopeError):
        return ApiError(400, str(exc), "invalid_request_error", "scope_matches_nothing", param="scope")
    if isinstance(exc, (InvalidQuery, UnsupportedFile, CorpusError)):
        return ApiError(400, str(exc), "invalid_request_error", "invalid_value")
    return ApiError(500, str(exc), "server_error", "internal_error")


def _hostname(host: str) -> str:
    """The name of a Host header value, without its port ("[::1]:8000" -> "[::1]")."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _schema_error(exc: ValidationError | RequestValidationError) -> ApiError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    return ApiError(400, f"Invalid request: {where + ': ' if where else ''}{first.get('msg', 'invalid')}",
                    code="invalid_value", param=where)


# ---------------------------------------------------------------- request guard (auth, body size)
class Guard:
    """ASGI middleware in front of /v1 and /mcp: requests from web pages of other sites are refused (a browser
    names the page in `Origin`: without this, any site could make a visitor's browser upload to, or remove from, a
    service on 127.0.0.1), and so is any Host but loopback when bound to loopback (DNS rebinding); then the bearer
    token when `api_key` is set; then the body size limits (checked on Content-Length and again while reading,
    so a chunked body cannot pass)."""

    def __init__(self, app: ASGIApp, keys: Keys, json_limit: int, upload_limit: int,
                 loopback: bool = True) -> None:
        self.app, self.keys = app, keys
        self.json_limit, self.upload_limit = json_limit, upload_limit
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PROTECTED):
            await self.app(scope, receive, send)
            return
        refusal = self._foreign(scope)
        if refusal:
            await ApiError(403, refusal, "permission_error", "forbidden_origin").response()(scope, receive, send)
            return
        key = self._key(scope)
        if key is None:
            await ApiError(401, "Missing or wrong API key: send Authorization: Bearer <your key>.",
                           "authentication_error", "invalid_api_key",
                           headers={"WWW-Authenticate": "Bearer"}).response()(scope, receive, send)
            return
        scope.setdefault("state", {})["rag_key"] = key
        limit = self.upload_limit if path.rstrip("/") == "/v1/documents" else self.json_limit
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(limit)(scope, receive, send)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Read the body here (bounded), then hand it on: the app never sees more than the limit.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > limit:
                await self._too_large(limit)(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _foreign(self, scope: Scope) -> str:
        headers = dict(scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.loopback and _hostname(host) not in LOOPBACK_NAMES:
            return f"Host {host!r} is not this machine: the service is bound to loopback and answers only 127.0.0.1/localhost."
        origin = headers.get(b"origin", b"").decode("latin-1").lower()
        if origin and origin != "null" and origin.split("://", 1)[-1] != host:
            return f"Requests from the web page {origin} are refused: only the service's own pages and programs may call it."
        if origin == "null":
            return "Requests from sandboxed or file:// pages are refused."
        return ""

    def _key(self, scope: Scope) -> Key | None:
        """The caller's key: OPEN when no key is configured, None when the bearer token is no key."""
        if not self.keys.required:
            return OPEN
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        return self.keys.match(token.strip()) if scheme.lower() == "bearer" else None

    @staticmethod
    def _too_large(limit: int) -> JSONResponse:
        return ApiError(413, f"The request body is larger than the limit of {limit // 1024} KiB "
                        "(settings max_request_kb for JSON, max_file_mb for uploads).",
                        code="request_too_large").response()




# ---------------------------------------------------------------- request bodies
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, … are accepted and ignored

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat request. Sampling parameters (temperature, max_tokens, …) are accepted and ignored: the
    extractive answer is quotes, and a generative backend is run with its own settings."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr = MODEL
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: StrictBool = False
    n: StrictInt = Field(default=1, ge=1, le=1)
    k: StrictInt | None = Field(default=None, ge=1, le=MAX_READ_K, description="Passages to read (default: Settings.top_k).")
    content_format: Literal["markdown", "text"] = "markdown"
    sources_in_content: StrictBool = Field(default=True, description="End the content with the numbered sources, for "
                                     "front-ends that show only the content.")
    scope: ScopeFields | None = Field(default=None, description="Ask only these articles (an OpenAI client's "
                                       "extra_body={'scope': {...}}).")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: StrictStr = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: StrictInt = Field(default=5, ge=1, le=MAX_K)
    collection: StrictStr | None = Field(default=None, pattern=COLLECTION_PATTERN,
                                   description="The collection to search (default: the server's).")
    scope: ScopeFields | None = Field(default=None, description="Search only these articles.")


class UploadItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=255, description="File name; its suffix says how to read it (.txt, .md, .html).")
    text: StrictStr = Field(min_length=1)


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[UploadItem] = Field(min_length=1, max_length=MAX_UPLOAD_FILES)
    collection: StrictStr | None = Field(default=None, pattern=COLLECTION_PATTERN,
                                   description="The collection to add to (default: the server's; created if new).")


def _text_of(content: str | list[dict[str, Any]] | None, index: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ApiError(400, f"messages.{index}: only text content is supported, got a {part.get('type')!r} part.",
                           code="invalid_value", param=f"messages.{index}.content")
        parts.append(part["text"])
    return "\n".join(parts)


def question_and_history(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The last message (a user's) is the question; earlier user and assistant turns are the history. System
    messages are read by nobody: the extractive answerer takes no instructions."""
    last = messages[-1]
    if last.role != "user":
        raise ApiError(400, f"The last message must be the user's question, got role {last.role!r}.",
                       code="invalid_value", param="messages")
    question = _text_of(last.content, len(messages) - 1).strip()
    if not question:
        raise ApiError(400, "The question (the last user message) is empty.", code="invalid_value", param="messages")
    history = [{"role": m.role, "content": _text_of(m.content, i)}
               for i, m in enumerate(messages[:-1]) if m.role in ("user", "assistant")]
    return question, history


async def _json_body(request: Request, model: type[BaseModel]) -> Any:
    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        raise ApiError(400, "The request body is nested too deeply to be a request.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc) from None


# ---------------------------------------------------------------- answer shapes
def markdown_safe(text: str) -> str:
    """Backslash-escape what a Markdown renderer would turn into a link, an image, HTML, code or a table; the
    [n] citation markers stay markers."""
    return _ESCAPED_MARKER.sub(r"[\1]", _MARKDOWN.sub(r"\\\1", text))


def citation_dict(c: Citation) -> dict[str, Any]:
    return {"number": c.number, "doc_id": c.doc_id, "title": c.title, "author": c.author, "date": c.date,
            "quote": c.quote, "start": c.start, "end": c.end, "passage": c.passage, "score": c.score,
            "also_in": list(c.also_in), "not_answer": c.not_answer, "page": c.page, "ocr": c.ocr,
            "outside_scope": c.outside_scope}


def sources_block(answer: Answer, fmt: str) -> str:
    """The numbered sources as text, for front-ends that show only the content: title, byline, exact quote; then
    the answer's notes (sources that disagree, a backend that failed)."""
    if not answer.citations:
        return ""
    lines = ["", "", "Closest passage (not an answer):" if answer.abstained else "Sources:"]
    for c in answer.citations:
        byline = ", ".join(x for x in (c.author, c.date, c.page_label) if x)
        head = f"{c.title}{' — ' + byline if byline else ''}" + (" (outside the scope asked)" if c.outside_scope else "")
        quote = f"\u201c{c.quote}\u201d"
        if fmt == "markdown":
            head, quote = markdown_safe(head), markdown_safe(quote)
        lines.append(f"[{c.number}] {head}: {quote}")
    for note in answer.notes:
        lines.append(f"Note: {markdown_safe(note) if fmt == 'markdown' else note}.")
    return "\n".join(lines)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A passage or article record as the API shows it: the file's name, not where it lies on the server."""
    if record.get("path"):
        record = {**record, "path": os.path.basename(record["path"])}
    return record


def _extra(answer: Answer) -> dict[str, Any]:
    return {"citations": [citation_dict(c) for c in answer.citations], "abstained": answer.abstained,
            "confidence": answer.confidence, "short_answer": answer.short, "notes": list(answer.notes),
            "backend": answer.backend, "scope": dict(answer.scope)}


# ---------------------------------------------------------------- the app
def key_of(request: Request) -> Key:
    """The caller's key, as the Guard found it (OPEN when no key is configured, or outside the Guard)."""
    return request.scope.get("state", {}).get("rag_key", OPEN)


def model_not_found(model: str) -> ApiError:
    return ApiError(404, f"The model {model!r} does not exist; GET /v1/models lists the models this key may use.",
                    "not_found_error", "model_not_found", "model")


def collection_not_found(name: str) -> ApiError:
    return ApiError(404, f"No collection {name!r}; GET /v1/models lists the collections this key may read "
                    "(rag/<collection>).", "not_found_error", "collection_not_found", "collection")


def checked(collection: str | None) -> str | None:
    """A collection named in a query string or form field: its name checked like the JSON bodies' field."""
    if collection is not None and not re.fullmatch(COLLECTION_PATTERN, collection):
        raise ApiError(400, f"{collection!r} is not a collection name.", code="invalid_value", param="collection")
    return collection


def create_app(assistant: Assistant | None = None, *, chat: bool = True, mcp: bool = True,
               host: str = "127.0.0.1") -> FastAPI:
    """The whole service on one assistant (default: `Assistant(auto_build=False)` on the settings in force)."""
    assistant = assistant or Assistant(auto_build=False)
    settings = assistant.settings
    gate = Gate(settings.api_workers, settings.api_queue)
    collections = Collections(assistant)
    mcp_server = None
    if mcp:
        from .mcp_server import build_server

        mcp_server = build_server(assistant, gate, collections)
        mcp_routes = mcp_server.streamable_http_app(
            streamable_http_path="/mcp", host=host, max_request_body_size=settings.max_request_kb * 1024
        ).routes

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if mcp_server is None:
            yield
            return
        async with mcp_server.session_manager.run():
            yield

    app = FastAPI(title="rag", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/v1/openapi.json")
    keys = Keys.from_settings(settings.api_key.get_secret_value() if settings.api_key else None, settings.api_keys)
    app.state.assistant, app.state.gate, app.state.keys = assistant, gate, keys
    app.add_middleware(Guard, keys=keys, json_limit=settings.max_request_kb * 1024,
                       upload_limit=int(settings.max_file_mb * 2**20) + UPLOAD_SLACK,
                       loopback=host in LOOPBACK_NAMES)
    app.state.collections = collections
    base_name = settings.collection

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RagError)
    async def _rag_error(_: Request, exc: RagError) -> JSONResponse:
        return from_rag_error(exc).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _schema_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found_error", 405: "invalid_request_error"}.get(exc.status_code, "invalid_request_error")
        return ApiError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}", kind).response()

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return ApiError(500, f"The server failed to handle the request ({type(exc).__name__}); its log has the "
                        "details.", "server_error", "internal_error").response()

    async def call(fn: Callable[..., T], *args: Any) -> T:
        async with gate.slot():
            return await gate.run(fn, *args)

    def readable(request: Request, name: str | None, model: str | None = None) -> Assistant:
        """The assistant of collection `name` (None: the server's), when the caller's key may read it; else
        404, as for a collection that does not exist."""
        name = name or base_name
        if not key_of(request).reads(name):
            raise model_not_found(model) if model else collection_not_found(name)
        return collections.get(name)

    def writable(request: Request, name: str | None) -> Assistant:
        target = readable(request, name)
        if not key_of(request).write:
            raise ApiError(403, "This API key may read but not add or remove articles (write = false in its "
                           "RAG_API_KEYS entry).", "permission_error", "read_only_key")
        return target

    async def on(name: str | None, model: str | None, fn: Callable[[], T]) -> T:
        """call(fn), a named collection that does not exist answering 404 like one the key may not read."""
        try:
            return await call(fn)
        except IndexNotFound:
            if name and storage_prefix(name) != storage_prefix(base_name):
                raise (model_not_found(model) if model else collection_not_found(name)) from None
            raise

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        generation = await anyio.to_thread.run_sync(lambda: assistant.generation)
        return {"status": "ok", "generation": generation, "queue": gate.stats()}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        key = key_of(request)
        names = [base_name] + [n for n in await anyio.to_thread.run_sync(collections.names) if n != base_name]
        data = []
        for name in names:
            if not key.reads(name):
                continue
            suffix = "" if name == base_name else f"/{name}"
            data.append({"id": MODEL + suffix, "object": "model", "created": 0, "owned_by": "rag", "collection": name,
                         "description": f"Extractive answers from the collection {name!r}: every sentence an exact, "
                                        "cited quote."})
            if settings.llm:
                data.append({"id": LLM_MODEL + suffix, "object": "model", "created": 0, "owned_by": "rag",
                             "collection": name, "backend": settings.llm.split(":", 1)[0],
                             "description": f"The configured generative backend on the collection {name!r}; every "
                                            "sentence checked against its citation."})
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        req: ChatRequest = await _json_body(request, ChatRequest)
        parsed = collection_of_model(req.model, base_name, (MODEL, LLM_MODEL) if settings.llm else (MODEL,))
        if parsed is None:
            raise model_not_found(req.model)
        family, name = parsed
        use_llm = family == LLM_MODEL
        target = readable(request, name, req.model)
        question, history = question_and_history(req.messages)
        if len(question) > MAX_QUERY_CHARS:
            raise ApiError(400, f"The question is {len(question)} characters long; the limit is {MAX_QUERY_CHARS}.",
                           code="invalid_value", param="messages")
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": req.model}
        fmt = req.content_format
        where = req.scope.where() if req.scope is not None else None

        def shown(text: str) -> str:
            return markdown_safe(text) if fmt == "markdown" else text

        if not req.stream:
            answer: Answer = await on(name, req.model, lambda: target.ask(question, history, req.k, use_llm=use_llm,
                                                                           where=where))
            content = shown(answer.text) + (sources_block(answer, fmt) if req.sources_in_content else "")
            choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                      "logprobs": None, **_extra(answer)}
            return JSONResponse({**base, "object": "chat.completion", "choices": [choice]})

        gate.admit()  # held until the stream ends, however it ends
        try:
            pieces: Iterator[str | Answer] = target.stream(question, history, req.k, use_llm=use_llm, where=where)
            first = await gate.run(next, pieces, None)  # errors before the first piece still get a status code
        except IndexNotFound:
            gate.release()
            if storage_prefix(name) != storage_prefix(base_name):
                raise model_not_found(req.model) from None
            raise
        except BaseException:
            gate.release()
            raise

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None, **extra}
            return f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [choice]}, ensure_ascii=False)}\n\n"

        async def events() -> AsyncIterator[str]:
            try:
                yield event({"role": "assistant", "content": ""})
                piece, text = first, ""
                while piece is not None and not isinstance(piece, Answer):
                    text += piece
                    yield event({"content": shown(piece)})
                    piece = await gate.run(next, pieces, None)
                if isinstance(piece, Answer):
                    if piece.text != text and piece.text.startswith(text):
                        yield event({"content": shown(piece.text[len(text):])})
                    if req.sources_in_content and piece.citations:
                        yield event({"content": sources_block(piece, fmt)})
                    yield event({}, "stop", **_extra(piece))
                yield "data: [DONE]\n\n"
            except Exception as exc:  # the status line is sent: say it in the stream, as OpenAI does
                log.exception("streaming an answer failed")
                error = {"message": f"The answer failed ({type(exc).__name__}).", "type": "server_error",
                         "param": None, "code": "internal_error"}
                yield f"data: {json.dumps({'error': error})}\n\n"
            finally:
                gate.release()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/search")
    async def search(request: Request) -> dict[str, Any]:
        req: SearchRequest = await _json_body(request, SearchRequest)
        target = readable(request, req.collection)
        where = req.scope.where() if req.scope is not None else None
        passages = await on(req.collection, None, lambda: target.search(req.query, req.k, where=where))
        return {"object": "list", "data": [public(p.to_dict()) for p in passages]}

    @app.get("/v1/documents")
    async def documents(request: Request, collection: str | None = None, author: str | None = None,
                        publication: str | None = None, since: str | None = None, until: str | None = None,
                        source: str | None = None) -> dict[str, Any]:
        target = readable(request, checked(collection))
        params = request.query_params
        scope = {"docs": params.getlist("doc"), "format": params.getlist("format"), "author": author,
                 "publication": publication, "since": since, "until": until, "source": source}
        where = {k: v for k, v in scope.items() if v} or None
        docs = await on(collection, None, lambda: target.documents(where))
        return {"object": "list", "data": [{"id": d.doc_id, "object": "document", **public(d.to_dict())} for d in docs]}

    @app.post("/v1/documents")
    async def upload(request: Request) -> JSONResponse:
        files: list[tuple[str, bytes]] = []
        collection: str | None = None
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES)
            except Exception as exc:  # starlette's parser: malformed multipart or too many parts
                raise ApiError(400, f"The form could not be read: {exc}", code="invalid_form") from None
            for field, value in form.multi_items():
                if hasattr(value, "read"):
                    files.append((value.filename or "", await value.read()))
                elif field == "collection":
                    collection = checked(str(value))
            await form.close()
            if not files:
                raise ApiError(400, "No file in the form: send files as multipart/form-data (field 'file').",
                               code="invalid_value", param="file")
        else:
            req: UploadRequest = await _json_body(request, UploadRequest)
            files = [(d.name, d.text.encode("utf-8")) for d in req.documents]
            collection = req.collection
        target = writable(request, collection)
        report = await call(lambda: target.upload(files, progress=False))
        kept = [f for f in report.files if f.status != "skipped"]
        if not kept:
            reasons = "; ".join(f"{f.path}: {f.reason}" for f in report.files)
            raise ApiError(400, f"Nothing was added: {reasons}", code="nothing_added", param="file")
        return JSONResponse({"object": "list", "data": [f.__dict__ for f in report.files],
                             "report": report.to_dict()}, status_code=201 if report.added else 200)

    @app.delete("/v1/documents/{doc_id}")
    async def remove(request: Request, doc_id: str, collection: str | None = None) -> dict[str, Any]:
        target = writable(request, checked(collection))
        info = await on(collection, None, lambda: target.remove(doc_id))
        return {"id": info.doc_id, "object": "document", "deleted": True, "document": public(info.to_dict())}

    if mcp_server is not None:
        app.router.routes.extend(mcp_routes)

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown(request: Request) -> Response:
        raise ApiError(404, f"No such route: {request.method} {request.url.path}. The API serves /v1/chat/completions, "
                       "/v1/models, /v1/search and /v1/documents.", "not_found_error", "unknown_route")

    if chat:
        from .chat import mount

        app = mount(app, assistant, host, collections, keys)
    return app
