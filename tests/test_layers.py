"""Imports in rag/ run one way: every module sits in one layer of ARCHITECTURE.md and imports only modules of its
own layer or of the layers below it; no two modules import each other, however indirectly. Every import counts:
at the top of a file, inside a function, and under `if TYPE_CHECKING:` (an annotation that names an upper layer
is a dependency on it all the same)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAG = ROOT / "rag"

# Lowest first. Layers of the same rank are siblings: neither imports the other.
LAYERS: dict[str, tuple[int, set[str]]] = {
    "base": (0, {"errors", "types", "settings", "prompts", "version", "tuning", "localdb", "progress", "runtime"}),
    "ingest": (1, {"clean", "documents", "ocr", "metadata", "load", "web", "chunk", "dedup"}),
    "index": (2, {"embed", "store", "lexical", "sentences", "scope", "snapshot", "retrieve", "indexer"}),
    "answer": (3, {"question", "followup", "features", "scorer", "reader", "candidates", "answerer", "generate"}),
    "facade": (4, {"assistant", "uploads"}),
    "serve": (5, {"gate", "keys", "launch", "watch", "chat", "mcp_server", "api"}),
    "evals": (5, {"metrics", "judge", "report", "evaluate", "suites"}),
    "entry": (6, {"cli", "__init__"}),
}
LAYER_OF = {module: name for name, (_, modules) in LAYERS.items() for module in modules}
# Inside the answer layer the order is stricter still: each imports only those before it.
ANSWER_ORDER = ["question", "features", "candidates", "answerer"]


def modules() -> list[str]:
    return sorted(p.stem for p in RAG.glob("*.py"))


def imports(path: Path, package_modules: set[str]) -> set[str]:
    """The rag modules a file imports, anywhere in it (relative or absolute; `from . import x` names module x
    when there is one, else a name of the package's __init__)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.level == 0 and node.module and node.module.split(".")[0] == "rag"):
                parts = (node.module or "").split(".")
                if node.level == 0:
                    parts = parts[1:]
                if parts and parts[0]:
                    found.add(parts[0])
                else:
                    found |= {a.name if a.name in package_modules else "__init__" for a in node.names}
            elif node.level > 1:
                found.add("<outside rag>")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "rag":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def graph() -> dict[str, set[str]]:
    names = set(modules())
    return {m: imports(RAG / f"{m}.py", names) - {m} for m in names}


def test_every_module_has_a_layer():
    assert set(modules()) - set(LAYER_OF) == set(), "place each new module in a layer here and in ARCHITECTURE.md"
    assert set(LAYER_OF) - set(modules()) == set(), "a module in the table is gone"


def test_architecture_md_places_each_module_where_this_table_does():
    """ARCHITECTURE.md's layer table names every module in the row of its layer (the document matches the code)."""
    rows = [line for line in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and "`" in line.split("|")[2]]
    written = {}
    for line in rows:
        layer_cell, modules_cell = line.split("|")[1:3]
        for module in re.findall(r"`(\w+)`", modules_cell):
            written[module] = layer_cell.strip()
    for module, layer in LAYER_OF.items():
        assert module in written, f"ARCHITECTURE.md does not place rag/{module}.py"
        expected = {"serve": "serve / evals (siblings)", "evals": "serve / evals (siblings)"}.get(layer, layer)
        assert written[module] == expected, f"{module}: ARCHITECTURE.md says {written[module]!r}, the test {layer!r}"


@pytest.mark.parametrize("module", modules())
def test_a_module_imports_only_its_own_layer_and_the_layers_below(module):
    rank, _ = LAYERS[LAYER_OF[module]]
    wrong = set()
    for dep in graph()[module]:
        if dep not in LAYER_OF:
            wrong.add(dep)
            continue
        dep_rank, _ = LAYERS[LAYER_OF[dep]]
        if dep_rank > rank or (dep_rank == rank and LAYER_OF[dep] != LAYER_OF[module]):
            wrong.add(f"{dep} ({LAYER_OF[dep]})")
    assert not wrong, f"rag/{module}.py ({LAYER_OF[module]}) imports upward or sideways: {sorted(wrong)}"


def test_no_import_cycle():
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in g:
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"


@pytest.mark.parametrize("module", ANSWER_ORDER)
def test_the_answer_stage_runs_one_way(module):
    later = set(ANSWER_ORDER[ANSWER_ORDER.index(module) + 1:])
    assert not graph()[module] & later


@pytest.mark.parametrize("module", ["reader", "scorer"])
def test_the_models_import_no_answering_policy(module):
    assert not graph()[module] & {"candidates", "answerer", "assistant"}


def test_the_walk_sees_imports_inside_functions_and_type_checking(tmp_path):
    """The checker itself: an import hidden in a function or under TYPE_CHECKING is found."""
    source = tmp_path / "probe.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .api import X\n"
                      "def f():\n    from . import chat\n    import rag.cli\n    from rag import Assistant\n",
                      encoding="utf-8")
    assert imports(source, {"chat", "api", "cli"}) == {"api", "chat", "cli", "__init__"}


def test_ui_py_is_only_the_chat_entry_point():
    tree = ast.parse((ROOT / "ui.py").read_text(encoding="utf-8"))
    defined = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Assign))]
    assert not defined, "ui.py holds nothing but the call into rag/chat.py"
    assert imports(ROOT / "ui.py", set(modules())) == {"chat"}


def test_no_module_reads_the_chat_password_from_the_environment():
    """RAG_UI_AUTH is a setting (Settings.ui_auth), read in one place."""
    pattern = re.compile(r"environ(\.get\(|\[)[\"']RAG_UI_AUTH")
    readers = [m for m in modules() if pattern.search((RAG / f"{m}.py").read_text(encoding="utf-8"))]
    assert readers == []


def test_the_old_two_way_module_is_gone():
    assert not (RAG / "answer.py").exists(), "answer.py and features.py imported each other"
