"""Export a fine-tuned model for use outside tailorlm (`tailorlm.training.export_run` exports
a stored run).

* adapter only: the PEFT adapter folder (+ tokenizer, prompt program) - small, needs the base;
* `merge=True`: base + adapter merged into a plain Hugging Face folder (safetensors) that
  `AutoModelForCausalLM.from_pretrained` loads without peft;
* `gguf=True` (with merge): also a GGUF file for llama.cpp / Ollama. Practical when the base
  model itself came from a GGUF file of the llama architecture (the default model does): its
  tokenizer and chat-template metadata are copied as they are and the merged weights written in
  F16 or F32 with the `gguf` package. Other bases: run llama.cpp's `convert_hf_to_gguf.py` on
  the merged folder;
* for vLLM / SGLang: see `tailorlm.finetune.export_vllm`.

The output appears under its final name only when complete (built in a temp folder first)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.backends.models import resolve_model
from tailorlm.errors import TailorError

GGUF_FILE = "model.gguf"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    kind: str  # "adapter" | "merged" | "full"
    gguf: Path | None = None
    serve: Path | None = None  # serve.txt of an export for an engine (export_vllm.py)


def export_model(
    base: str,
    adapter: str | None,
    program: Path,
    out: str | Path,
    *,
    merge: bool = False,
    gguf: bool = False,
    gguf_dtype: str = "f16",
) -> ExportResult:
    """Write `base` (+ `adapter`) and the prompt program to the new folder `out`."""
    out = Path(out).expanduser()
    if gguf and not merge and adapter:
        raise TailorError("GGUF export needs merged weights.", hint="add --merge")
    with staged(out) as tmp:
        kind = write_model(base, adapter, merge, tmp)
        shutil.copy2(program, tmp / program.name)
        gguf_path = _write_gguf(tmp, _gguf_source(base, adapter), gguf_dtype) if gguf else None
    return ExportResult(out, kind, out / GGUF_FILE if gguf_path else None)


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A temp folder next to `out`, renamed to `out` when the block ends without an error and
    deleted otherwise: an export is complete or absent, never half-written."""
    _check_target(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TailorError(
            f"{out} already exists.", hint="choose another --out folder, or delete that one"
        )
    if out.exists():
        out.rmdir()  # empty: replaced by the finished export
    out.parent.mkdir(parents=True, exist_ok=True)


def write_model(base: str, adapter: str | None, merge: bool, target: Path) -> str:
    """Write the model to `target`: a full run's model folder, the adapter, or base + adapter
    merged; returns which ("full", "adapter" or "merged")."""
    if adapter is None:  # full fine-tuning: the run's model folder is already a plain model
        shutil.copytree(base, target, dirs_exist_ok=True)
        return "full"
    if not merge:
        shutil.copytree(adapter, target, dirs_exist_ok=True)
        return "adapter"
    merged_model(base, adapter).save_pretrained(target, safe_serialization=True)
    _tokenizer(adapter).save_pretrained(target)
    return "merged"


def merged_model(base: str, adapter: str) -> Any:
    """Base model (float32) with the adapter merged into its weights."""
    from transformers import AutoModelForCausalLM

    from tailorlm.backends.local import attach_adapter
    from tailorlm.backends.models import quiet_transformers

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(resolve_model(base).path, dtype="float32")
    return attach_adapter(model, Path(adapter), merge=True)


def _tokenizer(folder: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def _gguf_source(base: str, adapter: str | None) -> Path:
    source = resolve_model(base).source if adapter else ""
    if not source:
        raise TailorError(
            "GGUF export reuses the tokenizer metadata of the GGUF file the base model came "
            "from, and this run's base model is not a GGUF file.",
            hint="export with --merge only, then run llama.cpp's convert_hf_to_gguf.py on it",
        )
    return Path(source)


def _write_gguf(merged_dir: Path, source: Path, dtype: str) -> Path:
    from safetensors.torch import load_file

    state = {}
    for shard in sorted(merged_dir.glob("*.safetensors")):
        state.update(load_file(shard))
    target = merged_dir / GGUF_FILE
    write_gguf(state, source, target, dtype)
    return target


def _permute(weights: Any, n_head: int) -> Any:
    """llama.cpp stores q/k rows in the rotary layout of the original Llama checkpoints
    (the inverse of what transformers does when it loads a GGUF)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _copy_metadata(reader: Any, writer: Any) -> None:
    skip = {"general.architecture", "general.file_type"}
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in skip:
            continue
        sub_type = field.types[1] if len(field.types) > 1 else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)


def write_gguf(state: Mapping[str, Any], source: Path, target: Path, dtype: str = "f16") -> None:
    """Write `state` (merged HF llama weights) as GGUF, metadata copied from `source`."""
    import gguf as g
    import numpy as np

    reader = g.GGUFReader(source)
    meta = {name: f.contents() for name, f in reader.fields.items() if f.types}
    if meta["general.architecture"] != "llama":
        raise TailorError(
            f"GGUF export supports the llama architecture; {source.name} is "
            f"{meta['general.architecture']}.",
            hint="run llama.cpp's convert_hf_to_gguf.py on the merged folder",
        )
    layers, heads = meta["llama.block_count"], meta["llama.attention.head_count"]
    kv_heads = meta.get("llama.attention.head_count_kv", heads)
    names = g.get_tensor_name_map(g.MODEL_ARCH.LLAMA, layers)
    expected = {t.name for t in reader.tensors}
    writer = g.GGUFWriter(str(target), "llama")
    _copy_metadata(reader, writer)
    ftype = g.LlamaFileType.MOSTLY_F16 if dtype == "f16" else g.LlamaFileType.ALL_F32
    writer.add_file_type(ftype)
    written = set()
    for hf_name, tensor in state.items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name not in expected:  # e.g. lm_head.weight of a model with tied embeddings
            continue
        data = tensor.float().numpy()
        if hf_name.endswith("q_proj.weight") or hf_name.endswith("k_proj.weight"):
            data = _permute(data, heads if "q_proj" in hf_name else kv_heads)
        writer.add_tensor(
            name, data.astype(np.float16) if dtype == "f16" and data.ndim > 1 else data
        )
        written.add(name)
    if written != expected:
        raise TailorError(f"GGUF export: tensors missing: {sorted(expected - written)[:5]}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
