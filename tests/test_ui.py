import sys

from rag import Assistant, Settings
from ui import search_html

from .conftest import fake_embedder


def test_passages_are_escaped_html(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "evil.txt").write_text('The <img src=x onerror="alert(1)"> tag appears in this sentence about trade.', encoding="utf-8")
    a = Assistant(settings=Settings(index_dir=tmp_path / "index"), embedder=fake_embedder(), auto_build=False)
    a.index([folder], progress=False)
    out = search_html(a, "tag about trade", 1)
    assert "<img" not in out and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out
    assert "class='error'" in search_html(a, "   ", 1)


def test_build_app_does_not_launch(tmp_path):
    from ui import build_app

    app = build_app(Assistant(index_dir=tmp_path / "i", embedder=fake_embedder()))
    assert app.__class__.__name__ == "Blocks" and "gradio" in sys.modules
