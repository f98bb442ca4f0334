import pytest

from tailorlm.metrics.numeric import coverage, faithfulness, mentions, stated_numbers


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Revenue was $4,512.37 in 2024.", [4512.37, 2024]),
        ("about 4.5k or 1.2 million", [4500, 1_200_000]),
        ("35% of orders, 2024-03", [35, 2024, 3]),
        ("the 2nd best in Q1", []),  # ordinals and labels are not figures
        ("a loss of -120", [-120]),
        ("no numbers here", []),
    ],
)
def test_stated_numbers(text, values):
    assert [s.value for s in stated_numbers(text)] == pytest.approx(values)


SOURCES = ["| region | revenue |\n|---|---|\n| West | 4512.37 |\n| East | 1200.5 |", "In 2024?"]


@pytest.mark.parametrize(
    ("answer", "value", "invented"),
    [
        ("West made $4,512.37 in 2024.", 1.0, ()),
        ("West made about $4,500, East about 1,200.", 1.0, ()),  # rounding is allowed
        ("West made 4.5k.", 1.0, ()),
        ("West made $4,600.", 0.0, ("$4,600",)),  # not a rounding of any source number
        ("West made $4,512.37, a 12% lead.", 0.5, ("12%",)),  # computed figures count as invented
        ("West led.", 1.0, ()),  # nothing stated, nothing invented
        ("The total was 5,712.87.", 0.0, ("5,712.87",)),  # a sum the table does not show
    ],
)
def test_faithfulness(answer, value, invented):
    result = faithfulness(answer, SOURCES)
    assert result.value == pytest.approx(value)
    assert result.invented == invented


def test_percent_may_quote_a_ratio():
    assert faithfulness("35% were cancelled", ["0.35"]).value == 1.0
    assert faithfulness("36% were cancelled", ["0.35"]).value == 0.0


@pytest.mark.parametrize(
    ("answer", "part", "found"),
    [
        ("West led with $4,512", "4512.37", True),
        ("West led with about 4,500", "4512.37", True),
        ("West led with about 4,000", "4512.37", False),  # more than 5% off
        ("WEST led", "West", True),  # words in any case
        ("Westfield led", "West", False),  # whole words only
        ("Small Business was last", "Small Business", True),
    ],
)
def test_mentions(answer, part, found):
    assert mentions(answer, part) is found


def test_coverage_needs_every_part_of_a_fact():
    facts = [["West", "4512.37"], ["East", "1200.5"]]
    assert coverage("West: 4,512.37. East: 1,200.50.", facts) == (1.0, [])
    value, missed = coverage("West: 4,512.37 and East trailed", facts)
    assert value == 0.5 and missed == ["East + 1200.5"]
    assert coverage("anything", []) == (1.0, [])
