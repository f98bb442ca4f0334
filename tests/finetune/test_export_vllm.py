"""`tailor export RUN --for vllm`: the layout vLLM's --lora-modules and SGLang's --lora-paths
load, the commands in serve.txt, and what vLLM could not load refused before anything is
written."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest
import torch
from typer.testing import CliRunner

from tailorlm.backends.models import ResolvedModel
from tailorlm.cli.app import app
from tailorlm.errors import ConfigError, TailorError
from tailorlm.finetune import FinetuneConfig
from tailorlm.finetune.export_vllm import check_adapter, max_lora_rank
from tailorlm.server.registry import engine_template
from tailorlm.store import RunStore
from tailorlm.training import (
    PROGRAM_FILE,
    adapter_path_for_run,
    engine_model_name,
    export_run,
    run_finetune,
)
from tests.finetune.helpers import TINY

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

IDS = torch.tensor([[1, 504, 3458, 314, 253, 1345, 30, 2, 1, 9690, 198]])
LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """One tiny LoRA run in a home of its own: (home, store, run id, base, adapter)."""
    home = tmp_path_factory.mktemp("vllm-home")
    store = RunStore(home / "runs")
    config = FinetuneConfig(**{**TINY, "learning_rate": 0.05})
    run_id = run_finetune("sql-sales", model=str(tiny_model_dir), config=config, store=store).run_id
    base, adapter = adapter_path_for_run(run_id, store)
    return home, store, run_id, base, adapter


def _logits(base, adapter_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype="float32")
    with torch.no_grad():
        return PeftModel.from_pretrained(model, adapter_dir).eval()(IDS).logits


def _commands(serve_txt) -> list[list[str]]:
    lines = serve_txt.read_text().splitlines()
    return [shlex.split(line, comments=True) for line in lines if line and line[0] != "#"]


def test_the_export_is_the_peft_folder_vllm_loads_next_to_the_program(
    trained, tiny_model_dir, tmp_path
):
    _, store, run_id, base, adapter = trained
    out = tmp_path / "for-vllm"
    result = export_run(run_id, out, for_engine="vllm", store=store)

    assert (result.path, result.kind, result.serve) == (out, "adapter", out / "serve.txt")
    files = sorted(p.name for p in (out / "adapter").iterdir())
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(files)
    assert not {"MANIFEST.json", "best.json"} & set(files)  # tailor's bookkeeping stays home
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    # the keys vLLM's PEFTHelper reads, with values it accepts
    assert config["peft_type"] == "LORA" and config["r"] == 16 and config["lora_alpha"] == 32
    assert {m.rsplit(".", 1)[-1] for m in config["target_modules"]} == LINEAR
    assert not config["modules_to_save"] and not config["use_dora"] and config["bias"] == "none"
    assert config["base_model_name_or_path"] == str(tiny_model_dir.resolve())
    assert json.loads((out / "program.json").read_text()) == store.get(run_id).read_json(
        PROGRAM_FILE
    )
    # the same adapter: the exported folder gives the run's logits
    assert torch.equal(_logits(base, out / "adapter"), _logits(base, adapter))
    assert not list(tmp_path.glob(".for-vllm.tmp-*"))


def test_serve_txt_holds_the_engine_and_front_commands(trained, tiny_model_dir, tmp_path):
    _, store, run_id, _, _ = trained
    out = tmp_path / "x"
    export_run(run_id, out, for_engine="vllm", store=store)
    base, module = str(tiny_model_dir.resolve()), f"{run_id}={out / 'adapter'}"
    vllm, sglang, front_vllm, front_sglang = _commands(out / "serve.txt")
    assert vllm == [
        *("vllm", "serve", base, "--port", "8001", "--enable-lora"),
        *("--lora-modules", module, "--max-lora-rank", "16"),
    ]
    assert sglang == [
        *("python", "-m", "sglang.launch_server", "--model-path", base),
        *("--port", "30000", "--lora-paths", module),
    ]
    assert front_vllm == ["tailor", "serve", "--engine", "openai@http://127.0.0.1:8001/v1"]
    # what `tailor serve --engine` will ask each engine for: the adapter by its served name
    name = engine_model_name(run_id)
    assert engine_template(front_vllm[-1]).replace("{run}", name) == (
        f"openai:{run_id}@http://127.0.0.1:8001/v1"
    )
    assert engine_template(front_sglang[-1]).replace("{run}", name) == (
        f"openai:{base}:{run_id}@http://127.0.0.1:30000/v1"
    )


def test_a_named_base_and_a_gguf_base(trained, tiny_model_dir, tmp_path, monkeypatch):
    _, store, run_id, _, _ = trained
    named = export_run(
        run_id, tmp_path / "named", for_engine="vllm", base_model="org/base", store=store
    )
    config = json.loads((named.path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "org/base"
    assert _commands(named.serve)[0][2] == "org/base" and not (named.path / "base").exists()

    # A base that came from a GGUF file: the engine loads a HF folder, so its de-quantized
    # weights (the ones the adapter was trained on) travel with the export.
    gguf_base = ResolvedModel("x.gguf", str(tiny_model_dir), source="/models/x.gguf")
    monkeypatch.setattr("tailorlm.finetune.export_vllm.resolve_model", lambda spec: gguf_base)
    copied = export_run(run_id, tmp_path / "gguf", for_engine="vllm", store=store)
    config = json.loads((copied.path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(copied.path / "base")
    assert (copied.path / "base" / "config.json").is_file()
    assert _commands(copied.serve)[0][2] == str(copied.path / "base")


def test_merged_and_full_runs_are_served_as_a_model_of_the_runs_name(
    trained, tiny_model_dir, tmp_path
):
    _, store, run_id, _, _ = trained
    merged = export_run(run_id, tmp_path / "merged", for_engine="vllm", merge=True, store=store)
    assert merged.kind == "merged" and (merged.path / "model" / "model.safetensors").is_file()
    assert not (merged.path / "adapter").exists()
    vllm, sglang, front, _ = _commands(merged.serve)
    assert vllm == [
        *("vllm", "serve", str(merged.path / "model"), "--port", "8001"),
        *("--served-model-name", run_id),
    ]
    assert sglang[-2:] == ["--served-model-name", run_id]
    assert front == ["tailor", "serve", "--engine", "openai@http://127.0.0.1:8001/v1"]

    full_id = _full_run(store, tiny_model_dir)
    full = export_run(full_id, tmp_path / "full", for_engine="vllm", store=store)
    assert full.kind == "full" and (full.path / "model" / "config.json").is_file()
    assert _commands(full.serve)[0][2:] == [
        *(str(full.path / "model"), "--port", "8001", "--served-model-name", full_id)
    ]
    with pytest.raises(ConfigError, match="whole model"):
        export_run(full_id, tmp_path / "f2", for_engine="vllm", base_model="b", store=store)


def _full_run(store: RunStore, model_dir) -> str:
    config = {"kind": "finetune", "model": str(model_dir), "train": {"method": "full"}}
    writer = store.start(
        "finetune", name="full", task="t", model=str(model_dir), config=config, data_hash="d"
    )
    shutil.copytree(model_dir, writer.path("model"))
    writer.write_json("program.json", {"name": "p"})
    writer.complete()
    return writer.id


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"use_dora": True}, "DoRA"),
        ({"bias": "all"}, "bias terms"),
        ({"target_modules": ["model.embed_tokens", "q_proj"]}, "embeddings \\(model.embed_tokens"),
        ({"r": 1024}, "rank 1024"),
        ({"rank_pattern": {"q_proj": 4}}, "per-module ranks"),
        ({"peft_type": "IA3"}, "IA3"),
    ],
)
def test_what_vllm_cannot_load_is_refused_with_the_way_out(trained, tmp_path, change, reason):
    adapter = tmp_path / "adapter"
    shutil.copytree(trained[4], adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(
        TailorError, match=f"vLLM cannot load this adapter: it has .*{reason}"
    ) as err:
        check_adapter(adapter)
    assert "--merge" in err.value.hint


def test_an_adapter_without_safetensors_is_refused(trained, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(trained[4], adapter)
    (adapter / "adapter_model.safetensors").unlink()
    with pytest.raises(TailorError, match="no adapter_model.safetensors"):
        check_adapter(adapter)


@pytest.mark.parametrize(
    ("rank", "flag"), [(1, 8), (8, 8), (16, 16), (17, 32), (64, 64), (65, 128), (320, 320)]
)
def test_the_max_lora_rank_to_pass(rank, flag):
    assert max_lora_rank(rank) == flag


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"for_engine": "tgi"}, "not an engine layout"),
        ({"for_engine": "vllm", "gguf": True}, "--gguf is for llama.cpp"),
        ({"base_model": "org/base"}, "--base-model goes with --for vllm"),
    ],
)
def test_bad_combinations_are_refused_and_leave_nothing(trained, tmp_path, options, message):
    _, store, run_id, _, _ = trained
    with pytest.raises(ConfigError, match=message):
        export_run(run_id, tmp_path / "out", store=store, **options)
    assert not list(tmp_path.iterdir())


def test_the_cli_exports_for_vllm_and_refuses_in_one_line(trained, tmp_path, monkeypatch):
    home, _, run_id, _, _ = trained
    monkeypatch.setenv("TAILOR_HOME", str(home))
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["export", run_id, "--out", str(out), "--for", "vllm"])
    assert result.exit_code == 0, result.output
    assert f"exported adapter model to {out}" in result.output
    assert f"--lora-modules {run_id}={out / 'adapter'}" in result.output
    assert "tailor serve --engine openai@http://127.0.0.1:8001/v1" in result.output

    bad = CliRunner().invoke(app, ["export", run_id, "--out", str(tmp_path / "b"), "--for", "x"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert "--for 'x' is not an engine layout" in bad.output
