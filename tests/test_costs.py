from __future__ import annotations

import pytest

from tailorlm.costs import (
    API,
    API_CACHED,
    SELF_HOSTED,
    Cost,
    PriceTable,
    Usage,
    break_even,
    system_cost,
)
from tailorlm.errors import ConfigError


def usage(**overrides) -> Usage:
    base = dict(
        prompt_tokens=1200.0,
        completion_tokens=40.0,
        shared_prefix_tokens=1100.0,
        throughput_rps=0.5,
        latency_p50_s=3.0,
        serve_device="cpu",
        setup_wall_s=360.0,
        setup_device="cpu",
        setup_model_calls=100,
        train_tokens=0,
        finetuned=False,
    )
    return Usage(**{**base, **overrides})


def test_default_prices_load_and_are_documented():
    prices = PriceTable.load()
    assert prices.sources == ("tailorlm default prices",)
    assert prices.api_model in prices.prices.api
    assert prices.hourly("cpu") < prices.hourly("cuda") == prices.prices.hardware.gpu


def test_user_file_in_tailor_home_overrides_only_what_it_names(_tailor_home):
    _tailor_home.mkdir(parents=True, exist_ok=True)
    (_tailor_home / "prices.yaml").write_text("hardware:\n  cpu: 1.5\n")
    prices = PriceTable.load()
    assert prices.hourly("cpu") == 1.5
    assert prices.hourly("gpu") == 2.5  # kept from the defaults
    assert prices.sources[-1].endswith("prices.yaml")


def test_prices_flag_file_adds_a_model(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("api_model: mine\napi:\n  mine: {input: 1, cached_input: 0.5, output: 2}\n")
    prices = PriceTable.load(path)
    assert prices.api().input == 1 and prices.api().finetuned is None
    assert "gpt-4o-mini" in prices.prices.api  # defaults still there


@pytest.mark.parametrize(
    "text, field",
    [
        ("hardware:\n  cpu: -1\n", "hardware.cpu"),
        ("hardware:\n  tpu: 3\n", "hardware.tpu"),
        ("api:\n  gpt-4o-mini:\n    inptu: 1\n", "api.gpt-4o-mini.inptu"),
        ("api_model: nope\n", "api_model"),
        ("api:\n  new-model: {input: 1}\n", "api.new-model.cached_input"),
    ],
)
def test_bad_price_file_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        PriceTable.load(path)
    assert str(path) in err.value.message and f"'{field}'" in err.value.message


def test_missing_or_broken_price_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        PriceTable.load(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("hardware: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        PriceTable.load(tmp_path / "bad.yaml")


def test_self_hosted_prices_machine_time():
    prices = PriceTable.load()
    cost = system_cost(usage(), prices, SELF_HOSTED)
    rate = prices.hourly("cpu") / 3600
    assert cost.per_request == pytest.approx(rate / 0.5)
    assert cost.setup == pytest.approx(rate * 360)
    assert cost.per_1000 == pytest.approx(1000 * rate / 0.5)
    sequential = system_cost(usage(throughput_rps=None), prices, SELF_HOSTED)
    assert sequential.per_request == pytest.approx(rate * 3.0)
    unknown = system_cost(usage(throughput_rps=None, latency_p50_s=None), prices, SELF_HOSTED)
    assert unknown.per_request is None and unknown.total(10) is None


def test_api_prices_tokens_and_caches_only_long_prefixes():
    prices = PriceTable.load()
    api = prices.api()
    plain = system_cost(usage(), prices, API)
    assert plain.per_request == pytest.approx((1200 * api.input + 40 * api.output) / 1e6)
    cached = system_cost(usage(), prices, API_CACHED)
    expected = (100 * api.input + 1100 * api.cached_input + 40 * api.output) / 1e6
    assert cached.per_request == pytest.approx(expected) and cached.per_request < plain.per_request
    short = system_cost(usage(shared_prefix_tokens=500), prices, API_CACHED)
    assert short.per_request == pytest.approx(plain.per_request)
    assert "not cached" in short.note
    # optimizer calls are priced as requests of the system itself
    assert plain.setup == pytest.approx(100 * plain.per_request)


def test_api_finetuned_uses_finetuned_prices_and_training(tmp_path):
    prices = PriceTable.load()
    ft = prices.api().finetuned
    assert ft is not None
    cost = system_cost(
        usage(finetuned=True, train_tokens=2_000_000, setup_model_calls=0, prompt_tokens=60),
        prices,
        API,
    )
    assert cost.setup == pytest.approx(2 * ft.training)
    assert cost.per_request == pytest.approx((60 * ft.input + 40 * ft.output) / 1e6)
    path = tmp_path / "p.yaml"
    path.write_text("api_model: claude-3-5-haiku\n")
    none = system_cost(usage(finetuned=True), PriceTable.load(path), API)
    assert none.per_request is None and "cannot be fine-tuned" in none.note


def test_unknown_scenario():
    with pytest.raises(ConfigError):
        system_cost(usage(), PriceTable.load(), "free")


@pytest.mark.parametrize(
    "ref, challenger, volume, reason",
    [
        (Cost(0.0, 0.002), Cost(1.0, 0.001), 1000.0, "paid back"),
        (Cost(0.5, 0.002), Cost(1.0, 0.001), 500.0, "paid back"),
        (Cost(1.0, 0.002), Cost(0.5, 0.001), 0.0, "first request"),
        (Cost(0.0, 0.001), Cost(1.0, 0.002), None, "never"),
        (Cost(0.0, 0.001), Cost(1.0, 0.001), None, "never"),
        (Cost(1.0, 0.001), Cost(1.0, 0.001), 0.0, "same cost"),
        (Cost(0.0, 0.001), Cost(None, 0.0005, "no price"), None, "not priced"),
    ],
)
def test_break_even(ref, challenger, volume, reason):
    be = break_even(ref, challenger)
    assert be.volume == (pytest.approx(volume) if volume is not None else None)
    assert reason in be.reason and be.reached == (volume is not None)
    if volume:  # at the break-even volume the totals meet
        assert ref.total(volume) == pytest.approx(challenger.total(volume))


def test_cost_curve_includes_setup():
    cost = Cost(2.0, 0.01)
    assert [cost.total(v) for v in (0, 100, 1000)] == pytest.approx([2.0, 3.0, 12.0])
