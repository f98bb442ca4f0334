from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One converted-model cache per test session: the GGUF conversion (~20 s) happens once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _tailor_home(tmp_path, monkeypatch, model_cache):
    """Every test gets its own TAILOR_HOME so nothing touches the user's real run store."""
    home = tmp_path / "tailor-home"
    monkeypatch.setenv("TAILOR_HOME", str(home))
    monkeypatch.setenv("TAILOR_MODEL_CACHE", str(model_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("TAILOR_MLFLOW_TRACKING_URI", raising=False)  # never the user's MLflow
    return home


@pytest.fixture(scope="session")
def packaged_tokenizer_dir(tmp_path_factory) -> Path:
    """The default model's tokenizer (read from the packaged GGUF), saved as a HF folder."""
    from transformers import AutoTokenizer

    from tailorlm.backends.models import packaged_gguf

    gguf = packaged_gguf()
    out = tmp_path_factory.mktemp("tokenizer")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, packaged_tokenizer_dir) -> Path:
    """A tiny randomly initialised Llama with the packaged tokenizer: for tests that need *a*
    model, not a good one."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(packaged_tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
