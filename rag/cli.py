"""The `rag` command. Every subcommand is a thin caller of `rag.Assistant`.

Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import RagError
from .tuning import MAX_READ_K

F = TypeVar("F", bound=Callable[..., Any])


def _keep_collection(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta["rag_collection"] = value


def _store_options(func: F) -> F:
    func = click.option(
        "--collection", envvar="RAG_COLLECTION", default=None, metavar="NAME", expose_value=False,
        callback=_keep_collection,
        help="Collection of the index to use (`rag collections` lists them). [default: default; env: RAG_COLLECTION]",
    )(func)
    func = click.option(
        "--chroma-url", envvar="RAG_CHROMA_URL", default=None, metavar="URL",
        help="Use a Chroma server (http://host:port) instead of the embedded index. [env: RAG_CHROMA_URL]",
    )(func)
    func = click.option(
        "--index-dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
        help="Folder of the index. [default: ./index; env: RAG_INDEX_DIR]",
    )(func)
    return func


def _keep_scope(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value:
        ctx.meta.setdefault("rag_scope", {})[param.name] = list(value) if isinstance(value, tuple) else value


SCOPE_HELP = {
    "docs": ("--doc", "ID", "Only this article: its id, the id's first 4+ characters, its title or file name "
             "(repeat for several; `rag docs` lists them)."),
    "author": ("--author", "NAME", "Only articles by this author (case-insensitive, whole words: 'Kim')."),
    "publication": ("--publication", "NAME", "Only articles of this publication ('The Atlantic')."),
    "since": ("--since", "DATE", "Only articles dated on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD; the date the "
              "article gives, else its file's)."),
    "until": ("--until", "DATE", "Only articles dated on or before DATE (2024-03 runs to March 31)."),
    "format": ("--format", "FORMAT", "Only articles of this format: txt, md, html, pdf, docx, png, jpg, tiff "
               "(repeat for several)."),
    "source": ("--source", "TEXT", "Only articles whose link, or the original source they name, holds TEXT."),
}


def _scope_options(func: F) -> F:
    """--doc, --author, --publication, --since, --until, --format, --source: the articles to ask (rag/scope.py)."""
    for name in reversed(list(SCOPE_HELP)):
        flag, metavar, text = SCOPE_HELP[name]
        func = click.option(flag, name, multiple=name in ("docs", "format"), metavar=metavar, expose_value=False,
                            callback=_keep_scope, help=text)(func)
    return func


def _where() -> dict[str, Any] | None:
    """The scope the command line gave (None: every article)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("rag_scope") if ctx is not None else None


def _assistant(index_dir: Path | None, chroma_url: str | None, quiet: bool = False, auto_build: bool = False) -> Any:
    from pydantic import ValidationError

    from .assistant import Assistant
    from .settings import Settings

    overrides: dict[str, Any] = {}
    if index_dir is not None:
        overrides["index_dir"] = index_dir
    if chroma_url:
        overrides["chroma_url"] = chroma_url
    if quiet:
        overrides["quiet"] = True
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise click.ClickException(f"Invalid setting {where} (RAG_{where.upper()}): {first['msg']}") from None
    ctx = click.get_current_context(silent=True)
    collection = ctx.meta.get("rag_collection") if ctx is not None else None
    return _run(lambda: Assistant(settings=settings, auto_build=auto_build, collection=collection))


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except RagError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


def _merge_reports(first: Any, second: Any) -> Any:
    """One report for `rag add` of files and links: counts summed, the index's size as after the second."""
    for name in ("added", "updated", "removed", "unchanged", "embedded", "embedded_sentences", "embedded_texts"):
        setattr(second, name, getattr(first, name) + getattr(second, name))
    second.seconds += first.seconds
    second.files = first.files + second.files
    second.skipped = first.skipped + second.skipped
    if not second.documents:
        second.documents, second.chunks = first.documents, first.chunks
    return second


def _print_report(report: Any, as_json: bool, verb: str) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    click.echo(
        f"{verb}: {report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{report.unchanged} unchanged; {report.embedded} chunks embedded in {report.seconds:.1f}s. "
        f"Index: {report.documents} articles, {report.chunks} chunks."
    )
    for skipped in report.skipped:
        click.echo(f"  skipped {skipped.path}: {skipped.reason}")
    for group in report.duplicate_groups:
        click.echo(f"  near-duplicates: {group[0]} (original) ~ {', '.join(group[1:])}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rag")
def cli() -> None:
    """Offline, grounded question answering over a corpus of articles.

    \b
    Start with:  rag chat             (the web chat on http://127.0.0.1:7860; builds ./index on first run)
    or:          rag index            (indexes the bundled articles into ./index)
    then:        rag ask "How much did trade between China and Russia reach last year?"
    or:          rag search "trade between China and Russia"
    for tools:   rag serve            (OpenAI-compatible API at /v1, MCP at /mcp, chat at /; http://127.0.0.1:8000)
    """


@cli.command()
@click.option(
    "--corpus", "corpus", multiple=True, type=click.Path(path_type=Path), metavar="PATH",
    help="Folder or file of articles (.txt, .md, .html, .pdf, .docx; scans and .png/.jpg/.tiff pages by OCR); repeat for more. [default: the bundled articles and the web chat's uploads]",
)
@_store_options
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again (needed after a model or setting change).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line last.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def index(corpus: tuple[Path, ...], index_dir: Path | None, chroma_url: str | None, rebuild: bool, as_json: bool, quiet: bool) -> None:
    """Build or update the index so that it mirrors the articles.

    Runs are incremental: unchanged articles are not embedded again, changed ones replace their chunks and
    articles no longer in the corpus are removed. A run that is killed can simply be run again.
    """
    assistant = _assistant(index_dir, chroma_url, quiet)
    report = _run(lambda: assistant.index(list(corpus) or None, rebuild=rebuild, progress=not quiet))
    _print_report(report, as_json, "Indexed")


def _watch_options(func: F) -> F:
    func = click.option("--corpus", "corpus", multiple=True, type=click.Path(path_type=Path, file_okay=False),
                        metavar="DIR", help="A folder --watch watches (repeat for more). [default: the folders "
                        "`rag index --corpus` recorded]")(func)
    return click.option("--watch", is_flag=True, help="Also keep the index in step with its folders as files are "
                        "added, edited and deleted (as `rag watch` does), in this process.")(func)


def _start_watching(assistant: Any, corpus: tuple[Path, ...]) -> None:
    from .watch import Watcher

    watcher = _run(lambda: Watcher(assistant, list(corpus) or None, log=lambda line: click.echo(f"watch: {line}", err=True)))
    watcher.start()


@cli.command()
@click.option("--corpus", "corpus", multiple=True, type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="A folder to watch (repeat for more). [default: the folders `rag index --corpus` recorded]")
@_store_options
@click.option("--settle", type=click.FloatRange(0.05, 60), default=0.5, show_default=True, metavar="SECONDS",
              help="Read a file once its size and time held still this long (a copy in progress is waited for).")
def watch(corpus: tuple[Path, ...], index_dir: Path | None, chroma_url: str | None, settle: float) -> None:
    """Keep the index in step with its folders until Ctrl+C: a new or edited file is indexed within seconds, a
    deleted one is removed.

    Started, it first reconciles (files added, edited or deleted while it was not running). Then each burst of
    changes is one batch, a line per change; editors' temporary and backup files are left alone. `rag serve`,
    `rag chat` and `rag ask` on the same index see the changes without restarting. Articles added from
    elsewhere (`rag add`, uploads) are left as they are.
    """
    from .watch import Watcher

    assistant = _assistant(index_dir, chroma_url)
    watcher = _run(lambda: Watcher(assistant, list(corpus) or None, settle=settle,
                                   log=lambda line: click.echo(f"{time.strftime('%H:%M:%S')} {line}")))
    _run(watcher.run)


@cli.command()
@_store_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 exposes the chat to your network.")
@click.option("--port", type=int, default=7860, envvar="GRADIO_SERVER_PORT", show_default=True,
              help="Port to serve on. [env: GRADIO_SERVER_PORT]")
@_watch_options
def chat(index_dir: Path | None, chroma_url: str | None, host: str, port: int, watch: bool,
         corpus: tuple[Path, ...]) -> None:
    """Serve the web chat (cited answers, sources, uploads) until Ctrl+C.

    On first run the index of the bundled articles is built (about 20 s). Set RAG_UI_AUTH=user:password to ask
    for a password. Nothing is shared publicly and nothing reaches the network.
    """
    try:
        from . import chat as web_chat
    except ImportError as exc:  # gradio missing from a partial install
        raise click.ClickException(f"The web chat cannot start: {exc}. Reinstall with `pip install -e .`.") from None
    assistant = _assistant(index_dir, chroma_url, auto_build=True)  # the chat builds the bundled index on first run
    try:
        web_chat.auth_of(assistant.settings)
    except (ValueError, RagError) as exc:
        raise click.ClickException(str(exc)) from None
    if watch:
        _run(assistant.opened)  # the bundled index first, when there is none
        _start_watching(assistant, corpus)
    _run(lambda: web_chat.serve(assistant, host, port))


@cli.command()
@_store_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the service to your network (set RAG_API_KEY).")
@click.option("--port", type=int, default=8000, envvar="RAG_PORT", show_default=True, help="Port. [env: RAG_PORT]")
@click.option("--no-chat", is_flag=True, help="Serve the API and MCP only, not the web chat at /.")
@click.option("--no-build", is_flag=True, help="Do not build the bundled index when there is none (answers 503 until "
              "`rag index` has run).")
@_watch_options
def serve(index_dir: Path | None, chroma_url: str | None, host: str, port: int, no_chat: bool, no_build: bool,
          watch: bool, corpus: tuple[Path, ...]) -> None:
    """Serve the OpenAI-compatible API, the MCP server and the web chat in one process until Ctrl+C or SIGTERM.

    \b
    http://HOST:PORT/v1/chat/completions   OpenAI chat API (base URL http://HOST:PORT/v1, model "rag")
    http://HOST:PORT/v1/search, /v1/documents, /v1/models, /healthz
    http://HOST:PORT/mcp                   MCP server (streamable HTTP): tools ask, search, documents
    http://HOST:PORT/                      the web chat

    RAG_API_KEY=secret asks every /v1 and /mcp request for `Authorization: Bearer secret`; RAG_API_KEYS=keys.toml
    gives each key the collections it may read and whether it may write (model "rag/<collection>", README);
    RAG_UI_AUTH=user:password guards the chat. Limits: RAG_API_WORKERS, RAG_API_QUEUE, RAG_MAX_REQUEST_KB, RAG_MAX_FILE_MB (README). On
    SIGTERM, answers in progress finish, then it exits 0.
    """
    try:
        import uvicorn

        from .api import GRACEFUL_SHUTDOWN_S, create_app
        from .launch import auth_of, prepare
    except ImportError as exc:
        raise click.ClickException(f"The service cannot start: {exc}. Reinstall with `pip install -e .`.") from None
    assistant = _assistant(index_dir, chroma_url)
    if not no_chat:
        try:
            auth_of(assistant.settings)
        except (ValueError, RagError) as exc:
            raise click.ClickException(str(exc)) from None
    _run(lambda: prepare(assistant, build=not no_build, strict=False))
    if watch:
        _start_watching(assistant, corpus)
    if host not in ("127.0.0.1", "localhost", "::1") and assistant.settings.api_key is None \
            and assistant.settings.api_keys is None:
        click.echo(f"warning: serving on {host} without RAG_API_KEY or RAG_API_KEYS: anyone who can reach this port can ask, "
                   "upload and remove articles.", err=True)
    app = _run(lambda: create_app(assistant, chat=not no_chat, host=host))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving on http://{shown}:{port}: OpenAI API at /v1, MCP at /mcp"
               f"{'' if no_chat else ', web chat at /'} (Ctrl+C stops).", err=True)
    import signal

    # uvicorn finishes the requests in flight on SIGTERM, then raises the signal again with the handler it found
    # installed: make that handler a no-op, so that a clean shutdown exits 0 (Ctrl+C still exits 130).
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, log_level="info",
                server_header=False)


@cli.command("mcp")
@_store_options
def mcp_command(index_dir: Path | None, chroma_url: str | None) -> None:
    """Serve the MCP tools (ask, search, documents) over stdin/stdout, for MCP clients that start a process.

    \b
    Client configuration, for example:
      {"mcpServers": {"rag": {"command": "rag", "args": ["mcp", "--index-dir", "/path/to/index"]}}}
    `rag serve` serves the same tools over HTTP at /mcp.
    """
    try:
        from .mcp_server import serve_stdio
    except ImportError as exc:
        raise click.ClickException(f"The MCP server cannot start: {exc}. Reinstall with `pip install -e .`.") from None
    assistant = _assistant(index_dir, chroma_url, quiet=True)
    _run(lambda: serve_stdio(assistant))


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line last.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def add(paths: tuple[str, ...], index_dir: Path | None, chroma_url: str | None, as_json: bool, quiet: bool) -> None:
    """Add or update single articles (files, folders or http(s) links) without removing others.

    \b
    A link is fetched once, now (time limit RAG_FETCH_TIMEOUT, 20 s; size limit RAG_MAX_FILE_MB, 10 MB; only
    http and https, redirects included), read like a saved file (web page, PDF, Word, text) and kept in the
    index's uploads folder with the link as its source; nothing is fetched while answering.
      rag add https://example.org/news/story.html ~/reports/annual.pdf
    """
    from .web import is_link

    links = [p for p in paths if is_link(p)]
    files = [Path(p) for p in paths if not is_link(p)]
    assistant = _assistant(index_dir, chroma_url, quiet)
    report = _run(lambda: assistant.add(files, progress=not quiet)) if files else None
    if links:
        fetched = _run(lambda: assistant.add_links(links, progress=not quiet))
        report = _merge_reports(report, fetched) if report else fetched
    _print_report(report, as_json, "Added")
    if not report.added and not report.updated and not report.unchanged:
        raise click.ClickException("Nothing was added: every file was skipped (reasons above).")


@cli.command()
@click.argument("doc_id")
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print the removed article as JSON.")
def remove(doc_id: str, index_dir: Path | None, chroma_url: str | None, as_json: bool) -> None:
    """Remove one article by DOC_ID (a unique prefix is enough; `rag docs` lists them)."""
    assistant = _assistant(index_dir, chroma_url)
    info = _run(lambda: assistant.remove(doc_id))
    click.echo(json.dumps(info.to_dict(), ensure_ascii=False) if as_json else f"Removed {info.doc_id} ({info.label}).")


@cli.command()
@_store_options
@_scope_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per article.")
def docs(index_dir: Path | None, chroma_url: str | None, as_json: bool) -> None:
    """List the indexed articles with their metadata and near-duplicate groups (with --author, --since, …: those
    a scope names, as `rag ask` would ask them)."""
    assistant = _assistant(index_dir, chroma_url)
    where = _where()
    infos = _run(lambda: assistant.documents(where))
    for info in infos:
        if as_json:
            click.echo(json.dumps(info.to_dict(), ensure_ascii=False))
            continue
        byline = ", ".join(x for x in (info.author, info.publication, info.date or (
            f"file {info.file_date}" if info.file_date else "")) if x)
        dup = ""
        if info.duplicate_group:
            dup = " [original of a duplicate group]" if info.duplicate_role == "original" else (
                f" [near-duplicate of {info.duplicate_group}, score {info.duplicate_score:.2f}]")
        kind = f"{info.format}, " if info.format else ""
        pages = f"{info.pages} pages, " if info.pages else ""
        pages += "read by OCR, " if info.ocr else ""
        click.echo(f"{info.doc_id}  {info.label}{' — ' + byline if byline else ''}  ({kind}{pages}{info.chunks} chunks){dup}")
        if info.url:
            click.echo(f"    from {info.url}")


def print_answer(answer: Any) -> None:
    """The short answer when there is one, the answer, then its numbered sources: title, byline, the exact
    quote and where it sits (the closest passage of an abstention is marked as not an answer)."""
    if answer.scope:
        from .scope import Scope

        click.echo(click.style(f"Asked of {Scope.shown(answer.scope)}", dim=True))
    if answer.short:
        click.echo(click.style(answer.short, bold=True))
    click.echo(textwrap.fill(answer.text, width=100))
    for note in answer.notes:
        click.echo(f"note: {note}", err=True)
    if answer.citations:
        label = "Closest passage" if answer.abstained else "Sources"
        click.echo(f"\n{label} (confidence {answer.confidence:.2f}):")
    for c in answer.citations:
        byline = ", ".join(x for x in (c.author, c.date) if x)
        closest = "  (outside the scope asked)" if c.outside_scope else (
            "  (closest passage, not an answer)" if c.not_answer else "")
        where = f"{c.doc_id} @{c.start}-{c.end}" + (f", {c.page_label}" if c.page_label else "")
        click.echo(f"[{c.number}] {c.title}{' — ' + byline if byline else ''}  ({where}){closest}")
        click.echo(textwrap.indent(textwrap.fill(f"\u201c{c.quote}\u201d", width=96), "    "))
        if c.also_in:
            click.echo(f"    also in: {', '.join(c.also_in)}")


@cli.command()
@click.argument("question")
@click.option("-k", "k", default=None, type=click.IntRange(1, MAX_READ_K), help="Passages to read. [default: 5; env: RAG_TOP_K]")
@_store_options
@_scope_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
def ask(question: str, k: int | None, index_dir: Path | None, chroma_url: str | None, as_json: bool) -> None:
    """Answer QUESTION from the articles, citing the exact passages; say so when they don't tell.

    With --doc, --author, --publication, --since, --until, --format or --source, only the articles they name are
    asked (each option narrows; repeated --doc or --format widen). When those don't say and another article
    does, the answer says so and shows its quote, marked outside the scope."""
    assistant = _assistant(index_dir, chroma_url)
    where = _where()
    answer = _run(lambda: assistant.ask(question, k=k, where=where))
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print_answer(answer)


@cli.command()
@click.argument("query")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 100), help="Passages to return.")
@_store_options
@_scope_options
@click.option("--json", "as_json", is_flag=True, help="Print the passages as one JSON list.")
def search(query: str, k: int, index_dir: Path | None, chroma_url: str | None, as_json: bool) -> None:
    """Show the passages for QUERY, best first (hybrid retrieval, near-duplicates collapsed); with --doc,
    --author, … only the passages of the articles they name."""
    assistant = _assistant(index_dir, chroma_url)
    where = _where()
    passages = _run(lambda: assistant.search(query, k=k, where=where))
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in passages], ensure_ascii=False))
        return
    if not passages:
        click.echo("No passages: the index is empty.")
    for rank, p in enumerate(passages, 1):
        byline = ", ".join(x for x in (p.author, p.date) if x)
        click.echo(f"[{rank}] {p.title}{' — ' + byline if byline else ''}  (score {p.score:.3f}, {p.doc_id} @{p.start}-{p.end})")
        for paragraph in p.text.split("\n\n"):
            click.echo(textwrap.indent(textwrap.fill(paragraph, width=96), "    "))
        if p.also_in:
            click.echo(f"    also in: {', '.join(p.also_in)}")
        click.echo()


@cli.command("eval")
@click.option("--questions", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Question file (JSON Lines, format in evals/README.md). [default: evals/questions.jsonl]")
@_store_options
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("eval-report"),
              show_default=True, metavar="DIR", help="Folder for report.json, report.md and the PNG plots.")
@click.option("--baselines", is_flag=True, help="Also run llama-index's dense retriever and our dense-only and BM25-only variants.")
@click.option("--compare", "compare_to", type=click.Path(path_type=Path), default=None, metavar="OLD_REPORT",
              help="A report.json (or its folder) from an earlier run: print the change of every metric.")
@click.option("--gate", "gate_file", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="TOML",
              help="Fail (exit 1) when a metric is below a floor or above a ceiling of this TOML file: [floors]/[ceilings], or with --suite each suite's [suites.NAME.floors]/[suites.NAME.ceilings] (evals/suites.toml).")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Hand-labelled (claim, passage) pairs to measure the support judge. [default: evals/judge_labels.jsonl]")
@click.option("--suite", "suite_names", multiple=True, metavar="NAME",
              help="Run a named suite of evals/suites.toml (repeat, or 'all'): each indexes its own corpus under "
                   "--cache and is reported side by side with the macro average. --gate then reads each suite's "
                   "floors from the suites file given.")
@click.option("--suites-file", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="TOML",
              help="The suites file. [default: evals/suites.toml of the checkout]")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Where the suites' indexes are kept between runs. [default: evals/.cache]")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON line last.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def eval_command(questions: Path | None, index_dir: Path | None, chroma_url: str | None, report_dir: Path, baselines: bool,
                 compare_to: Path | None, gate_file: Path | None, labels: Path | None, suite_names: tuple[str, ...],
                 suites_file: Path | None, cache_dir: Path | None, as_json: bool, quiet: bool) -> None:
    """Measure how well answers are grounded: retrieval, answers, citations, abstention, calibration and latency.

    Runs every question through the same API users call; needs an index of the corpus the questions are
    about (`rag index` first). Writes report.json, report.md and plots to --report. With --suite, runs the
    named suites (the bundled corpus and public QA sets, each with its own index) instead.
    """
    from . import evaluate as ev
    from . import report as rp

    if suite_names or suites_file:
        _eval_suites(suite_names, suites_file, cache_dir, report_dir, gate_file, as_json, quiet)
        return

    questions = questions or ev.default_questions()
    if questions is None:
        raise click.ClickException("No question file: pass --questions FILE (format in evals/README.md).")
    if labels is None and (questions.parent / "judge_labels.jsonl").is_file():
        labels = questions.parent / "judge_labels.jsonl"
    assistant = _assistant(index_dir, chroma_url, quiet)
    old = None
    if compare_to is not None:
        path = compare_to / "report.json" if compare_to.is_dir() else compare_to
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"Cannot read the report to compare with ({path}): {exc}") from None
    report = _run(lambda: ev.evaluate(assistant, questions, baselines=baselines, labels=labels, progress=not quiet))
    written = rp.write_report(report, report_dir)
    columns = {"rag": report["metrics"], **report.get("baselines", {})}
    out = sys.stderr if as_json else sys.stdout
    print(rp.table(columns), file=out)
    if "judge" in report:
        j = report["judge"]
        print(f"judge vs {j['pairs']} hand labels: agreement {j['agreement']:.3f}, precision {j['precision']:.3f}, recall {j['recall']:.3f}", file=out)
    print(f"report: {', '.join(str(p) for p in written)}", file=out)
    if old is not None:
        print("\n".join(["change against the earlier report:", *rp.compare(old, report)]), file=out)
    failures = _run(lambda: ev.gate(report["metrics"], gate_file)) if gate_file else []
    if as_json:
        click.echo(json.dumps(report["metrics"]))
    if failures:
        raise click.ClickException("eval gate failed: " + "; ".join(failures))


def _eval_suites(names: tuple[str, ...], suites_file: Path | None, cache_dir: Path | None, report_dir: Path,
                 gate_file: Path | None, as_json: bool, quiet: bool) -> None:
    from . import report as rp
    from . import suites as su

    path, suites = _run(lambda: su.load_suites(suites_file))
    chosen = _run(lambda: su.pick(suites, names))
    cache = cache_dir or path.resolve().parent / ".cache"
    base = _assistant(None, None, quiet)
    reports = {}
    out = sys.stderr if as_json else sys.stdout
    for name in chosen:
        print(f"suite {name}: {suites[name].get('description', '')}", file=sys.stderr)
        reports[name] = _run(lambda name=name: su.run_suite(name, suites[name], cache, base.settings, base.embedder,
                                                            not quiet))
        rp.write_report(reports[name], report_dir / name)
    keys = [k for k in rp.TABLE_KEYS if not k.endswith("_ms")] + ["p50_ms"]
    written = su.write_summary(reports, report_dir, keys)
    print(su.summary_table(reports, ["questions", "answerable", "unanswerable", *keys]), file=out)
    print(f"report: {', '.join(str(p) for p in written)} and one folder per suite", file=out)
    failures = []
    if gate_file:
        _, limits = _run(lambda: su.load_suites(gate_file))
        failures = _run(lambda: su.gate_suites(reports, limits, str(gate_file)))
    if as_json:
        click.echo(json.dumps({"suites": {n: r["metrics"] for n, r in reports.items()}, "macro": su.macro(reports)}))
    if failures:
        raise click.ClickException("eval gate failed: " + "; ".join(failures))


@cli.group("collections", invoke_without_command=True)
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per collection.")
@click.pass_context
def collections_command(ctx: click.Context, index_dir: Path | None, chroma_url: str | None, as_json: bool) -> None:
    """List the collections of the index with their article counts; `rag collections remove NAME` drops one.

    \b
    Each collection has its own articles, BM25 index, near-duplicate groups and uploads; every command that
    reads or writes the index takes --collection NAME (or RAG_COLLECTION). `default` is the index's first
    collection: an index built before collections is its default collection.
      rag add --collection ukraine ~/reports/kyiv/
      rag ask --collection ukraine "Who visited Kyiv in May?"
    """
    ctx.obj = (index_dir, chroma_url)
    if ctx.invoked_subcommand is not None:
        return
    assistant = _assistant(index_dir, chroma_url)
    found = _run(assistant.collections)
    if as_json:
        for c in found:
            click.echo(json.dumps(c))
        return
    if not found:
        click.echo(f"No collections in the index at {assistant.settings.chroma_url or assistant.settings.index_dir} "
                   "— run `rag index` first.")
        return
    width = max(len(c["name"]) for c in found)
    for c in found:
        click.echo(f"{c['name']:{width}}  {c['articles']:6d} articles  {c['chunks']:7d} chunks")


@collections_command.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def collections_remove(ctx: click.Context, name: str, yes: bool) -> None:
    """Drop collection NAME with its articles, BM25 index, sentence vectors and uploads (cannot be undone)."""
    index_dir, chroma_url = ctx.obj
    assistant = _assistant(index_dir, chroma_url)
    if not yes:
        click.confirm(f"Drop collection {name!r} and every article in it?", abort=True)
    _run(lambda: assistant.remove_collection(name))
    click.echo(f"Removed collection {name}.")


@cli.command("bench", context_settings={"ignore_unknown_options": True})
@click.option("--sizes", default="1,10,100,1000", show_default=True, help="Multiples of the bundled corpus.")
@click.option("--modes", default="embedded,server", show_default=True, help="embedded, server (chroma run) or both.")
@click.option("--rounds", type=int, default=3, show_default=True, help="Passes over the questions for warm latency.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every figure to this file.")
def bench_command(sizes: str, modes: str, rounds: int, json_file: Path | None) -> None:
    """Scale benchmark (evals/bench_scale.py): index time, first answer, memory, warm latency, add and remove at
    1x-1000x the bundled corpus, embedded and through a Chroma server. Needs a source checkout (evals/); the
    first run embeds the larger corpora once (about half an hour on 2 cores), later runs take minutes."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / "evals" / "bench_scale.py").is_file():
        raise click.ClickException("rag bench runs evals/bench_scale.py of a source checkout; none was found beside "
                                   f"this installation ({root / 'evals'}).")
    cmd = [sys.executable, "-m", "evals.bench_scale", "--sizes", sizes, "--modes", modes, "--rounds", str(rounds)]
    if json_file:
        cmd += ["--json", str(json_file.resolve())]
    raise SystemExit(subprocess.call(cmd, cwd=root))


def main() -> None:
    cli(prog_name="rag")


if __name__ == "__main__":
    main()
