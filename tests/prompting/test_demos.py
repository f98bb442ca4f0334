from __future__ import annotations

import pytest

from tailorlm.errors import ConfigError
from tailorlm.prompting.demos import knn_ranking, select_demos
from tailorlm.prompting.program import DemoSelector, PromptProgram
from tailorlm.prompting.requests import build_messages
from tailorlm.types import Example


def ex(i, question, output, **meta):
    return Example(f"train-{i}", {"question": question}, output, meta=meta)


POOL = [
    ex(0, "total revenue of the Garden category in 2023", "A", family="revenue"),
    ex(1, "how many orders were placed in March 2024", "B", family="count"),
    ex(2, "revenue of the Books category in 2024", "C", family="revenue"),
    ex(3, "list customers from the North region", "D", family="customers"),
    ex(4, "how many orders were placed online", "E", family="count"),
    ex(5, "customers in the South region with many orders", "F", family="customers"),
]


def outputs(demos):
    return [d.output for d in demos]


def test_knn_picks_the_most_similar_and_puts_the_nearest_last():
    selector = DemoSelector(method="knn", k=2, similarity="lexical")
    demos = select_demos(selector, {"question": "revenue of the Books category"}, POOL)
    assert outputs(demos) == ["A", "C"]


def test_knn_never_shows_the_question_itself():
    selector = DemoSelector(method="knn", k=2, similarity="lexical")
    demos = select_demos(selector, POOL[0].inputs, POOL, exclude_id="train-0")
    assert "A" not in outputs(demos) and len(demos) == 2
    same_text = select_demos(selector, {"question": POOL[1].inputs["question"]}, POOL)
    assert "B" not in outputs(same_text)


def test_random_is_seeded_and_question_independent():
    selector = DemoSelector(method="random", k=3, seed=7)
    first = select_demos(selector, {"question": "anything"}, POOL)
    assert first == select_demos(selector, {"question": "something else"}, POOL)
    others = {
        tuple(outputs(select_demos(DemoSelector("random", 3, seed=s), {"q": "x"}, POOL)))
        for s in range(10)
    }
    assert len(others) > 1


def test_balanced_takes_one_per_group_before_repeating():
    selector = DemoSelector(method="balanced", k=3, balance_key="family", seed=1)
    demos = select_demos(selector, {"question": "q"}, POOL)
    families = {p.output: p.meta["family"] for p in POOL}
    assert {families[d.output] for d in demos} == {"revenue", "count", "customers"}


def test_balanced_by_label_when_no_key():
    pool = [ex(i, f"text {i}", label) for i, label in enumerate("aaaab")]
    demos = select_demos(DemoSelector(method="balanced", k=2), {"question": "q"}, pool)
    assert sorted(outputs(demos)) == ["a", "b"]


def test_ids_restrict_the_pool(sql_task=None):
    from tailorlm.prompting.demos import resolve_pool

    selector = DemoSelector(method="random", k=5, ids=("train-1", "train-4"))
    assert [e.id for e in resolve_pool(selector, POOL)] == ["train-1", "train-4"]


def test_lexical_ranking_is_cached_and_stable():
    texts = tuple(p.inputs["question"] for p in POOL)
    first = knn_ranking("lexical", texts, "orders placed online")
    assert first[0] == 4 and knn_ranking("lexical", texts, "orders placed online") is first


def test_selector_round_trips_through_yaml(tmp_path):
    selector = DemoSelector(method="knn", k=4, task="sql-sales", ids=("a", "b"))
    program = PromptProgram(name="p", demo_selector=selector)
    path = tmp_path / "p.yaml"
    program.save(path)
    assert PromptProgram.load(path) == program


def test_programs_without_new_fields_serialize_as_before():
    assert set(PromptProgram(name="p").to_dict()) == {
        "name",
        "system",
        "instruction",
        "context",
        "schema",
        "output_format",
        "demos",
        "user_template",
        "parser",
        "stop",
        "meta",
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: p\ndemo_selector: {method: nearest}\n", "method"),
        ("name: p\ndemo_selector: {k: 0}\n", "positive"),
        ("name: p\ndemo_selector: {kk: 2}\n", "kk"),
        ("name: p\nparser: sqll\n", "parser"),
        ("name: p\nschema: big\n", "schema"),
    ],
)
def test_bad_program_files_name_the_field(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        PromptProgram.load(path)


def test_build_request_draws_knn_demos_from_the_task_split():
    from tailorlm.tasks import load_task

    task = load_task("sql-sales")
    selector = DemoSelector(method="knn", k=2, task="sql-sales", similarity="lexical")
    program = PromptProgram(name="p", demo_selector=selector)
    messages = build_messages(program, task.split("dev")[0], task.resources())
    train = {e.output for e in task.split("train")}
    assert len(messages) == 5 and messages[1]["content"] in train
    explicit = build_messages(program, task.split("dev")[0], task.resources(), pool=POOL)
    assert explicit[1]["content"] in outputs(POOL)


def test_selector_without_task_or_pool_says_what_to_set():
    program = PromptProgram(name="p", demo_selector=DemoSelector(method="random"))
    with pytest.raises(ConfigError, match="demo_selector.task"):
        build_messages(program, POOL[0], {})


@pytest.mark.slow
def test_embedding_knn_uses_the_packaged_sentence_model():
    from tailorlm.prompting.demos import similarity_in_use

    assert similarity_in_use("embedding") == "embedding"
    selector = DemoSelector(method="knn", k=1)
    demos = select_demos(selector, {"question": "sales of garden products last year"}, POOL)
    assert outputs(demos) == ["A"]
