"""Format instructions and parsers that fit the analyst tasks, read from their train answers."""

from __future__ import annotations

import pytest

from tailorlm.prompting.extract import PARSERS
from tailorlm.prompting.requests import build_messages
from tailorlm.prompting.shape import answer_shape, shape_rule
from tailorlm.prompting.strategies import get_strategy
from tailorlm.tasks import load_task


def test_shapes_of_answers():
    fields = answer_shape(["category: bug; priority: low", "category: access; priority: high"])
    assert fields.fields == (("category", ("access", "bug")), ("priority", ("high", "low")))
    assert answer_shape(["- a\n- b\n- c", "- d\n- e\n- f"]).bullets == 3
    assert answer_shape(["x = 1\nresult = x", "result = 2"]).variable == "result"
    assert answer_shape(["One. Two.", "One."]).sentences == 2
    assert answer_shape(["billing", "bug"]).fields == ()  # plain labels have no fields


@pytest.mark.parametrize(
    ("task", "rule", "parser"),
    [
        (
            "ticket-triage",
            "`category: <access|billing|bug|data|feature|how-to>; priority: <high|low|medium>`",
            "first_line",
        ),
        ("report-bullets", "exactly 3 bullet points", "bullets"),
        ("pandas-code", "variable named `result`", "code"),
        ("explain-result", "at most 2 sentences", "raw"),
    ],
)
def test_format_strategy_fits_each_task(task, rule, parser):
    program = get_strategy("format")(load_task(task))
    assert rule in program.output_format and program.parser == parser


@pytest.mark.parametrize(
    "task", ["ticket-triage", "report-bullets", "explain-result", "pandas-code"]
)
@pytest.mark.parametrize(
    "spec",
    ["zero-shot", "role", "context", "format", "few-shot:similarity=lexical", "cot", "schema-role"],
)
def test_every_strategy_renders_for_the_analyst_tasks(task, spec):
    loaded = load_task(task)
    program = get_strategy(spec)(loaded)
    example = loaded.split("test")[0]
    messages = build_messages(program, example, loaded.resources())
    assert all(str(v) in messages[-1]["content"] for v in example.inputs.values())
    assert program.parser in PARSERS
    if spec.startswith("few-shot"):
        assert len(messages) == 1 + 2 * 3  # three demos (no system message) and the question


def test_cot_states_the_final_answer_shape():
    program = get_strategy("cot")(load_task("ticket-triage"))
    assert "The final answer is one line, `category:" in program.output_format
    assert PARSERS[program.parser]("Reasoning...\nAnswer: category: bug; priority: low") == (
        "category: bug; priority: low"
    )


def test_shape_rule_is_empty_when_nothing_is_known():
    assert shape_rule(answer_shape([]), "text") == ""


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("result = df['x'].sum()", "result = df['x'].sum()"),
        ("Here is the code:\nimport pandas as pd\nresult = 1", "import pandas as pd\nresult = 1"),
        ("```python\nresult = 2\n```\nThis sums it.", "result = 2"),
        ("```\nresult = 3\n```", "result = 3"),
        ("Sure!\n```text\nnote\n```\n```py\nresult = 4\n```", "result = 4"),
    ],
)
def test_code_parser(text, code):
    assert PARSERS["code"](text) == code
