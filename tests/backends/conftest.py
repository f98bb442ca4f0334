from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    """(model, tokenizer) of the tiny random Llama in float32, the tokenizer padding on the left
    as batched generation needs. Its greedy outputs repeat one token per row."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, tokenizer
