from __future__ import annotations

import json

import openai
import pytest

from tests.server.helpers import build_app, live_server


def chat_rows(n: int = 12) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "Answer with the number."},
                {"role": "user", "content": f"What is {i} plus one?"},
                {"role": "assistant", "content": str(i + 1)},
            ]
        }
        for i in range(n)
    ]


def jsonl(rows: list) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def test_upload_get_content_delete(openai_client, tmp_path):
    app, _ = build_app(app_kwargs={"start_worker": False})
    with live_server(app) as url:
        client = openai_client(url)
        uploaded = client.files.create(
            file=("train.jsonl", jsonl(chat_rows())), purpose="fine-tune"
        )
        assert uploaded.id.startswith("file-") and uploaded.status == "processed"
        assert uploaded.filename == "train.jsonl" and uploaded.bytes == len(jsonl(chat_rows()))
        assert client.files.retrieve(uploaded.id).id == uploaded.id
        assert client.files.content(uploaded.id).content == jsonl(chat_rows())
        assert [f.id for f in client.files.list()] == [uploaded.id]
        assert client.files.delete(uploaded.id).deleted
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(uploaded.id)


def test_client_filename_never_becomes_a_path(openai_client):
    app, _ = build_app(app_kwargs={"start_worker": False})
    with live_server(app) as url:
        uploaded = openai_client(url).files.create(
            file=("../../evil.jsonl", jsonl(chat_rows())), purpose="fine-tune"
        )
    stored = list((app.state.jobs.home / "files").iterdir())
    assert [p.name for p in stored] == [f"{uploaded.id}.jsonl"]
    assert uploaded.filename == "evil.jsonl"


def _row(messages) -> dict:
    return {"messages": messages}


GOOD = chat_rows(12)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([*GOOD[:2], "{not json", *GOOD[2:]], "line 3: is not valid JSON"),
        ([*GOOD, _row([])], "line 13: field 'messages': must be a non-empty list"),
        (
            [*GOOD, _row([{"role": "robot", "content": "x"}])],
            "line 13: field 'messages[0].role': must be one of system, user, assistant",
        ),
        (
            [*GOOD, _row([{"role": "user", "content": 5}])],
            "line 13: field 'messages[0].content': must be a string",
        ),
        (
            [*GOOD, _row([{"role": "user", "content": "hi"}])],
            "line 13: field 'messages': needs at least one assistant message",
        ),
        ([*GOOD, "[1, 2]"], "line 13: must be a JSON object"),
        ([], "has 0 example(s); at least 1 are needed"),
    ],
)
def test_invalid_training_files_name_line_and_field(openai_client, rows, expected):
    app, _ = build_app(app_kwargs={"start_worker": False})
    with live_server(app) as url, pytest.raises(openai.BadRequestError) as err:
        openai_client(url).files.create(file=("t.jsonl", jsonl(rows)), purpose="fine-tune")
    assert err.value.code == "invalid_file_format"
    assert expected in err.value.message


def test_token_limit_and_purpose(openai_client):
    app, _ = build_app(max_example_tokens=20, app_kwargs={"start_worker": False})
    long = _row([{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "x"}])
    with live_server(app) as url:
        client = openai_client(url)
        with pytest.raises(openai.BadRequestError, match="line 5: field 'messages': has"):
            client.files.create(file=("t.jsonl", jsonl([*GOOD[:4], long])), purpose="fine-tune")
        with pytest.raises(openai.BadRequestError, match="purpose 'batch' is not supported"):
            client.files.create(file=("t.jsonl", jsonl(GOOD)), purpose="batch")


def test_upload_size_limit(openai_client):
    app, _ = build_app(max_file_bytes=4096, app_kwargs={"start_worker": False})
    with live_server(app) as url, pytest.raises(openai.APIStatusError) as err:
        openai_client(url).files.create(
            file=("t.jsonl", jsonl(chat_rows(200))), purpose="fine-tune"
        )
    assert err.value.status_code == 413


def test_a_latin1_file_names_the_line_and_asks_for_utf8(openai_client):
    app, _ = build_app(app_kwargs={"start_worker": False})
    row = _row([{"role": "user", "content": "café?"}, {"role": "assistant", "content": "oui"}])
    latin1 = jsonl(GOOD[:2]) + (json.dumps(row, ensure_ascii=False) + "\n").encode("latin-1")
    with live_server(app) as url, pytest.raises(openai.BadRequestError) as err:
        openai_client(url).files.create(file=("t.jsonl", latin1 + jsonl(GOOD)), purpose="fine-tune")
    assert err.value.code == "invalid_file_format"
    assert "line 3: is not UTF-8" in err.value.message
    assert "must be UTF-8" in err.value.message
