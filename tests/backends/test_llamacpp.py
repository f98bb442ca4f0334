"""The optional llama.cpp engine: spec handling, the PEFT -> GGUF LoRA conversion (checked
against the packaged GGUF's own q/k layout), and, where llama-cpp-python is installed, greedy
generation against the transformers backend."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tailorlm.backends import load_backend
from tailorlm.backends.llamacpp import _permute, _target_name, gguf_file, gguf_lora
from tailorlm.backends.models import packaged_gguf, resolve_model
from tailorlm.errors import ModelError

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None


def test_spec_names_a_gguf_file(tmp_path):
    assert gguf_file("llamacpp:smollm2-135m") == packaged_gguf()
    assert gguf_file("llamacpp:") == packaged_gguf()
    with pytest.raises(ModelError, match="runs GGUF files"):
        gguf_file(f"llamacpp:{tmp_path}")
    with pytest.raises(ModelError, match="not found"):
        gguf_file(f"llamacpp:{tmp_path / 'missing.gguf'}")


def test_prefix_resolves_to_the_same_weights():
    """Fine-tuning a `llamacpp:` model trains the weights the engine runs."""
    assert resolve_model("llamacpp:smollm2-135m").path == resolve_model("smollm2-135m").path


@pytest.mark.skipif(HAS_LLAMA_CPP, reason="llama-cpp-python is installed here")
def test_missing_engine_is_a_clear_error():
    with pytest.raises(ModelError, match="not installed") as info:
        load_backend("llamacpp:smollm2-135m")
    assert "[llamacpp]" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight", "blk.3.attn_q"),
        ("base_model.model.model.layers.12.mlp.down_proj.lora_A.weight", "blk.12.ffn_down"),
        ("base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight", "blk.0.attn_output"),
    ],
)
def test_adapter_tensor_names_map_to_llama_cpp(name, target):
    assert _target_name(name) == target


def test_unsupported_adapter_tensor_is_refused():
    with pytest.raises(ModelError, match="only the attention and MLP"):
        _target_name("base_model.model.model.layers.0.input_layernorm.lora_A.weight")


@pytest.mark.slow
def test_permutation_matches_the_packaged_ggufs_own_q_and_k_layout():
    """Our q/k row permutation turns the HF weights into exactly the GGUF's tensors, so an
    adapter's B rows land on the rows llama.cpp multiplies them with."""
    from gguf import GGUFReader, dequantize
    from safetensors.numpy import load_file

    folder = resolve_model("smollm2-135m").path
    config = json.loads((Path(folder) / "config.json").read_text())
    hf = load_file(f"{folder}/model.safetensors")
    reader = GGUFReader(str(packaged_gguf()))
    gguf = {t.name: t for t in reader.tensors}
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    for proj, name, n_kv in (("q_proj", "attn_q", heads), ("k_proj", "attn_k", kv)):
        ours = _permute(hf[f"model.layers.0.self_attn.{proj}.weight"], heads, n_kv)
        t = gguf[f"blk.0.{name}.weight"]
        theirs = dequantize(t.data, t.tensor_type).reshape(ours.shape)
        assert np.array_equal(ours, theirs), proj
        plain = hf[f"model.layers.0.self_attn.{proj}.weight"]
        assert not np.array_equal(plain, theirs)  # the permutation is not a no-op


def _fake_adapter(folder, tmp_path, rank=2, scale=1.0, modules=("q_proj", "k_proj", "down_proj")):
    """A PEFT-style adapter folder for the packaged model (random, small)."""
    from safetensors.numpy import save_file

    config = json.loads((Path(folder) / "config.json").read_text())
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    kv_dim = config["num_key_value_heads"] * hidden // config["num_attention_heads"]
    shapes = {"self_attn.q_proj": (hidden, hidden), "self_attn.k_proj": (kv_dim, hidden)}
    shapes["mlp.down_proj"] = (hidden, inter)
    shapes = {m: shape for m, shape in shapes.items() if m.split(".")[1] in modules}
    rng = np.random.default_rng(0)
    tensors = {}
    for module, (out, inp) in shapes.items():
        prefix = f"base_model.model.model.layers.0.{module}"
        a = scale * rng.standard_normal((rank, inp))
        tensors[f"{prefix}.lora_A.weight"] = a.astype("float32")
        b = scale * rng.standard_normal((out, rank))
        tensors[f"{prefix}.lora_B.weight"] = b.astype("float32")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    save_file(tensors, str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_config.json").write_text(json.dumps({"lora_alpha": 32, "r": rank}))
    return adapter, tensors


@pytest.mark.slow
def test_adapter_converts_to_a_gguf_lora_file_once(tmp_path):
    from gguf import GGUFReader

    folder = resolve_model("smollm2-135m").path
    adapter, tensors = _fake_adapter(folder, tmp_path)
    out = gguf_lora(adapter, Path(folder))
    assert gguf_lora(adapter, Path(folder)) == out  # cached
    reader = GGUFReader(str(out))
    names = {t.name: t for t in reader.tensors}
    assert set(names) == {
        f"blk.0.{m}.weight.lora_{ab}" for m in ("attn_q", "attn_k", "ffn_down") for ab in "ab"
    }
    alpha = reader.fields["adapter.lora.alpha"]
    assert float(alpha.parts[alpha.data[0]][0]) == 32.0
    a = tensors["base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"]
    got = names["blk.0.ffn_down.weight.lora_a"]
    assert np.array_equal(np.asarray(got.data).reshape(a.shape), a)
    assert not list(out.parent.glob(".tmp-lora-*"))


def _next_token_logits(llama, local, messages):
    """Both engines' logits for the token after the same prompt tokens."""
    import torch

    ids = local.tokenizer(local.render(messages), add_special_tokens=False)["input_ids"]
    llama.llm.reset()
    llama.llm.eval(ids)
    # only the last token's logits are computed (no logits_all), in the context's buffer
    last = np.ctypeslib.as_array(llama.llm._ctx.get_logits(), shape=(llama.llm.n_vocab(),))
    theirs = last.astype("float64")
    with torch.no_grad():
        ours = local.model(torch.tensor([ids])).logits[0, -1].double().numpy()
    return theirs, ours


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python not installed (optional extra)")
def test_llama_cpp_runs_the_same_model_as_transformers():
    """Same prompt tokens, next-token logits that agree up to 4-bit kernel rounding (greedy
    texts can still part where two tokens nearly tie, as they do here: 'The' vs 'L')."""
    from tailorlm.backends.local import LocalBackend
    from tailorlm.types import GenerationOptions

    llama, local = load_backend("llamacpp:smollm2-135m"), LocalBackend(prefix_cache=False)
    theirs, ours = _next_token_logits(llama, local, QUESTION)
    assert np.corrcoef(theirs, ours)[0, 1] > 0.99
    assert len(set(np.argsort(-theirs)[:5]) & set(np.argsort(-ours)[:5])) >= 4
    out = llama.generate([QUESTION], GenerationOptions(max_new_tokens=8, stop=("\n",)))[0]
    assert out.prompt_tokens == local.count_tokens(local.render(QUESTION))
    assert 0 < out.completion_tokens <= 8 and "\n" not in out.text
    from tailorlm.backends import LazyBackend, engine_of

    assert engine_of(llama) == engine_of(LazyBackend("llamacpp:smollm2-135m")) == "llama.cpp"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python not installed (optional extra)")
def test_converted_adapter_moves_llama_cpp_logits_like_peft(tmp_path):
    """The adapter's effect on the logits (with minus without) is the same in both engines.
    q/k adapters only, as those need the row permutation: measured 0.995 correlation, and
    0.87 with the permutation left out."""
    from tailorlm.backends.local import LocalBackend

    folder = resolve_model("smollm2-135m").path
    adapter, _ = _fake_adapter(folder, tmp_path, scale=0.3, modules=("q_proj", "k_proj"))
    (adapter / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "r": 2,
                "lora_alpha": 32,
                "target_modules": ["q_proj", "k_proj"],
                "base_model_name_or_path": folder,
            }
        )
    )
    base_l, base_t = _next_token_logits(
        load_backend("llamacpp:smollm2-135m"), LocalBackend(prefix_cache=False), QUESTION
    )
    tuned_l, tuned_t = _next_token_logits(
        load_backend("llamacpp:smollm2-135m", adapter=adapter),
        LocalBackend(adapter=adapter, merge_adapter=False, prefix_cache=False),
        QUESTION,
    )
    delta_l, delta_t = tuned_l - base_l, tuned_t - base_t
    assert np.abs(delta_t).max() > 0.5  # the adapter does move the logits
    assert np.corrcoef(delta_l, delta_t)[0, 1] > 0.97


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python not installed (optional extra)")
def test_llama_cpp_streams_pieces_that_join_to_the_text():
    from tailorlm.types import GenerationOptions

    llama = load_backend("llamacpp:smollm2-135m")
    options = GenerationOptions(max_new_tokens=16, stop=(".",))
    plain = llama.generate([QUESTION], options)[0]
    pieces: list[tuple[int, str]] = []
    streamed = llama.generate_stream([QUESTION], options, lambda row, p: pieces.append((row, p)))
    assert len(pieces) > 1 and {row for row, _ in pieces} == {0}
    assert "".join(p for _, p in pieces) == streamed[0].text == plain.text
    assert "." not in streamed[0].text and streamed[0].finish_reason == plain.finish_reason
