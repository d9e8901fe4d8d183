"""Runs one index sync with the fake embedder, slowed down, printing a line per embedding batch, so that a
test can kill it with SIGKILL at a chosen moment. Usage: index_worker.py INDEX_DIR CORPUS DELAY_SECONDS"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag import Assistant, Settings  # noqa: E402
from tests.conftest import fake_embedder  # noqa: E402


def main() -> None:
    index_dir, corpus, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    embedder = fake_embedder()
    embedder.batch_size = 8
    inner = embedder.model.get_text_embedding_batch

    def slow_batch(texts, **kwargs):
        print("batch", flush=True)
        time.sleep(delay)
        return inner(texts, **kwargs)

    object.__setattr__(embedder.model, "get_text_embedding_batch", slow_batch)
    assistant = Assistant(settings=Settings(index_dir=index_dir, quiet=True), embedder=embedder, auto_build=False)
    report = assistant.index([corpus], progress=False)
    print("done", report.documents, report.chunks, flush=True)


if __name__ == "__main__":
    main()
