"""Who may read which collection: API keys scoped to collections (`RAG_API_KEYS`), and the server's
assistants, one per collection (`Collections`). Keys: a TOML file of keys, each with the collections it may read
and whether it may write. `RAG_API_KEY` stays one key for every collection, with write.

    [[key]]
    name = "analyst"                        # optional: how the log and errors name it
    token = "…"                             # or token_sha256 = "<hex>", so the file need not hold secrets
    collections = ["default", "ukraine"]    # or ["*"]: every collection
    write = false                           # uploads and removals (default false)
    chat_user = "maria"                     # optional: the web chat user who gets this scope
    chat_password_sha256 = "…"              # optional: her chat password (sha256), so the chat logs her in

A key sees only its collections: the others are absent from /v1/models and answer 404 like a collection that
does not exist (never 403, which would say it exists). A malformed file is one RagError naming the file, the
key and the problem, raised when the server starts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RagError
from .settings import COLLECTION_PATTERN, storage_prefix

if TYPE_CHECKING:
    from .assistant import Assistant

_FIELDS = {"name", "token", "token_sha256", "collections", "write", "chat_user", "chat_password_sha256"}
_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Key:
    name: str
    collections: frozenset[str] | None  # None: every collection
    write: bool
    sha256: str = ""  # of the token; empty for the open key (no keys configured)
    chat_user: str = ""  # the web chat's user this key's scope applies to
    chat_password_sha256: str = ""  # that user's password for the chat (sha256), when the keys file logs them in

    def reads(self, collection: str) -> bool:
        if self.collections is None:
            return True
        return storage_prefix(collection) in {storage_prefix(c) for c in self.collections}


OPEN = Key("anyone", None, True)  # no key configured: every request may do everything, as before keys


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Keys:
    """The keys a server accepts. `required` is False when none is configured (every request is `OPEN`)."""

    def __init__(self, keys: list[Key]) -> None:
        self.keys = keys

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def chat_login(self, user: str, password: str) -> bool:
        """Whether a key of this file logs this chat user in with this password (its chat_password_sha256)."""
        key = self.for_chat_user(user)
        return bool(key and key.chat_password_sha256) and hmac.compare_digest(
            _digest(password or ""), key.chat_password_sha256)

    @property
    def chat_logins(self) -> bool:
        return any(k.chat_password_sha256 for k in self.keys)

    def for_chat_user(self, user: str | None) -> Key | None:
        """The key whose `chat_user` is this web chat user, if any."""
        return next((k for k in self.keys if user and k.chat_user == user), None)

    def match(self, token: str) -> Key | None:
        """The key this bearer token is, compared in constant time with every key; None when it is none."""
        digest = _digest(token)
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found

    @classmethod
    def from_settings(cls, api_key: str | None, api_keys: Path | None) -> Keys:
        keys = cls.load(api_keys).keys if api_keys else []
        if api_key:
            keys.append(Key("RAG_API_KEY", None, True, _digest(api_key)))
        return cls(keys)

    @classmethod
    def load(cls, path: Path) -> Keys:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise RagError(f"Cannot read the API keys file {path} (RAG_API_KEYS): {exc.strerror or exc}.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise RagError(f"The API keys file {path} is not valid TOML: {exc}.") from exc
        extra = set(data) - {"key"}
        if extra:
            raise RagError(f"{path}: unknown table {sorted(extra)[0]!r}; the file holds [[key]] entries only.")
        entries = data.get("key", [])
        if not isinstance(entries, list) or not entries:
            raise RagError(f"{path}: no [[key]] entries.")
        keys, seen = [], set()
        for n, entry in enumerate(entries, 1):
            where = f"{path}: key {n}"
            if not isinstance(entry, dict):
                raise RagError(f"{where}: not a table.")
            unknown = set(entry) - _FIELDS
            if unknown:
                raise RagError(f"{where}: unknown field {sorted(unknown)[0]!r} (fields: {', '.join(sorted(_FIELDS))}).")
            name = entry.get("name", f"key {n}")
            if not isinstance(name, str) or not name:
                raise RagError(f"{where}: name must be a non-empty string.")
            where = f"{path}: key {name!r}"
            token, digest = entry.get("token"), entry.get("token_sha256")
            if (token is None) == (digest is None):
                raise RagError(f"{where}: give exactly one of token and token_sha256.")
            if token is not None:
                if not isinstance(token, str) or len(token) < 16:
                    raise RagError(f"{where}: token must be a string of at least 16 characters.")
                digest = _digest(token)
            elif not isinstance(digest, str) or not _HEX.match(digest.lower()):
                raise RagError(f"{where}: token_sha256 must be 64 hexadecimal digits (sha256 of the token).")
            digest = digest.lower()
            if digest in seen:
                raise RagError(f"{where}: the same token is given twice.")
            seen.add(digest)
            collections = entry.get("collections")
            if not isinstance(collections, list) or not collections or not all(isinstance(c, str) for c in collections):
                raise RagError(f'{where}: collections must be a list of collection names, or ["*"].')
            for c in collections:
                if c != "*" and not re.fullmatch(COLLECTION_PATTERN, c):
                    raise RagError(f"{where}: {c!r} is not a collection name.")
            write = entry.get("write", False)
            if not isinstance(write, bool):
                raise RagError(f"{where}: write must be true or false.")
            chat_user = entry.get("chat_user", "")
            if not isinstance(chat_user, str):
                raise RagError(f"{where}: chat_user must be a string (a RAG_UI_AUTH user name).")
            if chat_user and any(k.chat_user == chat_user for k in keys):
                raise RagError(f"{where}: chat user {chat_user!r} is given to two keys.")
            password = entry.get("chat_password_sha256", "")
            if password and (not chat_user or not isinstance(password, str) or not _HEX.match(password.lower())):
                raise RagError(f"{where}: chat_password_sha256 needs a chat_user and 64 hexadecimal digits.")
            scope = None if "*" in collections else frozenset(collections)
            keys.append(Key(name, scope, write, digest, chat_user, password.lower() if password else ""))
        return cls(keys)


def collection_of_model(model: str, base: str, prefixes: tuple[str, ...]) -> tuple[str, str] | None:
    """("rag/ukraine", ...) -> (the model family, the collection): "rag" and "rag-llm" answer from the server's own
    collection (`base`, normally default), "rag/<name>" and "rag-llm/<name>" from collection <name>."""
    family, _, name = model.partition("/")
    if family not in prefixes:
        return None
    if not name:
        return family, base
    if not re.fullmatch(COLLECTION_PATTERN, name):
        return None
    return family, name


class Collections:
    """The server's assistants, one per collection, made on first use and sharing the server's models."""

    def __init__(self, base: Assistant) -> None:
        self.base = base
        self._made: dict[str, Assistant] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Assistant:
        if storage_prefix(name) == storage_prefix(self.base.settings.collection):
            return self.base
        with self._lock:
            if storage_prefix(name) not in self._made:
                self._made[storage_prefix(name)] = self.base.sibling(name)
            return self._made[storage_prefix(name)]

    def names(self) -> list[str]:
        """The collections of the index now (none when there is no index yet)."""
        try:
            return [c["name"] for c in self.base.collections()]
        except RagError:
            return []
