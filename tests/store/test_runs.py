from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tailorlm.errors import StoreError
from tailorlm.paths import runs_dir
from tailorlm.store import RunStore, config_hash

CONFIG = {"strategy": "zero-shot", "generation": {"seed": 7, "max_new_tokens": 64}}


@pytest.fixture
def store() -> RunStore:
    return RunStore()


def start(store: RunStore, kind: str = "eval", **overrides):
    args = {
        "name": "zero-shot",
        "task": "sql-sales",
        "model": "smollm2-135m",
        "config": CONFIG,
        "data_hash": "d1",
    }
    return store.start(kind, **{**args, **overrides})


def test_default_root_is_under_tailor_home(store):
    assert store.root == runs_dir()
    assert (store.root / "index.sqlite").is_file()


def test_round_trip(store):
    with start(store) as run:
        assert run.dir.name == f".tmp-{run.id}"
        run.write_json("metrics.json", {"quality": 0.5})
        run.write_jsonl("rows.jsonl", [{"i": 0}, {"i": 1}])
        run.append_jsonl("progress.jsonl", {"done": 1})
        run.append_jsonl("progress.jsonl", {"done": 2})
        run.set_summary({"quality": 0.5, "n": 2})
        record = run.complete()

    assert record.status == "complete" and record.finished_at
    assert record.dir == store.root / record.id and record.path == record.id
    assert not (store.root / f".tmp-{record.id}").exists()
    assert record.summary == {"quality": 0.5, "n": 2}
    assert record.read_json("summary.json") == record.summary
    assert record.read_json("metrics.json") == {"quality": 0.5}
    assert record.read_jsonl("rows.jsonl") == [{"i": 0}, {"i": 1}]
    assert record.read_jsonl("progress.jsonl") == [{"done": 1}, {"done": 2}]
    assert record.load_config() == CONFIG
    assert record.config_hash == config_hash(CONFIG) and record.data_hash == "d1"
    assert store.get(record.id) == record


def test_config_json_has_sorted_keys_and_env_json_records_versions(store):
    run = start(store, config={"b": 1, "a": {"seed": 3}})
    text = (run.dir / "config.json").read_text()
    assert text.index('"a"') < text.index('"b"')
    env = json.loads((run.dir / "env.json").read_text())
    assert env["seed"] == 3
    assert env["python"] and env["platform"]
    assert set(env["packages"]) >= {"tailorlm", "torch", "transformers", "peft", "trl"}
    assert env["packages"]["tailorlm"] != "not installed"


def test_starting_a_run_does_not_import_torch(_tailor_home):
    code = (
        "import sys; from tailorlm.store import RunStore;"
        "RunStore().start('eval', name='n', task='t', model='m', config={}, data_hash='d');"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


def test_run_id_is_readable_and_time_sortable(store):
    run = start(store)
    assert re.fullmatch(r"\d{8}-\d{6}-eval-sql-sales-zero-shot-[0-9a-f]{6}", run.id)
    assert (
        start(store, name="sql-sales few shot")
        .id.split("-", 2)[2]
        .startswith("eval-sql-sales-few-shot-")
    )


def test_clean_exit_from_with_completes(store):
    with start(store) as run:
        run.set_summary({"quality": 1.0})
    assert store.get(run.id).status == "complete"


@pytest.mark.parametrize(
    ("exc", "status"),
    [(ValueError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")],
)
def test_unfinished_run_never_looks_complete(store, exc, status):
    with pytest.raises(type(exc)), start(store) as run:
        run.append_jsonl("progress.jsonl", {"done": 1})
        raise exc

    record = store.get(run.id)
    assert record.status == status and record.summary["error"]
    assert not (store.root / run.id).exists()
    assert record.dir == store.root / f".tmp-{run.id}" and record.dir.is_dir()
    assert store.find_reusable("eval", config_hash(CONFIG), "d1") is None


def test_fail_records_reason_and_blocks_more_writes(store):
    run = start(store)
    run.fail("out of memory")
    record = store.get(run.id)
    assert record.status == "failed" and record.summary["error"] == "out of memory"
    with pytest.raises(StoreError, match="already finished"):
        run.write_json("x.json", {})


def test_complete_row_with_missing_folder_raises_with_hint(store):
    record = start(store).complete()
    shutil.rmtree(record.dir)
    with pytest.raises(StoreError, match="folder .* is missing") as err:
        store.get(record.id)
    assert "tailor rm" in err.value.hint
    store.delete(record.id)  # the stale row can still be cleaned up
    assert store.list() == []


@pytest.mark.parametrize("relname", ["../escape.json", "/tmp/abs.json", ""])
def test_writes_stay_inside_the_run_folder(store, relname):
    with pytest.raises(StoreError, match="inside the run folder"):
        start(store).write_json(relname, {})


def test_get_by_unique_prefix_unknown_and_ambiguous(store):
    a = start(store, name="alpha")
    b = start(store, name="beta")
    prefix_a = a.id[: a.id.index("alpha") + 2]
    assert store.get(prefix_a).id == a.id
    assert store.get(b.id).id == b.id

    with pytest.raises(StoreError, match="No run 'nope'") as err:
        store.get("nope")
    assert err.value.hint == "list runs with `tailor runs`"

    common = os.path.commonprefix([a.id, b.id])
    with pytest.raises(StoreError, match="matches 2 runs") as err:
        store.get(common)
    assert a.id in err.value.message and b.id in err.value.message


def test_a_run_is_found_by_its_name_and_by_its_id_after_the_timestamp(store):
    tuned = start(store, "finetune", name="bars-ft", task="sql-sales").complete()
    assert store.get("bars-ft").id == tuned.id
    words = tuned.id[len("20261125-131500-") :]
    assert store.get(words).id == store.get(words[:12]).id == tuned.id
    # A name shared by a failed and a complete run: the complete one.
    failed = start(store, "finetune", name="bars-ft", task="sql-sales")
    failed.fail("boom")
    assert store.get("bars-ft").id == tuned.id


def test_an_ambiguous_name_lists_the_matches(store):
    runs = [start(store, name="twice").complete() for _ in range(2)]
    with pytest.raises(StoreError, match="'twice' matches 2 runs") as err:
        store.get("twice")
    assert all(r.id in err.value.message for r in runs)
    assert "(name twice)" in err.value.message


def test_short_ids_are_the_shortest_unique_prefixes(store):
    runs = [start(store, name=f"r{i}").complete() for i in range(3)]
    ids = [r.id for r in runs]
    short = store.short_ids(ids)
    assert len(set(short)) == 3 and all(len(s) >= 8 for s in short)
    for run_id, prefix in zip(ids, short, strict=True):
        assert run_id.startswith(prefix) and store.get(prefix).id == run_id
        if len(prefix) > 8:  # one character less would match another run
            assert sum(i.startswith(prefix[:-1]) for i in ids) > 1


def test_list_filters_and_orders_newest_first(store):
    first = start(store, "eval", task="sql").complete()
    second = start(store, "finetune", task="sql")
    second.fail("nan loss")
    third = start(store, "eval", task="triage").complete()

    assert [r.id for r in store.list()] == [third.id, second.id, first.id]
    assert [r.id for r in store.list(kind="eval")] == [third.id, first.id]
    assert [r.id for r in store.list(task="sql")] == [second.id, first.id]
    assert [r.id for r in store.list(status="failed")] == [second.id]
    assert [r.id for r in store.list(kind="eval", task="sql")] == [first.id]
    assert [r.id for r in store.list(limit=1)] == [third.id]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"x": 1, "y": {"p": 1, "q": 2}}, {"y": {"q": 2, "p": 1}, "x": 1}, True),
        ({"x": 1}, {"x": 2}, False),
        ({"x": 1}, {"x": 1.0}, False),  # JSON spells these differently
        ({"x": [1, 2]}, {"x": [2, 1]}, False),  # list order is meaningful
    ],
)
def test_config_hash_depends_on_content_not_key_order(a, b, same):
    assert (config_hash(a) == config_hash(b)) is same
    assert re.fullmatch(r"[0-9a-f]{64}", config_hash(a))


def test_find_reusable_returns_newest_complete_with_same_hashes(store):
    h = config_hash(CONFIG)
    old = start(store).complete()
    new = start(store).complete()
    start(store, data_hash="other").complete()
    start(store)  # still running

    assert store.find_reusable("eval", h, "d1").id == new.id
    assert store.find_reusable("finetune", h, "d1") is None
    assert store.find_reusable("eval", config_hash({"other": 1}), "d1") is None
    assert old.id != new.id


def test_resume_interrupted_run_via_reopen(store):
    h = config_hash(CONFIG)
    with pytest.raises(KeyboardInterrupt), start(store) as run:
        run.append_jsonl("rows.jsonl", {"i": 0})
        run.set_summary({"n": 1})
        raise KeyboardInterrupt
    with open(run.dir / "rows.jsonl", "a") as f:
        f.write('{"i": 1')  # a row cut off by the kill

    assert store.resume_candidates("eval", h, "d1").id == run.id
    with store.reopen(run.id[:-2]) as again:
        assert store.get(run.id).status == "running"
        assert again.read_jsonl("rows.jsonl") == [{"i": 0}]
        assert again.read_json("state.json", default={"wall_s": 0}) == {"wall_s": 0}
        with pytest.raises(StoreError, match="no file 'state.json'"):
            again.read_json("state.json")
        assert again.summary == {"n": 1}
        again.append_jsonl("rows.jsonl", {"i": 1})

    record = store.get(run.id)
    assert record.status == "complete" and record.summary == {"n": 1}
    assert record.read_jsonl("rows.jsonl") == [{"i": 0}, {"i": 1}]
    assert store.resume_candidates("eval", h, "d1") is None
    assert store.find_reusable("eval", h, "d1").id == run.id


def test_reopen_refuses_complete_runs_and_lost_folders(store):
    done = start(store).complete()
    with pytest.raises(StoreError, match="only unfinished runs"):
        store.reopen(done.id)
    lost = start(store)
    lost.fail("boom")
    shutil.rmtree(lost.dir)
    assert store.resume_candidates("eval", config_hash(CONFIG), "d1") is None
    with pytest.raises(StoreError, match="no work folder"):
        store.reopen(lost.id)


def test_delete_removes_folder_and_row(store):
    done = start(store).complete()
    failed = start(store)
    failed.fail("x")
    store.delete(done.id)
    store.delete(failed.id)
    assert not done.dir.exists() and not failed.dir.exists()
    assert store.list() == []
    with pytest.raises(StoreError, match="No run"):
        store.get(done.id)


def test_two_stores_on_one_root_see_each_others_runs(store):
    other = RunStore(store.root)
    mine = start(store).complete()
    theirs = start(other, name="few-shot").complete()
    assert {r.id for r in store.list()} == {r.id for r in other.list()} == {mine.id, theirs.id}
    assert store.get(theirs.id).summary == {} and other.get(mine.id).status == "complete"


def test_concurrent_writers_do_not_lose_runs(store):
    def work(i: int) -> str:
        local = RunStore(store.root)  # like a separate process: its own connections
        return start(local, name=f"w{i}").complete().id

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(work, range(12)))
    assert {r.id for r in store.list(status="complete")} == ids and len(ids) == 12


def test_resume_candidates_picks_the_newest_unfinished_run(store):
    older, newer = start(store), start(store)
    older.fail("x")
    newer.fail("y")
    start(store).complete()
    assert store.resume_candidates("eval", config_hash(CONFIG), "d1").id == newer.id


WRITER = """
import sys, time
from pathlib import Path
from tailorlm.store import RunStore
run = RunStore(Path(sys.argv[1])).start(
    "eval", name="zero-shot", task="sql-sales", model="m", config={"a": 1}, data_hash="d1"
)
run.append_jsonl("rows.jsonl", {"i": 0})
print(run.id, flush=True)
time.sleep(120)
"""


def _writer(store: RunStore) -> tuple[subprocess.Popen, str]:
    """A process writing a run, once its run has started."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.root)], stdout=subprocess.PIPE, text=True
    )
    return proc, proc.stdout.readline().strip()


def test_a_killed_run_reads_as_interrupted_and_resumes(store):
    proc, run_id = _writer(store)
    try:
        assert store.get(run_id).status == "running"  # alive: a look changes nothing
        assert [r.status for r in store.list()] == ["running"]
        with pytest.raises(StoreError, match="being written by another process"):
            store.reopen(run_id)
    finally:
        proc.kill()  # SIGKILL: no handler runs, nothing is marked
        proc.wait()
    [record] = store.list()
    assert record.status == "interrupted" and "ended without finishing" in record.summary["error"]
    with store.reopen(run_id) as again:
        assert store.get(run_id).status == "running"  # this process holds it now
        assert again.read_jsonl("rows.jsonl") == [{"i": 0}]
    done = store.get(run_id)
    assert done.status == "complete" and not (done.dir / ".alive.lock").exists()
