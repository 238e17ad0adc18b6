"""The offline model `echo`: its answers, token counts, stream and latency, via its transport."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmframe.providers.base import HttpCall
from llmframe.providers.echo import (
    EchoTransport,
    chunk_delays,
    echo_chunks,
    echo_completion,
)
from llmframe.providers.endpoints import resolve_model
from llmframe.providers.openai import OpenAIChat


def body(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "echo-1", "messages": list(messages), **extra}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


SYSTEM = {"role": "system", "content": "Be brief."}
MULTIPLY = {
    "type": "function",
    "function": {
        "name": "multiply",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}


@dataclass(frozen=True)
class Answered:
    """What echo's transport replied, read whole."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


async def post(
    payload: Any, path: str = "/chat/completions", method: str = "POST", stream: bool = False
) -> Answered:
    call = HttpCall(method, path, payload, stream=stream)  # type: ignore[arg-type]
    reply = await EchoTransport().send(call, resolve_model("echo"), OpenAIChat())
    assert reply.events is None
    return Answered(reply.status, dict(reply.headers), reply.body or b"")


async def stream(payload: dict[str, Any]) -> tuple[list[str], list[float]]:
    """The data of each streamed event and when each arrived (seconds after sending)."""
    lines, times = [], []
    start = time.monotonic()
    call = HttpCall("POST", "/chat/completions", payload, stream=True)
    reply = await EchoTransport().send(call, resolve_model("echo"), OpenAIChat())
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.events is not None
    async for event in reply.events:
        lines.append(event.data)
        times.append(time.monotonic() - start)
    return lines, times


def test_text_answer_and_usage() -> None:
    response = asyncio.run(post(body(SYSTEM, user("What is 2 + 2?"))))
    assert response.status_code == 200
    data = response.json()
    assert data["id"].startswith("echo-")
    assert data["object"] == "chat.completion"
    assert data["model"] == "echo-1"
    choice = data["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "echo: What is 2 + 2?",
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop"
    # prompt: (1 + 2 words) + (1 + 5 words); completion: "echo: What is 2 + 2?" is 6 words
    assert data["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}


def test_answer_is_deterministic_and_keyed_on_the_request() -> None:
    first = echo_completion(body(user("hello")))
    assert echo_completion(body(user("hello"))) == first
    assert echo_completion(body(user("hello"), latency_ms=5)) == first
    assert echo_completion(body(user("hello!")))["id"] != first["id"]
    assert echo_chunks(body(user("hello"), stream=True))[0]["id"] == first["id"]


def test_last_user_message_is_answered() -> None:
    conversation = body(
        user("first question"),
        {"role": "assistant", "content": "an answer"},
        user("second question"),
    )
    data = echo_completion(conversation)
    assert data["choices"][0]["message"]["content"] == "echo: second question"
    assert data["usage"]["prompt_tokens"] == 3 + 3 + 3


def test_media_parts_are_named_by_type() -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {
            "type": "file",
            "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,AA"},
        },
    ]
    data = echo_completion(body(user(content)))
    assert data["choices"][0]["message"]["content"] == "echo: Describe [image] [audio] [document]"
    assert data["usage"]["prompt_tokens"] == 5


def test_stream_matches_whole_answer() -> None:
    payload = body(
        SYSTEM, user("one two  three"), stream=True, stream_options={"include_usage": True}
    )
    lines, _ = asyncio.run(stream(payload))
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    whole = echo_completion(payload)
    assert {c["id"] for c in chunks} == {whole["id"]}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert [d for d in deltas if d] == ["echo:", " one", " two", "  three"]
    assert "".join(deltas) == whole["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert (
        chunks[-1]["usage"]
        == whole["usage"]
        == {
            "prompt_tokens": 3 + 4,
            "completion_tokens": 4,
            "total_tokens": 11,
        }
    )


def test_stream_without_include_usage_has_no_usage() -> None:
    chunks = echo_chunks(body(user("hi"), stream=True))
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@given(st.text(alphabet=" \n\tab", max_size=30))
def test_streamed_pieces_join_to_the_content(text: str) -> None:
    payload = body(user(text))
    content = echo_completion(payload)["choices"][0]["message"]["content"]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in echo_chunks(payload)]
    assert "".join(pieces) == content == f"echo: {text}"
    assert echo_completion(payload)["usage"]["completion_tokens"] == 1 + len(text.split())


def test_tool_call_to_first_tool() -> None:
    data = echo_completion(body(user("What is 6 * 7?"), tools=[MULTIPLY, SEARCH]))
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "call_" + data["id"].removeprefix("echo-")
    assert call["type"] == "function"
    assert call["function"]["name"] == "multiply"
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, MULTIPLY["function"]["parameters"])
    assert all(
        0 <= arguments[k] <= 100 for k in "ab"
    )  # derived from the text, see test_echo_schema
    assert call["function"]["arguments"] == json.dumps(arguments, separators=(",", ":"))
    assert data["usage"]["completion_tokens"] == 1


def test_tool_call_arguments_echo_the_text_and_stream_in_fragments() -> None:
    payload = body(user("cheap flights"), tools=[SEARCH], stream=True)
    chunks = echo_chunks(payload)
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"] == {"name": "search", "arguments": ""}
    fragments = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[1:-1]
    ]
    assert len(fragments) > 1
    assert json.loads("".join(fragments)) == {"query": "cheap flights"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_choice_none_and_named() -> None:
    assert (
        "tool_calls"
        not in (
            echo_completion(body(user("x"), tools=[MULTIPLY], tool_choice="none"))["choices"][0][
                "message"
            ]
        )
    )
    named = {"type": "function", "function": {"name": "search"}}
    data = echo_completion(body(user("x"), tools=[MULTIPLY, SEARCH], tool_choice=named))
    assert data["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "search"


def test_tool_results_are_answered_after_a_tool_call() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "multiply", "arguments": "{}"}}
    conversation = body(
        user("What is 6 * 7?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        tools=[MULTIPLY],
    )
    data = echo_completion(conversation)
    assert data["choices"][0]["message"]["content"] == "echo: 42"
    assert data["choices"][0]["finish_reason"] == "stop"
    # 1 + 5, then 1 + "multiply {}" (2), then 1 + "42" (1)
    assert data["usage"]["prompt_tokens"] == 6 + 3 + 2


def called(name: str, call_id: str, arguments: str = "{}") -> dict[str, Any]:
    """An assistant message calling one tool."""
    function = {"name": name, "arguments": arguments}
    call = {"id": call_id, "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def result(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def answer(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the tool echo calls, or None; its text answer, or None)."""
    message = echo_completion(payload)["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    return (calls[0]["function"]["name"] if calls else None), message["content"]


def test_two_tools_make_a_three_step_chain() -> None:
    question = user("What is 6 * 7?")
    tools = [MULTIPLY, SEARCH]
    assert answer(body(question, tools=tools)) == ("multiply", None)
    after_one = [question, called("multiply", "c1"), result("c1", "42")]
    data = echo_completion(body(*after_one, tools=tools))
    (call,) = data["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "search"
    assert json.loads(call["function"]["arguments"]) == {"query": "42"}  # from the tool result
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    after_two = [*after_one, called("search", "c2"), result("c2", "found it")]
    assert answer(body(*after_two, tools=tools)) == (None, "echo: found it")


def test_the_chain_streams_the_same_calls() -> None:
    conversation = [user("x"), called("multiply", "c1"), result("c1", "42")]
    chunks = echo_chunks(body(*conversation, tools=[MULTIPLY, SEARCH], stream=True))
    assert chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "search"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_named_tool_is_called_once_then_echo_answers() -> None:
    named = {"type": "function", "function": {"name": "search"}}
    conversation = [user("x"), called("search", "c1"), result("c1", "hits")]
    assert answer(body(user("x"), tools=[MULTIPLY, SEARCH], tool_choice=named)) == ("search", None)
    assert answer(body(*conversation, tools=[MULTIPLY, SEARCH], tool_choice=named)) == (
        None,
        "echo: hits",
    )


def test_required_ends_the_chain_like_auto() -> None:
    conversation = [user("x"), called("multiply", "c1"), result("c1", "42")]
    assert answer(body(*conversation, tools=[MULTIPLY], tool_choice="required")) == (
        None,
        "echo: 42",
    )


def test_a_new_user_message_starts_a_new_chain() -> None:
    earlier = [user("x"), called("multiply", "c1"), result("c1", "42")]
    follow_up = [*earlier, {"role": "assistant", "content": "echo: 42"}, user("again")]
    assert answer(body(*follow_up, tools=[MULTIPLY, SEARCH])) == ("multiply", None)


def test_no_call_after_an_assistant_message_or_with_choice_none() -> None:
    assert (
        answer(body(user("x"), {"role": "assistant", "content": "hi"}, tools=[SEARCH]))[0] is None
    )
    conversation = [user("x"), called("multiply", "c1"), result("c1", "42")]
    assert answer(body(*conversation, tools=[MULTIPLY, SEARCH], tool_choice="none")) == (
        None,
        "echo: 42",
    )


def test_json_schema_answer_fits_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "score": {"type": "number"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mood": {"enum": ["happy", "sad"]},
            "nick": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "pet": {"$ref": "#/$defs/Pet"},
        },
        "required": ["name", "age", "score", "ok", "tags", "mood", "nick", "pet"],
        "additionalProperties": False,
        "$defs": {
            "Pet": {
                "type": "object",
                "properties": {"kind": {"const": "cat"}, "legs": {"type": ["integer", "null"]}},
                "required": ["kind", "legs"],
            }
        },
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": schema, "strict": True},
    }
    data = echo_completion(body(user("Ada Lovelace"), response_format=fmt))
    value = json.loads(data["choices"][0]["message"]["content"])
    jsonschema.Draft202012Validator(schema).validate(value)
    assert value["name"] == value["nick"] == "Ada Lovelace"  # a short text is used whole
    assert 0 <= value["age"] <= 100
    assert isinstance(value["score"], float)
    assert 0 <= value["score"] <= 1
    assert isinstance(value["ok"], bool)
    assert value["tags"]
    assert set(value["tags"]) <= {"Ada", "Lovelace"}  # distinct words of the text
    assert value["mood"] in ("happy", "sad")
    assert value["pet"]["kind"] == "cat"
    assert isinstance(value["pet"]["legs"], int)
    assert echo_completion(body(user("Ada Lovelace"), response_format=fmt)) == data


def test_json_object_answer() -> None:
    data = echo_completion(body(user("hi there"), response_format={"type": "json_object"}))
    assert json.loads(data["choices"][0]["message"]["content"]) == {"echo": "hi there"}


def test_max_tokens_cuts_the_answer() -> None:
    data = echo_completion(body(user("a b c d e"), max_completion_tokens=3))
    assert data["choices"][0]["message"]["content"] == "echo: a b"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 3
    assert echo_completion(body(user("a"), max_tokens=3))["choices"][0]["finish_reason"] == "stop"


def test_chunk_delays_put_half_the_latency_first() -> None:
    assert chunk_delays(1.0, 5) == [0.5, 0.125, 0.125, 0.125, 0.125]
    assert chunk_delays(1.0, 1) == [1.0]


def test_stream_latency_delays_the_first_chunk() -> None:
    payload = body(user("a b c"), stream=True, latency_ms=300)
    _, times = asyncio.run(stream(payload))
    assert times[0] >= 0.14  # half of 300 ms, less a little timer slack
    assert times[-1] >= 0.29


def test_whole_answer_latency() -> None:
    start = time.monotonic()
    response = asyncio.run(post(body(user("a"), latency_ms=200)))
    assert response.status_code == 200
    assert time.monotonic() - start >= 0.19


def test_the_runners_timeout_applies_to_latency() -> None:
    from llmframe._attempt import AttemptFailed, attempt

    call = HttpCall("POST", "/chat/completions", body(user("a"), latency_ms=5000), stream=False)
    run = attempt(EchoTransport(), resolve_model("echo"), OpenAIChat(), call, timeout=0.05)
    with pytest.raises(AttemptFailed, match="timed out"):
        asyncio.run(run)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"model": "echo"}, "`messages` must be a non-empty list"),
        (body(), "`messages` must be a non-empty list"),
        (body({"content": "no role"}), "each message must be an object with a `role`"),
        (body(user(7)), "message `content` must be a string, null or a list of parts"),
        (body(user("x"), latency_ms=-1), "`latency_ms` must be a non-negative number"),
        (body(user("x"), max_tokens=0), "`max_completion_tokens` must be a positive integer"),
        ([1, 2], "the request body must be a JSON object"),
    ],
)
def test_bad_requests_get_a_400(payload: Any, message: str) -> None:
    response = asyncio.run(post(payload))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_not_an_object_and_wrong_route() -> None:
    async def run() -> list[int]:
        bad = await post("{oops")
        missing = await post({}, path="/embeddings")
        wrong_method = await post(None, method="GET")
        return [bad.status_code, missing.status_code, wrong_method.status_code]

    assert asyncio.run(run()) == [400, 404, 405]
