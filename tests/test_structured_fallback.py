"""A server that refuses a structured-output form: the next form is asked for, never retried.

llama-cpp-python's OpenAI-compatible server answers ``response_format`` ``json_schema`` with
HTTP 500 and takes ``{"type": "json_object", "schema": ...}`` instead (`llamacpp_like`). The
refusal is not retried (it would be refused again), the model is asked the next way from then on
(``json_object`` with the schema, then the schema as instructions), and the run says so in a
note. `test_llamacpp_server` checks the same against the real server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import cli
from llamacpp_like import LlamaCppLikeServer, refusal_body
from openai_server import Fault, OpenAIServer

from llmframe.extraction.contract import JsonRequest, OutputSchema, ask_for_json
from llmframe.extraction.dsl import parse_dsl
from llmframe.providers import get_provider
from llmframe.query import sql

DSL = "name str, age int"
SCHEMA = parse_dsl(DSL)
INSTRUCTED = "Answer with only a JSON value"


@pytest.fixture(scope="module")
def llama_like_session() -> Iterator[LlamaCppLikeServer]:
    with LlamaCppLikeServer() as server:
        yield server


@pytest.fixture
def llama_like(llama_like_session: LlamaCppLikeServer) -> LlamaCppLikeServer:
    llama_like_session.reset()
    llama_like_session.refuse = frozenset({"json_schema"})
    return llama_like_session


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    names = ["Alice is 30.", "Bob turned 41.", "Carol, 25, lives in Paris.", "Dan is 7."]
    names += ["Eve is 52.", "Frank is 19."]
    path.write_text("text\n" + "".join(json.dumps(n) + "\n" for n in names), encoding="utf-8")
    return path


def _extract(
    capsys: pytest.CaptureFixture[str], server: OpenAIServer, data: Path, out: Path, *more: str
) -> tuple[int, str]:
    code, _, err = cli(
        capsys, "extract", str(data), "--column", "text", "--schema", DSL,
        "--model", "openai/smollm2", "--base-url", server.base_url, "--out", str(out),
        "--retry-wait", "0.01", *more,
    )  # fmt: skip
    return code, err


def _formats(server: OpenAIServer) -> list[str | None]:
    """Each request's ``response_format`` type (None: not sent)."""
    formats = []
    for received in server.requests:
        fmt = received.body.get("response_format")
        formats.append(fmt["type"] if fmt is not None else None)
    return formats


def _text(content: str | list[dict[str, Any]]) -> str:
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


def _notes(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if line.strip().startswith("note:")]


def test_a_refused_json_schema_is_not_retried_and_json_object_is_asked_from_then_on(
    capsys: pytest.CaptureFixture[str],
    llama_like: LlamaCppLikeServer,
    people: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "people.parquet"
    code, err = _extract(capsys, llama_like, people, out, "--concurrency", "1")
    assert code == 0, err
    assert "6 rows (6 ok, 0 invalid, 0 error)" in err
    assert "0 retries" in err
    # One refusal, then every request (the refused row's again included) asks for json_object.
    assert _formats(llama_like) == ["json_schema"] + ["json_object"] * 6
    for received in llama_like.requests[1:]:
        assert received.body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    [note] = _notes(err)
    assert "`openai/smollm2`: the server refused `response_format` `json_schema`" in note
    assert "(HTTP 500: 1 validation error:" in note
    assert "Input should be 'text' or 'json_object'" in note
    assert note.endswith("asked with `response_format` `json_object` with `schema`")
    rows = sql(out.with_suffix(".run"), "select attempts from responses order by attempts desc")
    assert rows.column("attempts").to_pylist() == [2, 1, 1, 1, 1, 1]  # the refusal counts


def test_concurrent_requests_refused_together_step_down_once(
    capsys: pytest.CaptureFixture[str],
    llama_like: LlamaCppLikeServer,
    people: Path,
    tmp_path: Path,
) -> None:
    code, err = _extract(capsys, llama_like, people, tmp_path / "p.parquet", "--concurrency", "4")
    assert code == 0, err
    formats = _formats(llama_like)
    refused = formats.count("json_schema")
    assert 1 <= refused <= 4  # at most the requests in flight before the first refusal came
    assert formats.count("json_object") == 6
    assert len(_notes(err)) == 1


def test_a_server_refusing_both_forms_gets_the_schema_as_instructions(
    capsys: pytest.CaptureFixture[str],
    llama_like: LlamaCppLikeServer,
    people: Path,
    tmp_path: Path,
) -> None:
    llama_like.refuse = frozenset({"json_schema", "json_object"})
    llama_like.plan(Fault("reply", content='{"name": "X", "age": 1}'), times=None)
    code, err = _extract(capsys, llama_like, people, tmp_path / "p.parquet", "--concurrency", "1")
    assert code == 0, err
    assert _formats(llama_like) == ["json_schema", "json_object"] + [None] * 6
    for received in llama_like.requests[2:]:
        system = received.body["messages"][0]
        assert system["role"] == "system"
        assert _text(system["content"]).startswith(INSTRUCTED)
    first, second = _notes(err)
    assert "refused `response_format` `json_schema`" in first
    assert first.endswith("asked with `response_format` `json_object` with `schema`")
    assert "refused `response_format` `json_object` with `schema`" in second
    assert second.endswith("asked with the schema as instructions in the system prompt")


def test_a_500_that_does_not_name_response_format_is_retried_not_stepped_down(
    capsys: pytest.CaptureFixture[str], openai_server: OpenAIServer, people: Path, tmp_path: Path
) -> None:
    openai_server.plan("server_error", request=1)
    code, err = _extract(
        capsys, openai_server, people, tmp_path / "p.parquet", "--concurrency", "1"
    )
    assert code == 0, err
    assert "1 retries" in err
    assert _formats(openai_server) == ["json_schema"] * 7
    assert not _notes(err)


def test_a_run_without_a_schema_keeps_the_refusal_as_an_error_row_unretried(
    capsys: pytest.CaptureFixture[str], llama_like: LlamaCppLikeServer, tmp_path: Path
) -> None:
    """`-o response_format=...` on a plain run: nothing to step down to, so an error row."""
    fmt = json.dumps({"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}})
    code, _, err = cli(
        capsys, "run", "--model", "openai/smollm2", "--base-url", llama_like.base_url,
        "--out", str(tmp_path / "r"), "-o", f"response_format={fmt}", "--retry-wait", "0.01",
        str(_prompts(tmp_path)),
    )  # fmt: skip
    assert code == 1, err
    assert llama_like.count == 1
    [row] = sql(
        tmp_path / "r", "select error_type, error_message, http_status, attempts from responses"
    ).to_pylist()
    assert (row["error_type"], row["http_status"], row["attempts"]) == ("ProviderHTTPError", 500, 1)
    assert "response_format" in row["error_message"]


def _prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.csv"
    path.write_text("prompt\nhello\n", encoding="utf-8")
    return path


# -- the forms and the refusal rule, without a server ------------------------------------------


def _chain(asking: JsonRequest | None) -> list[str]:
    forms = []
    while asking is not None:
        forms.append(asking.form)
        asking = asking.fallback
    return forms


def test_openai_steps_from_json_schema_to_json_object_to_instructions() -> None:
    asking = ask_for_json(get_provider("openai"), OutputSchema(SCHEMA))
    assert _chain(asking) == [
        "`response_format` `json_schema`",
        "`response_format` `json_object` with `schema`",
        "the schema as instructions in the system prompt",
    ]
    assert asking.fallback is not None
    assert asking.fallback.options == {"response_format": {"type": "json_object", "schema": SCHEMA}}
    instructions = asking.fallback.fallback
    assert instructions is not None
    assert instructions.options == {}
    assert (instructions.instructions or "").startswith(INSTRUCTED)


def test_a_provider_without_lesser_forms_steps_straight_to_instructions() -> None:
    asking = ask_for_json(get_provider("anthropic"), OutputSchema(SCHEMA))
    assert len(_chain(asking)) == 2
    assert asking.fallback is not None
    assert asking.fallback.instructions is not None


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (500, refusal_body("json_schema")["error"]["message"], True),
        (400, "Invalid value for 'response_format': json_schema is not supported", True),
        (422, "response_format.type: unexpected value", True),
        (500, "The server had an error.", False),
        (400, "max_tokens is too large", False),
        (429, "Rate limit on requests with response_format", False),
        (408, "response_format took too long", False),
        (None, "timed out: no complete answer within 3s (response_format)", False),
        (200, "in-band error about response_format", False),
    ],
)
def test_a_refusal_is_an_http_error_naming_the_forms_option(
    status: int | None, message: str, refused: bool
) -> None:
    asking = ask_for_json(get_provider("openai"), OutputSchema(SCHEMA))
    assert asking.refused(status, message) is refused
    assert asking.fallback is not None
    assert asking.fallback.fallback is not None
    assert asking.fallback.fallback.refused(status, message) is False  # instructions: never


def test_the_note_names_the_form_the_status_and_the_servers_words() -> None:
    asking = ask_for_json(get_provider("openai"), OutputSchema(SCHEMA))
    note = asking.refusal_note("openai/m", 500, "line one\n   line two " + "x" * 400)
    assert note.startswith("`openai/m`: the server refused `response_format` `json_schema` ")
    assert "(HTTP 500: line one line two xxx" in note
    assert "…);" in note  # a long message is cut
    assert note.endswith("asked with `response_format` `json_object` with `schema`")


@pytest.mark.parametrize(
    ("body", "retryable"),
    [
        (refusal_body("json_schema"), False),
        ({"error": {"message": "The server had an error.", "type": "server_error"}}, True),
    ],
)
def test_openai_does_not_retry_an_error_naming_response_format(
    body: dict[str, Any], retryable: bool
) -> None:
    verdict = get_provider("openai").classify_error(500, {}, json.dumps(body).encode())
    assert verdict.retryable is retryable
    assert verdict.error_type == "ProviderHTTPError"
