from __future__ import annotations

import json

import pytest

from tailorlm.compare.presets import PRESETS, get_preset
from tailorlm.errors import ConfigError


def test_quick_is_small_and_has_no_learning_curve():
    quick = get_preset("quick")
    assert quick.test_limit and quick.test_limit <= 60 and quick.curve_sizes == ()
    assert quick.finetune.max_steps and quick.finetune.metric_limit == 0
    assert quick.optimize_finetuned.budget <= quick.optimize.budget


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_serializes_into_a_run_config(name):
    data = get_preset(name).to_dict()
    assert json.loads(json.dumps(data))["finetune"]["learning_rate"] > 0  # resolved default


def test_overrides_change_only_what_they_name():
    quick = get_preset("quick")
    changed = quick.with_overrides(budget=7, limit=5)
    assert changed.optimize.budget == changed.optimize_finetuned.budget == 7
    assert changed.test_limit == 5 and changed.finetune == quick.finetune
    assert quick.with_overrides() == quick


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError) as err:
        get_preset("fast")
    assert "quick" in err.value.hint


def test_systems_adds_what_a_choice_builds_on_and_the_baseline():
    quick = get_preset("quick")
    chosen = quick.with_overrides(systems="prompted-finetune-optimized")
    assert chosen.systems == (
        "zero-shot",
        "best-prompt",
        "prompted-finetune",
        "prompted-finetune-optimized",
    )
    assert quick.with_overrides(systems="all").systems is None
    assert quick.with_overrides(systems=["finetuned", " zero-shot"]).systems == (
        "zero-shot",
        "finetuned",
    )


@pytest.mark.parametrize("bad", ["fine-tuned", ",", "finetuned,nope"])
def test_an_unknown_or_empty_systems_choice_lists_the_ids(bad):
    with pytest.raises(ConfigError) as err:
        get_preset("quick").with_overrides(systems=bad)
    assert "zero-shot" in err.value.hint
