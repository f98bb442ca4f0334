"""Completion callbacks: told of each run that completes (not of failed ones), a raising one
only warns, and registering under the same name twice keeps one."""

from __future__ import annotations

import logging

import pytest

from tailorlm.store import RunStore, hooks


@pytest.fixture
def seen():
    got: list = []
    hooks.on_complete("test", got.append)
    yield got
    hooks.remove("test")


def _start(store: RunStore):
    return store.start("eval", name="x", task="t", model="m", config={}, data_hash="d")


def test_a_completed_run_is_passed_to_each_callback(seen):
    store = RunStore()
    with _start(store) as writer:
        writer.set_summary({"quality": 1.0})
    _start(store).fail("boom")
    assert [(r.id, r.status, r.summary["quality"]) for r in seen] == [(writer.id, "complete", 1.0)]
    assert seen[0].dir.is_dir()  # the folder is under its final name already


def test_a_raising_callback_warns_and_the_run_stays_complete(seen, caplog):
    def broken(record):
        raise RuntimeError("tracking server down")

    hooks.on_complete("broken", broken)
    try:
        with caplog.at_level(logging.WARNING, logger="tailorlm"), _start(RunStore()) as writer:
            pass
    finally:
        hooks.remove("broken")
    assert RunStore().get(writer.id).is_complete and [r.id for r in seen] == [writer.id]
    assert f"broken could not follow run {writer.id}: tracking server down" in caplog.text


def test_the_same_name_replaces(seen):
    other: list = []
    hooks.on_complete("test", other.append)
    with _start(RunStore()):
        pass
    assert seen == [] and len(other) == 1 and hooks.registered().count("test") == 1
