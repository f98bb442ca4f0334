"""Export a fine-tuned model for an OpenAI-compatible inference engine: the layout that
`vllm serve BASE --enable-lora --lora-modules NAME=DIR/adapter` and SGLang's
`--lora-paths NAME=DIR/adapter` load, next to the prompt program and `serve.txt`, which holds
the exact command lines: the engine's, and the `tailor serve --engine` that fronts it (the
prompt program and the answer parser applied as they were measured; the engine generates and
batches).

    DIR/adapter/      adapter_config.json (its base_model_name_or_path naming the base the
                      engine serves) + adapter_model.safetensors + the tokenizer
    DIR/model/        instead, for a full fine-tuning run or with `merge`: a plain HF folder
                      (`vllm serve DIR/model --served-model-name NAME`)
    DIR/base/         the base weights, when they came from a GGUF file: an engine loads a
                      HF folder, and these are the de-quantized weights the adapter was
                      trained on (the original checkpoint's differ by the quantization)
    DIR/program.json  the prompt program; DIR/serve.txt  the commands

An adapter vLLM would refuse (the checks of vLLM's vllm/lora/peft_helper.py, plus the
embeddings) is refused here, before anything is written, with the merged export as the way
out. The output appears under its final name only when complete."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

from tailorlm.backends.models import resolve_model
from tailorlm.errors import ConfigError, TailorError
from tailorlm.finetune.export import ExportResult, staged, write_model

ADAPTER_DIR, MODEL_DIR, BASE_DIR = "adapter", "model", "base"
SERVE_FILE = "serve.txt"
# vLLM's choices for --max-lora-rank (it allocates LoRA slots of that rank; its default is 16).
MAX_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
# Ports: the engine's off tailor's default 8000, so `tailor serve` in front can keep it.
VLLM_PORT, SGLANG_PORT = 8001, 30000
_BOOKKEEPING = ("MANIFEST.json", "best.json")  # tailor's own files in a run's adapter folder
_EMBEDDINGS = ("embed_tokens", "lm_head", "wte", "embed_in", "embed_out", "word_embeddings")
_UNSUPPORTED = {  # adapter_config.json fields set to something vLLM cannot load
    "modules_to_save": "whole trained copies of modules (modules_to_save)",
    "use_dora": "DoRA weights (use_dora)",
    "trainable_token_indices": "trained token embeddings (trainable_token_indices)",
    "rank_pattern": "per-module ranks (rank_pattern)",
    "alpha_pattern": "per-module alphas (alpha_pattern)",
    "lora_bias": "LoRA bias terms (lora_bias)",
}


def export_for_engine(
    base: str,
    adapter: str | None,
    program: Path,
    out: str | Path,
    *,
    name: str,
    merge: bool = False,
    base_model: str | None = None,
) -> ExportResult:
    """Write the engine layout for `base` (+ `adapter`) to the new folder `out`; the engine
    serves it as the model `name`. `base_model` names what the engine loads as the base
    (default: the run's hub id or folder, or a copy in DIR/base for a GGUF base)."""
    out = Path(out).expanduser().absolute()  # serve.txt names absolute paths
    if base_model and (adapter is None or merge):
        raise ConfigError(
            "--base-model names the base an adapter is served on; this export is a whole model.",
            hint="drop --base-model (or --merge)",
        )
    config = check_adapter(Path(adapter)) if adapter and not merge else None
    with staged(out) as tmp:
        if config is None:
            kind = write_model(base, adapter, merge, tmp / MODEL_DIR)
            text = model_commands(name, out / MODEL_DIR)
        else:
            served = base_model or _served_base(base, tmp / BASE_DIR, out / BASE_DIR)
            kind = _write_adapter(Path(str(adapter)), tmp / ADAPTER_DIR, config, served)
            text = adapter_commands(name, served, out / ADAPTER_DIR, int(config["r"]))
        shutil.copy2(program, tmp / program.name)
        (tmp / SERVE_FILE).write_text(text, encoding="utf-8")
    return ExportResult(out, kind, serve=out / SERVE_FILE)


def check_adapter(folder: Path) -> dict[str, Any]:
    """The adapter's config, if vLLM can load the adapter; else a TailorError naming why."""
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    problems = [why for key, why in _UNSUPPORTED.items() if config.get(key)]
    if missing := [key for key in ("r", "lora_alpha", "target_modules") if key not in config]:
        problems.append(f"no {', '.join(missing)} in adapter_config.json")
    if config.get("peft_type", "LORA") != "LORA":
        problems.append(f"a {config['peft_type']} adapter, not LoRA")
    if config.get("bias", "none") != "none":
        problems.append(f"trained bias terms (bias={config['bias']!r})")
    if embeddings := _embedding_targets(config.get("target_modules") or []):
        problems.append(f"adapters on the embeddings ({', '.join(embeddings)})")
    if int(config.get("r", 0)) > MAX_LORA_RANKS[-1]:
        problems.append(f"rank {config['r']}, above vLLM's largest --max-lora-rank (512)")
    if not (folder / "adapter_model.safetensors").is_file():
        problems.append("no adapter_model.safetensors")
    if problems:
        raise TailorError(
            "vLLM cannot load this adapter: it has " + "; ".join(problems) + ".",
            hint="export the merged model instead: add --merge (the engine then serves DIR/model)",
        )
    return dict(config)


def max_lora_rank(rank: int) -> int:
    """The smallest `--max-lora-rank` vLLM accepts that holds an adapter of `rank`."""
    return next(choice for choice in MAX_LORA_RANKS if rank <= choice)


def _embedding_targets(targets: str | list[str]) -> list[str]:
    names = [targets] if isinstance(targets, str) else list(targets)
    return [t for t in names if any(e in t.rsplit(".", 1)[-1] for e in _EMBEDDINGS)]


def _served_base(base: str, copy_to: Path, final: Path) -> str:
    """What the engine loads as the base: a hub id or a HF folder as it is; a GGUF base's
    de-quantized weights (the ones the adapter was trained on) copied into the export."""
    resolved = resolve_model(base)
    if not resolved.source:
        return resolved.path
    shutil.copytree(resolved.path, copy_to)
    return str(final)


def _write_adapter(source: Path, target: Path, config: dict[str, Any], served: str) -> str:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*_BOOKKEEPING))
    config = {**config, "base_model_name_or_path": served}
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    (target / "adapter_config.json").write_text(text, encoding="utf-8")
    return "adapter"


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def adapter_commands(name: str, served: str, adapter_dir: Path, rank: int) -> str:
    module = shlex.quote(f"{name}={adapter_dir}")
    sglang_front = shlex.quote(f"openai:{served}:{{run}}@{_url(SGLANG_PORT)}")
    return _serve_text(
        name,
        f"the base model {served} with this adapter (LoRA rank {rank}), as the model {name}",
        [
            f"vllm serve {shlex.quote(served)} --port {VLLM_PORT} --enable-lora "
            f"--lora-modules {module} --max-lora-rank {max_lora_rank(rank)}",
            f"python -m sglang.launch_server --model-path {shlex.quote(served)} "
            f"--port {SGLANG_PORT} --lora-paths {module}",
        ],
        [
            f"tailor serve --engine openai@{_url(VLLM_PORT)}",
            f"tailor serve --engine {sglang_front}   # SGLang names an adapter BASE:NAME",
        ],
    )


def model_commands(name: str, model_dir: Path) -> str:
    model = shlex.quote(str(model_dir))
    return _serve_text(
        name,
        f"the fine-tuned model, as the model {name}",
        [
            f"vllm serve {model} --port {VLLM_PORT} --served-model-name {name}",
            f"python -m sglang.launch_server --model-path {model} --port {SGLANG_PORT} "
            f"--served-model-name {name}",
        ],
        [
            f"tailor serve --engine openai@{_url(VLLM_PORT)}",
            f"tailor serve --engine openai@{_url(SGLANG_PORT)}",
        ],
    )


def _serve_text(name: str, what: str, engine: list[str], front: list[str]) -> str:
    return "\n".join(
        [
            f"# Fine-tuning run {name}, exported by `tailor export {name} --for vllm`.",
            "# Paths are absolute: if you move this folder, change them.",
            "",
            f"# 1. The engine (on the GPU machine) serves {what}. vLLM:",
            engine[0],
            "# or SGLang:",
            engine[1],
            "",
            "# 2. tailor in front of it, where the run store holds this run: clients keep one",
            "#    API (ft:...:<run> at http://127.0.0.1:8000/v1); tailor applies the prompt",
            "#    program (program.json) and the answer parser, the engine generates and batches.",
            "#    An engine on another machine: put its address for 127.0.0.1.",
            front[0],
            "# or in front of SGLang:",
            front[1],
            "",
        ]
    )
