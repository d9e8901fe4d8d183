"""The answer stage's imports run one way: question <- features <- candidates <- answerer <- assistant, and the
reader and the scorer depend on none of candidates, answerer or assistant (imports under TYPE_CHECKING, for
annotations only, do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RAG = Path(__file__).resolve().parents[1] / "rag"
ORDER = ["question", "features", "candidates", "answerer", "assistant"]


def runtime_imports(module: str) -> set[str]:
    """The rag modules a module imports when it runs (relative imports, at any depth of the file)."""
    tree = ast.parse((RAG / f"{module}.py").read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found |= {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize("module", ORDER)
def test_each_layer_imports_only_the_layers_below_it(module):
    above = set(ORDER[ORDER.index(module) + 1:])
    assert not runtime_imports(module) & above, f"rag/{module}.py imports {runtime_imports(module) & above}"


@pytest.mark.parametrize("module", ["reader", "scorer"])
def test_the_models_import_no_answering_policy(module):
    assert not runtime_imports(module) & {"candidates", "answerer", "assistant"}


def test_the_old_two_way_module_is_gone():
    assert not (RAG / "answer.py").exists(), "answer.py and features.py imported each other"
