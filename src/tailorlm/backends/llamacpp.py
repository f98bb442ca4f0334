"""The optional llama.cpp engine: GGUF models (and LoRA adapters converted to GGUF) run through
`llama-cpp-python`, selected with the spec `llamacpp:MODEL` (MODEL: the alias smollm2-135m or
a .gguf file), e.g. `tailor eval sql-sales --model llamacpp:smollm2-135m`.

`llama-cpp-python` is an optional extra (`pip install -e '.[llamacpp]'`): it compiles llama.cpp
from source, about 12 minutes on a 2-core CPU, so `make demo` never installs it.

Prompts are rendered and tokenized by the model's Hugging Face tokenizer, exactly as in the
transformers backend, and handed to llama.cpp as token ids, so both engines see the same
tokens. llama.cpp computes on the GGUF's own (here 4-bit) weights with its own kernels, so
greedy outputs can differ from the transformers backend's de-quantized ones in places;
benchmarks/bench_llamacpp.py counts how often. Requests run one at a time (llama-cpp-python
has no batched generation); llama.cpp keeps the previous prompt's key/value cache and reuses
the part a new prompt shares with it, which gives engineered prompts with a fixed prefix the
same saving as the transformers backend's prefix cache. `generate_stream` streams text pieces,
so `tailor serve` streams a `llamacpp:` model token by token.

A PEFT LoRA adapter (a fine-tuning run's `adapter/` folder) is converted once into a GGUF LoRA
file in the model cache (llama architecture: q/k rows permuted as llama.cpp's converter does
for the base weights) and applied by llama.cpp at run time."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from tailorlm import paths
from tailorlm.backends.chat import ChatTemplated
from tailorlm.backends.models import LLAMACPP_ENGINE, packaged_gguf, resolve_model
from tailorlm.backends.spec import DEFAULT_MODEL, ModelSpec
from tailorlm.backends.streaming import OnText
from tailorlm.errors import ModelError
from tailorlm.hardware import free_cores
from tailorlm.types import Completion, GenerationOptions, Messages

INSTALL_HINT = (
    "install the optional engine: pip install -e '.[llamacpp]' (builds llama.cpp, ~12 min)"
)
# HF projection name -> llama.cpp tensor name in block `blk.N`
_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_file(spec: str) -> Path:
    """The GGUF file a `llamacpp:` spec names."""
    name = ModelSpec.parse(spec).weights
    if name == DEFAULT_MODEL:
        return packaged_gguf()
    path = Path(name).expanduser()
    if path.suffix != ".gguf":
        raise ModelError(
            f"The llama.cpp engine runs GGUF files; '{name}' is not one.",
            hint=f"use llamacpp:{DEFAULT_MODEL} or llamacpp:/path/to/model.gguf",
        )
    if not path.is_file():
        raise ModelError(f"GGUF file not found: {path}")
    return path


def _import_llama() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelError("The llama.cpp engine is not installed.", hint=INSTALL_HINT) from exc
    return Llama


class LlamaCppBackend(ChatTemplated):
    """A GGUF model run by llama.cpp; `adapter` is a PEFT LoRA folder trained on that model."""

    def __init__(
        self,
        spec: str,
        *,
        adapter: str | Path | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
    ) -> None:
        from tailorlm.backends.local import adapter_label, load_tokenizer

        started = time.perf_counter()
        Llama = _import_llama()
        self.gguf = gguf_file(spec)
        inner = ModelSpec.parse(spec).weights  # `X` and `llamacpp:X` name the same weights
        self.name = ModelSpec("llamacpp", inner).text + (
            f"+{adapter_label(adapter)}" if adapter else ""
        )
        resolved = resolve_model(inner)  # the tokenizer (and chat template) of the same model
        self.tokenizer = load_tokenizer(resolved)
        lora = gguf_lora(Path(adapter), Path(resolved.path)) if adapter else None
        self.llm = Llama(
            model_path=str(self.gguf),
            n_ctx=n_ctx,
            n_threads=threads or free_cores(),
            lora_path=str(lora) if lora else None,
            verbose=False,
        )
        # Free the model while the interpreter is still whole: llama-cpp-python's own __del__
        # at exit runs after its C library is unloaded and prints a traceback.
        atexit.register(self.llm.close)
        self.device, self.dtype = "cpu", "gguf"
        self.engine = LLAMACPP_ENGINE  # what engine_of names it, loaded or not
        self.load_seconds = time.perf_counter() - started

    def generate(
        self, batch: Sequence[Messages], options: GenerationOptions | None = None
    ) -> list[Completion]:
        options = options or GenerationOptions()
        return [self._one(messages, options) for messages in batch]

    def generate_stream(
        self, batch: Sequence[Messages], options: GenerationOptions | None, on_text: OnText
    ) -> list[Completion]:
        """`generate`, calling `on_text(row, piece)` as each row's text grows (llama.cpp holds
        back text that could still become a stop string, so the pieces join to the text)."""
        options = options or GenerationOptions()
        return [
            self._one(messages, options, partial(on_text, row))
            for row, messages in enumerate(batch)
        ]

    def _one(
        self,
        messages: Messages,
        options: GenerationOptions,
        on_piece: Callable[[str], None] | None = None,
    ) -> Completion:
        ids = self.encode(self.render(messages))
        started = time.perf_counter()
        greedy = options.temperature <= 0
        out = self.llm.create_completion(
            prompt=list(ids),
            max_tokens=options.max_new_tokens,
            temperature=0.0 if greedy else options.temperature,
            top_p=1.0 if greedy else options.top_p,
            top_k=1 if greedy else 40,
            repeat_penalty=1.0,
            stop=list(options.stop) or None,
            seed=options.seed,
            stream=on_piece is not None,
        )
        if on_piece is None:
            choice, usage = out["choices"][0], out["usage"]
            text, reason = choice["text"], choice.get("finish_reason")
            completion_tokens = int(usage["completion_tokens"])
        else:
            pieces, reason = [], None
            for chunk in out:
                choice = chunk["choices"][0]
                if choice["text"]:
                    pieces.append(choice["text"])
                    on_piece(choice["text"])
                reason = choice.get("finish_reason") or reason
            text = "".join(pieces)
            completion_tokens = len(self.encode(text))  # streamed chunks carry no usage
        return Completion(
            text=text,
            prompt_tokens=len(ids),
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
            finish_reason="length" if reason == "length" else "stop",
        )


def gguf_lora(adapter: Path, base_dir: Path) -> Path:
    """The PEFT adapter as a GGUF LoRA file in the model cache (converted once, atomically)."""
    config_file, weights = adapter / "adapter_config.json", adapter / "adapter_model.safetensors"
    if not config_file.is_file() or not weights.is_file():
        raise ModelError(
            f"{adapter} is not a PEFT adapter folder (adapter_config.json and "
            "adapter_model.safetensors).",
            hint="pass the `adapter/` folder of a LoRA fine-tuning run",
        )
    digest = hashlib.sha256(config_file.read_bytes() + weights.read_bytes()).hexdigest()[:16]
    target = paths.model_cache_dir() / f"lora-{digest}.gguf"
    if target.is_file():
        return target
    fd, tmp = tempfile.mkstemp(prefix=".tmp-lora-", suffix=".gguf", dir=paths.model_cache_dir())
    os.close(fd)
    try:
        write_gguf_lora(adapter, base_dir, Path(tmp))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def write_gguf_lora(adapter: Path, base_dir: Path, out: Path) -> None:
    """Write llama.cpp's LoRA format: `blk.N.<tensor>.weight.lora_a` ([r, in]) and `.lora_b`
    ([out, r]), float32, with the adapter's alpha. Only llama-architecture models and the seven
    linear projections are supported (what `tailor finetune` trains by default)."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    base = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    if base.get("model_type") != "llama":
        raise ModelError(
            f"Converting adapters for llama.cpp supports llama models; this one is "
            f"'{base.get('model_type')}'.",
            hint="evaluate the adapter with the transformers backend (no `llamacpp:` prefix)",
        )
    heads, kv_heads = base["num_attention_heads"], base.get("num_key_value_heads")
    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    writer = gguf.GGUFWriter(str(out), arch="llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for name in sorted(tensors):
        if ".lora_A." not in name:
            continue
        target = _target_name(name)
        a = tensors[name].astype("float32")
        b = tensors[name.replace(".lora_A.", ".lora_B.")].astype("float32")
        if target.endswith("attn_q"):
            b = _permute(b, heads, heads)
        elif target.endswith("attn_k"):
            b = _permute(b, heads, kv_heads)
        writer.add_tensor(f"{target}.weight.lora_a", a)
        writer.add_tensor(f"{target}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _target_name(peft_name: str) -> str:
    """`base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` -> `blk.3.attn_q`."""
    inner = peft_name.split(".layers.", 1)
    if len(inner) != 2:
        raise ModelError(f"Cannot convert adapter tensor '{peft_name}' for llama.cpp.")
    layer, rest = inner[1].split(".", 1)
    module = rest.split(".lora_A.", 1)[0]
    if module not in _TENSORS:
        raise ModelError(
            f"Cannot convert adapter tensor '{peft_name}' for llama.cpp: only the attention and "
            "MLP projections are supported.",
        )
    return f"blk.{layer}.{_TENSORS[module]}"


def _permute(weights: Any, n_head: int, n_head_kv: int | None) -> Any:
    """llama.cpp's q/k row order for rotary embeddings (its converter's `permute`)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    shape = weights.shape
    return (
        weights.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:])
        .swapaxes(1, 2)
        .reshape(shape)
    )
