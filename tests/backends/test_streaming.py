from __future__ import annotations

import pytest

from tailorlm.backends.streaming import RowTexts, settled
from tailorlm.types import Completion


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [
        ("Hello wor", (), "Hello wor"),
        ("Hello ", (), "Hello"),  # a space may merge with what follows
        ("a\n\n", (), "a\n\n"),
        ("caf\ufffd", (), "caf"),  # half of a multi-byte character
        ("SELECT 1;\n#", ("\n##",), "SELECT 1;"),  # could become the stop string
        ("SELECT 1;\n## more", ("\n##",), "SELECT 1;"),
        ("abc</", ("</s>", "END"), "abc"),
        ("abcE", ("</s>", "END"), "abc"),
    ],
)
def test_settled_holds_back_what_can_still_change(text, stop, expected):
    assert settled(text, stop) == expected


def test_row_texts_send_only_new_suffixes_and_join_exactly():
    sent: list[tuple[int, str]] = []
    rows = RowTexts([5], ("STOP",), lambda row, text: sent.append((row, text)))
    for text in ["Hi", "Hi th", "Hi there ", "Hi there ST", "Hi there STOP and"]:
        rows.update(0, text)
    rows.update(0, "Hi there STOP and more")  # done: ignored
    rows.finish([Completion(text="Hi there ", prompt_tokens=1, completion_tokens=5, latency_s=0.0)])
    assert sent == [(5, "Hi"), (5, " th"), (5, "ere"), (5, " ")]
    assert "".join(t for _, t in sent) == "Hi there "
