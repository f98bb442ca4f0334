"""`tailor finetune --target openai@BASE_URL` against a tailor server on loopback (tiny model),
and the fine-tuned model evaluated through the HTTP backend."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tailorlm.backends.http import OpenAIHTTPBackend
from tailorlm.errors import ConfigError, ModelError
from tailorlm.finetune.remote import chat_jsonl, parse_target
from tailorlm.remote_training import KIND, remote_finetune
from tailorlm.server import ServerSettings, create_app
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tests.server.helpers import live_server

TINY_JOB = {"metric_limit": 0, "max_steps": 2, "eval_every": 1, "save_every": 2, "batch_size": 4}


@pytest.fixture
def task_dir(tmp_path):
    root = tmp_path / "adder"
    root.mkdir()
    (root / "task.yaml").write_text(
        "name: adder\nmetric: exact_match\noutput_type: text\n"
        "system_prompt: Answer with the number.\n"
    )
    for split, numbers in (("train", range(12)), ("dev", range(20, 23)), ("test", (40, 41))):
        rows = [{"input": f"What is {i} plus one?", "output": str(i + 1)} for i in numbers]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture
def server(tiny_model_dir, tmp_path):
    settings = ServerSettings(model=str(tiny_model_dir), finetune=TINY_JOB)
    # The server keeps its runs apart from the client's, as a remote server would.
    app = create_app(settings, store=RunStore(tmp_path / "server-runs"), home=tmp_path / "srv")
    with live_server(app) as url:
        yield url


@pytest.mark.parametrize(
    ("target", "url"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("openai@http://127.0.0.1:9/v1/", "http://127.0.0.1:9/v1"),
    ],
)
def test_parse_target(target, url):
    assert parse_target(target) == url


@pytest.mark.parametrize("target", ["vllm@http://x", "openai@ftp://x"])
def test_bad_target(target):
    with pytest.raises(ConfigError):
        parse_target(target)


def test_chat_jsonl_renders_the_program(task_dir):
    lines = chat_jsonl(load_task(task_dir), "train", _program()).decode().splitlines()
    first = json.loads(lines[0])["messages"]
    assert len(lines) == 12
    assert first[-1] == {"role": "assistant", "content": "1"}
    assert first[-2] == {"role": "user", "content": "What is 0 plus one?"}


def _program():
    from tailorlm.finetune.data import default_program

    return default_program(load_task_config())


def load_task_config():
    from tailorlm.config import TaskConfig

    return TaskConfig(name="adder", metric="exact_match", output_type="text")


def test_remote_job_is_stored_and_its_model_evaluates_over_http(task_dir, server, tiny_model_dir):
    from tailorlm.experiments import run_eval

    events = []
    outcome = remote_finetune(
        task_dir,
        target=f"openai@{server}",
        model=str(tiny_model_dir),
        epochs=1,
        seed=1,
        name="adder",
        progress=events.append,
        poll_s=0.1,
    )
    assert outcome.fine_tuned_model.startswith("ft:tiny-llama")
    record = RunStore().get(outcome.run_id)
    assert record.kind == KIND and record.is_complete
    assert record.summary["fine_tuned_model"] == outcome.fine_tuned_model
    assert record.summary["trained_tokens"] > 0
    assert [e["message"] for e in events][-1] == "The job has successfully completed."
    assert len(record.read_jsonl("events.jsonl")) == len(events)
    assert outcome.program_path.is_file()

    again = remote_finetune(
        task_dir,
        target=f"openai@{server}",
        model=str(tiny_model_dir),
        epochs=1,
        seed=1,
        name="adder",
    )
    assert again.reused and again.run_id == outcome.run_id

    backend = OpenAIHTTPBackend(f"openai:{outcome.fine_tuned_model}@{server}")
    evaluated = run_eval(task_dir, model=backend, prompt_file=outcome.program_path, limit=2)
    assert evaluated.summary.n == 2
    rows = RunStore().get(evaluated.run_id).read_jsonl("examples.jsonl")
    assert all(r["prompt_tokens"] > 0 for r in rows)  # usage came back from the server


def test_rejected_job_fails_the_run(task_dir, server):
    with pytest.raises(ModelError, match="cannot be fine-tuned here"):
        remote_finetune(task_dir, target=f"openai@{server}", model="not-served", poll_s=0.1)
    [record] = RunStore().list(kind=KIND)
    assert record.status == "failed" and "cannot be fine-tuned here" in record.summary["error"]


def test_cli_target(task_dir, server, tiny_model_dir):
    from tailorlm.cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "finetune",
            str(task_dir),
            "--target",
            f"openai@{server}",
            "--model",
            str(tiny_model_dir),
            "--out",
            "cli",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "The job has successfully completed." in result.output
    assert "evaluate: tailor eval" in result.output and "--model openai:ft:" in result.output


def test_interrupted_command_follows_the_same_job_again(task_dir, server, tiny_model_dir):
    def interrupt(event):
        raise KeyboardInterrupt

    args = {"target": f"openai@{server}", "model": str(tiny_model_dir), "poll_s": 0.1}
    with pytest.raises(KeyboardInterrupt):
        remote_finetune(task_dir, progress=interrupt, **args)
    [interrupted] = RunStore().list(kind=KIND)
    assert interrupted.status == "interrupted"
    job_id = interrupted.read_json("job.json")["id"]

    outcome = remote_finetune(task_dir, **args)
    assert (outcome.run_id, outcome.job_id) == (interrupted.id, job_id)  # no second job
    events = RunStore().get(outcome.run_id).read_jsonl("events.jsonl")
    assert len({e["id"] for e in events}) == len(events)  # nothing recorded twice


def test_cli_target_rejects_local_only_options(task_dir):
    from tailorlm.cli.app import app

    result = CliRunner().invoke(
        app, ["finetune", str(task_dir), "--target", "openai@http://127.0.0.1:9/v1", "--rank", "8"]
    )
    assert result.exit_code == 1
    assert "--target runs a provider's fine-tuning job" in result.output
