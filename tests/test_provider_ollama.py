"""The Ollama ``/api/chat`` provider against every recorded Ollama exchange
(../shared/conformance/ollama/, vcrpy YAML and langchaingo httprr), plus what no recording holds."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conformance import Exchange, load, needs_conformance, recordings
from hypothesis import given, settings
from ollama_server import OllamaServer, Reply
from replay import brief, decode, ids, resplit, run_chunks, run_stream

from llmframe._launch import RunRequest, launch
from llmframe.errors import (
    ProviderHTTPError,
    RateLimited,
    UnexpectedResponse,
    UnsupportedPart,
    UsageError,
)
from llmframe.io import ReadOptions
from llmframe.parts.types import (
    AudioPart,
    DocumentPart,
    ImagePart,
    JsonPart,
    Message,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)
from llmframe.providers import get_provider
from llmframe.providers._ndjson import NdjsonDecoder
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    ReasoningDelta,
    SseEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmframe.providers.ollama import Ollama
from llmframe.query import sql
from llmframe.runner import RunOptions

PROVIDER = Ollama()
EXCHANGES = [
    ex
    for path in recordings("ollama", "*.yaml", "*.httprr")
    for ex in load(path)
    if ex.path == "/api/chat"
]
SUCCESSES = [ex for ex in EXCHANGES if ex.status == 200]
FAILURES = [ex for ex in EXCHANGES if ex.status >= 400]
# Ollama streams unless told `"stream": false`; langchaingo leaves the field out.
STREAMS = [ex for ex in SUCCESSES if ex.request_json().get("stream", True)]


def lines_of(body: bytes) -> list[SseEvent]:
    return decode(PROVIDER.stream_decoder(), body)


def complete(exchange: Exchange) -> Completion:
    if exchange in STREAMS:
        return run_stream(PROVIDER, lines_of(exchange.body))[0]
    return PROVIDER.parse_body(exchange.body)


def line(message: dict[str, Any] | None = None, **fields: Any) -> SseEvent:
    payload: dict[str, Any] = {"model": "m", "done": False, **fields}
    if message is not None:
        payload["message"] = {"role": "assistant", **message}
    return SseEvent(data=json.dumps(payload))


DONE = line({"content": ""}, done=True, done_reason="stop", prompt_eval_count=3, eval_count=4)


def summary(completion: Completion) -> dict[str, Any]:
    parts: list[tuple[Any, ...]] = []
    for part in completion.parts:
        assert part.provider_data is None
        if isinstance(part, ToolCallPart):
            parts.append(("tool_call", part.name, part.tool_call_id, part.arguments))
        else:
            assert isinstance(part, (TextPart, ReasoningPart)), part
            parts.append((part.type, brief(part.text or "")))
    usage = completion.usage
    return {
        "parts": parts,
        "usage": (
            usage.input_tokens,
            usage.output_tokens,
            usage.reasoning_tokens,
            usage.cached_tokens,
        ),
        "finish_reason": completion.finish_reason,
        "id": completion.response_id,
        "model": completion.model,
    }


def message_from_ollama(wire: dict[str, Any]) -> Message:
    """A recorded Ollama request message as llmframe parts (the test's reading of the wire)."""
    if wire["role"] == "tool":
        result = ToolResultPart(
            tool_call_id=wire.get("tool_call_id", ""),
            name=wire.get("tool_name"),
            text=wire["content"],
        )
        return Message(role="tool", parts=[result])
    parts: list[Any] = []
    if wire.get("thinking"):
        parts.append(ReasoningPart(text=wire["thinking"]))
    if wire.get("content"):
        parts.append(TextPart(text=wire["content"]))
    parts.extend(ImagePart(data=base64.b64decode(image)) for image in wire.get("images", []))
    for call in wire.get("tool_calls") or []:
        function = call["function"]
        parts.append(
            ToolCallPart(
                name=function["name"], tool_call_id=call.get("id"), arguments=function["arguments"]
            )
        )
    return Message(role=wire["role"], parts=parts)


# (a) build_call reproduces every recorded request -----------------------------------------------


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """Where the recorders' encoding legitimately differs from ours, both sides are normalised."""
    body = json.loads(json.dumps(body))
    # Ollama's default is to stream; langchaingo leaves `stream` out, we always send it.
    body.setdefault("stream", True)
    # ollama-python sends `"options": {}` for no model options; we leave the empty mapping out.
    if body.get("options") == {}:
        del body["options"]
    return body


@needs_conformance
@pytest.mark.parametrize("exchange", EXCHANGES, ids=ids(EXCHANGES))
def test_build_call_reproduces_the_recorded_request(exchange: Exchange) -> None:
    recorded = exchange.request_json()
    messages = [message_from_ollama(m) for m in recorded["messages"]]
    # The model options as a user gives them, flat beside the top-level fields (`format`,
    # `tools`, `keep_alive`: sent as given, defaults like `"format": ""` included).
    reserved = ("model", "messages", "stream", "options")
    options = {k: v for k, v in recorded.items() if k not in reserved}
    options.update(recorded.get("options") or {})
    stream = recorded.get("stream", True)

    call = PROVIDER.build_call(recorded["model"], messages, options, stream=stream)

    assert (call.method, call.path, call.stream) == ("POST", exchange.path, stream)
    assert call.body is not None
    assert canonical(dict(call.body)) == canonical(recorded)


def test_the_normalisation_only_forgives_what_it_says() -> None:
    ours = {"model": "m", "messages": [], "stream": True}
    assert canonical({"model": "m", "messages": [], "options": {}}) == canonical(ours)
    assert canonical({**ours, "stream": False}) != canonical(ours)
    assert canonical({**ours, "options": {"seed": 1}}) != canonical(ours)
    assert canonical({**ours, "format": ""}) != canonical(ours)


@needs_conformance
def test_the_recordings_send_model_options_and_formats() -> None:
    # What (a) covers: model options under `options`, `format` as "json" and as a schema.
    bodies = {ex.file: ex.request_json() for ex in EXCHANGES}
    assert bodies["ollama-chat-thinking.yaml"]["options"] == {"temperature": 0, "seed": 42}
    assert bodies["ollama-chat-stream-format-json.httprr"]["format"] == "json"
    assert bodies["ollama-chat-stream-format-json-schema.httprr"]["format"]["type"] == "object"
    assert bodies["ollama-chat-tool-result.yaml"]["messages"][1]["role"] == "tool"


# (b) recorded responses parse to the right parts, usage and finish reason -----------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "ollama-chat-text[0]": {
        "parts": [
            (
                "text",
                "A joke about OpenTelemetry!\n\nWhy did the…"
                " brings a smile to your face!) (256 chars)",
            )
        ],
        "usage": (17, 66, None, None),
        "finish_reason": "stop",
        "id": None,
        "model": "llama3",
    },
    "ollama-chat-stream-text[0]": {
        "parts": [
            (
                "text",
                "Why did the OpenTelemetry agent go to th…"
                "brought a smile to your face!) (212 chars)",
            )
        ],
        "usage": (17, 50, None, None),
        "finish_reason": "stop",
        "id": None,
        "model": "llama3",
    },
    "ollama-chat-thinking[0]": {
        "parts": [
            (
                "reasoning",
                "Here's a thinking process:\n\n1.  **Analyz…"
                "ria. Output matches response.\u2705 (1430 chars)",
            ),
            (
                "text",
                "The sky appears blue because Earth's atm…"
                " more sensitive to blue light. (188 chars)",
            ),
        ],
        # Ollama reports no separate reasoning count: `eval_count` includes the thinking.
        "usage": (21, 369, None, None),
        "finish_reason": "stop",
        "id": None,
        "model": "qwen3.6:latest",
    },
    "ollama-chat-stream-thinking[0]": {
        "parts": [
            (
                "reasoning",
                "Here's a thinking process:\n\n1.  **Analyz…"
                "tches response.\u2705\n   [Proceeds] (3064 chars)",
            ),
            ("text", "1\n2\n3\n4\n5"),
        ],
        "usage": (21, 889, None, None),
        "finish_reason": "stop",
        "id": None,
        "model": "qwen3.6:latest",
    },
    "ollama-chat-tool-call[0]": {
        "parts": [
            (
                "reasoning",
                "Thinking Process:\n1.  **Identify User In…"
                "e Tool Call**: Make the call.\u2705 (437 chars)",
            ),
            ("tool_call", "get_current_weather", "call_gsiiy8py", {"city": "Paris"}),
        ],
        "usage": (292, 143, None, None),
        # Ollama said `stop`; a response that stopped with tool calls finishes `tool_calls`.
        "finish_reason": "tool_calls",
        "id": None,
        "model": "qwen3.6:latest",
    },
    "ollama-chat-tool-result[0]": {
        "parts": [
            (
                "text",
                "This is a simple example, but in a real-…"
                "fferent units (e.g., Celsius). (535 chars)",
            )
        ],
        "usage": (44, 113, None, None),
        "finish_reason": "stop",
        "id": None,
        "model": "llama3.1",
    },
    "ollama-chat-stream-format-json.httprr[0]": {
        "parts": [("text", '{"answer": "600"}')],
        "usage": (25, 9, None, None),
        "finish_reason": "stop",
        "id": None,
        "model": "gemma3:1b",
    },
    "ollama-chat-stream-format-json-schema.httprr[0]": {
        "parts": [("text", '{"feet": 6076}')],
        "usage": (25, 10, None, None),
        "finish_reason": "stop",
        "id": None,
        "model": "gemma3:1b",
    },
}


@needs_conformance
def test_every_recorded_success_has_a_snapshot() -> None:
    assert set(ids(SUCCESSES)) == set(EXPECTED)


@needs_conformance
@pytest.mark.parametrize("exchange", SUCCESSES, ids=ids(SUCCESSES))
def test_recorded_response_parses_to_its_snapshot(exchange: Exchange) -> None:
    assert summary(complete(exchange)) == EXPECTED[exchange.id]


@needs_conformance
def test_structured_output_streams_parse_as_json() -> None:
    for file in (
        "ollama-chat-stream-format-json.httprr",
        "ollama-chat-stream-format-json-schema.httprr",
    ):
        (exchange,) = [ex for ex in EXCHANGES if ex.file == file]
        (part,) = complete(exchange).parts
        assert isinstance(part, TextPart)
        assert isinstance(json.loads(part.text), dict)


# (c) every streamed line is handled -------------------------------------------------------------


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_every_recorded_line_is_handled(exchange: Exchange) -> None:
    lines = [raw for raw in exchange.body.split(b"\n") if raw.strip()]
    events = lines_of(exchange.body)
    assert len(events) == len(lines)
    _, parser = run_stream(PROVIDER, events)
    assert dict(parser.event_counts) == {"chunk": len(lines) - 1, "done": 1}


def test_an_unknown_message_field_fails_loudly() -> None:
    with pytest.raises(UnexpectedResponse, match="`images` in the message"):
        PROVIDER.stream_parser().feed(line({"content": "", "images": ["iVBORw0KGgo="]}))
    quiet = line({"content": "hi", "images": None, "tool_name": ""})
    assert PROVIDER.stream_parser().feed(quiet) == [TextDelta(key="text", text="hi")]


@pytest.mark.parametrize(
    "data",
    [
        "[1, 2]",
        "<html>502</html>",
        '{"model": "m"}',
        '{"done": "yes"}',
        '{"done": false, "message": "hi"}',
        '{"done": false, "message": {"content": 7}}',
        '{"done": false, "message": {"role": "user", "content": "hi"}}',
        '{"done": false, "message": {"tool_calls": {"function": {}}}}',
        '{"done": false, "message": {"tool_calls": [{"function": {"arguments": {}}}]}}',
        '{"done": false, "message": {"tool_calls": [{"function": {"name": "f", "arguments": 3}}]}}',
        '{"done": true, "prompt_eval_count": "many"}',
    ],
)
def test_lines_of_an_unexpected_shape_are_refused(data: str) -> None:
    with pytest.raises(UnexpectedResponse):
        PROVIDER.stream_parser().feed(SseEvent(data=data))


def test_junk_carries_only_its_own_line() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(line({"content": "secret earlier text"}))
    with pytest.raises(UnexpectedResponse) as caught:
        parser.feed(SseEvent(data="<html>oops" + "!" * 500))
    assert caught.value.excerpt == "<html>oops" + "!" * 190 + "…"
    assert "secret earlier text" not in str(caught.value)


def test_a_stream_cut_before_done_is_an_error_and_nothing_follows_done() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(line({"content": "Hel"}))
    with pytest.raises(UnexpectedResponse, match='before its `"done": true`'):
        parser.finish()
    parser.feed(DONE)
    assert parser.finish().parts == [TextPart(text="Hel")]
    with pytest.raises(UnexpectedResponse, match="after the"):
        parser.feed(line({"content": "more"}))


# (d) re-split streams give the same completion ------------------------------------------------


def lf_or_utf8(data: bytes) -> list[int]:
    """Cuts at LF and inside UTF-8 (CR|LF and split characters)."""
    return [i for i, byte in enumerate(data) if byte == 0x0A or byte >= 0x80]


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_resplit_streams_give_the_same_completion(exchange: Exchange) -> None:
    expected, expected_parser = run_stream(PROVIDER, lines_of(exchange.body))

    @settings(max_examples=100, deadline=None)
    @given(resplit(exchange.body, newlines=(b"\n", b"\r\n"), favour=lf_or_utf8, max_size=40))
    def check(chunks: list[bytes]) -> None:
        completion, parser = run_chunks(PROVIDER, NdjsonDecoder(), chunks)
        assert completion == expected
        assert parser.event_counts == expected_parser.event_counts

    check()


@needs_conformance
def test_a_thinking_stream_holds_multibyte_text() -> None:
    # So (d) does cut inside UTF-8 sequences.
    (exchange,) = [ex for ex in STREAMS if ex.file == "ollama-chat-stream-thinking.yaml"]
    assert "\u2705" in exchange.body.decode()


# Streams and bodies agree ----------------------------------------------------------------------


def test_thinking_text_and_tool_calls_stream_like_the_body() -> None:
    call = {"id": "c1", "function": {"index": 0, "name": "a", "arguments": {}}}
    second = {"function": {"index": 1, "name": "b", "arguments": {"x": 1}}}
    events = [
        line({"content": "", "thinking": "Think"}),
        line({"content": "", "thinking": "ing."}),
        line({"content": "Calling."}),
        line({"content": "", "tool_calls": [call]}),
        line({"content": "", "tool_calls": [second]}),
        DONE,
    ]
    streamed, _ = run_stream(PROVIDER, events)
    message = {
        "role": "assistant",
        "content": "Calling.",
        "thinking": "Thinking.",
        "tool_calls": [call, second],
    }
    body = {"model": "m", "message": message, "done": True, "done_reason": "stop"}
    whole = PROVIDER.parse_body(json.dumps(body).encode())
    assert (
        streamed.parts
        == whole.parts
        == [
            ReasoningPart(text="Thinking."),
            TextPart(text="Calling."),
            ToolCallPart(name="a", tool_call_id="c1", arguments={}),
            ToolCallPart(name="b", arguments={"x": 1}),
        ]
    )
    assert streamed.finish_reason == whole.finish_reason == "tool_calls"
    assert (streamed.usage, whole.usage) == (Usage(3, 4), Usage())


def test_feed_returns_the_deltas_it_carries() -> None:
    parser = PROVIDER.stream_parser()
    first = {"thinking": "Hm", "content": "", "tool_calls": [{"function": {"name": "f"}}]}
    assert parser.feed(line(first)) == [
        ReasoningDelta(key="reasoning", text="Hm"),
        ToolCallDelta(key="tool_call:0", name="f", arguments="{}"),
    ]


@pytest.mark.parametrize(
    ("done_reason", "finish_reason"), [("length", "length"), ("load", "load"), (None, None)]
)
def test_other_done_reasons_are_kept(done_reason: str | None, finish_reason: str | None) -> None:
    body = {"message": {"role": "assistant", "content": "x"}, "done": True}
    if done_reason is not None:
        body["done_reason"] = done_reason
    assert PROVIDER.parse_body(json.dumps(body).encode()).finish_reason == finish_reason


def test_a_whole_body_that_is_not_done_is_refused() -> None:
    body = {"message": {"role": "assistant", "content": "x"}, "done": False}
    with pytest.raises(UnexpectedResponse, match="ended before"):
        PROVIDER.parse_body(json.dumps(body).encode())


# (e) error classification ----------------------------------------------------------------------

VERDICTS = {
    "ollama-chat-error-404-model-not-found[0]": ErrorVerdict(
        retryable=False,
        error_type="ProviderHTTPError",
        message="model 'nonexistent-model:latest' not found",
    ),
}


@needs_conformance
def test_every_recorded_error_has_a_verdict() -> None:
    assert set(ids(FAILURES)) == set(VERDICTS)


@needs_conformance
@pytest.mark.parametrize("exchange", FAILURES, ids=ids(FAILURES))
def test_recorded_error_is_classified(exchange: Exchange) -> None:
    verdict = PROVIDER.classify_error(exchange.status, exchange.headers, exchange.body)
    assert verdict == VERDICTS[exchange.id]


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (
            429,
            {"Retry-After": "3"},
            b'{"error": "too many requests"}',
            ErrorVerdict(True, "RateLimited", "too many requests", 3.0),
        ),
        (
            500,
            {},
            b'{"error": "model requires more system memory"}',
            ErrorVerdict(True, "ProviderHTTPError", "model requires more system memory"),
        ),
        (
            400,
            {},
            b'{"error": "registry.ollama.ai/library/gemma3 does not support tools"}',
            ErrorVerdict(
                False,
                "ProviderHTTPError",
                "registry.ollama.ai/library/gemma3 does not support tools",
            ),
        ),
        (
            401,
            {},
            b'{"error": {"message": "unauthorized", "type": "auth"}}',
            ErrorVerdict(False, "AuthFailed", "unauthorized"),
        ),
        (
            502,
            {},
            b"<html>Bad gateway</html>",
            ErrorVerdict(True, "ProviderHTTPError", "<html>Bad gateway</html>"),
        ),
        (503, {}, b"", ErrorVerdict(True, "ProviderHTTPError", "HTTP 503")),
    ],
)
def test_error_bodies_and_statuses_are_classified(
    status: int, headers: dict[str, str], body: bytes, expected: ErrorVerdict
) -> None:
    assert PROVIDER.classify_error(status, headers, body) == expected


def test_an_error_line_inside_a_200_stream_is_raised_as_retryable() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(line({"content": "Hel"}))
    with pytest.raises(ProviderHTTPError) as caught:
        parser.feed(SseEvent(data='{"error": "an error was encountered while running the model"}'))
    assert type(caught.value) is ProviderHTTPError
    assert str(caught.value) == (
        "error inside a 200 response: an error was encountered while running the model"
    )
    assert caught.value.verdict is not None
    assert caught.value.verdict.retryable


def test_an_error_in_a_200_body_is_raised() -> None:
    with pytest.raises(ProviderHTTPError, match="busy") as caught:
        PROVIDER.parse_body(b'{"error": "busy"}')
    assert not isinstance(caught.value, RateLimited)
    assert caught.value.verdict is not None
    assert caught.value.verdict.retryable


def test_error_messages_mask_keys() -> None:
    body = b'{"error": "bad key sk-proj-abc123XYZ789"}'
    assert PROVIDER.classify_error(401, {}, body).message == "bad key sk-***"


# (f) a reasoning + tool-call turn goes back as Ollama sent it --------------------------------


@needs_conformance
def test_a_parsed_thinking_tool_call_turn_is_sent_back_as_recorded() -> None:
    # No recording holds both turns of one conversation, so the turn sent back is compared with
    # the message Ollama sent (less `function.index`, a response-only field).
    (exchange,) = [ex for ex in EXCHANGES if ex.file == "ollama-chat-tool-call.yaml"]
    recorded = json.loads(exchange.body)["message"]
    parts = PROVIDER.parse_body(exchange.body).parts
    result = ToolResultPart(tool_call_id="call_gsiiy8py", text="18 degrees and sunny")
    request = exchange.request_json()
    conversation = [
        *(message_from_ollama(m) for m in request["messages"]),
        Message(role="assistant", parts=list(parts)),
        Message(role="tool", parts=[result]),
    ]
    options = {"tools": request["tools"], **request["options"]}

    body = PROVIDER.build_call(request["model"], conversation, options, stream=False).body

    assert body is not None
    for call in recorded["tool_calls"]:
        del call["function"]["index"]
    assert body["messages"][1] == recorded
    assert body["messages"][2] == {
        "role": "tool",
        "content": "18 degrees and sunny",
        "tool_name": "get_current_weather",
        "tool_call_id": "call_gsiiy8py",
    }
    assert body["tools"] == request["tools"]
    assert body["options"] == request["options"]


def test_reasoning_of_any_origin_goes_back_as_thinking_text() -> None:
    anthropic = ReasoningPart(
        text="Signed.", provider_data={"provider": "anthropic", "signature": "s"}
    )
    blob = ReasoningPart(provider_data={"provider": "openai_responses", "encrypted_content": "e"})
    turn = assistant(ReasoningPart(text="Mine."), anthropic, blob, TextPart(text="Done."))
    assert wire(turn) == [{"role": "assistant", "content": "Done.", "thinking": "Mine.\n\nSigned."}]


# build_call for what the recordings do not cover ---------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


def wire(*messages: Message, **options: Any) -> list[dict[str, Any]]:
    call = PROVIDER.build_call("m", list(messages), options, stream=False)
    assert call.body is not None
    return call.body["messages"]


def body_for(options: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    call = PROVIDER.build_call("m", [user(TextPart(text="hi"))], options, stream=stream)
    assert call.body is not None
    return {k: v for k, v in call.body.items() if k not in ("model", "messages")}


def user(*parts: Any) -> Message:
    return Message(role="user", parts=list(parts))


def assistant(*parts: Any) -> Message:
    return Message(role="assistant", parts=list(parts))


def test_stream_is_always_sent() -> None:
    assert body_for({}, stream=False) == {"stream": False}
    assert body_for({}, stream=True) == {"stream": True}


def test_options_split_between_top_level_fields_and_model_options() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "number"}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    options = {
        "temperature": 0.2,
        "seed": 7,
        "stop": ["\n"],
        "max_tokens": 64,
        "format": schema,
        "think": "high",
        "keep_alive": "10m",
        "tools": tools,
        "options": {"num_ctx": 8192},
        "tool_choice": "auto",
        "n": 1,
        "logprobs": False,
    }
    assert body_for(options) == {
        "format": schema,
        "think": "high",
        "keep_alive": "10m",
        "tools": tools,
        "options": {
            "num_ctx": 8192,
            "temperature": 0.2,
            "seed": 7,
            "stop": ["\n"],
            "num_predict": 64,
        },
        "stream": False,
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"max_completion_tokens": 5}, {"options": {"num_predict": 5}}),
        ({"response_format": {"type": "json_object"}}, {"format": "json"}),
        ({"response_format": {"type": "text"}}, {}),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "object"}},
                }
            },
            {"format": {"type": "object"}},
        ),
        ({"reasoning_effort": "low"}, {"think": "low"}),
        ({"reasoning_effort": "none"}, {"think": False}),
    ],
)
def test_openai_option_names_are_translated(
    options: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert body_for(options) == {**expected, "stream": False}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"stream": True}, "`stream`"),
        ({"model": "x"}, "`model`"),
        ({"messages": []}, "`messages`"),
        ({"n": 2}, "`n` must be 1"),
        ({"logprobs": True}, "`logprobs`"),
        ({"top_logprobs": 3}, "`top_logprobs`"),
        ({"tool_choice": "required"}, "`tool_choice` must be `auto`"),
        ({"options": [1]}, "`options` must be a mapping"),
        ({"max_tokens": 1, "num_predict": 2}, "`num_predict`"),
        ({"temperature": 1, "options": {"temperature": 0}}, "`temperature`"),
        ({"format": "json", "response_format": {"type": "json_object"}}, "`format`"),
        ({"think": True, "reasoning_effort": "low"}, "`think`"),
        ({"response_format": {"type": "json_schema"}}, "`response_format` must be"),
    ],
)
def test_options_llmframe_owns_cannot_store_or_that_clash_are_refused(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        body_for(options)


def test_images_go_inline_as_base64_beside_the_joined_text() -> None:
    (message,) = wire(
        user(
            TextPart(text="Look"),
            ImagePart(data=PNG, uri="photos/cat.png"),  # inlined by the runner: data wins
            TextPart(text="and this"),
            ImagePart(uri="data:image/gif;base64,R0lGODlh\nLi4u"),
            ImagePart(uri="data:image/svg+xml,%3Csvg%2F%3E"),
        )
    )
    assert message == {
        "role": "user",
        "content": "Look\n\nand this",
        "images": [base64.b64encode(PNG).decode(), "R0lGODlhLi4u", "PHN2Zy8+"],
    }


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (ImagePart(uri="https://example.com/a.png"), "image part.*inline, not by URL"),
        (ImagePart(uri="photos/cat.png"), "not a URL; the runner must inline"),
        (ImagePart(uri="data:image/png;base64"), "no comma"),
        (AudioPart(data=b"RIFF"), "audio part.*text and images only"),
        (VideoPart(uri="https://e.com/v.mp4"), "video part"),
        (DocumentPart(data=b"%PDF"), "document part"),
        (JsonPart(value={"a": 1}), "json part.*text part"),
        (ToolResultPart(tool_call_id="c", text="1"), "tool_result part.*`tool` message"),
        (ReasoningPart(text="hm"), "reasoning part.*only assistant"),
    ],
)
def test_parts_a_user_message_cannot_carry_are_refused_by_name(part: Any, match: str) -> None:
    with pytest.raises(UnsupportedPart, match=rf"message 1 \(user\): .*{match}"):
        wire(user(TextPart(text="x"), part))


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (assistant(ImagePart(data=PNG)), "image part.*only user messages"),
        (assistant(JsonPart(value=[1])), "json part"),
        (assistant(ToolCallPart(name="f", raw_arguments="{bad")), "JSON object, not '\\{bad'"),
        (assistant(ToolCallPart(name="f", arguments=[1, 2])), "JSON object, not \\[1, 2\\]"),
        (Message(role="system", parts=[ImagePart(data=PNG)]), "text only"),
        (Message(role="tool", parts=[TextPart(text="1")]), "tool results only"),
        (
            Message(role="tool", parts=[ToolResultPart(tool_call_id="c", text="a", value=1)]),
            "not both",
        ),
    ],
)
def test_parts_other_roles_cannot_carry_are_refused(message: Message, match: str) -> None:
    with pytest.raises(UnsupportedPart, match=match):
        wire(message)


def test_system_assistant_and_tool_messages() -> None:
    messages = [
        Message(role="developer", parts=[TextPart(text="Be brief."), TextPart(text="Be kind.")]),
        assistant(TextPart(text="a"), RefusalPart(text="No.")),
        assistant(
            ToolCallPart(name="f", tool_call_id="c1", arguments={"x": 1}), ToolCallPart(name="g")
        ),
        Message(
            role="tool",
            parts=[
                ToolResultPart(tool_call_id="c1", value={"ok": True}),
                ToolResultPart(tool_call_id="c2", name="g", text="done"),
                ToolResultPart(tool_call_id="", text="unlinked"),
            ],
        ),
    ]
    assert wire(*messages) == [
        {"role": "system", "content": "Be brief.\n\nBe kind."},
        {"role": "assistant", "content": "a\n\nNo."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "function": {"name": "f", "arguments": {"x": 1}}},
                {"function": {"name": "g", "arguments": {}}},
            ],
        },
        {"role": "tool", "content": '{"ok":true}', "tool_name": "f", "tool_call_id": "c1"},
        {"role": "tool", "content": "done", "tool_name": "g", "tool_call_id": "c2"},
        {"role": "tool", "content": "unlinked"},
    ]


def test_get_provider_knows_ollama() -> None:
    provider = get_provider("ollama")
    assert isinstance(provider, Ollama)
    assert (provider.name, provider.api) == ("ollama", "ollama_chat")
    assert isinstance(provider.stream_decoder(), NdjsonDecoder)


# (g) end to end through the runner against a loopback Ollama ----------------------------------


@pytest.fixture
def ollama_server() -> Any:
    with OllamaServer() as server:
        yield server


@needs_conformance
@pytest.mark.parametrize("stream", [True, False])
def test_a_run_against_a_loopback_ollama(
    tmp_path: Path, ollama_server: OllamaServer, stream: bool
) -> None:
    name = "ollama-chat-stream-thinking.yaml" if stream else "ollama-chat-thinking.yaml"
    (exchange,) = [ex for ex in EXCHANGES if ex.file == name]
    content_type = "application/x-ndjson" if stream else "application/json; charset=utf-8"
    ollama_server.queue(
        Reply(exchange.body, content_type=content_type, chunk=97 if stream else None)
    )
    source = tmp_path / "p.jsonl"
    prompt = exchange.request_json()["messages"][0]["content"]
    source.write_text(json.dumps({"id": "p1", "prompt": prompt}) + "\n")
    out = tmp_path / "run"
    request = RunRequest(
        source=source,
        models=["ollama/qwen3.6:latest"],
        out=out,
        read=ReadOptions(),
        model_options={"temperature": 0, "seed": 42},
        options=RunOptions(stream=stream, max_retries=0),
        base_url=ollama_server.base_url,
    )

    summary = asyncio.run(launch(request))

    assert (summary.ok, summary.errors) == (1, 0)
    (sent,) = ollama_server.requests
    assert sent == {
        "model": "qwen3.6:latest",
        "messages": [{"role": "user", "content": prompt}],
        "options": {"temperature": 0, "seed": 42},
        "stream": stream,
    }
    (row,) = sql(out, "select * from responses").to_pylist()
    expected = EXPECTED[exchange.id]
    assert (row["provider"], row["status"], row["finish_reason"]) == ("ollama", "ok", "stop")
    assert (row["input_tokens"], row["output_tokens"]) == expected["usage"][:2]
    assert (row["ttft_ms"] is not None) is stream
    parts = sql(out, "select type, text from parts order by part_index").to_pylist()
    assert [(p["type"], brief(p["text"])) for p in parts] == expected["parts"]
