"""The Anthropic Messages provider against every recorded exchange
(../shared/conformance/anthropic/*.yaml), plus the cases no recording holds."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from anthropic_server import AnthropicServer, Reply
from conformance import Exchange, load, needs_conformance, recordings
from hypothesis import given, settings
from replay import brief, decode, ids, resplit, run_chunks, run_stream

from llmframe._launch import RunRequest, launch
from llmframe.errors import (
    AuthFailed,
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
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)
from llmframe.providers import get_provider
from llmframe.providers._sse import SseDecoder
from llmframe.providers.anthropic import Anthropic, AnthropicStream
from llmframe.providers.base import Completion, ErrorVerdict, SseEvent, TextDelta, Usage
from llmframe.query import sql
from llmframe.runner import RunOptions

PROVIDER = Anthropic()
FILES = recordings("anthropic", "*.yaml")
EXCHANGES = [ex for path in FILES for ex in load(path)]
SUCCESSES = [ex for ex in EXCHANGES if ex.status == 200]
FAILURES = [ex for ex in EXCHANGES if ex.status >= 400]
STREAMS = [ex for ex in SUCCESSES if ex.request_json().get("stream")]
RATE_LIMITED = "anthropic-messages-error-429-retry-after.yaml"


def events_of(body: bytes) -> list[SseEvent]:
    return decode(SseDecoder(), body)


def complete(exchange: Exchange) -> Completion:
    if exchange.request_json().get("stream"):
        return run_stream(PROVIDER, events_of(exchange.body))[0]
    return PROVIDER.parse_body(exchange.body)


def summary(completion: Completion) -> dict[str, Any]:
    parts: list[tuple[Any, ...]] = []
    for part in completion.parts:
        if isinstance(part, ToolCallPart):
            assert part.provider_data is None
            parts.append(("tool_call", part.name, part.tool_call_id, part.arguments))
        elif isinstance(part, ReasoningPart):
            data = part.provider_data
            assert data is not None
            assert data.keys() == {"provider", "signature"}
            assert data["provider"] == "anthropic"
            assert isinstance(data["signature"], str)
            parts.append(("reasoning", brief(part.text or ""), brief(data["signature"])))
        else:
            assert isinstance(part, TextPart), part
            assert part.provider_data is None
            parts.append(("text", brief(part.text)))
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


# Recorded requests as llmframe messages (the reverse of the provider's mapping) ------------------


def part_from_block(block: dict[str, Any]) -> Part:
    kind = block["type"]
    if kind == "text":
        return TextPart(text=block["text"])
    if kind == "image":
        source = block["source"]
        if source["type"] == "url":
            return ImagePart(uri=source["url"])
        assert source["type"] == "base64"
        return ImagePart(data=base64.b64decode(source["data"]), mime_type=source["media_type"])
    if kind == "tool_use":
        return ToolCallPart(name=block["name"], tool_call_id=block["id"], arguments=block["input"])
    if kind == "thinking":
        data = {"provider": "anthropic", "signature": block["signature"]}
        return ReasoningPart(text=block["thinking"] or None, provider_data=data)
    if kind == "tool_result":
        assert isinstance(block["content"], str)
        error = {"provider": "anthropic", "is_error": True} if block.get("is_error") else None
        return ToolResultPart(
            tool_call_id=block["tool_use_id"], text=block["content"], provider_data=error
        )
    msg = f"no recording holds a {kind} block"
    raise AssertionError(msg)


def messages_from_request(body: dict[str, Any]) -> list[Message]:
    """A recorded request's ``system`` and ``messages`` as llmframe messages."""
    out = []
    system = body.get("system")
    if system is not None:
        assert isinstance(system, str)
        out.append(Message(role="system", parts=[TextPart(text=system)]))
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts = [part_from_block(block) for block in blocks]
        results = [isinstance(part, ToolResultPart) for part in parts]
        role = "tool" if message["role"] == "user" and all(results) else message["role"]
        assert role == "tool" or not any(results)
        out.append(Message(role=role, parts=parts))
    return out


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """Where our encoding legitimately differs from the recorders', both sides are normalised."""
    body = copy.deepcopy(body)
    # pydantic-ai sends `"stream": false`; we leave the default out.
    if body.get("stream") is False:
        del body["stream"]
    for message in body["messages"]:
        # A lone text is a string for us and Mirascope, a text block for llm and pydantic-ai.
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
        for block in message["content"]:
            # pydantic-ai sends `"is_error": false`, the API's default; we send only `true`.
            if block["type"] == "tool_result" and block.get("is_error") is False:
                del block["is_error"]
    return body


def test_the_normalisation_only_forgives_what_it_says() -> None:
    ours = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    blocks = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    assert canonical({**ours, "stream": False}) == canonical(blocks)
    assert canonical({**ours, "stream": True}) != canonical(ours)
    assert canonical({**ours, "max_tokens": 4096}) != canonical(ours)
    result = {"type": "tool_result", "tool_use_id": "t", "content": "x"}
    failed = {"role": "user", "content": [{**result, "is_error": True}]}
    fine = {"role": "user", "content": [{**result, "is_error": False}]}
    assert canonical({"messages": [fine]}) == canonical(
        {"messages": [{"role": "user", "content": [result]}]}
    )
    assert canonical({"messages": [failed]}) != canonical({"messages": [fine]})


# (a) build_call reproduces every recorded request -----------------------------------------------


@needs_conformance
@pytest.mark.parametrize("exchange", EXCHANGES, ids=ids(EXCHANGES))
def test_build_call_reproduces_the_recorded_request(exchange: Exchange) -> None:
    recorded = exchange.request_json()
    messages = messages_from_request(recorded)
    options = {
        k: v for k, v in recorded.items() if k not in ("model", "messages", "stream", "system")
    }
    stream = bool(recorded.get("stream"))

    call = PROVIDER.build_call(recorded["model"], messages, options, stream=stream)

    assert (call.method, call.stream) == ("POST", stream)
    assert exchange.path == "/v1" + call.path
    assert call.headers == {"anthropic-version": "2023-06-01"}
    assert call.body is not None
    assert canonical(dict(call.body)) == canonical(recorded)


# (b) recorded responses parse to the right parts, usage and finish reason -----------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "anthropic-messages-error-529-overloaded-then-retry[1]": {
        "parts": [
            (
                "text",
                "The image shows 10 rounded rectangles of…"
                "en orange and teal/light blue. (421 chars)",
            )
        ],
        # A 2024 recording: no cache fields in its usage, so no cached count.
        "usage": (1381, 100, None, None),
        "finish_reason": "stop",
        "id": "msg_01BsXHWKNeFoEqTfCjj2rToD",
        "model": "claude-3-opus-20240229",
    },
    "anthropic-messages-parallel-tool-calls[0]": {
        "parts": [
            (
                "text",
                "I'll help you find out who is the younge…"
                "rmation to compare their ages. (156 chars)",
            ),
            (
                "tool_call",
                "retrieve_entity_info",
                "toolu_0167cfEnoQaPviGdVXA95zcu",
                {"name": "Alice"},
            ),
            (
                "tool_call",
                "retrieve_entity_info",
                "toolu_01EEe2V5HD1Ac4rKiUR4HD2T",
                {"name": "Bob"},
            ),
            (
                "tool_call",
                "retrieve_entity_info",
                "toolu_01XFyAjstT3966qvRynZyVPo",
                {"name": "Charlie"},
            ),
            (
                "tool_call",
                "retrieve_entity_info",
                "toolu_013mnQZbgtK2oe3Mo3XKJsx3",
                {"name": "Daisy"},
            ),
        ],
        "usage": (423, 202, None, 0),
        "finish_reason": "tool_calls",
        "id": "msg_011S3wxtqL5CVescWqS3zeg2",
        "model": "claude-haiku-4-5-20251001",
    },
    "anthropic-messages-parallel-tool-calls[1]": {
        "parts": [
            (
                "text",
                "Based on the retrieved information, we c…"
                "among the four family members. (340 chars)",
            )
        ],
        "usage": (771, 77, None, 0),
        "finish_reason": "stop",
        "id": "msg_01JVqZPgDwmnyb2kKC3MwCVf",
        "model": "claude-haiku-4-5-20251001",
    },
    "anthropic-messages-stream-image-base64[0]": {
        "parts": [("text", "Red square, green square.")],
        "usage": (83, 9, None, 0),
        "finish_reason": "stop",
        "id": "msg_015uV9WrrY9nhNRUqWuTcEtm",
        "model": "claude-sonnet-4-5-20250929",
    },
    "anthropic-messages-stream-json-schema[0]": {
        "parts": [
            (
                "text",
                '{"name": "Biscuit", "age": 4, "bio": "Bi…'
                'et collection under the bed."} (371 chars)',
            )
        ],
        "usage": (230, 94, None, 0),
        "finish_reason": "stop",
        "id": "msg_01HGSyDK4y9Spcd6ySQumMNC",
        "model": "claude-sonnet-4-5-20250929",
    },
    "anthropic-messages-stream-text[0]": {
        "parts": [("text", "Hello")],
        # message_start says 2 output tokens; message_delta's cumulative 4 wins.
        "usage": (10, 4, None, 0),
        "finish_reason": "stop",
        "id": "msg_01T8kTq7cYyYJeQ5DxcVUc6D",
        "model": "claude-haiku-4-5-20251001",
    },
    "anthropic-messages-stream-thinking[0]": {
        "parts": [
            (
                "reasoning",
                "The user wants two names for a pet pelic…"
                " give two brief, catchy names: (289 chars)",
                "EuYDCmMIDBgCKkC05Zda4P+Cdk/LQKE+Aol4ZY3E…"
                "pUImrMckjemNZmBeGcEZQ4FjZiGAE= (656 chars)",
            ),
            (
                "text",
                "1. **Pouch** - references their iconic bill pouch\n"
                '2. **Pelé** - playful take on "pelican"',
            ),
        ],
        "usage": (46, 133, None, 0),
        "finish_reason": "stop",
        "id": "msg_01Eg56TYRnKCEgWtZu2yjR1t",
        "model": "claude-haiku-4-5-20251001",
    },
    "anthropic-messages-stream-tool-call[0]": {
        "parts": [("tool_call", "pelican_name_generator", "toolu_01CzN6riCPqw4pVSuTd9Dwn7", {})],
        "usage": (543, 40, None, 0),
        "finish_reason": "tool_calls",
        "id": "msg_01BnVamfF7ccY9Qt3nZHAyaG",
        "model": "claude-haiku-4-5-20251001",
    },
    "anthropic-messages-stream-tool-chain[0]": {
        "parts": [
            ("tool_call", "pelican_name_generator", "toolu_01LtHJmixrs9NcWQkK8hu8hj", {}),
            ("tool_call", "pelican_name_generator", "toolu_01N8a4jWyf116qKTMqKKmjyt", {}),
        ],
        "usage": (542, 62, None, 0),
        "finish_reason": "tool_calls",
        "id": "msg_01V2noLbAb2NgKnjaNw6Cn3w",
        "model": "claude-haiku-4-5-20251001",
    },
    "anthropic-messages-stream-tool-chain[1]": {
        "parts": [
            (
                "text",
                "Here are two great names for your pet pe…"
                "e for your feathered friend! 🦅 (299 chars)",
            )
        ],
        "usage": (678, 82, None, 0),
        "finish_reason": "stop",
        "id": "msg_01XMATm4UFnjP841TckVuNF4",
        "model": "claude-haiku-4-5-20251001",
    },
    "anthropic-messages-text[0]": {
        "parts": [("text", "4200 + 42 = 4242")],
        "usage": (17, 15, None, 0),
        "finish_reason": "stop",
        "id": "msg_01EXuhhFC9buDpjCcznFPSDs",
        "model": "claude-sonnet-4-20250514",
    },
    "anthropic-messages-thinking-tool-call[0]": {
        "parts": [
            (
                "reasoning",
                "The user is asking about the largest cit…"
                "t_user_country function first. (376 chars)",
                "EqEECkYICxgCKkAo3UA4WwDbB8ihhpykVCsPx6iM…"
                "AHvHeBlXKVa+SkcXhw9EK5/JwYAQ== (736 chars)",
            ),
            (
                "text",
                "I'll help you find the largest city in y…"
                "ine which country you're from. (103 chars)",
            ),
            ("tool_call", "get_user_country", "toolu_01YGzqpRE16Vricda3Aqcejo", {}),
        ],
        "usage": (398, 155, None, 0),
        "finish_reason": "tool_calls",
        "id": "msg_01WvueFjZVbHcj4H4zUzeGv2",
        "model": "claude-sonnet-4-20250514",
    },
    "anthropic-messages-thinking-tool-call[1]": {
        "parts": [
            (
                "text",
                "Based on the information that you're fro…"
                "and cultural center of Mexico. (604 chars)",
            )
        ],
        "usage": (566, 126, None, 0),
        "finish_reason": "stop",
        "id": "msg_01SZ8KP8HhB1TxP6Ybbv6iKz",
        "model": "claude-sonnet-4-20250514",
    },
}


def expected_weather_turn(turn: int, response_id: str, call_id: str) -> dict[str, Any]:
    """The 429 recording's 50 answers are alike: one forced call, 73 more input tokens a turn."""
    return {
        "parts": [("tool_call", "get_weather", call_id, {"city": "Paris"})],
        "usage": (664 + 73 * turn, 38, None, 0),
        "finish_reason": "tool_calls",
        "id": response_id,
        "model": "claude-sonnet-4-5-20250929",
    }


WEATHER = [ex for ex in SUCCESSES if ex.file == RATE_LIMITED]


@needs_conformance
def test_every_recorded_success_has_a_snapshot() -> None:
    assert set(ids(SUCCESSES)) == set(EXPECTED) | set(ids(WEATHER))
    assert len(WEATHER) == 50


@needs_conformance
@pytest.mark.parametrize("exchange", SUCCESSES, ids=ids(SUCCESSES))
def test_recorded_response_parses_to_its_snapshot(exchange: Exchange) -> None:
    if exchange.file == RATE_LIMITED:
        turn = WEATHER.index(exchange)
        (block,) = json.loads(exchange.body)["content"]
        expected = expected_weather_turn(turn, json.loads(exchange.body)["id"], block["id"])
    else:
        expected = EXPECTED[exchange.id]
    assert summary(complete(exchange)) == expected


@needs_conformance
@pytest.mark.parametrize("file", ["anthropic-messages-thinking-tool-call.yaml"])
def test_thinking_text_and_signature_are_whole(file: str) -> None:
    exchange = next(ex for ex in SUCCESSES if ex.file == file)
    thinking = json.loads(exchange.body)["content"][0]
    reasoning = complete(exchange).parts[0]
    assert reasoning == ReasoningPart(
        text=thinking["thinking"],
        provider_data={"provider": "anthropic", "signature": thinking["signature"]},
    )


# (c) every streamed event is handled -----------------------------------------------------------

EVENT_COUNTS = {
    "anthropic-messages-stream-image-base64[0]": {"content_block_delta": 5},
    "anthropic-messages-stream-json-schema[0]": {"content_block_delta": 5},
    "anthropic-messages-stream-text[0]": {"content_block_delta": 1},
    "anthropic-messages-stream-thinking[0]": {
        "content_block_start": 2,
        "content_block_delta": 9,
        "content_block_stop": 2,
    },
    "anthropic-messages-stream-tool-call[0]": {"content_block_delta": 1},
    "anthropic-messages-stream-tool-chain[0]": {
        "content_block_start": 2,
        "content_block_delta": 2,
        "content_block_stop": 2,
    },
    "anthropic-messages-stream-tool-chain[1]": {"content_block_delta": 4},
}
ONE_OF_EACH = dict.fromkeys(
    [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ],
    1,
)


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_every_recorded_event_is_handled(exchange: Exchange) -> None:
    data_lines = [line for line in exchange.body.splitlines() if line.startswith(b"data:")]
    events = events_of(exchange.body)
    assert len(events) == len(data_lines)  # one data line per event in these recordings
    assert all(event.event is not None for event in events)  # Anthropic names every event
    _, parser = run_stream(PROVIDER, events)
    assert sum(parser.event_counts.values()) == len(events)
    assert dict(parser.event_counts) == {**ONE_OF_EACH, **EVENT_COUNTS[exchange.id]}


def started(*events: dict[str, Any]) -> AnthropicStream:
    """A parser that has had ``message_start`` and then `events`."""
    parser = PROVIDER.stream_parser()
    message = {"id": "msg_1", "model": "claude-test", "content": [], "usage": {"input_tokens": 3}}
    for payload in [{"type": "message_start", "message": message}, *events]:
        parser.feed(SseEvent(data=json.dumps(payload), event=payload["type"]))
    return parser


TEXT_START = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": ""},
}
STOP = {"type": "content_block_stop", "index": 0}


def block_delta(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": kind, **fields}}


def test_an_unknown_event_type_fails_loudly() -> None:
    parser = started()
    with pytest.raises(UnexpectedResponse, match="unknown type `message_pause`"):
        parser.feed(SseEvent(data='{"type": "message_pause"}', event="message_pause"))


@pytest.mark.parametrize(
    "block",
    [
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}},
        {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []},
        {"type": "text", "text": "", "citations": [{"type": "char_location", "cited_text": "x"}]},
    ],
)
def test_a_block_llmframe_cannot_store_fails_loudly(block: dict[str, Any]) -> None:
    parser = started()
    start = {"type": "content_block_start", "index": 0, "content_block": block}
    with pytest.raises(UnexpectedResponse, match="does not support yet"):
        parser.feed(SseEvent(data=json.dumps(start), event="content_block_start"))
    body = {"type": "message", "content": [block], "stop_reason": "end_turn"}
    with pytest.raises(UnexpectedResponse, match="does not support yet"):
        PROVIDER.parse_body(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ([TEXT_START, block_delta("citations_delta", citation={})], "does not support yet"),
        ([TEXT_START, block_delta("input_json_delta", partial_json="{")], "a delta of its type"),
        ([block_delta("text_delta", text="x")], "an open block"),
        ([TEXT_START, STOP, block_delta("text_delta", text="x")], "an open block"),
        ([TEXT_START, TEXT_START], "a new block index"),
        ([TEXT_START, {"type": "message_stop"}], "while a content block is open"),
        ([{"type": "message_start", "message": {"content": []}}], "second or malformed"),
        ([{"type": "message_stop"}, {"type": "ping"}], "after `message_stop`"),
    ],
)
def test_events_out_of_order_or_of_the_wrong_shape_are_refused(
    events: list[dict[str, Any]], match: str
) -> None:
    with pytest.raises(UnexpectedResponse, match=match):
        started(*events)


def test_an_event_before_message_start_or_misnamed_is_refused() -> None:
    with pytest.raises(UnexpectedResponse, match="before `message_start`"):
        PROVIDER.stream_parser().feed(
            SseEvent(data=json.dumps(TEXT_START), event="content_block_start")
        )
    with pytest.raises(UnexpectedResponse, match="named `message_delta` of type `message_stop`"):
        started().feed(SseEvent(data='{"type": "message_stop"}', event="message_delta"))
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        started().feed(SseEvent(data="<html>", event="ping"))


def test_a_stream_cut_before_message_stop_is_an_error() -> None:
    parser = started(TEXT_START, block_delta("text_delta", text="Hel"))
    with pytest.raises(UnexpectedResponse, match="ended before `message_stop`"):
        parser.finish()


def test_feed_returns_only_deltas_that_carry_content() -> None:
    parser = started()
    assert parser.feed(SseEvent(data=json.dumps(TEXT_START), event="content_block_start")) == []
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Hi"},
    }
    assert parser.feed(SseEvent(data=json.dumps(delta), event="content_block_delta")) == [
        TextDelta(key="block:0", text="Hi")
    ]


# (d) re-split streams give the same completion ------------------------------------------------


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_resplit_streams_give_the_same_completion(exchange: Exchange) -> None:
    expected, expected_parser = run_stream(PROVIDER, events_of(exchange.body))

    @settings(max_examples=120, deadline=None)
    @given(resplit(exchange.body))
    def check(chunks: list[bytes]) -> None:
        completion, parser = run_chunks(PROVIDER, SseDecoder(), chunks)
        assert completion == expected
        assert parser.event_counts == expected_parser.event_counts

    check()


# Streams and bodies agree ----------------------------------------------------------------------

SIGNATURE = "EqQBCkYIBRgCIkC" + "x" * 40
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
BODY = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [
        {"type": "thinking", "thinking": "Let me think.", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "text", "text": "Calling — ✓."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x", "n": [1, 2]}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 5,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 2000,
        "output_tokens": 70,
    },
}


def halves(text: str) -> list[str]:
    return [text[: len(text) // 2], text[len(text) // 2 :]]


def stream_of(body: dict[str, Any]) -> bytes:
    """`body` as the stream Anthropic would send: blocks in pieces, usage at the end."""
    start = {
        **body,
        "content": [],
        "stop_reason": None,
        "usage": {**body["usage"], "output_tokens": 1},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(body["content"]):
        kind = block["type"]
        empty = {
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
            "text": {"type": "text", "text": ""},
            "tool_use": {**block, "input": {}},
            "redacted_thinking": block,
        }[kind]
        events.append({"type": "content_block_start", "index": index, "content_block": empty})
        if kind == "thinking":
            pieces = [{"type": "thinking_delta", "thinking": t} for t in halves(block["thinking"])]
            pieces.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            pieces = [{"type": "text_delta", "text": t} for t in halves(block["text"])]
        elif kind == "tool_use":
            text = json.dumps(block["input"])
            pieces = [
                {"type": "input_json_delta", "partial_json": text[i : i + 4]}
                for i in range(0, len(text), 4)
            ]
        else:
            pieces = []
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in pieces)
        events.append({"type": "content_block_stop", "index": index})
    delta = {"stop_reason": body["stop_reason"], "stop_sequence": None}
    events.append(
        {
            "type": "message_delta",
            "delta": delta,
            "usage": {"output_tokens": body["usage"]["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return "".join(
        f"event: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events
    ).encode()


EXPECTED_PARTS = [
    ReasoningPart(
        text="Let me think.", provider_data={"provider": "anthropic", "signature": SIGNATURE}
    ),
    ReasoningPart(provider_data={"provider": "anthropic", "redacted_thinking": REDACTED}),
    TextPart(text="Calling — ✓."),
    ToolCallPart(name="lookup", tool_call_id="toolu_1", arguments={"q": "x", "n": [1, 2]}),
]


def test_a_stream_and_its_body_give_the_same_completion() -> None:
    whole = PROVIDER.parse_body(json.dumps(BODY).encode())
    streamed, _ = run_stream(PROVIDER, events_of(stream_of(BODY)))
    assert whole == streamed
    assert whole == Completion(
        parts=EXPECTED_PARTS,
        # The whole prompt: 5 uncached + 100 written to the cache + 2000 read from it.
        usage=Usage(input_tokens=2105, output_tokens=70, reasoning_tokens=None, cached_tokens=2000),
        finish_reason="tool_calls",
        response_id="msg_01",
        model="claude-test",
    )


def test_a_multibyte_stream_survives_byte_by_byte_feeding() -> None:
    body = stream_of(BODY).replace(b"\n", b"\r\n")
    decoder, parser = SseDecoder(), PROVIDER.stream_parser()
    for index in range(len(body)):
        for event in decoder.feed(body[index : index + 1]):
            parser.feed(event)
    assert decoder.finish() == []
    assert parser.finish().parts == EXPECTED_PARTS


def test_message_delta_usage_overrides_message_start_field_by_field() -> None:
    start = {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 1}
    parser = PROVIDER.stream_parser()
    for payload in [
        {"type": "message_start", "message": {"id": "m", "content": [], "usage": start}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]:
        parser.feed(SseEvent(data=json.dumps(payload), event=payload["type"]))
    completion = parser.finish()
    assert completion.usage == Usage(input_tokens=14, output_tokens=9, cached_tokens=4)
    assert completion.finish_reason == "length"
    assert completion.parts == []


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
        (None, None),
    ],
)
def test_stop_reasons_are_normalised_where_the_word_maps(
    stop_reason: str | None, finish_reason: str | None
) -> None:
    body = {"type": "message", "content": [], "stop_reason": stop_reason}
    assert PROVIDER.parse_body(json.dumps(body).encode()).finish_reason == finish_reason


def message(*blocks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "message", "content": list(blocks), **fields}


TOOL_USE = {"type": "tool_use", "id": "t", "name": "f"}


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Bad gateway</html>",
        [1, 2],
        {"type": "completion", "completion": "hi"},
        {"type": "message", "content": "hi"},
        message({"type": "text", "text": 7}),
        message({**TOOL_USE, "input": 1}),
        message({**TOOL_USE, "input": []}),
        message({**TOOL_USE, "name": 5}),
        message({"type": "thinking", "thinking": "x", "signature": 1}),
        message({"type": "redacted_thinking"}),
        message(usage={"input_tokens": "many"}),
        message(stop_reason=1),
    ],
)
def test_bodies_of_an_unexpected_shape_are_refused(body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(UnexpectedResponse):
        PROVIDER.parse_body(raw)


# (e) error classification ----------------------------------------------------------------------

RATE_MESSAGE = (
    "This request would exceed the rate limit for your organization "
    "(f02248f8-ceba-4e6c-be70-20fd729ec8a1) of 30,000 input tokens per minute. For details, refer "
    "to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current "
    "usage. Please reduce the prompt length or the maximum tokens requested, or try again later. "
    "You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options "
    "for a rate limit increase."
)
VERDICTS = {
    "anthropic-messages-error-400-invalid-request[0]": ErrorVerdict(
        retryable=False,
        error_type="ProviderHTTPError",
        message="This model does not support effort level 'xhigh'. Supported levels: high, low, "
        "max, medium.",
    ),
    "anthropic-messages-error-401[0]": ErrorVerdict(
        retryable=False, error_type="AuthFailed", message="invalid x-api-key"
    ),
    "anthropic-messages-error-429-retry-after[44]": ErrorVerdict(
        retryable=True, error_type="RateLimited", message=RATE_MESSAGE, retry_after=7.0
    ),
    "anthropic-messages-error-429-retry-after[47]": ErrorVerdict(
        retryable=True, error_type="RateLimited", message=RATE_MESSAGE, retry_after=8.0
    ),
    "anthropic-messages-error-429-retry-after[50]": ErrorVerdict(
        retryable=True, error_type="RateLimited", message=RATE_MESSAGE, retry_after=8.0
    ),
    # A 500 is worth a retry by its status, but Anthropic said `x-should-retry: false`.
    "anthropic-messages-error-500-api-error[0]": ErrorVerdict(
        retryable=False, error_type="ProviderHTTPError", message="Internal server error"
    ),
    "anthropic-messages-error-529-overloaded-then-retry[0]": ErrorVerdict(
        retryable=True, error_type="ProviderHTTPError", message="Overloaded"
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


@needs_conformance
@pytest.mark.parametrize(
    "file", ["anthropic-messages-error-529-overloaded-then-retry.yaml", RATE_LIMITED]
)
def test_a_retryable_error_is_followed_by_the_same_request_succeeding(file: str) -> None:
    exchanges = [ex for ex in EXCHANGES if ex.file == file]
    failed = [ex for ex in exchanges if ex.status >= 400]
    assert failed
    for error in failed:
        retried = exchanges[error.index + 1]
        assert PROVIDER.classify_error(error.status, error.headers, error.body).retryable
        assert error.request_json() == retried.request_json()
        assert retried.status == 200
        assert complete(retried).parts


@pytest.mark.parametrize(
    ("status", "should_retry", "retryable", "error_type"),
    [
        (400, None, False, "ProviderHTTPError"),
        (401, None, False, "AuthFailed"),
        (403, None, False, "AuthFailed"),
        (408, None, True, "ProviderHTTPError"),
        (409, None, True, "ProviderHTTPError"),
        (413, None, False, "ProviderHTTPError"),
        (429, None, True, "RateLimited"),
        (500, None, True, "ProviderHTTPError"),
        (529, None, True, "ProviderHTTPError"),
        (500, "false", False, "ProviderHTTPError"),
        (529, "False", False, "ProviderHTTPError"),
        (400, "true", True, "ProviderHTTPError"),
        (500, "maybe", True, "ProviderHTTPError"),
    ],
)
def test_x_should_retry_wins_over_the_status(
    status: int, should_retry: str | None, retryable: bool, error_type: str
) -> None:
    headers = {} if should_retry is None else {"X-Should-Retry": should_retry}
    verdict = PROVIDER.classify_error(status, headers, b"")
    assert verdict == ErrorVerdict(retryable, error_type, f"HTTP {status}")


def test_a_429_without_retry_after_waits_for_the_spent_limit_to_reset() -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    later = soon + timedelta(seconds=15)
    headers = {
        "anthropic-ratelimit-requests-remaining": "5",
        "anthropic-ratelimit-requests-reset": later.isoformat().replace("+00:00", "Z"),
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": soon.isoformat().replace("+00:00", "Z"),
    }
    wait = PROVIDER.classify_error(429, headers, b"").retry_after
    assert wait is not None
    assert 28 < wait <= 30  # the input-token limit is spent; the request limit is not
    assert PROVIDER.classify_error(429, {**headers, "retry-after": "3"}, b"").retry_after == 3
    assert PROVIDER.classify_error(503, headers, b"").retry_after is None


def test_error_messages_mask_keys_and_fall_back_to_the_body() -> None:
    body = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "bad key sk-ant-api03-abcdef123456"},
    }
    assert PROVIDER.classify_error(401, {}, json.dumps(body).encode()).message == "bad key sk-***"
    assert (
        PROVIDER.classify_error(502, {}, b"<html>Bad gateway</html>").message
        == "<html>Bad gateway</html>"
    )


@pytest.mark.parametrize(
    ("kind", "cls", "retryable"),
    [
        ("overloaded_error", ProviderHTTPError, True),
        ("api_error", ProviderHTTPError, True),
        ("rate_limit_error", RateLimited, True),
        ("invalid_request_error", ProviderHTTPError, False),
        ("authentication_error", AuthFailed, False),
        ("something_new", ProviderHTTPError, True),
    ],
)
def test_an_error_event_inside_a_200_stream_is_classified(
    kind: str, cls: type[ProviderHTTPError], retryable: bool
) -> None:
    parser = started(TEXT_START)
    error = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    with pytest.raises(cls) as caught:
        parser.feed(SseEvent(data=json.dumps(error), event="error"))
    assert type(caught.value) is cls
    assert caught.value.verdict is not None
    assert caught.value.verdict.retryable is retryable
    assert str(caught.value) == "error inside a 200 response: Overloaded"


def test_an_error_body_with_status_200_is_raised() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(ProviderHTTPError, match="Overloaded") as caught:
        PROVIDER.parse_body(json.dumps(body).encode())
    assert caught.value.verdict is not None
    assert caught.value.verdict.retryable


@needs_conformance
def test_rate_limit_headers_in_the_runners_words() -> None:
    (exchange,) = (ex for ex in SUCCESSES if ex.id == "anthropic-messages-text[0]")
    now = datetime(2025, 12, 18, 23, 29, 14, tzinfo=timezone.utc)
    assert PROVIDER.rate_limit_headers(exchange.headers, now=now) == {
        "x-ratelimit-limit-requests": "4000",
        "x-ratelimit-remaining-requests": "3999",
        "x-ratelimit-reset-requests": "2.000",
        # Of the input (2M), output (400k) and total (2.4M) token limits, the fewest left counts.
        "x-ratelimit-limit-tokens": "400000",
        "x-ratelimit-remaining-tokens": "400000",
        "x-ratelimit-reset-tokens": "5.000",
    }
    tight = {
        "anthropic-ratelimit-tokens-remaining": "900",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "12",
        "anthropic-ratelimit-output-tokens-reset": "2025-12-18T23:30:14Z",
    }
    assert PROVIDER.rate_limit_headers(tight, now=now) == {
        "x-ratelimit-limit-tokens": "8000",
        "x-ratelimit-remaining-tokens": "12",
        "x-ratelimit-reset-tokens": "60.000",
    }
    assert PROVIDER.rate_limit_headers({"x-ratelimit-remaining-requests": "1"}) == {}


# (f) a reasoning + tool-call conversation goes back as the recorder sent it ----------------------


def without_blank_text(body: dict[str, Any]) -> dict[str, Any]:
    """llm sends a `" "` text block beside tool calls when a turn had no text; it says nothing."""
    body = copy.deepcopy(body)
    for message in body["messages"]:
        if message["role"] == "assistant":
            message["content"] = [
                b for b in message["content"] if b["type"] != "text" or b["text"].strip()
            ]
    return body


def turns(file: str) -> list[tuple[Exchange, Exchange]]:
    """Each successful turn and the next request that carries its answer back."""
    exchanges = [ex for ex in EXCHANGES if ex.file == file]
    pairs = []
    for turn in exchanges:
        if turn.status != 200:
            continue
        sent = len(turn.request_json()["messages"])
        following = next(
            (ex for ex in exchanges[turn.index + 1 :] if len(ex.request_json()["messages"]) > sent),
            None,
        )
        if following is not None:
            pairs.append((turn, following))
    return pairs


CHAINS = [
    "anthropic-messages-thinking-tool-call.yaml",
    "anthropic-messages-parallel-tool-calls.yaml",
    "anthropic-messages-stream-tool-chain.yaml",
    RATE_LIMITED,
]


@needs_conformance
@pytest.mark.parametrize("file", CHAINS)
def test_an_answer_sent_back_reproduces_the_next_request(file: str) -> None:
    pairs = turns(file)
    assert len(pairs) == (49 if file == RATE_LIMITED else 1)
    for turn, following in pairs:
        recorded = following.request_json()
        sent = messages_from_request(turn.request_json())
        answer = complete(turn).parts
        results = messages_from_request(recorded)[len(sent) + 1 :]
        assert [m.role for m in results] == ["tool"]
        calls = [p.tool_call_id for p in answer if isinstance(p, ToolCallPart)]
        assert [p.tool_call_id for p in results[0].parts if isinstance(p, ToolResultPart)] == calls
        messages = [*sent, Message(role="assistant", parts=answer), *results]
        options = {
            k: v for k, v in recorded.items() if k not in ("model", "messages", "stream", "system")
        }
        call = PROVIDER.build_call(
            recorded["model"], messages, options, stream=bool(recorded.get("stream"))
        )
        assert call.body is not None
        assert canonical(dict(call.body)) == canonical(without_blank_text(recorded))


@needs_conformance
def test_the_thinking_block_goes_back_with_its_signature() -> None:
    turn, following = turns("anthropic-messages-thinking-tool-call.yaml")[0]
    answer = complete(turn).parts
    messages = [
        *messages_from_request(turn.request_json()),
        Message(role="assistant", parts=answer),
    ]
    body = PROVIDER.build_call("claude-test", messages, {}, stream=False).body
    assert body is not None
    assert body["messages"][-1] == following.request_json()["messages"][1]
    assert body["messages"][-1]["content"][0]["type"] == "thinking"


# build_call: options, media, tools, reasoning --------------------------------------------------


def user(*parts: Part) -> Message:
    return Message(role="user", parts=list(parts))


def body_of(*messages: Message, **options: Any) -> dict[str, Any]:
    call = PROVIDER.build_call("claude-test", list(messages), options, stream=False)
    assert call.body is not None
    return dict(call.body)


def content_of(*parts: Part) -> list[dict[str, Any]]:
    return body_of(user(*parts))["messages"][0]["content"]


def test_max_tokens_defaults_to_4096_and_options_pass_through() -> None:
    hello = user(TextPart(text="hi"))
    assert body_of(hello) == {
        "model": "claude-test",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    assert body_of(hello, max_tokens=50, tools=tools, temperature=0)["max_tokens"] == 50
    assert body_of(hello, tools=tools)["tools"] == tools
    call = PROVIDER.build_call("claude-test", [hello], {}, stream=True)
    assert call.body is not None
    assert (call.body["stream"], call.stream, call.path) == (True, True, "/messages")


@pytest.mark.parametrize("option", ["model", "messages", "stream", "system"])
def test_options_llmframe_owns_are_refused(option: str) -> None:
    with pytest.raises(UsageError, match=f"`{option}`"):
        body_of(user(TextPart(text="hi")), **{option: "x"})


def test_system_messages_go_to_the_top() -> None:
    system = Message(role="system", parts=[TextPart(text="Be brief.")])
    developer = Message(role="developer", parts=[TextPart(text="Use French.")])
    assert body_of(system, user(TextPart(text="hi")))["system"] == "Be brief."
    both = body_of(system, developer, user(TextPart(text="hi")))
    assert both["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Use French."},
    ]
    cache = {"provider": "anthropic", "cache_control": {"type": "ephemeral"}}
    cached = Message(role="system", parts=[TextPart(text="Long.", provider_data=cache)])
    assert body_of(cached, user(TextPart(text="hi")))["system"] == [
        {"type": "text", "text": "Long.", "cache_control": {"type": "ephemeral"}}
    ]
    with pytest.raises(UnsupportedPart, match="before the first turn"):
        body_of(user(TextPart(text="hi")), system)
    with pytest.raises(UnsupportedPart, match="text only"):
        body_of(
            Message(role="system", parts=[ImagePart(uri="https://x/a.png")]),
            user(TextPart(text="hi")),
        )


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
PDF = b"%PDF-1.4 hello"


def test_images_go_as_base64_from_bytes_and_data_urls_and_by_url() -> None:
    encoded = base64.b64encode(PNG).decode()
    assert content_of(ImagePart(data=PNG), TextPart(text="what?")) == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": encoded}},
        {"type": "text", "text": "what?"},
    ]
    assert content_of(ImagePart(uri=f"data:image/webp;base64,{encoded}")) == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": encoded}}
    ]
    assert content_of(ImagePart(uri="https://example.com/cat.jpg")) == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    ]
    file = {"provider": "anthropic", "file_id": "file_011"}
    assert content_of(ImagePart(provider_data=file)) == [
        {"type": "image", "source": {"type": "file", "file_id": "file_011"}}
    ]


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (ImagePart(uri="images/cat.png"), "not a URL; the runner must inline"),
        (ImagePart(data=b"????"), "give the part a `mime_type`"),
        (ImagePart(data=PDF), "not an image type"),
        (ImagePart(uri="data:image/png,rawbytes"), "must be base64"),
        (ImagePart(uri="data:image/png;base64,@@@"), "not valid base64"),
        (DocumentPart(data=b"PK\x03\x04", mime_type="application/zip"), "PDF and plain-text"),
        (DocumentPart(data=b"\xff\xfe", mime_type="text/plain"), "must be UTF-8"),
        (AudioPart(data=b"ID3", mime_type="audio/mpeg"), "takes no audio"),
        (VideoPart(uri="https://example.com/v.mp4"), "takes no video"),
        (JsonPart(value={"a": 1}), "as a text part"),
        (ToolCallPart(name="f", tool_call_id="t"), "belong in an assistant message"),
        (ReasoningPart(text="hm"), "only assistant messages"),
        (RefusalPart(text="no"), "only assistant messages"),
    ],
)
def test_a_user_part_anthropic_cannot_carry_is_refused(part: Part, match: str) -> None:
    with pytest.raises(UnsupportedPart, match=match):
        content_of(part)


def test_documents_go_as_pdf_text_or_url_with_their_title() -> None:
    assert content_of(DocumentPart(data=PDF, name="report.pdf")) == [
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64.b64encode(PDF).decode(),
            },
            "title": "report.pdf",
        }
    ]
    assert content_of(DocumentPart(data="Grüße".encode(), mime_type="text/markdown")) == [
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "Grüße"},
        }
    ]
    assert content_of(DocumentPart(uri="https://example.com/a.pdf")) == [
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    ]


def test_consecutive_tool_results_are_one_user_turn() -> None:
    calls = Message(
        role="assistant",
        parts=[
            TextPart(text=""),
            ToolCallPart(name="f", tool_call_id="t1", arguments={"x": 1}),
            ToolCallPart(name="g", tool_call_id="t2"),
        ],
    )
    failed = {"provider": "anthropic", "is_error": True}
    messages = [
        user(TextPart(text="go")),
        calls,
        Message(role="tool", parts=[ToolResultPart(tool_call_id="t1", name="f", value={"y": 2})]),
        Message(
            role="tool",
            parts=[ToolResultPart(tool_call_id="t2", text="boom", provider_data=failed)],
        ),
        user(TextPart(text="and?")),
    ]
    assert body_of(*messages)["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}},
                {"type": "tool_use", "id": "t2", "name": "g", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": '{"y":2}'},
                {"type": "tool_result", "tool_use_id": "t2", "content": "boom", "is_error": True},
            ],
        },
        {"role": "user", "content": "and?"},
    ]
    both = ToolResultPart(tool_call_id="t1", text="see value", value=[1])
    assert body_of(Message(role="tool", parts=[both]))["messages"][0]["content"][0]["content"] == [
        {"type": "text", "text": "see value"},
        {"type": "text", "text": "[1]"},
    ]


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (Message(role="tool", parts=[TextPart(text="x")]), "tool results only"),
        (
            Message(role="assistant", parts=[ToolCallPart(name="f")]),
            "needs the call's `tool_call_id`",
        ),
        (
            Message(
                role="assistant",
                parts=[ToolCallPart(name="f", tool_call_id="t", raw_arguments="{oops")],
            ),
            "not JSON",
        ),
        (
            Message(
                role="assistant", parts=[ToolCallPart(name="f", tool_call_id="t", arguments=[1])]
            ),
            "a JSON object",
        ),
        (
            Message(role="assistant", parts=[ImagePart(uri="https://x/a.png")]),
            "only user messages hold media",
        ),
        (
            Message(role="assistant", parts=[ToolResultPart(tool_call_id="t")]),
            "belong in a `tool` message",
        ),
        (Message(role="assistant", parts=[JsonPart(value=1)]), "as a text part"),
    ],
)
def test_parts_a_role_cannot_carry_are_refused(message: Message, match: str) -> None:
    with pytest.raises(UnsupportedPart, match=match):
        body_of(message)


def test_only_anthropic_reasoning_goes_back() -> None:
    ours = {"provider": "anthropic", "signature": SIGNATURE}
    assistant = Message(
        role="assistant",
        parts=[
            ReasoningPart(text="gemini's", provider_data={"provider": "gemini", "signature": "g"}),
            ReasoningPart(text="unsigned"),
            ReasoningPart(provider_data=ours),  # thinking shown as omitted: signature only
            ReasoningPart(provider_data={"provider": "anthropic", "redacted_thinking": REDACTED}),
            RefusalPart(text="I can't."),
        ],
    )
    assert body_of(user(TextPart(text="hi")), assistant)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "text", "text": "I can't."},
    ]
    # An assistant turn left with nothing to send is not sent.
    empty = Message(role="assistant", parts=[TextPart(text=""), ReasoningPart(text="foreign")])
    assert len(body_of(user(TextPart(text="a")), empty, user(TextPart(text="b")))["messages"]) == 2


def test_parsed_parts_round_trip_through_build_call() -> None:
    parsed = PROVIDER.parse_body(json.dumps(BODY).encode()).parts
    sent = body_of(user(TextPart(text="go")), Message(role="assistant", parts=parsed))
    assert sent["messages"][1] == {"role": "assistant", "content": BODY["content"]}


def test_cache_control_rides_on_any_block() -> None:
    cache = {"provider": "anthropic", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    content = content_of(
        TextPart(text="long", provider_data=cache), DocumentPart(data=PDF, provider_data=cache)
    )
    assert [block["cache_control"] for block in content] == [{"type": "ephemeral", "ttl": "1h"}] * 2
    # Thinking blocks are cached with their turn; the API refuses a mark on them.
    thinking = ReasoningPart(text="hm", provider_data={**cache, "signature": SIGNATURE})
    turn = Message(role="assistant", parts=[thinking])
    sent = body_of(user(TextPart(text="go")), turn)["messages"][1]["content"]
    assert sent == [{"type": "thinking", "thinking": "hm", "signature": SIGNATURE}]
    # A lone text with a mark is a block, not a string, so the mark survives.
    assert content_of(TextPart(text="long", provider_data=cache)) == [
        {"type": "text", "text": "long", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]


def test_the_registry_builds_this_provider() -> None:
    provider = get_provider("anthropic")
    assert isinstance(provider, Anthropic)
    assert (provider.name, provider.api) == ("anthropic", "anthropic_messages")


# (g) end to end through the runner ---------------------------------------------------------------

SENTINEL = "sk-ant-test-sentinel-0123456789"


def recorded_reply(file: str, index: int = 0, *, chunk: int | None = None) -> Reply:
    exchange = load(recordings("anthropic", file)[0])[index]
    content_type = "text/event-stream" if chunk else "application/json"
    headers = {
        k: v for k, v in exchange.headers.items() if k.lower() in ("x-should-retry", "retry-after")
    }
    return Reply(
        exchange.body,
        status=exchange.status,
        content_type=content_type,
        headers=headers,
        chunk=chunk,
    )


@needs_conformance
@pytest.mark.parametrize("stream", [True, False])
def test_a_run_through_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINEL)
    answer_file = (
        "anthropic-messages-stream-thinking.yaml"
        if stream
        else "anthropic-messages-thinking-tool-call.yaml"
    )
    answer = recorded_reply(answer_file, chunk=7 if stream else None)
    source = tmp_path / "p.jsonl"
    source.write_text(
        "".join(json.dumps({"id": f"p{i}", "prompt": f"question {i}"}) + "\n" for i in range(2))
    )
    out = tmp_path / "run"
    with AnthropicServer(lambda body: answer) as server:
        server.script(recorded_reply("anthropic-messages-error-529-overloaded-then-retry.yaml"))
        request = RunRequest(
            source=source,
            models=["anthropic/claude-test"],
            out=out,
            read=ReadOptions(),
            model_options={"temperature": 0.5},
            options=RunOptions(stream=stream, backoff_base=0.01, concurrency=1),
            base_url=server.base_url,
        )
        summary = asyncio.run(launch(request))
        received = server.requests

    assert (summary.ok, summary.errors, summary.retries) == (2, 0, 1)
    assert [r.path for r in received] == ["/v1/messages"] * 3
    assert {r.headers["x-api-key"] for r in received} == {SENTINEL}
    assert {r.headers["anthropic-version"] for r in received} == {"2023-06-01"}
    first, retried, second = (r.body for r in received)
    assert first == retried
    expected = {"model": "claude-test", "max_tokens": 4096, "temperature": 0.5}
    if stream:
        expected["stream"] = True
    prompts = [b["messages"] for b in (first, second)]
    assert sorted(prompts, key=str) == [
        [{"role": "user", "content": f"question {i}"}] for i in range(2)
    ]
    assert all({k: v for k, v in b.items() if k != "messages"} == expected for b in (first, second))

    rows = sql(
        out,
        "select prompt_id, status, attempts, finish_reason, input_tokens, output_tokens, "
        "cached_tokens from responses order by prompt_id",
    ).to_pylist()
    usage = (
        {"input_tokens": 46, "output_tokens": 133}
        if stream
        else {"input_tokens": 398, "output_tokens": 155}
    )
    finish = "stop" if stream else "tool_calls"
    assert [{k: v for k, v in r.items() if k != "attempts"} for r in rows] == [
        {"prompt_id": f"p{i}", "status": "ok", "finish_reason": finish, **usage, "cached_tokens": 0}
        for i in range(2)
    ]
    assert sorted(r["attempts"] for r in rows) == [1, 2]
    parts = sql(
        out,
        "select prompt_id, part_index, type, text, tool_call_id, provider_data from parts "
        "order by prompt_id, part_index",
    ).to_pylist()
    # What the runner stored is what the parser makes of the recorded answer, signature and all.
    recorded = next(ex for ex in SUCCESSES if ex.file == answer_file)
    expected_parts = [
        (
            part.type,
            getattr(part, "text", None),
            getattr(part, "tool_call_id", None),
            part.provider_data,
        )
        for part in complete(recorded).parts
    ]
    assert [p.type for p in complete(recorded).parts] == (
        ["reasoning", "text"] if stream else ["reasoning", "text", "tool_call"]
    )
    for prompt_id in ("p0", "p1"):
        stored = [
            (
                p["type"],
                p["text"],
                p["tool_call_id"],
                json.loads(p["provider_data"]) if p["provider_data"] else None,
            )
            for p in parts
            if p["prompt_id"] == prompt_id
        ]
        assert stored == expected_parts
    written = "".join(p.read_bytes().decode("latin-1") for p in out.rglob("*") if p.is_file())
    assert SENTINEL not in written
