import subprocess
import sys


def test_import_rag_is_light():
    code = (
        "import sys, rag\n"
        "heavy = [m for m in ('gradio', 'torch', 'chromadb', 'sentence_transformers', 'llama_index.core') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert set(rag.__all__) <= set(dir(rag))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_public_names():
    import rag

    assert {"Assistant", "Settings", "Passage", "IndexReport", "RagError", "IndexNotFound", "EmbeddingMismatch"} <= set(rag.__all__)
