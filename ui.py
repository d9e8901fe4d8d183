"""The web chat's entry point: `python ui.py` serves the same chat as `rag chat` (the chat itself is rag/chat.py)."""

import sys

from rag.chat import main

if __name__ == "__main__":
    sys.exit(main())
