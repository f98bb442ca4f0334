from __future__ import annotations

import pytest
import torch

from tailorlm.errors import TailorError
from tailorlm.finetune import FinetuneConfig
from tailorlm.store import RunStore
from tailorlm.training import adapter_path_for_run, export_run, run_finetune
from tests.finetune.helpers import TINY

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

IDS = torch.tensor([[1, 504, 3458, 314, 253, 1345, 30, 2, 1, 9690, 198]])


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """One LoRA run shared by the export tests, in a store of its own."""
    store = RunStore(tmp_path_factory.mktemp("export-runs"))
    config = FinetuneConfig(**{**TINY, "learning_rate": 0.05})  # far enough from the base
    run_id = run_finetune("sql-sales", model=str(tiny_model_dir), config=config, store=store).run_id
    base, adapter = adapter_path_for_run(run_id, store)
    return store, run_id, base, adapter


def _logits(model):
    with torch.no_grad():
        return model.eval()(IDS).logits


def _base(base):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base, dtype="float32")


def _with_adapter(base, adapter_dir):
    from peft import PeftModel

    return PeftModel.from_pretrained(_base(base), adapter_dir)


def test_merged_export_loads_with_plain_transformers_and_gives_the_same_logits(trained, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    store, run_id, base, adapter = trained
    result = export_run(run_id, tmp_path / "merged", merge=True, store=store)
    assert result.kind == "merged" and result.gguf is None
    assert (result.path / "model.safetensors").is_file()
    assert (result.path / "program.json").is_file()
    assert not list(result.path.glob("adapter_*"))
    merged = AutoModelForCausalLM.from_pretrained(result.path)  # no peft involved
    AutoTokenizer.from_pretrained(result.path)
    reference = _logits(_with_adapter(base, adapter))
    assert torch.allclose(_logits(merged), reference, atol=1e-5)
    assert not torch.allclose(_logits(_base(base)), reference, atol=1e-3)


def test_adapter_only_export_round_trips_exactly(trained, tmp_path):
    store, run_id, base, adapter = trained
    result = export_run(run_id, tmp_path / "adapter-only", store=store)
    assert result.kind == "adapter"
    assert (result.path / "adapter_model.safetensors").is_file()
    assert torch.equal(
        _logits(_with_adapter(base, result.path)), _logits(_with_adapter(base, adapter))
    )


def test_export_refuses_an_existing_folder_and_gguf_without_a_gguf_base(trained, tmp_path):
    store, run_id, _, _ = trained
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("x")
    with pytest.raises(TailorError, match="already exists"):
        export_run(run_id, taken, merge=True, store=store)
    with pytest.raises(TailorError, match="needs merged weights"):
        export_run(run_id, tmp_path / "g", gguf=True, store=store)
    with pytest.raises(TailorError, match="not a GGUF file") as err:
        export_run(run_id, tmp_path / "g", merge=True, gguf=True, store=store)
    assert "convert_hf_to_gguf" in err.value.hint
    assert not (tmp_path / "g").exists() and not list(tmp_path.glob(".g.tmp-*"))
