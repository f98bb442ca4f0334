"""Labelling: a teacher answers inputs without gold; the checkable answers become a task."""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from tailorlm.backends import FakeBackend
from tailorlm.backends.http import HTTPSettings, OpenAIHTTPBackend
from tailorlm.costs import PriceTable, tokens_cost
from tailorlm.errors import ModelError, TailorError
from tailorlm.labelling import (
    estimate_cost,
    label_inputs,
    label_source,
    label_split,
    write_labelled_task,
)
from tailorlm.prompting.strategies import get_strategy
from tailorlm.store import RunStore
from tailorlm.tasks import load_task, validate_task
from tailorlm.tasks.loader import BUILTIN_DIR
from tests.server.helpers import SlowFake, build_app, count_in_flight, live_server

COUNT = "SELECT COUNT(*) FROM customers"
SAME_COUNT = "select count(customer_id) as n from customers c"  # another text, the same result
OTHER = "SELECT COUNT(*) FROM products"
FAST = HTTPSettings(max_retries=1, backoff_s=0.01, max_backoff_s=0.02, timeout_s=5)


def small_sales(root: Path, train: int = 40, test: int = 20) -> Path:
    """A copy of sql-sales with the first `train` and `test` rows: quick to label."""
    source = BUILTIN_DIR / "sql-sales"
    root.mkdir(parents=True)
    for name in ("task.yaml", "sales.db"):
        shutil.copy(source / name, root / name)
    for split, n in (("train", train), ("test", test)):
        lines = (source / f"{split}.jsonl").read_text("utf-8").splitlines()[:n]
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    return root


def gold_responder(task):
    """Answers each train question with its gold SQL (a teacher that knows the answers)."""
    gold = {ex.inputs["question"]: ex.output for ex in task.split("train")}

    def respond(messages):
        asked = messages[-1]["content"]
        return next((sql for q, sql in gold.items() if q in asked), "I cannot answer that.")

    return respond


@pytest.fixture
def sales(tmp_path):
    return load_task(small_sales(tmp_path / "sales"))


@pytest.fixture
def program(sales):
    return get_strategy("schema-role")(sales)  # no demos: no embedding model to load


def test_teacher_answers_replace_gold_and_unusable_ones_are_dropped(sales, program):
    """Kept rows carry the teacher's answer (not the gold one) and say how they were made;
    dropped ones are counted by reason."""
    answers = {0: SAME_COUNT, 1: "SELECT nope FROM nowhere", 2: "SELECT * FROM orders WHERE 0"}
    questions = [ex.inputs["question"] for ex in sales.split("train")[:6]]

    def respond(messages):
        i = next(i for i, q in enumerate(questions) if q in messages[-1]["content"])
        return answers.get(i, "Sure! " + COUNT) if i != 5 else "I do not know."

    teacher = FakeBackend(responder=respond, name="teacher")
    outcome = label_inputs(sales.split("train")[:6], task=sales, teacher=teacher, program=program)
    assert (outcome.total, outcome.kept) == (6, 3)
    assert outcome.dropped == {"syntax/runtime error": 2, "empty result": 1}  # prose: not SQL
    assert [ex.output for ex in outcome.examples] == [SAME_COUNT, COUNT, COUNT]
    first = outcome.examples[0]
    assert first.inputs == sales.split("train")[0].inputs
    assert first.meta["family"] == sales.split("train")[0].meta["family"]  # the row's own meta
    stamp = first.meta["labelling"]
    assert stamp["teacher"] == "teacher" and stamp["program"] == "schema-role"
    assert stamp["votes"] == 1 and stamp["vote_share"] == 1.0
    assert stamp["kept"] == "ran: 1 row" and stamp["run"] == outcome.run_id
    assert len(stamp["program_hash"]) == 12
    stored = RunStore().get(outcome.run_id)
    assert stored.kind == "label" and stored.summary["kept"] == 3
    assert all(row["inputs"] for row in stored.read_jsonl("labels.jsonl"))


def test_the_default_prompt_is_the_best_hand_built_one(sales, tmp_path):
    from tailorlm.compare.presets import BEST_PROMPT
    from tailorlm.labelling import default_program
    from tailorlm.tasks.loader import Task

    assert default_program(sales).name == BEST_PROMPT
    assert default_program(sales).demo_selector.task == str(sales.root)
    no_train = Task(sales.config, tmp_path / "nowhere")  # demos need a train split
    assert default_program(no_train).name == "role+context+format"


class Breaks(FakeBackend):
    """A teacher whose `generate` raises on call `fail_on` (1-based), once."""

    def __init__(self, fail_on: int, **kwargs):
        super().__init__(**kwargs)
        self.fail_on, self.generate_calls = fail_on, 0

    def generate(self, batch, options=None):
        self.generate_calls += 1
        if self.generate_calls == self.fail_on:
            raise ModelError("http://teacher: no answer after 5 attempt(s)", hint="is it up?")
        return super().generate(batch, options)


def test_an_interrupted_labelling_resumes_and_an_identical_one_is_reused(sales, program):
    inputs = sales.split("train")  # 40 rows: three chunks of 16
    broken = Breaks(2, responder=gold_responder(sales), name="teacher")
    with pytest.raises(ModelError) as error:
        label_inputs(inputs, task=sales, teacher=broken, program=program)
    assert "16 of 40 inputs labelled" in error.value.message and error.value.hint == "is it up?"
    healthy = Breaks(0, responder=gold_responder(sales), name="teacher")
    outcome = label_inputs(inputs, task=sales, teacher=healthy, program=program)
    assert outcome.resumed and outcome.kept + sum(outcome.dropped.values()) == 40
    assert len(healthy.calls) == 24  # only the rows not done before
    assert [ex.id for ex in outcome.examples] == [ex.id for ex in inputs][: outcome.kept]
    again = label_inputs(inputs, task=sales, teacher=healthy, program=program)
    assert again.reused and again.run_id == outcome.run_id and len(healthy.calls) == 24


class Scripted(FakeBackend):
    """Per question, the next of its scripted answers; records the options of each call."""

    def __init__(self, script: dict[str, list[str]]):
        super().__init__(name="teacher")
        self.script, self.seen, self.options = script, {q: 0 for q in script}, []
        self.responder = self._next

    def _next(self, messages):
        question = next(q for q in self.script if q in messages[-1]["content"])
        self.seen[question] += 1
        return self.script[question][(self.seen[question] - 1) % len(self.script[question])]

    def generate(self, batch, options=None):
        self.options.append(options)
        return super().generate(batch, options)


def test_votes_keep_the_answer_whose_result_most_votes_share(sales, program):
    first, second = sales.split("train")[:2]
    teacher = Scripted(
        {
            first.inputs["question"]: [OTHER, COUNT, SAME_COUNT],  # two run to the same count
            second.inputs["question"]: [COUNT, OTHER, "SELECT 7"],  # all differ
        }
    )
    outcome = label_inputs([first, second], task=sales, teacher=teacher, program=program, votes=3)
    [kept] = outcome.examples
    assert kept.id == first.id and kept.output == COUNT  # the earliest of the majority
    assert kept.meta["labelling"]["vote_share"] == pytest.approx(2 / 3)
    assert kept.meta["labelling"]["kept"] == "majority 2/3: ran: 1 row"
    assert outcome.dropped == {"no majority": 1}
    assert [(o.temperature, o.seed) for o in teacher.options] == [(0.7, 0), (0.7, 1), (0.7, 2)]


def test_labels_outside_the_task_labels_are_dropped(tmp_path):
    from tailorlm.tasks.scaffold import init_task

    task = load_task(init_task(tmp_path / "tickets", "classification"))
    answers = {"charged twice": "Billing.", "export button": "a bug, maybe a feature_request"}
    teacher = FakeBackend(answers, default="Category: feature_request", name="teacher")
    outcome = label_split(task, teacher=teacher, program=get_strategy("format")(task))
    assert [ex.output for ex in outcome.examples] == [
        "billing",
        "feature_request",
        "feature_request",
    ]
    assert outcome.dropped == {"not a label": 1}


def test_too_few_usable_answers_write_no_task(sales, program, tmp_path):
    teacher = FakeBackend(default="Here is the query you asked for.", name="teacher")
    outcome = label_inputs(sales.split("train")[:5], task=sales, teacher=teacher, program=program)
    with pytest.raises(TailorError) as error:
        write_labelled_task(outcome, tmp_path / "out", source_task=sales, min_kept=3)
    assert "only 0 of 5 teacher answers are usable" in error.value.message
    assert "dropped: 5 syntax/runtime error" in error.value.message
    assert not (tmp_path / "out").exists()


def test_the_written_task_validates_and_keeps_test_inputs_out_of_train(sales, program, tmp_path):
    test_row = sales.split("test")[0]
    inputs = [*sales.split("train")[:30], replace(test_row, id="copy-of-test")]
    teacher = FakeBackend(default=COUNT, name="teacher")
    outcome = label_inputs(inputs, task=sales, teacher=teacher, program=program)
    written = write_labelled_task(outcome, tmp_path / "out", source_task=sales, min_kept=20)
    assert written.left_out >= 1 and written.rows == 31 - written.left_out
    report = validate_task(tmp_path / "out")
    assert report.ok, report.errors
    assert (
        report.counts["test"] == 20
        and report.counts["train"] + report.counts["dev"] == written.rows
    )
    out = load_task(tmp_path / "out")
    assert out.name == "out" and out.config.metric == "sql_execution"
    assert {ex.output for ex in out.split("train")} == {COUNT}
    assert "copy-of-test" not in {ex.id for ex in out.split("train") + out.split("dev")}
    record = json.loads((tmp_path / "out" / "split.json").read_text())
    assert record["source"] == f"tailor data label (run {outcome.run_id})"


def test_cost_is_estimated_before_and_counted_after(sales, program):
    inputs = sales.split("train")[:10]
    teacher = FakeBackend(default=COUNT, name="teacher", spec="openai:gpt-4o-mini")
    estimate = estimate_cost(inputs, task=sales, teacher=teacher, program=program, votes=2)
    assert estimate.requests == 20 and estimate.priced_as == "gpt-4o-mini"
    assert estimate.answer_basis == "mean of the task's train answers"
    prices = PriceTable.load()
    expected = tokens_cost(
        prices, "gpt-4o-mini", 20 * estimate.prompt_tokens, 20 * estimate.answer_tokens
    )
    assert estimate.cost == pytest.approx(expected)
    assert teacher.calls == []  # estimating asks nothing
    outcome = label_inputs(inputs, task=sales, teacher=teacher, program=program)
    assert outcome.prompt_tokens == sum(
        sum(teacher.count_tokens(m["content"]) for m in call) for call in teacher.calls
    )
    assert outcome.completion_tokens == 10 * 4
    counted = tokens_cost(prices, "gpt-4o-mini", outcome.prompt_tokens, outcome.completion_tokens)
    assert outcome.cost == pytest.approx(counted)
    local = FakeBackend(default=COUNT, name="local")
    assert estimate_cost(inputs, task=sales, teacher=local, program=program).cost is None


def test_inputs_from_files_are_read_as_data_import_reads_them(tmp_path):
    (tmp_path / "a.csv").write_text("text,customer\nMy card was charged twice,acme\n", "utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "Add dark mode", "customer": "zed"}\n', "utf-8")
    source = label_source(
        [tmp_path / "a.csv", tmp_path / "b.jsonl"],
        out_dir=tmp_path / "new",
        input_fields=["text"],
        task_type="classification",
        labels=["billing", "feature_request"],
    )
    assert [(ex.id, ex.inputs, ex.meta) for ex in source.inputs] == [
        ("a-row-2", {"text": "My card was charged twice"}, {"customer": "acme"}),
        ("b-row-1", {"text": "Add dark mode"}, {"customer": "zed"}),
    ]
    assert source.task.config.labels == ["billing", "feature_request"] and source.config_text
    csv = [tmp_path / "a.csv"]
    with pytest.raises(TailorError, match="a.csv:1: field 'question': missing column"):
        label_source(csv, out_dir=tmp_path / "x", from_task="sql-sales")  # the task's fields
    with pytest.raises(TailorError, match="must name the task's input fields: question"):
        label_source(csv, out_dir=tmp_path / "x", from_task="sql-sales", input_fields=["text"])
    with pytest.raises(TailorError, match="describe a new task, but --from-task names one"):
        label_source(csv, out_dir=tmp_path / "x", from_task="sql-sales", task_type="code")


# ---------------------------------------------------------------------------- HTTP teachers


def test_an_http_teacher_gets_eight_requests_at_once(sales, program):
    app, _ = build_app(backend=SlowFake(delay=0.05, responder=gold_responder(sales)), model="m")
    inflight = count_in_flight(app)

    with live_server(app) as url:
        outcome = label_inputs(
            sales.split("train")[:16], task=sales, teacher=f"openai:m@{url}", program=program
        )
    assert outcome.kept == 16 and outcome.teacher == f"openai:m@{url}"
    assert inflight["max"] == 8
    assert outcome.completion_tokens > 0 and outcome.cost is None  # `m` has no price


def test_a_401_teacher_fails_in_one_line_and_the_run_resumes(sales, program):
    app, _ = build_app(backend=FakeBackend(default=COUNT), model="m", api_key="right")
    inputs = sales.split("train")[:4]
    with live_server(app) as url:
        spec = f"openai:m@{url}"
        with pytest.raises(ModelError) as error:
            label_inputs(inputs, task=sales, teacher=spec, program=program, api_key="wrong")
        assert "HTTP 401" in error.value.message and "0 of 4 inputs labelled" in error.value.message
        assert "OPENAI_API_KEY" in error.value.hint
        [failed] = RunStore().list(kind="label")
        assert failed.status == "failed"
        outcome = label_inputs(inputs, task=sales, teacher=spec, program=program, api_key="right")
    assert outcome.resumed and outcome.run_id == failed.id and outcome.kept == 4


def test_an_unreachable_teacher_is_a_model_error(sales, program):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    teacher = OpenAIHTTPBackend(f"openai:m@http://127.0.0.1:{port}/v1", settings=FAST)
    with pytest.raises(ModelError, match="no answer after 2 attempt"):
        label_inputs(sales.split("train")[:3], task=sales, teacher=teacher, program=program)
    assert RunStore().list(kind="label")[0].status == "failed"  # kept, to resume


def test_without_the_check_every_non_empty_answer_is_kept(sales, program):
    answers = iter(["SELECT nope FROM nowhere", "I cannot answer that."] * 100)
    asked = []
    teacher = FakeBackend(responder=lambda messages: asked.append(messages) or next(answers))
    checked = label_inputs(sales.split("train")[:6], task=sales, teacher=teacher, program=program)
    unchecked = label_inputs(
        sales.split("train")[:6], task=sales, teacher=teacher, program=program, filtered=False
    )
    assert checked.kept == 0 and unchecked.kept == 6
    # the filter is a view of one run: the teacher was not asked again
    assert unchecked.run_id == checked.run_id and unchecked.reused and len(asked) == 6
    assert len(RunStore().list(kind="label")) == 1
    assert unchecked.dropped == {} and checked.dropped
