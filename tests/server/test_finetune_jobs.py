"""Fine-tuning jobs end to end with the tiny random model: upload -> job -> events ->
succeeded -> chat with the fine-tuned model; and jobs surviving a server restart."""

from __future__ import annotations

import time

import openai
import pytest

from tailorlm.server import ServerSettings, create_app
from tailorlm.server.jobs import JobService, Stopping
from tests.server.helpers import live_server
from tests.server.test_files import chat_rows, jsonl

# A job takes a few seconds with the tiny model.
TINY_JOB = {"metric_limit": 0, "max_steps": 4, "eval_every": 2, "save_every": 2, "batch_size": 4}
FINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_app(model_dir, **kwargs):
    settings = ServerSettings(model=str(model_dir), finetune=TINY_JOB)
    return create_app(settings, **kwargs)


def wait_for(client, job_id: str, timeout: float = 180) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in FINAL:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job.status}")


def poll(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def start_job(client, model: str, **extra):
    training = client.files.create(file=("train.jsonl", jsonl(chat_rows(14))), purpose="fine-tune")
    return client.fine_tuning.jobs.create(
        model=model,
        training_file=training.id,
        suffix="adder",
        seed=3,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        **extra,
    )


def test_a_complete_job_and_chat_with_its_model(tiny_model_dir, openai_client):
    app = tiny_app(tiny_model_dir)
    with live_server(app) as url:
        client = openai_client(url, timeout=60)
        created = start_job(client, str(tiny_model_dir))
        assert created.status in ("queued", "running")
        assert created.hyperparameters.n_epochs == 2
        assert created.hyperparameters.batch_size == 4  # the server's limits apply last
        job = wait_for(client, created.id)
        assert job.status == "succeeded", job.error
        assert job.fine_tuned_model.startswith("ft:tiny-llama")
        assert job.trained_tokens > 0 and job.finished_at >= job.created_at

        events = list(client.fine_tuning.jobs.list_events(created.id, limit=100))
        metrics = [e.data for e in events if e.type == "metrics"]
        assert {m["step"] for m in metrics if "train_loss" in m} == {1, 2, 3, 4}
        assert any("valid_loss" in m for m in metrics)
        assert events[0].message == "The job has successfully completed."  # newest first

        [checkpoint] = client.fine_tuning.jobs.checkpoints.list(created.id).data
        assert checkpoint.fine_tuned_model_checkpoint == job.fine_tuned_model
        assert checkpoint.metrics.valid_loss is not None
        assert isinstance(checkpoint.metrics.train_loss, float)  # was null

        assert job.fine_tuned_model in [m.id for m in client.models.list()]
        reply = client.chat.completions.create(
            model=job.fine_tuned_model,
            messages=[{"role": "user", "content": "What is 2 plus one?"}],
            max_tokens=5,
        )
        assert reply.usage.completion_tokens >= 1 and reply.usage.prompt_tokens > 5


def test_job_requests_are_checked(tiny_model_dir, openai_client):
    app = tiny_app(tiny_model_dir, start_worker=False)
    with live_server(app) as url:
        client = openai_client(url)
        training = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
        with pytest.raises(openai.BadRequestError, match="cannot be fine-tuned here"):
            client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
        with pytest.raises(openai.NotFoundError):
            client.fine_tuning.jobs.create(model=str(tiny_model_dir), training_file="file-x")
        small = client.files.create(file=("s.jsonl", jsonl(chat_rows(9))), purpose="fine-tune")
        with pytest.raises(openai.BadRequestError, match="9 example.s.; at least 10"):
            client.fine_tuning.jobs.create(model=str(tiny_model_dir), training_file=small.id)
        with pytest.raises(openai.BadRequestError, match="n_epochs"):
            client.fine_tuning.jobs.create(
                model=str(tiny_model_dir),
                training_file=training.id,
                hyperparameters={"n_epochs": 0},
            )
        with pytest.raises(openai.BadRequestError, match="'dpo' is not supported"):
            client.fine_tuning.jobs.create(
                model=str(tiny_model_dir), training_file=training.id, method={"type": "dpo"}
            )


def test_list_paginates_and_queued_jobs_cancel(tiny_model_dir, openai_client):
    app = tiny_app(tiny_model_dir, start_worker=False)
    with live_server(app) as url:
        client = openai_client(url)
        training = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
        ids = [
            client.fine_tuning.jobs.create(model=str(tiny_model_dir), training_file=training.id).id
            for _ in range(3)
        ]
        page = client.fine_tuning.jobs.list(limit=2)
        assert [j.id for j in page.data] == ids[::-1][:2] and page.has_more
        assert [j.id for j in page.get_next_page().data] == ids[:1]
        assert [j.id for j in client.fine_tuning.jobs.list(limit=2)] == ids[::-1]  # auto-paging
        assert client.fine_tuning.jobs.cancel(ids[0]).status == "cancelled"
        with pytest.raises(openai.BadRequestError, match="already cancelled"):
            client.fine_tuning.jobs.cancel(ids[0])


def test_queued_job_runs_after_a_restart(tiny_model_dir, openai_client):
    with live_server(tiny_app(tiny_model_dir, start_worker=False)) as url:
        job_id = start_job(openai_client(url), str(tiny_model_dir)).id
    with live_server(tiny_app(tiny_model_dir)) as url:
        assert wait_for(openai_client(url), job_id).status == "succeeded"


def test_running_job_resumes_from_its_checkpoint_after_a_restart(
    tiny_model_dir, openai_client, monkeypatch
):
    original = JobService.check_interrupt

    def die_after_step_3(self, job_id):  # the server "dies" mid-training, after a checkpoint
        if any("Step 3/" in e["message"] for e in self.db.select("events", "job_id = ?", [job_id])):
            raise Stopping
        original(self, job_id)

    monkeypatch.setattr(JobService, "check_interrupt", die_after_step_3)
    with live_server(tiny_app(tiny_model_dir)) as url:
        client = openai_client(url)
        job_id = start_job(client, str(tiny_model_dir)).id
        poll(
            lambda: any("Step 3/" in e.message for e in client.fine_tuning.jobs.list_events(job_id))
        )
        time.sleep(0.5)
        assert client.fine_tuning.jobs.retrieve(job_id).status == "running"
    monkeypatch.setattr(JobService, "check_interrupt", original)

    with live_server(tiny_app(tiny_model_dir)) as url:
        client = openai_client(url)
        job = wait_for(client, job_id)
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]
    assert job.status == "succeeded", job.error
    assert "Server restarted; resuming from the last checkpoint." in messages
    assert "Resumed training at step 2/4." in messages


def test_running_job_with_nothing_to_resume_is_failed_with_a_reason(tiny_model_dir, openai_client):
    app = tiny_app(tiny_model_dir, start_worker=False)
    with live_server(app) as url:
        job_id = start_job(openai_client(url), str(tiny_model_dir)).id
    app.state.jobs.db.update("jobs", job_id, status="running", run_id="20990101-gone")
    with live_server(tiny_app(tiny_model_dir)) as url:
        job = openai_client(url).fine_tuning.jobs.retrieve(job_id)
    assert job.status == "failed"
    assert job.error.code == "server_restart" and "create the job again" in job.error.message


def test_cancelling_a_running_job_stops_training(tiny_model_dir, openai_client, monkeypatch):
    original = JobService.check_interrupt

    def cancel_at_step_1(self, job_id):  # a client cancels while the first step runs
        if self.db.get("jobs", job_id)["status"] == "running":
            self.cancel(job_id)
        original(self, job_id)

    monkeypatch.setattr(JobService, "check_interrupt", cancel_at_step_1)
    app = tiny_app(tiny_model_dir)
    with live_server(app) as url:
        client = openai_client(url)
        job = wait_for(client, start_job(client, str(tiny_model_dir)).id)
        steps = [e for e in client.fine_tuning.jobs.list_events(job.id) if e.type == "metrics"]
    assert job.status == "cancelled" and job.fine_tuned_model is None
    assert len(steps) == 1
    run = app.state.jobs.store.get(app.state.jobs.row(job.id)["run_id"])
    assert run.status == "cancelled"  # as `tailor runs` shows it, not "failed"
    assert job.id in run.summary["error"]


# ---------------------------------------------------------------- servers sharing one home


def test_two_servers_on_one_home_share_one_worker(tiny_model_dir, openai_client):
    first, second = tiny_app(tiny_model_dir), tiny_app(tiny_model_dir)
    with live_server(first) as url_a, live_server(second) as url_b:
        assert first.state.jobs.is_worker and not second.state.jobs.is_worker
        job = start_job(openai_client(url_b), str(tiny_model_dir))  # queued by the second
        assert wait_for(openai_client(url_a), job.id).status == "succeeded"
        assert not second.state.jobs.is_worker


def test_a_second_server_leaves_a_running_job_alone(tiny_model_dir, openai_client, monkeypatch):
    original = JobService.check_interrupt

    def slow(self, job_id):  # time for a second server to start while the job runs
        time.sleep(0.3)
        original(self, job_id)

    monkeypatch.setattr(JobService, "check_interrupt", slow)
    with live_server(tiny_app(tiny_model_dir)) as url_a:
        client = openai_client(url_a)
        job_id = start_job(client, str(tiny_model_dir)).id
        poll(lambda: client.fine_tuning.jobs.retrieve(job_id).status == "running")
        with live_server(tiny_app(tiny_model_dir)) as url_b:
            assert openai_client(url_b).fine_tuning.jobs.retrieve(job_id).status == "running"
        job = wait_for(client, job_id)
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]
    assert job.status == "succeeded", job.error
    assert not any("restarted" in m for m in messages)
    assert sum(m.startswith("Step 1/") for m in messages) == 1  # trained once


def test_another_server_takes_the_jobs_over_when_the_worker_stops(tiny_model_dir, openai_client):
    from contextlib import ExitStack

    first, second = tiny_app(tiny_model_dir), tiny_app(tiny_model_dir)
    with ExitStack() as outer:
        worker = ExitStack()
        worker.enter_context(live_server(first))
        url_b = outer.enter_context(live_server(second))
        assert not second.state.jobs.is_worker
        worker.close()  # the worker's server stops; the second one is still up
        job = start_job(openai_client(url_b), str(tiny_model_dir))
        assert wait_for(openai_client(url_b), job.id).status == "succeeded"
        assert second.state.jobs.is_worker
