"""A shared server for a team: each collection is a model (`rag`, `rag/<name>`), and API keys (RAG_API_KEYS) see
only their collections; a collection a key may not read is indistinguishable from one that does not exist."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.api import create_app
from rag.errors import RagError
from rag.keys import OPEN, Keys

from .conftest import fake_embedder
from .helpers.service import start_service, stop
from .helpers.web import free_port
from .test_api import local

READER = "reader-token-0123456789"  # reads default and alpha
ALPHA = "alpha-writer-0123456789"  # reads and writes alpha only
ADMIN = "admin-token-0123456789ab"  # every collection, write


def keys_file(folder: Path) -> Path:
    path = folder / "keys.toml"
    path.write_text(f'''
[[key]]
name = "reader"
token = "{READER}"
collections = ["default", "alpha"]

[[key]]
name = "alpha-writer"
token_sha256 = "{hashlib.sha256(ALPHA.encode()).hexdigest()}"
collections = ["alpha"]
write = true

[[key]]
name = "admin"
token = "{ADMIN}"
collections = ["*"]
write = true
''', encoding="utf-8")
    return path


# ---------------------------------------------------------------- the keys file


def test_keys_are_matched_by_token_or_its_sha256(tmp_path):
    keys = Keys.load(keys_file(tmp_path))
    assert keys.required
    reader, writer, admin = keys.match(READER), keys.match(ALPHA), keys.match(ADMIN)
    assert (reader.name, reader.write, reader.reads("default"), reader.reads("alpha"), reader.reads("beta")) == \
        ("reader", False, True, True, False)
    assert (writer.name, writer.write, writer.reads("alpha"), writer.reads("default")) == ("alpha-writer", True, True, False)
    assert admin.reads("anything") and admin.write
    assert keys.match("nope") is None and keys.match("") is None
    assert not Keys([]).required and OPEN.reads("x") and OPEN.write
    both = Keys.from_settings("single-key-0123456789", tmp_path / "keys.toml")
    assert both.match("single-key-0123456789").reads("beta") and both.match(READER).name == "reader"


@pytest.mark.parametrize(("text", "message"), [
    ("[[key]\n", "not valid TOML"),
    ("", "no \\[\\[key\\]\\] entries"),
    ('[[key]]\ntoken = "0123456789abcdef0"\ncollections = ["a1b"]\nrole = "x"\n', "unknown field 'role'"),
    ('[[key]]\ncollections = ["a1b"]\n', "exactly one of token and token_sha256"),
    ('[[key]]\ntoken = "short"\ncollections = ["a1b"]\n', "at least 16 characters"),
    ('[[key]]\ntoken_sha256 = "abc"\ncollections = ["a1b"]\n', "64 hexadecimal digits"),
    ('[[key]]\ntoken = "0123456789abcdef0"\ncollections = []\n', "collections must be a list"),
    ('[[key]]\ntoken = "0123456789abcdef0"\ncollections = ["no spaces"]\n', "is not a collection name"),
    ('[[key]]\ntoken = "0123456789abcdef0"\ncollections = ["a1b"]\nwrite = "yes"\n', "write must be true or false"),
    ('[[key]]\ntoken = "0123456789abcdef0"\ncollections = ["a1b"]\n[[key]]\ntoken = "0123456789abcdef0"\n'
     'collections = ["a1b"]\n', "same token is given twice"),
])
def test_a_malformed_keys_file_is_one_line_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RagError, match=message) as err:
        Keys.load(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


# ---------------------------------------------------------------- the API, in process


@pytest.fixture
def team(tmp_path, corpus):
    """default: the bundled articles; alpha and beta: one memo each; the keys of keys_file."""
    settings = Settings(index_dir=tmp_path / "index", api_keys=keys_file(tmp_path))
    base = Assistant(settings=settings, embedder=fake_embedder(), auto_build=False)
    base.index([corpus], progress=False)
    base.sibling("alpha").upload([("a.txt", b"Alpha memo\n\nThe alpha project shipped 40 widgets to Lisbon.\n")])
    base.sibling("beta").upload([("b.txt", b"Beta memo\n\nThe beta team hired 7 engineers in Oslo.\n")])
    with local(create_app(base, chat=False)) as client:
        yield client


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ask(client, token: str, model: str, question: str = "How many widgets did the alpha project ship?"):
    return client.post("/v1/chat/completions", headers=as_(token),
                       json={"model": model, "messages": [{"role": "user", "content": question}]})


def test_each_key_lists_only_its_collections_as_models(team):
    def models(token: str) -> list[str]:
        return [m["id"] for m in team.get("/v1/models", headers=as_(token)).json()["data"]]

    assert models(READER) == ["rag", "rag/alpha"]
    assert models(ALPHA) == ["rag/alpha"]
    assert models(ADMIN) == ["rag", "rag/alpha", "rag/beta"]
    assert team.get("/v1/models").status_code == 401


def test_a_model_answers_from_its_collection_only(team):
    r = ask(team, ALPHA, "rag/alpha")
    assert r.status_code == 200 and "40 widgets" in r.json()["choices"][0]["message"]["content"]
    assert r.json()["model"] == "rag/alpha"
    other = ask(team, ADMIN, "rag/beta").json()["choices"][0]["message"]["content"]
    assert "Lisbon" not in other


def test_a_collection_the_key_may_not_read_is_a_404_like_one_that_does_not_exist(team):
    forbidden, absent = ask(team, ALPHA, "rag"), ask(team, ALPHA, "rag/nowhere")
    for r in (forbidden, absent, ask(team, READER, "rag/beta"), ask(team, ADMIN, "rag/nowhere")):
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found", r.text
    assert forbidden.json()["error"]["message"].replace("'rag'", "X") == \
        absent.json()["error"]["message"].replace("'rag/nowhere'", "X")
    for token, collection in ((READER, "beta"), (ADMIN, "nowhere")):
        s = team.post("/v1/search", headers=as_(token), json={"query": "engineers", "collection": collection})
        d = team.get(f"/v1/documents?collection={collection}", headers=as_(token))
        assert (s.status_code, d.status_code) == (404, 404)
        assert s.json()["error"]["code"] == d.json()["error"]["code"] == "collection_not_found"


def test_search_and_documents_take_a_collection(team):
    hits = team.post("/v1/search", headers=as_(READER), json={"query": "widgets Lisbon", "collection": "alpha"}).json()
    assert hits["data"] and all("Lisbon" in p["text"] for p in hits["data"][:1])
    docs = team.get("/v1/documents?collection=alpha", headers=as_(READER)).json()["data"]
    assert [d["title"] for d in docs] == ["Alpha memo"]
    assert len(team.get("/v1/documents", headers=as_(READER)).json()["data"]) == 5  # the server's own: default
    bad = team.get("/v1/documents?collection=a%20b", headers=as_(ADMIN))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "collection"


def test_uploads_and_removals_need_a_key_that_may_write(team):
    memo = {"documents": [{"name": "c.txt", "text": "Alpha update\n\nThe alpha project opened a Porto office.\n"}]}
    refused = team.post("/v1/documents", headers=as_(READER), json={**memo, "collection": "alpha"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only_key"
    hidden = team.post("/v1/documents", headers=as_(ALPHA), json={**memo, "collection": "beta"})
    assert hidden.status_code == 404  # not "forbidden": beta does not exist for this key
    added = team.post("/v1/documents", headers=as_(ALPHA), json={**memo, "collection": "alpha"})
    assert added.status_code == 201, added.text
    form = team.post("/v1/documents", headers=as_(ALPHA), data={"collection": "alpha"},
                     files={"file": ("d.txt", b"Alpha note\n\nThe alpha project hired a designer.\n", "text/plain")})
    assert form.status_code == 201, form.text
    titles = {d["title"]: d["id"] for d in team.get("/v1/documents?collection=alpha", headers=as_(ALPHA)).json()["data"]}
    assert set(titles) == {"Alpha memo", "Alpha update", "Alpha note"}
    assert team.delete(f"/v1/documents/{titles['Alpha note']}?collection=alpha", headers=as_(READER)).status_code == 403
    gone = team.delete(f"/v1/documents/{titles['Alpha note']}?collection=alpha", headers=as_(ALPHA))
    assert gone.status_code == 200 and gone.json()["deleted"]
    new = team.post("/v1/documents", headers=as_(ADMIN), json={**memo, "collection": "gamma"})
    assert new.status_code == 201  # a key that may write every collection creates one by adding to it
    assert "rag/gamma" in [m["id"] for m in team.get("/v1/models", headers=as_(ADMIN)).json()["data"]]


# ---------------------------------------------------------------- a real server, real clients


@pytest.mark.integration
def test_a_shared_server_with_scoped_keys_through_openai_and_mcp(tmp_path):
    """`rag serve` with RAG_API_KEYS on the real model: the official `openai` package sees each key's models and
    is refused the others as not found; the `mcp` SDK's client reads a collection with `collection` and is told
    a forbidden one does not exist; a malformed keys file stops the server at start with one line."""
    import httpx2
    import openai
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = start_service(tmp_path / "index", port, env={"RAG_API_KEYS": str(keys_file(tmp_path))}, output=log)
    url = f"http://127.0.0.1:{port}"
    try:
        def client(token: str) -> openai.OpenAI:
            return openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=120)

        import httpx

        up = httpx.post(f"{url}/v1/documents", headers=as_(ALPHA), timeout=120, json={
            "collection": "alpha",
            "documents": [{"name": "a.txt", "text": "Alpha memo\n\nThe alpha project shipped 40 widgets to Lisbon.\n"}]})
        assert up.status_code == 201, up.text
        assert [m.id for m in client(READER).models.list()] == ["rag", "rag/alpha"]
        assert [m.id for m in client(ALPHA).models.list()] == ["rag/alpha"]
        done = client(READER).chat.completions.create(
            model="rag/alpha", messages=[{"role": "user", "content": "How many widgets did the alpha project ship?"}])
        assert "40 widgets" in done.choices[0].message.content
        with pytest.raises(openai.NotFoundError) as hidden:
            client(ALPHA).chat.completions.create(model="rag", messages=[{"role": "user", "content": "trade?"}])
        assert hidden.value.body["code"] == "model_not_found"

        async def mcp_as(token: str) -> tuple:
            http = httpx2.AsyncClient(headers=as_(token), timeout=120)
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as c:
                own = await c.call_tool("search", {"query": "widgets Lisbon", "collection": "alpha"})
                other = await c.call_tool("documents", {"collection": "beta"})
                default = await c.call_tool("documents", {})
            return own, other, default

        own, other, default = asyncio.run(mcp_as(ALPHA))
        assert not own.is_error and "Lisbon" in own.structured_content["passages"][0]["text"]
        assert other.is_error and "No collection 'beta'" in other.content[0].text
        assert default.is_error and "No collection 'default'" in default.content[0].text  # alpha-only key
        _, _, default = asyncio.run(mcp_as(READER))
        assert not default.is_error and len(default.structured_content["documents"]) == 5
    finally:
        assert stop(proc) == 0
        log.close()
    bad = tmp_path / "bad.toml"
    bad.write_text('[[key]]\ntoken = "short"\ncollections = ["*"]\n', encoding="utf-8")
    with (tmp_path / "bad.log").open("w") as log, pytest.raises(RuntimeError, match="exited with 1"):
        start_service(tmp_path / "index", free_port(), env={"RAG_API_KEYS": str(bad)}, output=log)
    text = (tmp_path / "bad.log").read_text()
    assert "at least 16 characters" in text and "Traceback" not in text, text[-2000:]


# ---------------------------------------------------------------- the web chat's users


def test_chat_users_get_the_scope_of_the_key_that_names_them(tmp_path, corpus):
    """RAG_UI_AUTH users map to keys by `chat_user`: maria reads alpha only and may not write; a user no key names
    keeps the server's own collection; without keys every collection is open, as before keys."""
    from types import SimpleNamespace

    from rag.chat import WebChat

    path = tmp_path / "keys.toml"
    path.write_text(f'[[key]]\ntoken = "{READER}"\ncollections = ["alpha"]\nchat_user = "maria"\n', encoding="utf-8")
    base = Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=fake_embedder(), auto_build=False)
    base.index([corpus], progress=False)
    base.sibling("alpha").upload([("a.txt", b"Alpha memo\n\nThe alpha project shipped 40 widgets to Lisbon.\n")])
    chat = WebChat(base, keys=Keys.load(path))
    maria, bob = SimpleNamespace(username="maria"), SimpleNamespace(username="bob")
    assert chat.scope(maria) == (["alpha"], False)
    assert chat.scope(bob) == (["default"], True)
    assert WebChat(base).scope(None) == (["default", "alpha"], True)
    assert [d.title for d in chat.docs("alpha", maria).values()] == ["Alpha memo"]
    with pytest.raises(RagError, match="No collection 'default'"):
        chat.target("default", maria)
    with pytest.raises(RagError, match="No collection 'alpha'"):
        chat.target("alpha", bob)
    assert "Choose files first" in chat.add_files([], None, "alpha", maria)[0]  # nothing chosen: nothing to refuse
    answer = chat.add_links("https://example.org/a", None, "alpha", maria)[0]
    assert "may read these articles but not add" in answer
    pages = list(chat.respond("How many widgets?", [], [], 5, collection="alpha", request=maria))
    assert "40 widgets" in pages[-1][0][-1]["content"]
    with pytest.raises(RagError, match="given to two keys"):
        path.write_text(f'[[key]]\ntoken = "{READER}"\ncollections = ["a1b"]\nchat_user = "m1"\n[[key]]\n'
                        f'token = "{ALPHA}"\ncollections = ["a1b"]\nchat_user = "m1"\n', encoding="utf-8")
        Keys.load(path)


def test_the_keys_file_logs_chat_users_in_each_to_their_collections(tmp_path):
    """Several chat users: each key with chat_user and chat_password_sha256 is a chat login; RAG_UI_AUTH's user
    still logs in; a wrong password or an unknown user does not."""
    from rag.launch import auth_of

    digest = hashlib.sha256(b"maria-pass").hexdigest()
    path = tmp_path / "keys.toml"
    path.write_text(f'[[key]]\ntoken = "{READER}"\ncollections = ["alpha"]\nchat_user = "maria"\n'
                    f'chat_password_sha256 = "{digest}"\n[[key]]\ntoken = "{ALPHA}"\ncollections = ["*"]\n'
                    f'chat_user = "bob"\n', encoding="utf-8")
    login = auth_of(Settings(api_keys=path, ui_auth="admin:admin-pass"))
    assert callable(login)
    assert login("maria", "maria-pass") and login("admin", "admin-pass")
    assert not login("maria", "wrong") and not login("bob", "") and not login("eve", "maria-pass")
    assert auth_of(Settings(ui_auth="admin:admin-pass")) == ("admin", "admin-pass")  # no keys file: as before
    path.write_text(f'[[key]]\ntoken = "{READER}"\ncollections = ["alpha"]\nchat_password_sha256 = "{digest}"\n',
                    encoding="utf-8")
    with pytest.raises(RagError, match="needs a chat_user"):
        auth_of(Settings(api_keys=path))
