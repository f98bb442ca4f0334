"""Training throughput of our fine-tuning loop vs a plain TRL SFTTrainer with its default
settings, LoRA on the same sql-sales rows in the same run, and both against a compute ceiling
(a float32 matmul measured here). Prints the ratios.

    .venv/bin/python benchmarks/bench_train.py [--steps 6] [--model smollm2-135m]
                                               [--trl-fp32] [--json rows.json]

Ours runs in the precision `tailor finetune` picks here (bf16 on a GPU or a CPU with native
bf16, else float32) and is compared with a matmul ceiling in that precision. Tokens/s counts
real (non-padding) prompt + answer tokens, after one warm-up step. TRL's
defaults include bf16 autocast and gradient checkpointing (see SFTConfig); `--trl-fp32` also
measures TRL with bf16 and gradient checkpointing off, for a like-for-like float32 comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import emit, row  # noqa: E402


def matmul_ceiling(dtype: str = "float32", size: int = 1536, repeats: int = 20) -> float:
    """GFLOP/s of a large square matmul in `dtype`: what this machine can do at best."""
    import torch

    if torch.cuda.is_available():  # a GPU needs a size that fills it
        size, repeats = 8192, 50
    device = _device()
    a = torch.randn(size, size, dtype=getattr(torch, dtype), device=device)
    b = torch.randn(size, size, dtype=getattr(torch, dtype), device=device)
    a @ b
    _sync()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync() -> None:
    """Wait for queued GPU work, so that a host clock times it (a no-op on a CPU)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def model_matmul_rate(model: str, dtype: str, tokens: int = 768, repeats: int = 5) -> float:
    """GFLOP/s of the model's own matmuls on a `tokens`-row micro-batch (the CPU cap): one
    layer's q/k/v/o and MLP projections and the vocabulary projection, each forward (x @ W^T)
    and backward to the activations (dy @ W), weighted as one training step runs them. The
    rate a perfect training loop would reach if it did nothing but matmuls."""
    import json

    import torch

    from tailorlm.backends.models import resolve_model

    cfg = json.loads((Path(resolve_model(model).path) / "config.json").read_text())
    hidden, inner = cfg["hidden_size"], cfg["intermediate_size"]
    head = cfg.get("head_dim") or hidden // cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", cfg["num_attention_heads"]) * head
    layers = cfg["num_hidden_layers"]
    # (out, in, uses per step): q, o; k, v; gate, up; down; the tied vocabulary projection
    shapes = [(hidden, hidden, 2 * layers), (kv, hidden, 2 * layers), (inner, hidden, 2 * layers)]
    shapes += [(hidden, inner, layers), (cfg["vocab_size"], hidden, 1)]
    kind, device = getattr(torch, dtype), _device()
    flops = seconds = 0.0
    for out, inp, uses in shapes:
        w = torch.randn(out, inp, dtype=kind, device=device)
        x = torch.randn(tokens, inp, dtype=kind, device=device)
        dy = torch.randn(tokens, out, dtype=kind, device=device)
        x @ w.T, dy @ w
        _sync()
        started = time.perf_counter()
        for _ in range(repeats):
            x @ w.T
            dy @ w
        _sync()
        seconds += (time.perf_counter() - started) / repeats * uses
        flops += 2 * 2 * tokens * out * inp * uses
    return flops / seconds / 1e9


def ours(
    model: str, steps: int, batch_size: int, precision: str, cuda_graphs: bool | None = None
) -> dict[str, Any]:
    from tailorlm.finetune import FinetuneConfig
    from tailorlm.finetune.runner import prepare
    from tailorlm.finetune.train import TrainJob, make_accelerator, train
    from tailorlm.tasks import load_task

    config = FinetuneConfig(
        max_steps=steps + 1,
        batch_size=batch_size,
        train_size=batch_size * (steps + 1),
        eval_every=0,
        save_every=10_000,
        metric_limit=0,
        dev_limit=1,
        epochs=1,
        cuda_graphs=cuda_graphs,
    )
    prep = prepare(load_task("sql-sales"), model, config, None)
    events: list[dict[str, Any]] = []
    job = TrainJob(
        prep.model_path,
        _tmp("ours"),
        prep.train_rows,
        prep.dev_rows,
        prep.config,
        prep.record,
        prep.tokenizer.pad_token_id,
    )
    stamps: dict[int, tuple[float, int]] = {}

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        if event["event"] == "step":
            stamps[event["step"]] = (time.perf_counter(), event["tokens"])

    result = train(job, make_accelerator(precision), on_event)
    (t0, n0), (t1, n1) = stamps[1], stamps[steps + 1]
    flops_per_token = result.state.flops / result.state.tokens
    return {
        "tokens_per_s": (n1 - n0) / (t1 - t0),
        "flops_per_token": flops_per_token,
        "rows": prep.train_rows,
        "losses": [e["loss"] for e in events if e["event"] == "step"],
    }


def graphs_row(model: str, steps: int, batch_size: int, precision: str) -> dict[str, Any]:
    """GPU: training steps replayed as CUDA graphs vs run eagerly, same rows and seed. Both
    runs' per-step losses are compared (they differ only by rounding: padding and the mask's
    form change the kernels' order of sums)."""
    eager = ours(model, steps, batch_size, precision, cuda_graphs=False)
    graphs = ours(model, steps, batch_size, precision, cuda_graphs=True)
    gap = max(abs(a - b) / abs(a) for a, b in zip(eager["losses"], graphs["losses"]))
    return row(
        "LoRA training, CUDA-graph steps vs eager steps (GPU)",
        "eager steps",
        eager["tokens_per_s"],
        graphs["tokens_per_s"],
        "tokens/s",
        note=f"{steps} steps of {batch_size} rows (warm-ups and captures included); "
        f"per-step losses within {gap:.1%}",
    )


def trl_default(model: str, rows: list[Any], steps: int, batch_size: int, fp32: bool) -> float:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from tailorlm.backends.models import resolve_model

    path = resolve_model(model).path
    tokenizer = AutoTokenizer.from_pretrained(path)
    data = Dataset.from_list([_conversation(tokenizer, r) for r in rows])
    stamps: dict[int, tuple[float, int]] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            stamps[state.global_step] = (time.perf_counter(), state.num_input_tokens_seen)

    # TRL's bf16 default refuses to start on a machine without a bf16 GPU unless use_cpu is
    # set: that is the smallest change that lets its defaults run here.
    extra: dict[str, Any] = {} if torch.cuda.is_available() else {"use_cpu": True}
    if fp32:
        extra.update(bf16=False, gradient_checkpointing=False)
    args = SFTConfig(
        output_dir=_tmp("trl"),
        max_steps=steps + 1,
        report_to="none",
        save_strategy="no",
        logging_steps=1_000,
        per_device_train_batch_size=batch_size,
        include_num_input_tokens_seen="non_padding",
        **extra,
    )
    from tailorlm.finetune import FinetuneConfig

    same = FinetuneConfig()  # the same adapter as ours: only the trainer differs
    lora = LoraConfig(
        r=same.lora_rank,
        lora_alpha=same.lora_alpha,
        lora_dropout=same.lora_dropout,
        target_modules=same.target_modules,
        task_type="CAUSAL_LM",
    )
    model_obj = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    trainer = SFTTrainer(
        model=model_obj,
        args=args,
        train_dataset=data,
        peft_config=lora,
        processing_class=tokenizer,
        callbacks=[Clock()],
    )
    trainer.train()
    (t0, n0), (t1, n1) = stamps[1], stamps[steps + 1]
    return (n1 - n0) / (t1 - t0)


def _conversation(tokenizer: Any, row: Any) -> dict[str, Any]:
    """Our tokenized row back to TRL's prompt/completion conversational format."""
    text = tokenizer.decode(row.input_ids[: row.prompt_len])
    system, user = text.split("<|im_start|>user\n")
    system = system.removeprefix("<|im_start|>system\n").removesuffix("<|im_end|>\n")
    user = user.removesuffix("<|im_end|>\n<|im_start|>assistant\n")
    answer = tokenizer.decode(row.input_ids[row.prompt_len :]).removesuffix("<|im_end|>")
    return {
        "prompt": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "completion": [{"role": "assistant", "content": answer}],
    }


def _tmp(name: str) -> Any:
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix=f"bench-train-{name}-"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=6, help="measured steps (after 1 warm-up)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--trl-fp32", action="store_true")
    parser.add_argument(
        "--graph-steps",
        type=int,
        default=40,
        help="GPU only: measured steps of the CUDA-graph vs eager comparison",
    )
    parser.add_argument("--json", help="also write the result rows to this file")
    args = parser.parse_args()
    import torch

    from tailorlm.finetune.train import cpu_threads

    if not torch.cuda.is_available():  # one thread count, chosen once, for every measurement
        os.environ["OMP_NUM_THREADS"] = str(cpu_threads())
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    print(f"torch threads: {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    from tailorlm.finetune.modeling import resolve_precision

    precision = resolve_precision("auto")  # what `tailor finetune` uses on this machine
    dtype = "bfloat16" if precision == "bf16" else "float32"
    ceiling = matmul_ceiling(dtype)
    print(
        f"our precision: {precision}; compute ceiling ({dtype} matmul): {ceiling:.1f} GFLOP/s"
        f" (float32: {matmul_ceiling():.1f})"
    )
    shaped = model_matmul_rate(args.model, dtype)
    mine = ours(args.model, args.steps, args.batch_size, precision)
    ceiling = (ceiling + matmul_ceiling(dtype)) / 2  # before and after: the machine drifts
    shaped = (shaped + model_matmul_rate(args.model, dtype)) / 2
    per_token = mine["flops_per_token"]
    rows = [
        row(
            "LoRA training, useful tokens/s vs the compute ceiling",
            f"{dtype} matmul ceiling",
            ceiling * 1e9 / per_token,
            mine["tokens_per_s"],
            "tokens/s",
            target=0.7,
            note=f"ceiling {ceiling:.0f} GFLOP/s / {per_token / 1e6:.0f} MFLOP per token",
        ),
        row(
            "LoRA training, useful tokens/s vs the model's own matmuls alone",
            f"{dtype} matmuls at the model's shapes, 768-token micro-batch",
            shaped * 1e9 / per_token,
            mine["tokens_per_s"],
            "tokens/s",
            note=f"{shaped:.0f} GFLOP/s: the rate of a loop that did nothing but matmuls",
        ),
    ]
    if torch.cuda.is_available():
        rows.append(graphs_row(args.model, args.graph_steps, args.batch_size, precision))
    try:
        theirs = trl_default(args.model, mine["rows"], args.steps, args.batch_size, fp32=False)
    except ImportError as exc:  # trl is a benchmark-only dependency
        print(f"TRL not measured: {exc}")
        emit(rows, args.json)
        return
    rows.append(
        row(
            "LoRA training, useful tokens/s vs TRL",
            "TRL SFTTrainer defaults",
            theirs,
            mine["tokens_per_s"],
            "tokens/s",
            target=1.5,
            note=f"{args.steps} steps of {args.batch_size} sql-sales rows, same adapter",
        )
    )
    if args.trl_fp32:
        fp32 = trl_default(args.model, mine["rows"], args.steps, args.batch_size, fp32=True)
        rows.append(
            row(
                "LoRA training, useful tokens/s vs TRL float32",
                "TRL, float32, no gradient checkpointing",
                fp32,
                mine["tokens_per_s"],
                "tokens/s",
            )
        )
    emit(rows, args.json)


if __name__ == "__main__":
    main()
