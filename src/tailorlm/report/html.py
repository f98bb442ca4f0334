"""The report as one self-contained HTML page: inline CSS, inline JS drawing SVG charts, the data
embedded as JSON. No CDN or network: it opens offline from a file or an e-mail attachment."""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from tailorlm.costs import API, API_CACHED, SCENARIOS, SELF_HOSTED
from tailorlm.report.criteria import criteria_rows
from tailorlm.report.fmt import SYMBOLS

if TYPE_CHECKING:  # renderers read a Report; build.py imports them, not the reverse
    from tailorlm.report.build import Report


def _asset(name: str) -> Markup:
    # Read rather than `{% include %}`d, so braces in the JS are never parsed as template syntax.
    text = resources.files("tailorlm.report").joinpath(f"templates/{name}").read_text("utf-8")
    return Markup(text)


def _script_json(data: Any) -> str:
    # Inside <script>, "</script>" in any string would end the element; \u escapes keep the
    # JSON identical once parsed.
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _scenario_labels(report: Report) -> list[dict[str, str]]:
    device = report.comparison.device or "cpu"
    model = report.prices.api_model
    labels = {
        SELF_HOSTED: f"self-hosted on the measured {device} ({report.prices.hourly(device):g} "
        f"{report.prices.currency}/h)",
        API: f"API: {model} token prices",
        API_CACHED: f"API: {model} with the shared prompt prefix cached",
    }
    return [{"id": sc, "label": labels[sc]} for sc in SCENARIOS]


def _systems(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "label": s.label,
            "approach": s.approach,
            "ok": s.ok,
            "quality": s.quality.score,
            "ci": list(s.quality.ci) if s.quality.ci else None,
        }
        for s in report.comparison.systems
    ]


def chart_data(report: Report) -> dict[str, Any]:
    """What the page's script draws from: no more than the charts and drill-down need."""
    c = report.comparison
    exported = report.to_dict()
    ref = c.system(report.prompt_ref) if report.prompt_ref else None
    return {
        "systems": _systems(report),
        "currency": report.prices.currency,
        "currency_symbol": SYMBOLS.get(report.prices.currency, report.prices.currency + " "),
        "costs": exported["costs"],
        "break_even": exported["break_even"],
        "prompt_ref_quality": ref.quality.score if ref else None,
        "learning_curve": [p.model_dump() for p in c.learning_curve],
        "loss_curve": c.loss_curve.model_dump() if c.loss_curve else None,
        "items": [it.model_dump(by_alias=True) for it in c.items],
    }


def _expected_charts(report: Report) -> int:
    c = report.comparison
    priced = any(c.per_request is not None for by in report.costs.values() for c in by.values())
    loss = c.loss_curve is not None and bool(c.loss_curve.train or c.loss_curve.dev)
    has_curve = any(p.score is not None for p in c.learning_curve)
    return 2 * priced + has_curve + loss


def render_html(report: Report) -> str:
    env = Environment(
        loader=PackageLoader("tailorlm.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2")),
    )
    c = report.comparison
    return env.get_template("report.html.j2").render(
        c=c,
        hardware=c.hardware.get("name") or c.device or "hardware not recorded",
        advice=report.advice,
        systems=c.systems,
        criteria=criteria_rows(report),
        currency=report.prices.currency,
        scenario=report.scenario,
        scenarios=_scenario_labels(report),
        price_sources=", ".join(report.prices.sources),
        charts_expected=_expected_charts(report),
        data_json=Markup(_script_json(chart_data(report))),
        css=_asset("report.css"),
        js=_asset("report.js"),
    )
