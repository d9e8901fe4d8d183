"""What every served interface (the chat, `rag serve`, `python ui.py`) does before it listens, written once:
read the chat's password setting and prepare the index and the model. Imports no web framework."""

from __future__ import annotations

import hmac
import sys
from pathlib import Path
from typing import Any

from .assistant import Assistant
from .errors import RagError
from .keys import Keys
from .settings import Settings
from .types import DocumentInfo


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """RAG_UI_AUTH=user:pass -> ("user", "pass"); unset -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("RAG_UI_AUTH must look like user:password")
    return user, password


def auth_of(settings: Settings) -> Any:
    """Who may log in to the chat: the user and password of Settings.ui_auth (RAG_UI_AUTH), and the chat users of
    the API keys file (RAG_API_KEYS: chat_user with chat_password_sha256), each then seeing their key's
    collections. None: no login asked. ValueError when RAG_UI_AUTH is malformed; RagError for a bad keys file."""
    single = parse_auth(settings.ui_auth.get_secret_value() if settings.ui_auth else None)
    keys = Keys.load(settings.api_keys) if settings.api_keys else None
    if keys is None or not keys.chat_logins:
        return single

    def login(user: str, password: str) -> bool:
        if single is not None and hmac.compare_digest(f"{user}\0{password}".encode(), "\0".join(single).encode()):
            return True
        return keys.chat_login(user, password)

    return login


def prepare(assistant: Assistant, *, build: bool = True, progress: bool = False,
            strict: bool = True) -> list[DocumentInfo] | None:
    """What every way of serving does before it listens: build the bundled index when there is none (embedded
    store, unless `build` is False) and load the embedding model, so that the first request waits for neither.
    Returns the indexed articles. An index that cannot be read raises, or with `strict=False` (`rag serve`, whose
    requests then get the error as a 503 until it is fixed) is said on stderr and gives None."""
    from .store import Store

    settings = assistant.settings
    if build and not settings.chroma_url and not Store(settings).exists():
        where = Path(settings.index_dir)
        where_text = str(where) if where.is_absolute() else f"./{where}"
        print(f"No index in {where_text}: building it from the bundled articles "
              "(first run; about 20 s on 2 cores)…", file=sys.stderr, flush=True)
        assistant.index(progress=progress)
    try:
        assistant.search("warm up", k=1)  # loads the embedding model now, not on the first question
        return assistant.documents()
    except RagError as exc:
        if strict:
            raise
        print(f"warning: {exc} Requests will be answered 503 until it is fixed.", file=sys.stderr, flush=True)
        return None
