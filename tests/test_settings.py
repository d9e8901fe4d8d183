import pytest
from pydantic import ValidationError

from rag import Settings


def test_environment_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_CHUNK_SIZE", "500")
    monkeypatch.setenv("RAG_CHROMA_URL", "http://127.0.0.1:9000/")
    s = Settings()
    assert (s.chunk_size, s.chroma_url) == (500, "http://127.0.0.1:9000")
    assert Settings().index_dir == tmp_path / "index"


def test_unknown_keys_and_bad_values_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Settings(chunk_sise=500)
    with pytest.raises(ValidationError, match="chroma_url"):
        Settings(chroma_url="localhost:8000")
    with pytest.raises(ValidationError):
        Settings(chunk_size=10)


def test_every_field_is_described():
    assert all(f.description for f in Settings.model_fields.values())
