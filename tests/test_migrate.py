"""`tailorlm.migrate` against `tailor serve` acting as the OpenAI API (its own /v1/files and
/v1/fine_tuning/jobs, a fake model, loopback only): a job's data becomes a task folder that
validates, with the job's model in systems.yaml; every failure is one clear error and leaves no
folder behind."""

from __future__ import annotations

import json
import random
import re
import socket
import time
from pathlib import Path

import pytest
import yaml

from tailorlm.backends.spec import ModelSpec
from tailorlm.errors import ConfigError, DataError, ModelError, TailorError
from tailorlm.migrate import PROMPT_FILE, SYSTEMS_FILE, import_openai_file, import_openai_job
from tailorlm.prompting import build_messages
from tailorlm.prompting.program import PromptProgram
from tailorlm.tasks import load_task, validate_task
from tests.server.helpers import build_app, live_server
from tests.server.test_files import jsonl

SYSTEM = "You sort words alphabetically. Answer with the sorted words."
WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "maple",
    "tiger",
    "lemon",
    "piano",
    "rocket",
    "garden",
    "silver",
    "candle",
    "harbor",
    "violet",
    "meadow",
    "falcon",
    "copper",
    "orchid",
    "glacier",
    "lantern",
]
FT_MODEL = "ft:fake-base:acme::abc123"


def chat_rows(n: int, seed: int = 0, system: str | None = SYSTEM) -> list[dict]:
    """Rows distinct enough that the splitter groups none of them together."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.sample(WORDS, 5)
        turns = [{"role": "system", "content": system}] if system else []
        turns += [
            {"role": "user", "content": "Sort: " + " ".join(words)},
            {"role": "assistant", "content": " ".join(sorted(words))},
        ]
        rows.append({"messages": turns})
    return rows


class OpenAIServer:
    """A tailor server on loopback with no job worker: jobs are created through the API and
    then given the state a test needs, as the server's own tests do."""

    def __init__(self, app, url: str) -> None:
        import openai

        self.app, self.url = app, url
        key = app.state.settings.api_key or "unused"
        self.client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)

    def upload(self, rows: list[dict], name: str = "train.jsonl") -> str:
        return self.client.files.create(file=(name, jsonl(rows)), purpose="fine-tune").id

    def job(self, train: list[dict], valid: list[dict] | None = None, **state) -> dict:
        """A job on uploaded files, then set to `state` (default: succeeded with FT_MODEL)."""
        training = self.upload(train)
        validation = self.upload(valid, "valid.jsonl") if valid else None
        job = self.client.fine_tuning.jobs.create(
            model="fake-base", training_file=training, validation_file=validation
        )
        state = state or {"status": "succeeded", "fine_tuned_model": FT_MODEL}
        self.app.state.jobs.db.update("jobs", job.id, **state)
        return {"id": job.id, "training_file": training, "validation_file": validation}


@pytest.fixture
def server():
    app, _ = build_app(app_kwargs={"start_worker": False})
    with live_server(app) as url:
        yield OpenAIServer(app, url)


def assert_no_folder(out: Path) -> None:
    assert not out.exists()
    if out.parent.exists():  # nor a half-written scratch folder beside it
        assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------- a succeeded job


def test_a_succeeded_job_becomes_a_task_folder(server, tmp_path):
    train, valid = chat_rows(40), chat_rows(8, seed=1)
    job = server.job(train, valid)
    out = tmp_path / "tasks" / "word-sort"

    result = import_openai_job(job["id"], out, base_url=server.url)

    assert result.root == out and result.dev_source == "validation file"
    assert result.counts == {"train": 32, "dev": 8, "test": 8}  # test: 20% of the training rows
    assert validate_task(out).ok
    task = load_task(out)
    assert task.config.input_fields == ["prompt"] and task.config.system_prompt == SYSTEM
    assert task.config.output_type == "text"  # answers are free text, not a few labels

    # Chat rows round-trip: each written row is its source line's conversation, unchanged.
    by_id = {r["id"]: r for s in ("train", "test") for r in read_rows(out / f"{s}.jsonl")}
    assert sorted(by_id) == sorted(f"train-{i}" for i in range(1, 41))
    assert all(
        by_id[f"train-{i + 1}"]["messages"] == row["messages"] for i, row in enumerate(train)
    )
    dev = read_rows(out / "dev.jsonl")
    assert [r["messages"] for r in dev] == [r["messages"] for r in valid]
    example = task.split("test")[0]
    assert example.inputs["prompt"].startswith("Sort: ")
    assert example.output == by_id[example.id]["messages"][-1]["content"]

    text = (out / SYSTEMS_FILE).read_text()
    assert text.startswith("# Systems this task brings to `tailor compare`")
    assert yaml.safe_load(text) == [
        {
            "id": "openai-ft",
            "label": f"OpenAI fine-tune ({FT_MODEL})",
            "model": f"openai:{FT_MODEL}@{server.url}",
            "prompt": PROMPT_FILE,
            "approach": "finetune",
        }
    ]
    assert result.model == f"openai:{FT_MODEL}@{server.url}"
    spec = ModelSpec.parse(result.model)
    assert (spec.weights, spec.endpoint) == (FT_MODEL, server.url)

    # The fine-tuned model is asked the way it was trained: the shared system prompt, then the
    # row's user message as it was.
    program = PromptProgram.load(out / PROMPT_FILE)
    assert program.name == "openai-ft" and program.system == SYSTEM
    messages = build_messages(program, example, task.resources())
    assert [dict(m) for m in messages] == [dict(m) for m in by_id[example.id]["messages"][:-1]]

    record = json.loads((out / "split.json").read_text())
    assert job["id"] in record["source"] and job["validation_file"] in record["source"]


def test_no_test_row_has_a_copy_in_the_validation_rows(server, tmp_path):
    train = chat_rows(30)
    valid = [*train[:3], *chat_rows(3, seed=2)]  # a validation file that repeats 3 rows
    job = server.job(train, valid)
    out = tmp_path / "t"
    import_openai_job(job["id"], out, base_url=server.url)
    test_inputs = {r["messages"][1]["content"] for r in read_rows(out / "test.jsonl")}
    assert not test_inputs & {r["messages"][1]["content"] for r in valid}
    assert validate_task(out).ok


def test_without_a_validation_file_the_splitter_makes_dev(server, tmp_path):
    job = server.job(chat_rows(40))
    result = import_openai_job(job["id"], tmp_path / "t", base_url=server.url)
    assert result.dev_source == "split"
    assert result.counts == {"train": 26, "dev": 6, "test": 8}
    assert validate_task(tmp_path / "t").ok


def test_few_short_answers_make_a_classification_task(server, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": " ".join(random.Random(i).sample(WORDS, 6))},
                      {"role": "assistant", "content": ("fruit", "animal", "thing")[i % 3]}]}
        for i in range(30)
    ]  # fmt: skip
    job = server.job(rows)
    result = import_openai_job(job["id"], tmp_path / "t", base_url=server.url)
    config = load_task(tmp_path / "t").config
    assert (config.metric, config.labels) == ("classification", ["animal", "fruit", "thing"])
    assert result.system_prompt is None
    assert PromptProgram.load(tmp_path / "t" / PROMPT_FILE).system == ""


def test_rows_without_one_shared_system_prompt_are_noted(server, tmp_path):
    rows = chat_rows(15) + chat_rows(15, seed=3, system="Another prompt.")
    job = server.job(rows)
    result = import_openai_job(job["id"], tmp_path / "t", base_url=server.url)
    assert result.system_prompt is None
    assert any("do not share one system prompt" in n for n in result.notes)


def test_a_long_shared_system_prompt_does_not_group_every_row(server, tmp_path):
    job = server.job(chat_rows(30, system="Follow the house rules. " * 200))
    result = import_openai_job(job["id"], tmp_path / "t", base_url=server.url)
    assert result.counts["test"] == 6


def test_multi_turn_rows_are_kept_whole_and_noted(server, tmp_path):
    rows = chat_rows(20)
    rows[0]["messages"] += [
        {"role": "user", "content": "Now backwards, please."},
        {"role": "assistant", "content": "reversed"},
    ]
    job = server.job(rows)
    result = import_openai_job(job["id"], tmp_path / "t", base_url=server.url)
    written = {r["id"]: r for s in result.counts for r in read_rows(tmp_path / "t" / f"{s}.jsonl")}
    assert written["train-1"]["messages"] == rows[0]["messages"]
    assert any("1 rows are multi-turn" in n for n in result.notes)


# ---------------------------------------------------------------------------- a bare file


def test_a_training_file_becomes_a_task_folder_without_a_system(server, tmp_path):
    file_id = server.upload(chat_rows(40))
    out = tmp_path / "t"
    result = import_openai_file(file_id, out, base_url=server.url)
    assert result.counts == {"train": 26, "dev": 6, "test": 8} and result.model is None
    assert not (out / SYSTEMS_FILE).exists() and not (out / "prompts").exists()
    assert validate_task(out).ok
    assert file_id in json.loads((out / "split.json").read_text())["source"]


def test_a_local_openai_file_needs_no_api(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl(chat_rows(20)))
    result = import_openai_file(str(path), tmp_path / "t", base_url="http://127.0.0.1:9/v1")
    assert sum(result.counts.values()) == 20 and validate_task(tmp_path / "t").ok


def test_unsupported_rows_stop_the_import_or_are_dropped(tmp_path):
    rows = chat_rows(20)
    rows[4]["messages"][-1] = {"role": "assistant", "tool_calls": [{"id": "c1"}], "content": None}
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl(rows))
    with pytest.raises(DataError, match=r"train.jsonl:5: field 'messages\[2\]'.*tool") as err:
        import_openai_file(str(path), tmp_path / "t")
    assert "--skip-unsupported" in (err.value.hint or "")
    assert_no_folder(tmp_path / "t")
    result = import_openai_file(str(path), tmp_path / "t", skip_unsupported=True)
    assert result.skipped == 1 and sum(result.counts.values()) == 19
    assert any("1 rows with tools" in n for n in result.notes)


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"status": "running"}, r"is still running.*Hint: wait until it has succeeded"),
        ({"status": "queued"}, r"is still queued"),
        (
            {"status": "failed", "error_json": {"code": "invalid_training_data", "message": "bad"}},
            r"failed: bad \(invalid_training_data\).*tailor import openai-file file-",
        ),
        ({"status": "cancelled"}, r"is cancelled, not succeeded"),
    ],
)
def test_a_job_that_has_not_succeeded_is_refused(server, tmp_path, state, expected):
    job = server.job(chat_rows(12), **state)
    out = tmp_path / "tasks" / "t"
    with pytest.raises(TailorError) as err:
        import_openai_job(job["id"], out, base_url=server.url)
    assert job["id"] in str(err.value)
    assert re.search(expected, str(err.value), re.S)
    assert_no_folder(out)


@pytest.mark.parametrize("gone", ["training_file", "validation_file"])
def test_a_deleted_file_is_named(server, tmp_path, gone):
    job = server.job(chat_rows(12), chat_rows(3, seed=5))
    server.client.files.delete(job[gone])
    out = tmp_path / "t"
    with pytest.raises(TailorError, match=f"file {job[gone]} is gone") as err:
        import_openai_job(job["id"], out, base_url=server.url)
    assert "--" in (err.value.hint or "")  # pass your own copy: --training-file PATH
    assert_no_folder(out)


def test_an_unknown_job_and_a_bad_id(server, tmp_path):
    with pytest.raises(TailorError, match="no fine-tuning job 'ftjob-nope'"):
        import_openai_job("ftjob-nope", tmp_path / "t", base_url=server.url)
    with pytest.raises(ConfigError, match="is not a job id"):
        import_openai_job("../files/x", tmp_path / "t", base_url=server.url)
    assert_no_folder(tmp_path / "t")


def test_a_bad_key_is_a_401_with_the_fix(tmp_path):
    app, _ = build_app(app_kwargs={"start_worker": False}, api_key="the-key")
    with live_server(app) as url:
        job = OpenAIServer(app, url).job(chat_rows(12))
        with pytest.raises(ModelError, match="refused the API key .HTTP 401.") as err:
            import_openai_job(job["id"], tmp_path / "t", base_url=url, api_key="wrong")
        assert "--api-key" in (err.value.hint or "")
        assert_no_folder(tmp_path / "t")
        import_openai_job(job["id"], tmp_path / "t", base_url=url, api_key="the-key")
    assert validate_task(tmp_path / "t").ok


def test_an_unreachable_url(tmp_path, monkeypatch):
    monkeypatch.setattr("tailorlm.finetune.remote.time.sleep", lambda _s: None)
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "t"
    with pytest.raises(ModelError, match=f"127.0.0.1:{port}/v1: cannot reach the server"):
        import_openai_job("ftjob-x", out, base_url=f"http://127.0.0.1:{port}/v1")
    assert_no_folder(out)


def test_an_existing_folder_is_left_alone(tmp_path):
    out = tmp_path / "t"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError, match="already exists"):
        import_openai_job("ftjob-x", out, base_url="http://127.0.0.1:9/v1")
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


# ---------------------------------------------------------------------------- files kept back


def refuse_downloads(app) -> None:
    """Answer file downloads as OpenAI does for purpose fine-tune: a 400."""
    from fastapi.responses import JSONResponse

    def refuse(file_id: str) -> JSONResponse:
        message = "Not allowed to download files of purpose: fine-tune"
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
        return JSONResponse({"error": error}, status_code=400)

    app.add_api_route("/v1/files/{file_id}/content", refuse, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the server's own route


def test_a_file_the_api_keeps_back_comes_from_the_users_copy(server, tmp_path):
    train, valid = chat_rows(20), chat_rows(4, seed=7)
    job = server.job(train, valid)
    refuse_downloads(server.app)
    out = tmp_path / "t"
    with pytest.raises(TailorError, match="does not let file-.* be downloaded") as err:
        import_openai_job(job["id"], out, base_url=server.url)
    assert "--training-file PATH" in (err.value.hint or "")
    assert_no_folder(out)

    (tmp_path / "train.jsonl").write_bytes(jsonl(train))
    (tmp_path / "other.jsonl").write_bytes(jsonl(train[:-1]))
    (tmp_path / "valid.jsonl").write_bytes(jsonl(valid))
    with pytest.raises(DataError, match="bytes; the job's training file"):
        import_openai_job(
            job["id"],
            out,
            base_url=server.url,
            training_file=tmp_path / "other.jsonl",
            validation_file=tmp_path / "valid.jsonl",
        )
    assert_no_folder(out)
    result = import_openai_job(
        job["id"],
        out,
        base_url=server.url,
        training_file=tmp_path / "train.jsonl",
        validation_file=tmp_path / "valid.jsonl",
    )
    assert result.counts == {"train": 16, "dev": 4, "test": 4} and validate_task(out).ok


# ---------------------------------------------------------------------------- a real job


def test_a_real_job_is_imported_and_its_model_is_measured_on_the_test_rows(
    tiny_model_dir, tmp_path, monkeypatch
):
    """A job the server trains (the tiny random model, 2 steps), imported, and its model
    evaluated on the task's test split through the spec and prompt the import recorded."""
    import openai
    import torch

    from tailorlm.backends.http import OpenAIHTTPBackend
    from tailorlm.experiments import run_eval
    from tailorlm.server import ServerSettings, create_app
    from tailorlm.store import RunStore

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tiny_job = {"metric_limit": 0, "max_steps": 2, "eval_every": 1, "save_every": 2}
    settings = ServerSettings(model=str(tiny_model_dir), finetune={**tiny_job, "batch_size": 4})
    app = create_app(settings, store=RunStore(tmp_path / "server-runs"), home=tmp_path / "srv")
    try:
        with live_server(app) as url:
            client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)
            server = OpenAIServer(app, url)
            training, validation = server.upload(chat_rows(20)), server.upload(chat_rows(3, 9))
            job = client.fine_tuning.jobs.create(
                model=str(tiny_model_dir), training_file=training, validation_file=validation
            )
            for _ in range(900):
                if client.fine_tuning.jobs.retrieve(job.id).status in ("succeeded", "failed"):
                    break
                time.sleep(0.2)
            out = tmp_path / "t"
            result = import_openai_job(job.id, out, base_url=url)
            assert result.model.startswith("openai:ft:tiny-llama")
            backend = OpenAIHTTPBackend(result.model)
            evaluated = run_eval(out, model=backend, prompt_file=out / PROMPT_FILE, limit=2)
    finally:
        torch.set_num_threads(threads)
    assert evaluated.summary.n == 2
    rows = RunStore().get(evaluated.run_id).read_jsonl("examples.jsonl")
    assert all(r["prompt_tokens"] > 0 for r in rows)  # answered by the fine-tuned model
