from __future__ import annotations

import pytest
import torch

from tailorlm.backends.stops import stop_criteria


@pytest.fixture(scope="module")
def tokenizer(packaged_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(packaged_tokenizer_dir)
    tok.padding_side = "left"
    return tok


def _ids(tokenizer, *pieces):
    """Token ids that decode to the pieces, one piece per token (each must be one token)."""
    ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(p)) for p in pieces]
    assert all(len(i) == 1 for i in ids), ids
    return torch.tensor([[i[0] for i in ids]])


@pytest.mark.parametrize(
    ("pieces", "stops"),
    [
        (["SELECT", " name", ";"], True),  # the newest token is the stop string
        (["SELECT", " name", ";", "\n"], False),  # it ended a token ago
        (["las", "top"], True),  # "stop" ends inside the newest token
        (["st", "op", "at"], False),  # "stop" ended a token ago: checked then, not now
        ([";", " name"], False),
    ],
)
def test_stops_when_a_stop_string_overlaps_the_newest_token(tokenizer, pieces, stops):
    criteria = stop_criteria(tokenizer, [";", "stop"])
    assert criteria(_ids(tokenizer, *pieces), None).tolist() == [stops]


def test_a_finished_row_stays_finished(tokenizer):
    criteria = stop_criteria(tokenizer, [";"])
    assert criteria(_ids(tokenizer, " name", ";"), None).tolist() == [True]
    assert criteria(_ids(tokenizer, ";", " name"), None).tolist() == [True]


# The random tiny model repeats one token per row: "hundred", " actu", "yl", " amphibian".
@pytest.mark.parametrize("stops", [["hundred"], ["u a", "yly"], ["mphi", "never"]])
def test_same_tokens_as_transformers_stop_strings(tiny_lm, stops):
    """Inside one token, across tokens, at the first token: every row stops where
    transformers' StopStringCriteria stops it."""
    from transformers import StoppingCriteriaList

    model, tokenizer = tiny_lm
    texts = ["How many orders are there?", "Revenue by region?", "Cities?", "Top product."]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    common = {"max_new_tokens": 24, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    with torch.inference_mode():
        theirs = model.generate(**batch, **common, stop_strings=stops, tokenizer=tokenizer)
        criteria = StoppingCriteriaList([stop_criteria(tokenizer, stops)])
        ours = model.generate(**batch, **common, stopping_criteria=criteria)
    assert ours.tolist() == theirs.tolist()
    padded = (ours[:, -1] == tokenizer.pad_token_id).tolist()
    assert any(padded) and not all(padded)  # some rows stopped early, the others ran on
