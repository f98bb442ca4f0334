import pytest

from tailorlm.metrics.bullets import bullet_items, format_score, report_bullets_score

TABLE = ["| Region | Total |\n|---|---|\n| West | 1,631 |\n| East | 270 |\n| Total | 1,901 |"]
REFERENCE = "- West led with 1,631.\n- East was lowest at 270.\n- In total, 1,901."
FACTS = [["West", "1631"], ["East", "270"], ["1901"]]
THREE = "- West had the most, 1,631.\n- East had the least: 270.\n- All together 1,901."


@pytest.mark.parametrize(
    ("answer", "value", "reason_kind"),
    [
        (THREE, 1.0, "ok"),
        ("1. West had 1,631\n2) East had 270\n* Total 1,901", 1.0, "ok"),  # any bullet style
        ("Summary:\n" + THREE + "\nHope this helps.", 1.0, "ok"),  # prose is not counted
        ("- West had 1,631.\n- East had 270.", 0.5 * 2 / 3, "2 bullets"),
        (THREE + "\n- North had 12.", 0.5 * 0.75, "4 bullets"),  # an extra, invented figure
        ("- West: 1,631\n- East: 270\n- Total: 2,000", 2 / 3 * 2 / 3, "invented numbers 2,000"),
        ("- West led.\n- East trailed.\n- Sales vary.", 0.0, "facts missing"),
        ("West had 1,631, East 270, total 1,901.", 0.0, "0 bullets"),
        ("", 0.0, "0 bullets"),
    ],
)
def test_report_bullets_score(answer, value, reason_kind):
    score = report_bullets_score(answer, REFERENCE, TABLE, FACTS)
    assert score.value == pytest.approx(value)
    assert score.reason.split(":")[0] == reason_kind


def test_without_listed_facts_the_reference_numbers_are_the_facts():
    assert report_bullets_score(THREE, REFERENCE, TABLE).value == 1.0
    assert report_bullets_score(THREE.replace("1,901", "many"), REFERENCE, TABLE).value < 1.0


def test_bullet_counting():
    assert bullet_items("- a\n  - b\n•  c\nnot one\n3. d") == ["a", "b", "c", "d"]
    assert [format_score(n) for n in range(6)] == [0.0, 0.0, 0.5, 1.0, 0.5, 0.0]
