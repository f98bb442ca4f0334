"""Damaged model files fail with one ModelError that names the file and what is wrong."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tailorlm import paths
from tailorlm.backends import models
from tailorlm.backends.local import LocalBackend
from tailorlm.backends.models import packaged_gguf, resolve_model
from tailorlm.errors import ModelError


def _head(n: int) -> bytes:
    with packaged_gguf().open("rb") as fh:
        return fh.read(n)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda: os.urandom(4096), "is not a GGUF file (it does not start with the GGUF magic"),
        (lambda: b"", "is not a GGUF file (it is empty)"),
        (lambda: _head(20), "is truncated: its header ends early"),
        (lambda: _head(1_000_000), "is truncated: its header ends early"),
        (lambda: _head(4_000_000), "is truncated: it has 4,000,000 bytes but its tensors end"),
    ],
    ids=["random", "empty", "20-bytes", "in-metadata", "in-tensors"],
)
def test_bad_gguf_names_the_file_and_leaves_no_cache(tmp_path, monkeypatch, content, message):
    monkeypatch.setenv("TAILOR_MODEL_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(content())
    with pytest.raises(ModelError) as info:
        resolve_model(str(gguf))
    assert message in info.value.message and str(gguf) in info.value.message
    assert "\n" not in info.value.message and info.value.hint
    assert list(paths.model_cache_dir().iterdir()) == []


def test_conversion_error_becomes_a_model_error_without_a_cache_folder(tmp_path, monkeypatch):
    """What the file makes transformers raise (here: an architecture it lacks) names the file;
    the half-written temp folder goes."""
    monkeypatch.setenv("TAILOR_MODEL_CACHE", str(tmp_path / "cache"))

    def unsupported(gguf: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise ValueError("GGUF model with architecture nope is not supported yet.\nmore")

    monkeypatch.setattr(models, "_convert", unsupported)
    with pytest.raises(ModelError, match="cannot be converted to safetensors: GGUF model with"):
        resolve_model("smollm2-135m")
    assert list(paths.model_cache_dir().iterdir()) == []


def _model_copy(source: Path, target: Path, files: dict[str, bytes | None]) -> Path:
    """A copy of a model folder with `files` replaced (bytes) or deleted (None)."""
    shutil.copytree(source, target)
    for name, data in files.items():
        path = target / name
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
    return target


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"config.json": b""}, "has an empty config.json"),
        ({"config.json": b"{"}, "has an invalid config.json (not JSON"),
        ({"config.json": b"[1]"}, "has an invalid config.json (not a JSON object)"),
        ({"tokenizer.json": None, "tokenizer_config.json": None}, "No tokenizer files in"),
    ],
    ids=["empty-config", "config-not-json", "config-not-object", "no-tokenizer"],
)
def test_bad_model_folder_is_rejected_when_resolved(tmp_path, tiny_model_dir, files, message):
    folder = _model_copy(tiny_model_dir, tmp_path / "model", files)
    with pytest.raises(ModelError) as info:
        resolve_model(str(folder))
    assert message in info.value.message and str(folder) in info.value.message


def test_folder_with_only_an_empty_config(tmp_path):
    (tmp_path / "config.json").write_text("")
    with pytest.raises(ModelError, match="has an empty config.json"):
        resolve_model(str(tmp_path))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"model.safetensors": b"\x00" * 64}, "Cannot load the model from"),
        ({"model.safetensors": None}, "Cannot load the model from"),
        ({"tokenizer.json": b"garbage"}, "Cannot load the tokenizer from"),
        ({"config.json": b'{"model_type": "nope"}'}, "Cannot load the model from"),
    ],
    ids=["damaged-weights", "no-weights", "damaged-tokenizer", "unknown-architecture"],
)
def test_load_errors_are_one_line_model_errors(tmp_path, tiny_model_dir, files, message):
    folder = _model_copy(tiny_model_dir, tmp_path / "model", files)
    with pytest.raises(ModelError) as info:
        LocalBackend(str(folder))
    assert message in info.value.message and str(folder) in info.value.message
    assert "\n" not in info.value.message
