"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions API with scripted replies.

`server.script` is a function from the request's messages to the reply text; `server.delay` sleeps before
answering; `server.requests` records every request body."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):  # noqa: N802 (http.server's name)
        server: ScriptedServer = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        server.requests.append(body)
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        time.sleep(server.delay)
        reply = server.script(body["messages"])
        base = {"id": "chatcmpl-test", "created": 0, "model": body.get("model", "scripted")}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in re.findall(r".{1,7}", reply, flags=re.S):  # small pieces, as a model streams
                chunk = base | {"object": "chat.completion.chunk",
                                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            end = base | {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
            return
        payload = base | {
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = lambda messages: "The articles don't say."
        self.delay = 0.0
        self.requests: list[dict] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def evidence_number(messages: list[dict], needle: str) -> int:
    """The [n] of the evidence line that contains `needle` (from the user message the assistant sent)."""
    for line in messages[-1]["content"].splitlines():
        match = re.match(r"\[(\d+)\] ", line)
        if match and needle in line:
            return int(match.group(1))
    raise AssertionError(f"no evidence line holds {needle!r}")
