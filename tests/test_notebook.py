"""tailorlm's objects in Jupyter: `_repr_html_` fragments (escaped, with the cells a reader
looks for) and `to_pandas()` tables, first as plain calls, then displayed by a real kernel."""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import pytest

from tailorlm import display
from tailorlm.backends import FakeBackend
from tailorlm.compare.notebook import COLUMNS, REPORT_HINT
from tailorlm.compare.runner import CompareOutcome
from tailorlm.errors import StoreError, TailorError
from tailorlm.experiments import run_eval
from tailorlm.report import build_report
from tailorlm.report.notebook import FRAME_COLUMNS, shown_criteria
from tailorlm.store import RunStore
from tests.report.conftest import FIXTURE

ROOT = Path(__file__).parents[1]
LABELS = [
    "Zero-shot",
    "Best hand-built prompt",
    "Optimized prompt",
    "Fine-tuned (LoRA)",
    "Fine-tuned + optimized prompt",
]


@pytest.fixture
def comparison() -> dict:
    """The report tests' comparison: five systems, the last one not possible."""
    return copy.deepcopy(json.loads(FIXTURE.read_text(encoding="utf-8")))


def _rows(n: int) -> list[dict]:
    return [
        {"id": f"ex-{i}", "inputs": {"question": f"q{i} <b>?"}, "gold": "SELECT 1",
         "prediction": "SELECT 2", "score": 0.0, "reason": "mismatch"}
        for i in range(n)
    ]  # fmt: skip


def _eval_run(store: RunStore, n: int = 7, complete: bool = True):
    writer = store.start(
        "eval", name="zero-shot", task="sql-sales", model="fake", config={"n": n}, data_hash="d"
    )
    for row in _rows(n):
        writer.append_jsonl("examples.jsonl", row)
    writer.set_summary({"quality": 0.25, "ci": [0.0, 0.5], "n": n})
    if complete:
        writer.complete()
    else:
        writer.fail("stopped")
    return store.get(writer.id)


# The helpers every fragment is built from.


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("a & b", "a &amp; b"),
        ("two\nlines", "two<br>lines"),
        (None, ""),
        (0.123456, "0.1235"),
        ({"question": "q", "db": "d"}, "question: q<br>db: d"),
        ([0.1, 0.2], "0.1, 0.2"),
        ("x" * 400, "x" * 299 + "…"),
    ],
)
def test_a_cell_is_escaped_and_short(value, shown):
    assert display.cell(value) == shown


def test_built_markup_passes_through_and_a_bare_string_is_refused():
    bold = display.strong("<i>")
    assert display.cell(bold) == "<strong>&lt;i&gt;</strong>"
    assert "<td><strong>&lt;i&gt;</strong></td>" in display.table(["h"], [[bold]])
    with pytest.raises(TypeError):
        display.fragment("<p>not escaped</p>")


def test_without_pandas_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    with pytest.raises(TailorError) as caught:
        display.data_frame([{"a": 1}])
    assert caught.value.hint == "pip install pandas"


# The report.


def test_report_fragment_has_the_systems_the_three_criteria_and_the_recommendation(comparison):
    comparison["systems"][0]["label"] = "Zero-shot <b>raw</b>"
    report = build_report(comparison)
    page = report._repr_html_()
    assert [row.name for row in shown_criteria(report)] == [
        "Quality (95% CI, significance)",
        next(r.name for r in report.criteria() if r.name.startswith("Latency")),
        "Cost per 1,000 requests",
    ]
    for name in (row.name for row in shown_criteria(report)):
        assert f"<th>{name}</th>" in page
    assert "Zero-shot &lt;b&gt;raw&lt;/b&gt;" in page and "<b>raw" not in page
    for label in LABELS[1:]:
        assert f"<td>{label}</td>" in page
    assert "<strong>★ " in page  # winners marked as in the other views
    assert report.advice.headline in page
    assert all(reason.split(":")[0] in page for reason in report.advice.reasons)
    assert "<html" not in page and "<script" not in page  # a fragment, not the full page


def test_report_to_pandas_one_row_per_system_with_the_cost(comparison):
    report = build_report(comparison)
    frame = report.to_pandas()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert list(frame["id"]) == [s["id"] for s in comparison["systems"]]
    best = frame.set_index("id").loc["best-prompt"]
    assert best["quality"] == comparison["systems"][1]["quality"]["score"]
    assert best["cost_per_1000"] == pytest.approx(report.cost("best-prompt").per_1000)
    missing = frame.set_index("id").loc["finetuned-optimized"]
    assert math.isnan(missing["quality"]) and missing["status"] == "not_possible"
    assert missing["reason"]
    assert frame.attrs == {"scenario": report.scenario, "currency": report.prices.currency}


# A comparison as run_compare returns it.


def test_compare_outcome_shows_its_systems_and_points_to_the_report(comparison, tmp_path):
    outcome = CompareOutcome("run", comparison, False, False, tmp_path / "comparison.json")
    page = outcome._repr_html_()
    for label in LABELS:
        assert f"<td>{label}</td>" in page
    score = comparison["systems"][1]["quality"]
    assert f"{100 * score['score']:.1f}% [{100 * score['ci'][0]:.1f}%" in page
    assert REPORT_HINT in page
    frame = outcome.to_pandas()
    assert list(frame.columns) == list(COLUMNS) and len(frame) == len(LABELS)
    assert list(FRAME_COLUMNS) == [*COLUMNS[:-1], "cost_per_1000", "reason"]


# A stored run.


def test_an_eval_run_shows_its_row_summary_and_first_examples():
    record = _eval_run(RunStore())
    page = record._repr_html_()
    for name, value in [("id", record.id), ("status", "complete"), ("model", "fake")]:
        assert f"<th>{name}</th><td>{value}</td>" in page
    assert "<th>quality</th><td>0.25</td>" in page and "<th>ci</th><td>0, 0.5</td>" in page
    assert "first 5 of 7 examples" in page
    assert "<td>ex-4</td>" in page and "<td>ex-5</td>" not in page
    assert "question: q0 &lt;b&gt;?" in page
    frame = record.to_pandas()
    assert frame.shape[0] == 7 and {"id", "inputs", "gold", "prediction", "score"} <= set(frame)


def test_an_unfinished_run_shows_no_examples_but_to_pandas_gives_those_written():
    record = _eval_run(RunStore(), n=3, complete=False)
    page = record._repr_html_()
    assert "<th>status</th><td>failed</td>" in page and "<th>error</th><td>stopped</td>" in page
    assert "examples" not in page
    assert len(record.to_pandas()) == 3


def test_a_run_without_examples_says_which_runs_have_them():
    store = RunStore()
    writer = store.start("compare", name="c", task="t", model="m", config={}, data_hash="d")
    record = writer.complete()
    assert "<td>compare</td>" in record._repr_html_()
    with pytest.raises(StoreError, match="compare run: it stores no examples") as caught:
        record.to_pandas()
    assert "eval" in (caught.value.hint or "")


def test_an_eval_outcome_displays_its_run_from_its_own_store(tmp_path):
    store = RunStore(tmp_path / "elsewhere")
    outcome = run_eval("sql-sales", model=FakeBackend(default="SELECT 1"), limit=3, store=store)
    assert outcome.run_dir == store.root / outcome.run_id
    assert f"<td>{outcome.run_id}</td>" in outcome._repr_html_()
    assert outcome.to_pandas().shape[0] == 3
    again = run_eval("sql-sales", model=FakeBackend(default="SELECT 1"), limit=3, store=store)
    assert again.reused and again.to_pandas().shape[0] == 3


# The same objects displayed by a real Jupyter kernel.

CELLS = [
    """\
from tailorlm.backends import FakeBackend
from tailorlm.compare import run_compare
from tailorlm.experiments import run_eval
from tailorlm.report import build_report
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tests.compare.helpers import TINY, schema_and_demos_fake

task = load_task("sql-sales")
evaluated = run_eval(task, model=FakeBackend(default="SELECT 1"), limit=3)
outcome = run_compare(task, preset=TINY, model=schema_and_demos_fake(task))
report = build_report(outcome.comparison)""",
    "RunStore().get(evaluated.run_id)",
    "evaluated",
    "outcome",
    "report",
    """\
import json
frames = {
    "run": RunStore().get(evaluated.run_id).to_pandas(),
    "outcome": outcome.to_pandas(),
    "report": report.to_pandas(),
}
shapes = {name: [list(f.shape), list(f.columns)] for name, f in frames.items()}
print(json.dumps({"eval_id": evaluated.run_id, **shapes}))""",
]


def _kernel(tmp_path: Path, monkeypatch) -> str:
    """A kernel spec for this venv's interpreter, found first (JUPYTER_PATH), so the notebook
    runs the tailorlm under test whatever kernels the machine has installed."""
    name = "tailorlm-test"
    spec = tmp_path / "jupyter" / "kernels" / name
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": name, "language": "python"}
    (spec / "kernel.json").write_text(json.dumps({**kernel, "env": {"PYTHONPATH": str(ROOT)}}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return name


def _html(cell) -> str:
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert results, cell.outputs
    assert "text/html" in results[0].data, results[0].data
    return results[0].data["text/html"]


def test_a_notebook_displays_runs_comparisons_and_reports(tmp_path, monkeypatch, _tailor_home):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    kernel = _kernel(tmp_path, monkeypatch)  # the kernel inherits TAILOR_HOME (conftest)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    _, run, evaluated, outcome, report, frames = nb.cells

    shapes = json.loads(next(o.text for o in frames.outputs if o.get("name") == "stdout"))
    eval_id = shapes.pop("eval_id")
    assert RunStore().get(eval_id).is_complete  # the kernel wrote to this test's TAILOR_HOME
    assert RunStore().root.is_relative_to(_tailor_home)
    for page in (_html(run), _html(evaluated)):
        assert f"<td>{eval_id}</td>" in page and "first 3 of 3 examples" in page
    page = _html(outcome)
    assert "<td>Best hand-built prompt</td>" in page and "100.0% [100.0%–100.0%]" in page
    assert "<td>not_possible</td>" in page and REPORT_HINT in page
    page = _html(report)
    assert "Cost per 1,000 requests" in page and "<strong>★ 100.0%" in page
    assert "Recommendation: prompt engineering" in page

    assert shapes["run"][0][0] == 3
    assert {"id", "inputs", "gold", "prediction", "score"} <= set(shapes["run"][1])
    n_systems = len(RunStore().list(kind="compare")[0].summary["systems"])
    assert shapes["outcome"] == [[n_systems, len(COLUMNS)], list(COLUMNS)]
    assert shapes["report"] == [[n_systems, len(FRAME_COLUMNS)], list(FRAME_COLUMNS)]
