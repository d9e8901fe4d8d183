"""The web chat: a thin Gradio layer over `rag.Assistant` (`rag chat`, `python ui.py`, and `/` under `rag serve`).

Streamed answers whose every sentence is an exact quote with a numbered citation; a sources panel showing each
cited passage with the quote highlighted; the list of indexed articles, uploads and removal; a few settings.

Run: `rag chat` or `python ui.py` (http://127.0.0.1:7860; --host/--port or GRADIO_SERVER_PORT to change;
RAG_UI_AUTH=user:pass asks for a password). Nothing is shared publicly and nothing reaches the network.

Safety: everything that comes from an article or a model is escaped here (`html.escape`) and the chat renders
messages as sanitised HTML without Markdown, so markup, links and images inside articles show as text.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from .assistant import Assistant  # noqa: E402
from .errors import RagError  # noqa: E402
from .keys import OPEN, Collections, Keys  # noqa: E402
from .launch import auth_of, prepare  # noqa: E402
from .load import SUPPORTED_SUFFIXES  # noqa: E402
from .prompts import ABSTAIN_TEXT, CONDITION_TEXT  # noqa: E402
from .scope import Scope  # noqa: E402
from .settings import Settings, storage_prefix  # noqa: E402
from .types import Answer, Citation, DocumentInfo, FileResult  # noqa: E402

log = logging.getLogger("rag.ui")

EXAMPLES = (
    "How much did trade between China and Russia reach last year?",
    "Who warned that North Korean troops joining the war would be a very, very serious issue?",
    "Which four states have cooperated in the war in Ukraine?",
    "What is the capital of France?",
)
SOURCE_TURNS = 10  # the sources panel keeps the citations of this many recent answers
EXTRACTIVE = "Extractive (exact quotes)"
MARKER = re.compile(r"\[(\d+)\]")

CSS = """
#sources { max-height: 70vh; overflow-y: auto; }
.source { border-left: 3px solid #d0d7de; padding: 4px 10px; margin: 8px 0; scroll-margin-top: 8px; }
.source:target { border-left-color: #d97706; background: rgba(217, 119, 6, 0.08); }
.source .byline, .source .also, .muted { color: #6b7280; font-size: 0.85em; }
.source mark { background: #fde68a; color: inherit; padding: 0 1px; }
a.cite { text-decoration: none; font-weight: 600; font-size: 0.85em; vertical-align: super; }
.abstain { font-style: italic; }
.note, .error { font-size: 0.9em; }
.error { color: #b91c1c; }
table.docs { width: 100%; font-size: 0.9em; }
.notanswer { color: #a05a00; font-style: italic; }
table.docs td, table.docs th { padding: 3px 6px; text-align: left; vertical-align: top; }
#scope .asking { background: rgba(37, 99, 235, 0.08); border-left: 3px solid #2563eb; padding: 4px 10px; }
.outside { color: #1d4ed8; font-style: italic; }
"""


def esc(text: object) -> str:
    """Text from an article, a model or a user, made inert: it shows as text, never as markup."""
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------- rendering (pure functions, unit-tested)
def linked(text: str, turn: int, numbers: Sequence[int] | None = None) -> str:
    """Escaped answer text whose [n] markers link to source n of this turn (any n while streaming)."""
    parts = []
    last = 0
    for m in MARKER.finditer(text):
        n = int(m.group(1))
        if numbers is not None and n not in numbers:
            continue
        parts.append(esc(text[last:m.start()]))
        parts.append(f'<a class="cite" href="#src-{turn}-{n}" title="source {n}">[{n}]</a>')
        last = m.end()
    parts.append(esc(text[last:]))
    return "".join(parts)


def answer_html(answer: Answer, turn: int, show_scores: bool = False) -> str:
    """One finished answer as chat HTML: abstentions read as such, notes follow the text."""
    if answer.abstained:
        closest = ""
        rest = answer.text[len(ABSTAIN_TEXT):].strip() if answer.text.startswith(ABSTAIN_TEXT) else ""
        if answer.citations and rest.startswith(CONDITION_TEXT.split("{", 1)[0]):
            # about another year than the question names: what the articles give instead, quoted
            closest = f'<div class="muted">{linked(rest, turn, [c.number for c in answer.citations])}</div>'
        elif answer.citations:
            c = answer.citations[0]
            closest = (f'<div class="muted">The closest passage, in “{esc(c.title)}”, is shown as '
                       f'<a class="cite" href="#src-{turn}-{c.number}" title="closest passage">[{c.number}]</a>; '
                       "it does not answer the question.</div>")
        body = (
            f'<div class="abstain"><b>{esc(ABSTAIN_TEXT)}</b></div>{closest}'
            '<div class="muted">No passage of the indexed articles supports an answer. '
            "Rephrase the question, or add articles that cover it.</div>"
        )
    else:
        body = ""
        if answer.short:
            body += f'<div class="short"><b>{esc(answer.short)}</b></div>'
        body += linked(answer.text, turn, [c.number for c in answer.citations])
    for note in answer.notes:
        body += f'<div class="note">⚠ {esc(note)}</div>'
    if show_scores and answer.timings:
        t = answer.timings
        body += (
            f'<div class="muted">{esc(answer.backend)} · confidence {answer.confidence:.2f} · '
            f'retrieval {t.get("retrieve_ms", 0):.0f} ms · '
            f'answer {t.get("answer_ms", 0):.0f} ms</div>'
        )
    return body


def error_html(message: str) -> str:
    return f'<div class="error">⚠ {esc(message)}</div>'


def highlighted(citation: Citation) -> str:
    """The cited passage with the exact quote marked; both escaped."""
    passage, quote = citation.passage, citation.quote
    at = passage.find(quote)
    if at < 0:  # the quote always lies in its passage; show the quote alone if it ever does not
        return f"<mark>{esc(quote)}</mark>"
    return f"{esc(passage[:at])}<mark>{esc(quote)}</mark>{esc(passage[at + len(quote):])}"


def also_label(info: DocumentInfo | None, doc_id: str) -> str:
    """How a near-duplicate article is named: its title or file name, with its byline where known."""
    if info is None:
        return doc_id[:8]
    byline = ", ".join(x for x in (info.author, info.publication, info.date) if x)
    return f"{info.label} ({byline})" if byline else info.label


def link_html(url: str) -> str:
    """A source's link: clickable only when it is http(s) (all links are checked when added), opened apart."""
    if not url.lower().startswith(("http://", "https://")):
        return esc(url)
    return f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow">{esc(url)}</a>'


def source_html(c: Citation, turn: int, docs: dict[str, DocumentInfo], show_scores: bool) -> str:
    info = docs.get(c.doc_id)
    byline = [c.author or (info.author if info else ""), c.date or (info.date if info else "")]
    if info and info.publication:
        byline.append(info.publication)
    if c.page_label:
        byline.append(c.page_label)
    if show_scores:
        byline.append(f"score {c.score:.3f}")
    closest = ('<div class="outside">outside the articles asked — another article of the collection</div>'
               if c.outside_scope else '<div class="notanswer">closest passage — not an answer</div>' if c.not_answer
               else "")
    byline_text = " · ".join(esc(x) for x in byline if x)
    title = c.title or (info.label if info else c.doc_id)
    also = ""
    if c.also_in:
        names = ", ".join(esc(also_label(docs.get(d), d)) for d in c.also_in)
        also = f'<div class="also">Also in: {names}</div>'
    return (
        f'<div class="source" id="src-{turn}-{c.number}">'
        f"<div><b>[{c.number}] {esc(title)}</b></div>{closest}"
        + (f'<div class="byline">{byline_text}</div>' if byline_text else "")
        + (f'<div class="byline">{link_html(info.url)}</div>' if info and info.url else "")
        + f"<div>{highlighted(c)}</div>{also}</div>"
    )


def sources_html(turns: Sequence[Answer], docs: dict[str, DocumentInfo], show_scores: bool = False) -> str:
    """The citations of recent answers, newest first and open; older ones folded."""
    if not turns:
        return '<p class="muted">Sources of each answer appear here: click a citation such as [1].</p>'
    blocks = []
    first = max(0, len(turns) - SOURCE_TURNS)
    for turn in range(len(turns), first, -1):
        answer = turns[turn - 1]
        if not answer.citations:
            inner = '<p class="muted">No sources: the articles do not answer this.</p>'
        else:
            inner = "".join(source_html(c, turn, docs, show_scores) for c in answer.citations)
        summary = f"<summary><b>Q{turn}:</b> {esc(answer.question)}</summary>"
        blocks.append(f"<details{' open' if turn == len(turns) else ''}>{summary}{inner}</details>")
    return "".join(blocks)


def documents_html(docs: Sequence[DocumentInfo]) -> str:
    """The indexed articles as an escaped table, with their near-duplicate groups."""
    if not docs:
        return '<p class="muted">No articles are indexed. Upload some below.</p>'
    by_id = {d.doc_id: d for d in docs}
    rows = []
    for d in docs:
        dup = ""
        if d.duplicate_role == "original":
            dup = "original of a near-duplicate group"
        elif d.duplicate_role == "derived":
            original = by_id.get(d.duplicate_group)
            dup = f"near-duplicate of {original.label if original else d.duplicate_group[:8]} ({d.duplicate_score:.2f})"
        rows.append(
            "<tr>"
            f"<td><b>{esc(d.label)}</b><br><span class='muted'>{link_html(d.url) if d.url else esc(Path(d.path).name)}"
            f"{esc(f' · {d.format}') if d.format else ''}{esc(f' · {d.pages} pages') if d.pages else ''}{esc(' · read by OCR') if d.ocr else ''}</span></td>"
            f"<td>{esc(d.author)}</td><td>{esc(d.publication)}</td><td>{esc(d.date)}</td>"
            f"<td>{d.chunks}</td><td><code>{esc(d.doc_id[:8])}</code></td><td>{esc(dup)}</td>"
            "</tr>"
        )
    head = "<tr><th>Title / file</th><th>Author</th><th>Publication</th><th>Date</th><th>Chunks</th><th>Id</th><th>Duplicates</th></tr>"
    return f"<p>{len(docs)} articles indexed.</p><table class='docs'>{head}{''.join(rows)}</table>"


def scope_html(where: dict[str, Any] | None, docs: dict[str, DocumentInfo], count: int | None = None) -> str:
    """The line above the question box while a scope is set: which articles the questions go to."""
    if not where:
        return ""
    named = [docs[d].label if d in docs else d for d in where.get("docs", [])]
    rest = Scope.of({k: v for k, v in where.items() if k != "docs"})
    parts = ([", ".join(f"“{n}”" for n in named)] if named else []) + ([rest.describe()] if rest else [])
    many = f"{count} article{'' if count == 1 else 's'}" if count is not None else "some articles"
    return (f'<div class="asking">Asking only {esc(many)}: {esc("; ".join(parts))}. Follow-ups keep it; '
            "<b>Ask every article</b> clears it.</div>")


def results_html(rows: Sequence[tuple[str, str, str]]) -> str:
    """Per-file outcome of an upload: (file name, status, detail)."""
    if not rows:
        return ""
    body = "".join(f"<tr><td>{esc(n)}</td><td><b>{esc(s)}</b></td><td>{esc(d)}</td></tr>" for n, s, d in rows)
    return f"<table class='docs'><tr><th>File or link</th><th>Result</th><th>Detail</th></tr>{body}</table>"


# ---------------------------------------------------------------- handlers
Chat = list[dict[str, Any]]


class WebChat:
    """The handlers behind the page; each can be called directly (the unit tests do). Each takes the collection
    the page has chosen (None: the server's own) and, from Gradio, the request: with API keys configured
    (RAG_API_KEYS), a chat user reads the collections of the key whose `chat_user` is their RAG_UI_AUTH name, and
    writes only if that key may; a user no key names keeps the server's own collection, as before keys."""

    def __init__(self, assistant: Assistant, collections: Collections | None = None, keys: Keys | None = None) -> None:
        self.assistant = assistant
        self.collections = collections or Collections(assistant)
        self.keys = keys if keys is not None else Keys([])
        self.base = assistant.settings.collection
        self.uploads = assistant.uploads_dir  # absolute: the paths the index records hold from any directory
        self._docs: dict[str, dict[str, DocumentInfo]] = {}

    @property
    def backends(self) -> list[str]:
        llm = self.assistant.settings.llm
        return [EXTRACTIVE] + ([f"LLM: {llm}"] if llm else [])

    # -- collections and who may use them
    def scope(self, request: Any = None) -> tuple[list[str], bool]:
        """The collections this page's user may read, the server's first, and whether they may write."""
        key, may_write = self.access(request)
        if key is None:
            return [self.base], may_write
        names = [self.base] + [n for n in self.collections.names() if n != self.base]
        return [n for n in names if key.reads(n)], may_write

    def access(self, request: Any = None) -> tuple[Any, bool]:
        """Who the user reads as (a Key; None: the server's own collection only) and whether they may write."""
        if not self.keys.required:
            return OPEN, True
        key = self.keys.for_chat_user(getattr(request, "username", None))
        return (None, True) if key is None else (key, key.write)

    def target(self, collection: str | None, request: Any = None, write: bool = False) -> Assistant:
        """The collection's assistant, when this user may read it (no listing of the index: it runs per question)."""
        name = collection or self.base
        key, may_write = self.access(request)
        if not (key.reads(name) if key is not None else storage_prefix(name) == storage_prefix(self.base)):
            raise RagError(f"No collection {name!r}.")
        if write and not may_write:
            raise RagError("This account may read these articles but not add or remove any.")
        return self.collections.get(name)

    def collection_view(self, request: gr.Request = None) -> Any:
        names, _ = self.scope(request)
        return gr.update(choices=names, value=names[0] if names else None, visible=len(names) > 1)

    def docs(self, collection: str | None = None, request: Any = None) -> dict[str, DocumentInfo]:
        name = collection or self.base
        if name not in self._docs:
            self._docs[name] = {d.doc_id: d for d in self.target(name, request).documents()}
        return self._docs[name]

    # -- chat
    def respond(
        self, message: str, chat: Chat | None, turns: list[Answer] | None, k: float = 5,
        backend: str = EXTRACTIVE, show_scores: bool = False, collection: str | None = None,
        where: dict[str, Any] | None = None, request: gr.Request = None,
    ) -> Iterator[tuple[Chat, list[Answer], str, str]]:
        """Stream one answer: yields (chat, turns, sources panel, textbox) as the text grows, then the final.
        `where`: the scope set in the Articles tab (None or {}: every article)."""
        chat, turns = list(chat or []), list(turns or [])
        if not (message or "").strip():
            yield chat[:], turns, gr.skip(), ""
            return
        turn = len(turns) + 1
        chat.append({"role": "user", "content": esc(message.strip())})
        chat.append({"role": "assistant", "content": '<span class="muted">Searching the articles…</span>'})
        yield chat[:], turns, gr.skip(), ""
        text = ""
        try:
            use_llm = backend != EXTRACTIVE
            target = self.target(collection, request)
            for piece in target.stream(message, history=turns, k=int(k), use_llm=use_llm, where=where or None):
                if isinstance(piece, Answer):
                    turns.append(piece)
                    chat[-1] = {"role": "assistant", "content": answer_html(piece, turn, show_scores)}
                    yield chat[:], turns, sources_html(turns, self.docs(collection, request), show_scores), ""
                    return
                text += piece
                chat[-1] = {"role": "assistant", "content": linked(text, turn)}
                yield chat[:], turns, gr.skip(), ""
        except RagError as exc:
            chat[-1] = {"role": "assistant", "content": error_html(str(exc))}
            yield chat[:], turns, gr.skip(), ""
        except Exception as exc:  # never a stack trace in the page: say what failed, log the rest
            log.exception("answering %r failed", message)
            chat[-1] = {"role": "assistant", "content": error_html(
                f"Something went wrong while answering ({type(exc).__name__}); the server log has the details.")}
            yield chat[:], turns, gr.skip(), ""

    def rerender(self, turns: list[Answer] | None, show_scores: bool, collection: str | None = None,
                 request: gr.Request = None) -> tuple[Chat, str]:
        """The whole conversation again (after "show scores" changes)."""
        chat: Chat = []
        for turn, answer in enumerate(turns or [], 1):
            chat.append({"role": "user", "content": esc(answer.question)})
            chat.append({"role": "assistant", "content": answer_html(answer, turn, show_scores)})
        return chat, sources_html(turns or [], self.docs(collection, request), show_scores)

    # -- the articles asked
    def set_scope(self, ticked: list[str] | None, typed: str | None, collection: str | None = None,
                  request: Any = None) -> tuple[Any, str, str]:
        """The scope from the ticked articles and the typed filter (`Scope.parse`), checked against the collection:
        (the scope state, the line above the question box, the note under the filter). A filter that names nothing
        keeps the scope as it was and says why."""
        try:
            parsed = Scope.parse(typed or "")
            where = parsed.to_dict() if parsed is not None else {}
            if ticked:
                where["docs"] = [*ticked, *where.get("docs", [])]
            if not where:
                return {}, "", '<p class="muted">Tick articles or type a filter first; every article is asked.</p>'
            docs = self.target(collection, request).in_scope(where) or frozenset()
        except RagError as exc:
            return gr.skip(), gr.skip(), error_html(str(exc))
        line = scope_html(where, self.docs(collection, request), len(docs))
        return where, line, f'<p class="muted">{len(docs)} article{"" if len(docs) == 1 else "s"} will be asked.</p>'

    def scope_choices(self, collection: str | None = None, request: Any = None) -> Any:
        """The articles to tick, by title (as the removal list names them)."""
        try:
            docs = sorted(self.docs(collection, request).values(), key=lambda d: d.label.lower())
        except RagError:
            docs = []
        return gr.update(choices=[(f"{d.label} ({d.doc_id[:8]})", d.doc_id) for d in docs], value=[])

    # -- articles
    def documents_view(self, collection: str | None = None, request: gr.Request = None) -> tuple[str, Any]:
        self._docs.pop(collection or self.base, None)
        try:
            docs = list(self.docs(collection, request).values())
        except RagError as exc:
            return error_html(str(exc)), gr.update(choices=[], value=None)
        docs.sort(key=lambda d: d.label.lower())
        choices = [(f"{d.label} ({d.doc_id[:8]})", d.doc_id) for d in docs]
        return documents_html(docs), gr.update(choices=choices, value=None)

    def _run_adding(self, names: list[str], desc: str, add: Any, progress: Any, collection: str | None = None,
                    request: Any = None) -> tuple[list[FileResult], list, str, Any]:
        """Run one upload or fetch (`add()` returns its IndexReport) and tabulate it: one row per file or link."""
        rows: list[tuple[str, str, str]] = []
        outcomes: list[FileResult] = []
        if names:
            if progress is not None:
                progress(0, desc=desc)
            try:
                outcomes = add().files
            except RagError as exc:
                rows.append((", ".join(names), "failed", str(exc)))
        listing, choices = self.documents_view(collection, request)
        docs = self._docs.get(collection or self.base, {})
        for r in outcomes:
            detail = r.reason or (docs[r.doc_id].label if r.doc_id in docs else "")
            if r.status == "unchanged":
                detail = f"already indexed: {detail}" if detail else "already indexed"
            rows.append((r.path, r.status, detail))
        return outcomes, rows, listing, choices

    def add_files(self, files: Sequence[Any] | None, progress: Any = None, collection: str | None = None,
                  request: Any = None) -> tuple[str, str, Any, None]:
        """Keep copies of the uploads and index them incrementally (`Assistant.upload`); one row per file."""
        uploads = [(getattr(f, "orig_name", None) or Path(getattr(f, "name", f)).name, Path(getattr(f, "name", f)))
                   for f in files or []]
        _, rows, listing, choices = self._run_adding(
            [name for name, _ in uploads], f"Indexing {len(uploads)} file(s)…",
            lambda: self.target(collection, request, write=True).upload(uploads, progress=True), progress, collection,
            request)
        return results_html(rows) or '<p class="muted">Choose files first.</p>', listing, choices, None

    def add_links(self, text: str | None, progress: Any = None, collection: str | None = None,
                  request: Any = None) -> tuple[str, str, Any, str]:
        """Fetch the links in the box (one per line or separated by spaces) and index them; one row per link.
        Links that fail stay in the box to try again."""
        links = [part for part in (text or "").split() if part]
        outcomes, rows, listing, choices = self._run_adding(
            links, f"Fetching {len(links)} link(s)…",
            lambda: self.target(collection, request, write=True).add_links(links, progress=True), progress, collection,
            request)
        left = "\n".join(r.path for r in outcomes if r.status == "skipped") if outcomes else (text or "")
        return results_html(rows) or '<p class="muted">Paste a link first.</p>', listing, choices, left

    def remove(self, doc_id: str | None, collection: str | None = None, request: gr.Request = None) -> tuple[str, str, Any]:
        if not doc_id:
            listing, choices = self.documents_view(collection, request)
            return '<p class="muted">Nothing removed: choose an article, then confirm.</p>', listing, choices
        try:
            info = self.target(collection, request, write=True).remove(doc_id)  # its uploaded copy goes with it
        except RagError as exc:
            listing, choices = self.documents_view(collection, request)
            return error_html(str(exc)), listing, choices
        listing, choices = self.documents_view(collection, request)
        return f"<p>Removed <b>{esc(info.label)}</b> ({esc(info.doc_id[:8])}).</p>", listing, choices


# ---------------------------------------------------------------- the page
def build_app(assistant: Assistant | None = None, examples: Sequence[str] = EXAMPLES,
              collections: Collections | None = None, keys: Keys | None = None) -> gr.Blocks:
    """The chat app, not launched. `launch()` below serves it with the safe settings."""
    assistant = assistant or Assistant()
    if keys is None:
        s = assistant.settings
        keys = Keys.from_settings(s.api_key.get_secret_value() if s.api_key else None, s.api_keys)
    ui = WebChat(assistant, collections, keys)
    settings = ui.assistant.settings
    with gr.Blocks(title="rag — grounded answers from the articles", analytics_enabled=False) as app:
        turns = gr.State([])
        gr.Markdown(
            "## Ask the articles\nEvery sentence of an answer is a quote from an article, cited [n]; "
            "click a citation to see the passage. When the articles don't say, the answer says so."
        )
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="chat", height=520, render_markdown=False, sanitize_html=True,
                    latex_delimiters=[], buttons=[], feedback_options=None, label="Chat",
                    examples=[{"text": q} for q in examples], placeholder="Ask a question about the articles.",
                )
                scope_line = gr.HTML("", elem_id="scope")
                with gr.Row():
                    box = gr.Textbox(
                        elem_id="question", show_label=False, scale=5, max_lines=4, autofocus=True,
                        placeholder="Ask a question, then Enter. Follow-ups use the conversation.",
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                with gr.Row():
                    clear = gr.Button("New conversation", size="sm")
                    every = gr.Button("Ask every article", size="sm", elem_id="scope-clear")
                    # Any name may come in (API clients skip the page's load); WebChat.target checks the user may
                    # read it, and answers "no collection" otherwise.
                    collection = gr.Dropdown(choices=[ui.base], value=ui.base, label="Collection", visible=False,
                                             elem_id="collection", interactive=True, scale=2, allow_custom_value=True)
                with gr.Accordion("Settings", open=False):
                    k = gr.Slider(1, 10, value=settings.top_k, step=1, label="Passages to read")
                    backend = gr.Radio(
                        ui.backends, value=EXTRACTIVE, label="Backend", interactive=len(ui.backends) > 1,
                        info=None if settings.llm else "Set RAG_LLM to add a generative backend (see README).",
                    )
                    show_scores = gr.Checkbox(False, label="Show retrieval scores and timings")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html([], {}), elem_id="sources")
        with gr.Tab("Articles") as articles_tab:
            with gr.Accordion("Ask only some articles", open=True):
                only = gr.CheckboxGroup(label="Tick the articles to ask", choices=[], elem_id="only")
                typed = gr.Textbox(
                    label="…or filter them", elem_id="filter", max_lines=1,
                    placeholder='author:Kim publication:"The Atlantic" since:2024-03 until:2024-12 format:pdf',
                    info="Fields: doc (id, id prefix or title), author, publication, since, until (YYYY[-MM[-DD]]), "
                         "format, source. Ticked articles and the filter combine.",
                )
                with gr.Row():
                    narrow = gr.Button("Ask only these", variant="primary", elem_id="scope-set", size="sm")
                    every_here = gr.Button("Ask every article", elem_id="scope-clear-articles", size="sm")
                scope_note = gr.HTML(elem_id="scope-note")
            listing = gr.HTML(elem_id="documents")
            with gr.Row():
                with gr.Column():
                    files = gr.File(
                        label="Add articles (.txt, .md, .html, .pdf, .docx; scans and page images are read by OCR)",
                        file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), elem_id="upload",
                    )
                    add = gr.Button("Add to the index", elem_id="add")
                    link = gr.Textbox(
                        label="Add from links (http or https; one per line)", lines=2, max_lines=8, elem_id="link",
                        placeholder="https://example.org/news/story.html",
                        info="Each page is fetched once, now, and kept with its link; nothing is fetched while "
                             "answering.",
                    )
                    fetch = gr.Button("Fetch and add", elem_id="add-link")
                with gr.Column():
                    doomed = gr.Dropdown(label="Remove an article", choices=[], elem_id="remove-choice")
                    drop = gr.Button("Remove", variant="stop", elem_id="remove")
            outcome = gr.HTML(elem_id="outcome")

        where = gr.State({})
        ask_inputs = [box, chatbot, turns, k, backend, show_scores, collection, where]
        ask_outputs = [chatbot, turns, sources, box]
        answering = dict(concurrency_limit=settings.api_workers, concurrency_id="answer", show_progress="hidden")
        box.submit(ui.respond, ask_inputs, ask_outputs, api_name="ask", **answering)
        send.click(ui.respond, ask_inputs, ask_outputs, api_visibility="private", **answering)
        chatbot.example_select(_example_text, None, box, queue=False, api_visibility="private").then(
            ui.respond, ask_inputs, ask_outputs, api_visibility="private", **answering
        )
        clear.click(lambda: ([], [], sources_html([], {}), ""), None, [chatbot, turns, sources, box], queue=False,
                    api_visibility="private")
        show_scores.change(ui.rerender, [turns, show_scores, collection], [chatbot, sources], queue=False,
                           api_visibility="private")
        articles_tab.select(ui.documents_view, collection, [listing, doomed], api_visibility="private")
        app.load(ui.collection_view, None, collection, api_visibility="private").then(
            ui.documents_view, collection, [listing, doomed], api_visibility="private")
        # The articles asked: set in the Articles tab, shown above the question box, kept for follow-ups until
        # cleared (here, there, or by choosing another collection).
        narrow.click(ui.set_scope, [only, typed, collection], [where, scope_line, scope_note], queue=False,
                     api_visibility="private")
        unscoped = (lambda: ({}, "", "", gr.update(value=[]), ""), None, [where, scope_line, scope_note, only, typed])
        every.click(*unscoped, queue=False, api_visibility="private")
        every_here.click(*unscoped, queue=False, api_visibility="private")
        listing.change(ui.scope_choices, collection, only, queue=False, api_visibility="private")
        # Another collection: another conversation, and its articles in the Articles tab. The question box keeps
        # what the user typed (the choice may come after the question; its reply may land after they typed).
        collection.input(lambda: ([], [], sources_html([], {}), {}, "", ""), None,
                         [chatbot, turns, sources, where, scope_line, scope_note],
                         queue=False, api_visibility="private").then(
            ui.documents_view, collection, [listing, doomed], api_visibility="private")

        def add_files(paths: list[str] | None, chosen: str | None, request: gr.Request,
                      progress: gr.Progress = gr.Progress(track_tqdm=True)):
            return ui.add_files(paths, progress, chosen, request)

        add.click(add_files, [files, collection], [outcome, listing, doomed, files], concurrency_limit=1,
                  concurrency_id="write", api_name="add_articles")

        def add_links(text: str | None, chosen: str | None, request: gr.Request,
                      progress: gr.Progress = gr.Progress(track_tqdm=True)):
            return ui.add_links(text, progress, chosen, request)

        fetch.click(add_links, [link, collection], [outcome, listing, doomed, link], concurrency_limit=1,
                    concurrency_id="write", api_name="add_links")
        drop.click(ui.remove, [doomed, collection], [outcome, listing, doomed], concurrency_limit=1,
                   concurrency_id="write", api_name="remove_article",
                   # Cancelling sends no choice (throwing here would leave the page waiting on the event).
                   js="(d, c) => [(d && confirm('Remove this article from the index?')) ? d : null, c]")
    app.queue(max_size=settings.chat_queue, default_concurrency_limit=settings.api_workers)
    return app


def _example_text(evt: gr.SelectData) -> str:
    return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)


def _safe(max_file_mb: float, auth: Any) -> dict[str, Any]:
    """The options every way of serving the chat passes to Gradio: no files outside the upload cache, uploads
    size-limited, no server-side rendering (no Node), no MCP server, no progressive web app, no tracebacks."""
    return dict(auth=auth, max_file_size=f"{max_file_mb:g}mb", allowed_paths=[], ssr_mode=False, mcp_server=False,
                pwa=False, show_error=False, css=CSS, footer_links=["settings"])


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, *, max_file_mb: float = 10.0,
           auth: Any = None, block: bool = True, quiet: bool = False) -> Any:
    """Serve the app on its own with the safe settings: loopback by default, never shared."""
    return app.launch(server_name=host, server_port=port, share=False, quiet=quiet, prevent_thread_lock=not block,
                      **_safe(max_file_mb, auth))


def mount(app: Any, assistant: Assistant, host: str, collections: Collections | None = None,
          keys: Keys | None = None) -> Any:
    """The chat mounted at / of a FastAPI app (`rag serve`), with the same safe settings as `launch`."""
    settings = assistant.settings
    return gr.mount_gradio_app(app, build_app(assistant, collections=collections, keys=keys), path="", server_name=host,
                               **_safe(settings.max_file_mb, auth_of(settings)))


def serve(assistant: Assistant, host: str, port: int | None) -> None:
    """Build the index on first run, load the model, then serve the chat until interrupted."""
    auth = auth_of(assistant.settings)
    docs = prepare(assistant, progress=not assistant.settings.quiet) or []
    print(f"{len(docs)} articles indexed. Open http://{host}:{port or 7860} in a browser (Ctrl+C stops).",
          file=sys.stderr, flush=True)
    launch(build_app(assistant), host, port, max_file_mb=assistant.settings.max_file_mb, auth=auth)


def main(argv: Sequence[str] | None = None) -> int:
    """`python ui.py`: the same chat as `rag chat`."""
    parser = argparse.ArgumentParser(description="Serve the rag web chat on this machine.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--index-dir", default=None, help="folder of the index (default: ./index or $RAG_INDEX_DIR)")
    args = parser.parse_args(argv)
    try:
        settings = Settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
        auth_of(settings)
        serve(Assistant(settings=settings), args.host, args.port)
    except (RagError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
