"""A long-lived app process for the multi-process tests: one `Assistant` (settings from RAG_* variables, the
real embedding model) answering one JSON command per line on stdin with one JSON line on stdout:
{"op": "ask"|"search"|"add"|"remove"|"generation", "arg": ...}."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag import Assistant  # noqa: E402
from rag.errors import RagError  # noqa: E402


def main() -> None:
    assistant = Assistant(auto_build=False)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op, arg = cmd["op"], cmd.get("arg")
        try:
            if op == "ask":
                a = assistant.ask(arg)
                out = {"text": a.text, "abstained": a.abstained, "docs": [c.doc_id for c in a.citations]}
            elif op == "search":
                out = {"docs": [p.doc_id for p in assistant.search(arg, k=3)], "texts": [p.text for p in assistant.search(arg, k=3)]}
            elif op == "add":
                r = assistant.add([arg], progress=False)
                out = {"added": r.added, "doc_id": r.files[0].doc_id if r.files else ""}
            elif op == "remove":
                out = {"removed": assistant.remove(arg).doc_id}
            elif op == "generation":
                out = {}
            else:
                out = {"error": f"unknown op {op}"}
            out["generation"] = assistant.generation
        except RagError as exc:
            out = {"error": str(exc)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
