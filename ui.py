"""Web UI over `rag.Assistant`. For now a passage search page; the cited-answer chat replaces it (issue 5).

Run: `python ui.py` (127.0.0.1:7860; --host/--port or GRADIO_SERVER_PORT to change). Nothing is shared publicly.
"""

from __future__ import annotations

import argparse
import html
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag import Assistant, RagError  # noqa: E402


def search_html(assistant: Assistant, query: str, k: int = 5) -> str:
    """Passages as escaped HTML: article text is data and is never rendered as markup."""
    try:
        passages = assistant.search(query, k=int(k))
    except RagError as exc:
        return f"<p class='error'>{html.escape(str(exc))}</p>"
    items = []
    for rank, p in enumerate(passages, 1):
        byline = ", ".join(x for x in (p.author, p.date) if x)
        items.append(
            f"<div class='passage'><b>[{rank}] {html.escape(p.title)}</b>"
            f"{' — ' + html.escape(byline) if byline else ''} <small>(score {p.score:.3f})</small>"
            f"<p>{html.escape(p.text)}</p></div>"
        )
    return "\n".join(items) or "<p>No passages.</p>"


def build_app(assistant: Assistant | None = None):  # -> gradio.Blocks
    import gradio as gr

    assistant = assistant or Assistant()
    with gr.Blocks(title="rag — search the articles", analytics_enabled=False) as app:
        gr.Markdown("## Search the articles\nPassages closest to your query, best first.")
        with gr.Row():
            query = gr.Textbox(label="Query", placeholder="How much was trade between China and Russia?", scale=4)
            k = gr.Slider(1, 10, value=5, step=1, label="Passages", scale=1)
        results = gr.HTML()
        query.submit(lambda q, n: search_html(assistant, q, n), [query, k], results, concurrency_limit=2)
    app.queue(max_size=16)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the rag web UI on this machine.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args()
    build_app().launch(server_name=args.host, server_port=args.port, share=False)


if __name__ == "__main__":
    main()
