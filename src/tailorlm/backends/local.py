"""Local transformers backend: batched greedy generation with left padding and length-sorted
batches (similar lengths share a batch, so little compute goes to padding). bf16 on a GPU and on
a CPU with native bf16, else float32 (PyTorch emulates bf16 on other CPUs, slower than float32)."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tailorlm.backends.attention import decode_attention
from tailorlm.backends.base import decoded_step, watched
from tailorlm.backends.chat import ChatTemplated
from tailorlm.backends.compact import decode_dropping_ended_rows
from tailorlm.backends.graphs import cuda_graphs_enabled, greedy_decode
from tailorlm.backends.kvcache import full_attention_only, growing_cache
from tailorlm.backends.models import ResolvedModel, quiet_transformers, resolve_model
from tailorlm.backends.prefix import PrefixCache, layout
from tailorlm.backends.stops import ends_a_stop, stop_criteria, stop_window
from tailorlm.backends.streaming import OnText, RowTexts
from tailorlm.errors import ModelError
from tailorlm.hardware import pick_device
from tailorlm.types import Completion, GenerationOptions, Messages

log = logging.getLogger("tailorlm")


def default_decoder(device: str) -> str:
    """`graphs` (backends/graphs.py) for greedy decoding on a GPU, else transformers'
    `generate`; TAILOR_CUDA_GRAPHS=0 turns the graphs off."""
    if device.startswith("cuda") and cuda_graphs_enabled():
        return "graphs"
    return "generate"


# Prompt tokens per forward pass when a CPU prefills a batch (all rows together). The whole
# batch in one pass builds activations of rows x width x 1536 (the 135M model's MLP), over 32 MB
# for 20 few-shot prompts: glibc serves blocks that large with fresh mmaps, and the page faults
# on every such block made the MLP's elementwise steps ~5x slower than their memory traffic.
# In chunks, attention also skips the keys a chunk cannot see yet. Measured on this 2-core CPU,
# 20 best-prompt requests (~590 tokens, 225 shared): prefill 8.2 -> 6.3 s (chunks of 128-256
# tokens a row, the same within noise).
PREFILL_TOKENS = 4096


def prefill_chunk(rows: int) -> int:
    """Prompt positions per prefill pass for `rows` rows (transformers' prefill_chunk_size)."""
    return max(8, PREFILL_TOKENS // max(rows, 1))


class LocalBackend(ChatTemplated):
    """`adapter`: a PEFT adapter folder (e.g. a fine-tuning run's `adapter/`) applied on top of
    the base model. Merged into the weights, generation is as fast as the base model's; a
    separate adapter branch costs ~210 small matmuls a step for the 135M model (measured here in
    bf16: 31 vs 50 tokens/s for one request, 1.26x longer batched evaluations). In float32 it is
    merged by default (greedy outputs stay the same; logits differ by float rounding only). In
    bf16 the merged weights are rounded to ~3 significant digits, which can eat a small update:
    by default (`merge_adapter=None`) it is merged where the rounding keeps the update to within
    MERGE_TOLERANCE (see `merge_error`) and stays a float32 branch otherwise.

    `prefix_cache`: compute the key/value cache of the token prefix that a batch's prompts
    share (system message, schema, demos) once and reuse it (see backends/prefix.py)."""

    def __init__(
        self,
        spec: str | None = None,
        *,
        device: str | None = None,
        adapter: str | Path | None = None,
        merge_adapter: bool | None = None,
        prefix_cache: bool = True,
    ) -> None:
        started = time.perf_counter()
        self.resolved: ResolvedModel = resolve_model(spec)
        self.name = self.resolved.spec + (f"+{adapter_label(adapter)}" if adapter else "")
        self.device, self.dtype = pick_device(device)
        self.tokenizer, self.model = _load(self.resolved, self.device, self.dtype)
        self.adapter_merged = False
        if adapter:
            self.model = attach_adapter(self.model, Path(adapter), merge=False)
            self.adapter_merged = _should_merge(self.model, self.dtype, merge_adapter)
            if self.adapter_merged:
                self.model = self.model.merge_and_unload().eval()
        self.prefixes = PrefixCache(self.model) if prefix_cache else None
        self.decoder = default_decoder(self.device)
        self.drop_ended_rows = self.device == "cpu"  # see backends/compact.py
        self.load_seconds = time.perf_counter() - started

    @classmethod
    def from_loaded(cls, model: Any, tokenizer: Any, *, name: str) -> LocalBackend:
        """Wrap a model already in memory (e.g. one being trained) without loading anything.
        The tokenizer must pad on the left for batched generation."""
        backend = cls.__new__(cls)
        backend.resolved = ResolvedModel(name, "")
        backend.name, backend.tokenizer, backend.model = name, tokenizer, model
        backend.device = str(next(model.parameters()).device)
        backend.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        backend.prefixes = PrefixCache(model)  # fresh: the weights may change between calls
        backend.decoder = default_decoder(backend.device)
        backend.drop_ended_rows = backend.device == "cpu"
        backend.load_seconds = 0.0
        backend.adapter_merged = False
        return backend

    def generate(
        self, batch: Sequence[Messages], options: GenerationOptions | None = None
    ) -> list[Completion]:
        return self._generate(batch, options or GenerationOptions(), None)

    def generate_stream(
        self, batch: Sequence[Messages], options: GenerationOptions | None, on_text: OnText
    ) -> list[Completion]:
        """`generate`, calling `on_text(row, new_text)` as each row's text grows (the pieces
        join to the row's final text; see backends/streaming.py)."""
        return self._generate(batch, options or GenerationOptions(), on_text)

    def _generate(
        self, batch: Sequence[Messages], options: GenerationOptions, on_text: OnText | None
    ) -> list[Completion]:
        seqs = [self.encode(self.render(m)) for m in batch]
        # The graph decoder prefills whole prompts: on a GPU that is cheap (measured on an
        # H100 after a warm-up, the shared-prefix cache made prefill of 24 prompts 1.6-2.2x
        # slower).
        shares = self.decoder == "generate" or on_text is not None
        prefix = self.prefixes.prefix_for(seqs) if self.prefixes is not None and shares else ()
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]), reverse=True)
        results: list[Completion | None] = [None] * len(seqs)
        for start in range(0, len(order), options.batch_size):
            chunk = order[start : start + options.batch_size]
            rows = RowTexts(chunk, options.stop, on_text) if on_text is not None else None
            completions = self._generate_chunk([seqs[i] for i in chunk], prefix, options, rows)
            if rows is not None:
                rows.finish(completions)
            for i, completion in zip(chunk, completions):
                results[i] = completion
        return [r for r in results if r is not None]

    def _generate_chunk(
        self,
        seqs: list[list[int]],
        prefix: tuple[int, ...],
        options: GenerationOptions,
        rows: RowTexts | None = None,
    ) -> list[Completion]:
        ids, mask = layout(seqs, len(prefix), self.tokenizer.pad_token_id, self.device)
        started = time.perf_counter()
        out = self._replayed(ids, mask, options) if rows is None else None
        if out is None:
            out = self._generated(ids, mask, prefix, options, rows)
        elapsed = time.perf_counter() - started
        new_tokens = out[:, ids.shape[1] :].tolist()
        prompt_lens = mask.sum(dim=1).tolist()
        return [
            self._completion(ids, int(n), elapsed, options)
            for ids, n in zip(new_tokens, prompt_lens)
        ]

    def _generated(
        self,
        ids: Any,
        mask: Any,
        prefix: tuple[int, ...],
        options: GenerationOptions,
        rows: RowTexts | None,
    ) -> Any:
        """transformers' `generate` on the laid-out rows, from the prefix's cached keys and
        values where there is a prefix."""
        import torch

        kwargs = self._generate_kwargs(options)
        if rows is not None:
            kwargs["streamer"] = _row_streamer(self.tokenizer, rows)
        elif watched():
            kwargs["streamer"] = _StepStreamer(len(ids))
        # Room for the rows' own tokens and the answers: no cache copy per generated token.
        reserve = ids.shape[1] - len(prefix) + options.max_new_tokens
        if prefix and self.prefixes is not None:
            kwargs["past_key_values"] = self.prefixes.cache_for(prefix, len(ids), reserve)
        elif (cache := growing_cache(self.model, options.max_new_tokens)) is not None:
            kwargs["past_key_values"] = cache
        if "past_key_values" in kwargs and self.device == "cpu":  # chunking needs a cache
            kwargs["prefill_chunk_size"] = prefill_chunk(len(ids))

        def run(**overrides: Any) -> Any:
            with torch.inference_mode(), warnings.catch_warnings():
                # transformers 5.x renames it `cache`; older versions only know this name
                warnings.filterwarnings(
                    "ignore", message=".*past_key_values.*", category=FutureWarning
                )
                return self.model.generate(
                    input_ids=ids, attention_mask=mask, **{**kwargs, **overrides}
                )

        if self.drop_ended_rows and rows is None and options.temperature <= 0 and len(ids) > 1:
            return decode_dropping_ended_rows(
                self.model,
                ids,
                mask,
                lambda: run(max_new_tokens=1, return_dict_in_generate=True),
                max_new_tokens=options.max_new_tokens,
                eos_id=self.tokenizer.eos_token_id,
                pad_id=self.tokenizer.pad_token_id,
                stops_at=self._stops_at(options),
            )
        return run()

    def _replayed(self, ids: Any, mask: Any, options: GenerationOptions) -> Any | None:
        """Greedy decoding through backends/graphs.py where `self.decoder` asks for it; None
        to use `generate` (sampling, or the graph path failed on this model: then for good)."""
        if self.decoder == "generate" or options.temperature > 0:
            return None
        if not full_attention_only(self.model):  # its static cache would not match our mask
            return None
        try:
            return greedy_decode(
                self.model,
                ids,
                mask,
                max_new_tokens=options.max_new_tokens,
                eos_id=self.tokenizer.eos_token_id,
                pad_id=self.tokenizer.pad_token_id,
                stops_at=self._stops_at(options),
                graph=self.decoder == "graphs",
            )
        except Exception as exc:  # noqa: BLE001 - any failure: generate gives the same tokens
            log.warning("CUDA-graph decoding failed (%s); using generate", exc)
            self.decoder = "generate"
            return None

    def _stops_at(self, options: GenerationOptions) -> Callable[[list[int]], bool] | None:
        """Whether a row's sequence so far ends one of `options.stop` (None: no stop strings),
        by the rule transformers' StopStringCriteria applies."""
        stops = [s for s in options.stop if s]
        if not stops:
            return None
        window, tokenizer = stop_window(stops), self.tokenizer
        return lambda seq: ends_a_stop(tokenizer, stops, seq[-window:])

    def _generate_kwargs(self, options: GenerationOptions) -> dict[str, Any]:
        import torch

        kwargs: dict[str, Any] = {
            "max_new_tokens": options.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if options.temperature > 0:
            torch.manual_seed(options.seed)
            kwargs.update(do_sample=True, temperature=options.temperature, top_p=options.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if any(options.stop):
            from transformers import StoppingCriteriaList

            criteria = stop_criteria(self.tokenizer, options.stop)
            kwargs["stopping_criteria"] = StoppingCriteriaList([criteria])
        return kwargs

    def _completion(
        self, ids: list[int], prompt_tokens: int, elapsed: float, options: GenerationOptions
    ) -> Completion:
        eos = self.tokenizer.eos_token_id
        used = ids.index(eos) + 1 if eos in ids else len(ids)
        text = self.tokenizer.decode(ids[:used], skip_special_tokens=True)
        cut = min((text.find(s) for s in options.stop if s and s in text), default=-1)
        # A stop string can also match across the prompt boundary (transformers checks the
        # tail of the whole sequence), so any early end counts as "stop".
        finished = eos in ids or cut >= 0 or used < options.max_new_tokens
        return Completion(
            text=text[:cut] if cut >= 0 else text,
            prompt_tokens=prompt_tokens,
            completion_tokens=used,
            latency_s=elapsed,
            finish_reason="stop" if finished else "length",
        )


def _row_streamer(tokenizer: Any, rows: RowTexts) -> Any:
    """A transformers streamer that hands each row's decoded output to `rows` every step."""
    from transformers.generation.streamers import BaseStreamer

    eos = tokenizer.eos_token_id

    class RowStreamer(BaseStreamer):
        def __init__(self) -> None:
            self.ids: list[list[int]] = [[] for _ in rows.rows]
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate hands over the prompt first
                self.prompt_seen = True
                return
            for position, token in enumerate(value.reshape(-1).tolist()):
                if rows.done[position]:
                    continue  # finished rows get padding; `_completion` ignores it too
                self.ids[position].append(token)
                text = tokenizer.decode(self.ids[position], skip_special_tokens=True)
                rows.update(position, text, finished=token == eos)

        def end(self) -> None:
            pass

    return RowStreamer()


def _offline(resolved: ResolvedModel) -> bool:
    return resolved.hub and os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")


def load_tokenizer(resolved: ResolvedModel) -> Any:
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            resolved.path, local_files_only=_offline(resolved)
        )
    except _load_errors() as exc:
        raise _load_error(resolved, exc, "tokenizer") from exc
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load(resolved: ResolvedModel, device: str, dtype: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(resolved)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(  # `.to` is typed too narrowly
            resolved.path,
            dtype=dtype,
            local_files_only=_offline(resolved),
            attn_implementation=decode_attention(device),
        )
    except _load_errors() as exc:
        raise _load_error(resolved, exc, "model") from exc
    return tokenizer, model.to(device).eval()


def adapter_label(adapter: str | Path) -> str:
    """A short, unique name: a run's `<runs>/<id>/adapter` folder is called by its run id."""
    path = Path(adapter).resolve()
    return f"adapter:{path.parent.name if path.name == 'adapter' else path.name}"


def attach_adapter(model: Any, adapter: Path, merge: bool = True) -> Any:
    """`model` with the PEFT adapter folder applied (merged into its weights if `merge`)."""
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise ModelError(
            f"{adapter} is not a PEFT adapter folder (no adapter_config.json).",
            hint="pass the `adapter/` folder of a LoRA fine-tuning run, or `--adapter RUN_ID`",
        )
    try:
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
            warnings.filterwarnings("ignore", category=FutureWarning)
            with_adapter = PeftModel.from_pretrained(model, str(adapter))
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelError(
            f"Adapter {adapter} does not fit this base model: {str(exc).splitlines()[0]}",
            hint="use the base model the adapter was trained on (see the run's config.json)",
        ) from exc
    return (with_adapter.merge_and_unload() if merge else with_adapter).eval()


# In bf16, an adapter is merged where the rounded weights keep its update to within this share
# (relative to the update, over all adapted layers). Measured on this CPU with the quick
# preset's sql-sales adapter (112 steps at lr 1e-3, merge error 0.19): on all 130 dev rows the
# merged model scored 66.2% against 64.6% unmerged, with 125 identical answers, and evaluated
# 1.26x faster (one request at a time: 50 vs 31 tokens/s). Adapters trained with the quick
# preset's learning rate of 2e-3 have larger updates (error 0.07-0.11).
MERGE_TOLERANCE = 0.2


def merge_error(model: Any) -> float:
    """How much of a PEFT model's LoRA update merging would lose to the base weights' dtype:
    ||round(W + dW) - W - dW|| / ||dW|| over every adapted linear layer (0: nothing to merge)."""
    import torch

    lost = total = 0.0
    with torch.no_grad():
        for module in model.modules():
            if not _is_lora_linear(module):
                continue
            weight = module.base_layer.weight
            exact = weight.float()
            for name in module.active_adapters:
                delta = module.get_delta_weight(name).float()
                merged = (exact + delta).to(weight.dtype).float()
                lost += float(((merged - exact) - delta).pow(2).sum())
                total += float(delta.pow(2).sum())
    return (lost / total) ** 0.5 if total else 0.0


def _is_lora_linear(module: Any) -> bool:
    from peft.tuners.lora.layer import Linear

    return isinstance(module, Linear)


def _should_merge(model: Any, dtype: str, wanted: bool | None) -> bool:
    if wanted is not None:
        return wanted
    if dtype == "float32":
        return True
    error = merge_error(model)
    merge = error <= MERGE_TOLERANCE
    log.info(merge_words(merge, dtype, error))
    return merge


def merge_words(merged: bool, dtype: str, error: float) -> str:
    """What was done with an adapter and why, in words a user reads as such (not a warning)."""
    if merged:
        return (
            f"LoRA adapter merged into the {dtype} weights for faster decoding (rounding to "
            f"{dtype} changes its update by {100 * error:.0f}%, within the "
            f"{100 * MERGE_TOLERANCE:.0f}% allowed)"
        )
    return (
        f"LoRA adapter kept as a separate float32 layer: merging it into the {dtype} weights "
        f"would round away {100 * error:.0f}% of its update (over the "
        f"{100 * MERGE_TOLERANCE:.0f}% allowed), so answers stay exact at a little less speed"
    )


def _load_errors() -> tuple[type[Exception], ...]:
    """What transformers raises for files it cannot read (missing, not JSON, a damaged
    safetensors header...): the user's files, so a ModelError rather than a traceback."""
    from safetensors import SafetensorError

    return (OSError, ValueError, SafetensorError)


def _load_error(resolved: ResolvedModel, exc: Exception, what: str) -> ModelError:
    if resolved.hub and isinstance(exc, OSError):
        return ModelError(
            f"Cannot load '{resolved.spec}' from the Hugging Face hub (offline or not cached).",
            hint="use a local folder or .gguf file, or the packaged alias smollm2-135m",
        )
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = "check that the folder holds a complete save_pretrained checkpoint"
    if resolved.source:  # the cached conversion of a GGUF was damaged after it was written
        hint = f"delete {resolved.path} to convert {resolved.source} again"
    return ModelError(
        f"Cannot load the {what} from {resolved.path}: {first}",
        hint=None if resolved.hub else hint,
    )


class _StepStreamer:
    """Reports each step of transformers' `generate` to a watch_decoding listener (its first
    `put` is the prompt; which rows ended is not known here)."""

    def __init__(self, rows: int) -> None:
        self.rows, self.steps = rows, -1

    def put(self, _value: Any) -> None:
        self.steps += 1
        if self.steps:
            decoded_step(id(self), 0, self.rows, self.steps)

    def end(self) -> None:
        pass
