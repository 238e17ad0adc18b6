"""The OpenAI Responses provider against every recorded Responses exchange
(../shared/conformance/openai/openai-responses-*.yaml), plus the cases no recording holds."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import replay
from conformance import Exchange, load, needs_conformance, recordings
from hypothesis import given, settings
from openai_responses_server import Answer, ReplayServer
from replay import decode, ids, resplit, run_chunks, run_stream

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
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from llmframe.providers import get_provider
from llmframe.providers._sse import SseDecoder
from llmframe.providers.base import Completion, ErrorVerdict, SseEvent, TextDelta, Usage
from llmframe.providers.openai_responses import OpenAIResponses
from llmframe.query import sql
from llmframe.runner import RunOptions

NAME = "openai-responses"
PROVIDER = OpenAIResponses()
FILES = recordings("openai", "openai-responses-*.yaml")
# Responses calls only: the 429 recording also holds /v1/files and /v1/vector_stores set-up calls.
EXCHANGES = [ex for path in FILES for ex in load(path) if ex.path.endswith("/responses")]
SUCCESSES = [ex for ex in EXCHANGES if ex.status == 200]
FAILURES = [ex for ex in EXCHANGES if ex.status >= 400]
STREAMS = [ex for ex in SUCCESSES if ex.request_json().get("stream")]


def events_of(body: bytes) -> list[SseEvent]:
    return decode(SseDecoder(), body)


def complete(exchange: Exchange) -> Completion:
    if exchange.request_json().get("stream"):
        return run_stream(PROVIDER, events_of(exchange.body))[0]
    return PROVIDER.parse_body(exchange.body)


def sse(payload: dict[str, Any]) -> SseEvent:
    return SseEvent(data=json.dumps(payload), event=payload["type"])


# Recorded ``input`` items -> llmframe messages (what a user's table would hold) ---------------


def ours(**data: Any) -> dict[str, Any]:
    return {"provider": NAME, **data}


def user_part(item: dict[str, Any]) -> Part:
    if item["type"] == "input_text":
        return TextPart(text=item["text"])
    assert item["type"] == "input_image", item
    detail = item.get("detail", "auto")
    data = None if detail == "auto" else {"provider": "openai", "detail": detail}
    return ImagePart(uri=item["image_url"], provider_data=data)


def assistant_parts(item: dict[str, Any]) -> list[Part]:
    ident = {"id": item["id"]} if "id" in item else {}
    if item["type"] == "reasoning":
        texts = [s["text"] for s in item["summary"]] or [None]
        secret = (
            {"encrypted_content": item["encrypted_content"]} if "encrypted_content" in item else {}
        )
        return [
            ReasoningPart(text=text, provider_data=ours(**ident, **(secret if i == 0 else {})))
            for i, text in enumerate(texts)
        ]
    if item["type"] == "function_call":
        return [
            ToolCallPart(
                name=item["name"],
                tool_call_id=item["call_id"],
                arguments=json.loads(item["arguments"]),
                provider_data=ours(**ident) if ident else None,
            )
        ]
    phase = {"phase": item["phase"]} if "phase" in item else {}
    data = ours(**ident, **phase) if ident or phase else None
    return [TextPart(text=c["text"], provider_data=data) for c in item["content"]]


def from_assistant(item: dict[str, Any]) -> bool:
    return item.get("type") in ("reasoning", "function_call") or item.get("role") == "assistant"


def messages_from_input(items: list[dict[str, Any]]) -> list[Message]:
    """Group recorded items into messages: consecutive assistant items, consecutive outputs."""
    grouped: list[tuple[str, list[Part]]] = []

    def add(role: str, parts: list[Part]) -> None:
        if grouped and grouped[-1][0] == role and role in ("assistant", "tool"):
            grouped[-1][1].extend(parts)
        else:
            grouped.append((role, parts))

    for item in items:
        kind, role = item.get("type", "message"), item.get("role")
        if kind == "function_call_output":
            add("tool", [ToolResultPart(tool_call_id=item["call_id"], text=item["output"])])
        elif from_assistant(item):
            add("assistant", assistant_parts(item))
        else:
            content = item["content"]
            parts = [TextPart(text=content)] if isinstance(content, str) else content
            add(role, [p if isinstance(p, TextPart) else user_part(p) for p in parts])
    return [Message(role=role, parts=parts) for role, parts in grouped]  # type: ignore[arg-type]


# (a) build_call reproduces every recorded request -----------------------------------------------


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """Where our encoding legitimately differs from the recorders', both sides are normalised."""
    body = json.loads(json.dumps(body))
    # llm and pydantic-ai send `"stream": false`; we leave the default out.
    if body.get("stream") is False:
        del body["stream"]
    for item in body["input"]:
        if item.get("type") == "function_call":
            # llm writes arguments as `{"a": 1}`; we write compact JSON text: the same value.
            item["arguments"] = json.loads(item["arguments"])
        if item.get("role") in ("user", "system", "developer") and item.get("type") == "message":
            # Mirascope tags input messages `"type": "message"`; the API's default, left out.
            del item["type"]
        for content in item.get("content") if isinstance(item.get("content"), list) else []:
            # Mirascope echoes an output text's empty `logprobs`; we never send logprobs.
            if content.get("logprobs") == []:
                del content["logprobs"]
    return body


def test_the_normalisation_only_forgives_what_it_says() -> None:
    plain = {"model": "m", "input": [{"role": "user", "content": "hi"}]}
    tagged = {"model": "m", "input": [{"role": "user", "content": "hi", "type": "message"}]}
    assert canonical({**plain, "stream": False}) == canonical(plain) == canonical(tagged)
    assert canonical({**plain, "stream": True}) != canonical(plain)
    assistant = {"type": "message", "role": "assistant", "content": [{"text": "x"}]}
    assert canonical({"input": [assistant]}) != canonical({"input": [{**assistant, "type": "x"}]})
    logprobs = {"type": "output_text", "text": "x", "logprobs": [{"token": "x"}]}
    assert canonical({"input": [{**assistant, "content": [logprobs]}]}) != canonical(
        {"input": [assistant]}
    )


def options_of(recorded: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in recorded.items() if k not in ("model", "input", "stream")}


@needs_conformance
@pytest.mark.parametrize("exchange", EXCHANGES, ids=ids(EXCHANGES))
def test_build_call_reproduces_the_recorded_request(exchange: Exchange) -> None:
    recorded = exchange.request_json()
    messages = messages_from_input(recorded["input"])
    stream = bool(recorded.get("stream"))

    call = PROVIDER.build_call(recorded["model"], messages, options_of(recorded), stream=stream)

    assert (call.method, call.stream) == ("POST", stream)
    assert exchange.path == "/v1" + call.path
    assert call.body is not None
    assert canonical(dict(call.body)) == canonical(recorded)


# (b) recorded responses parse to the right parts, usage and finish reason -----------------------


def brief(text: str | None) -> str | None:
    return None if text is None else replay.brief(text, limit=60, head=24, tail=16)


def summary(completion: Completion) -> dict[str, Any]:
    parts: list[tuple[Any, ...]] = []
    for part in completion.parts:
        data = dict(part.provider_data or {})
        if "encrypted_content" in data:
            data["encrypted_content"] = brief(data["encrypted_content"])
        if isinstance(part, ToolCallPart):
            parts.append(("tool_call", part.name, part.tool_call_id, part.arguments, data))
        else:
            assert isinstance(part, (TextPart, RefusalPart, ReasoningPart)), part
            parts.append((part.type, brief(part.text), data))
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


def pd(ident: str, **more: Any) -> dict[str, Any]:
    return {"provider": NAME, "id": ident, **more}


EXPECTED: dict[str, dict[str, Any]] = {
    "openai-responses-image-url[0]": {
        "parts": [
            (
                "text",
                "The image is the Wikiped\u2026racters on them. (105 chars)",
                pd("msg_0371d245ba0faaf90068f9668756808195a999162b17b05af1"),
            ),
        ],
        "usage": (269, 21, 0, 0),
        "finish_reason": "stop",
        "id": "resp_0371d245ba0faaf90068f96684b6e48195a8a8b759e2f363de",
        "model": "gpt-4o-2024-08-06",
    },
    "openai-responses-json-schema-strict[0]": {
        "parts": [
            (
                "text",
                '{"title":"THE NAME OF TH\u2026ss"},"rating":7} (100 chars)',
                pd("msg_005e0ab32c3df1050068f966cedb648190a1769c7ec5dea7e9"),
            ),
        ],
        "usage": (166, 30, 0, 0),
        "finish_reason": "stop",
        "id": "resp_005e0ab32c3df1050068f966ce4bc48190bb2074dac166dfd4",
        "model": "gpt-4o-2024-08-06",
    },
    "openai-responses-reasoning-encrypted-tool-chain[0]": {
        "parts": [
            (
                "reasoning",
                None,
                pd(
                    "rs_0f4809b27460351d0169fab21897dc8196960e8680fb72a88d",
                    encrypted_content="gAAAAABp-rIaNe6WknTMnPCT\u2026JPzpTYhjaRquY_B8 (1356 chars)",
                ),
            ),
            (
                "tool_call",
                "lookup_population",
                "call_uy7tfNVokIN7NjFF6k7OtLyl",
                {"country": "Pundora"},
                pd("fc_0f4809b27460351d0169fab21a34f08196b14c2bd71a22cd6a"),
            ),
        ],
        "usage": (94, 85, 63, 0),
        "finish_reason": "tool_calls",
        "id": "resp_0f4809b27460351d0169fab217db348196b980331b574f45c6",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-reasoning-encrypted-tool-chain[1]": {
        "parts": [
            (
                "tool_call",
                "can_have_dragons",
                "call_jwY8kllWAsnoSXtjXZQ5KR6i",
                {"population": 123124},
                pd("fc_0f4809b27460351d0169fab21bce888196b0b39bf2ed147439"),
            ),
        ],
        "usage": (192, 21, 0, 0),
        "finish_reason": "tool_calls",
        "id": "resp_0f4809b27460351d0169fab21af6208196b41d87dd9e9de5f9",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-reasoning-encrypted-tool-chain[2]": {
        "parts": [
            (
                "text",
                "Pundora has a population\u2026an have dragons. (67 chars)",
                pd("msg_0f4809b27460351d0169fab21cd7308196b7478e3e6deca0ba", phase="final_answer"),
            ),
        ],
        "usage": (227, 24, 0, 0),
        "finish_reason": "stop",
        "id": "resp_0f4809b27460351d0169fab21c2dd4819695b82af2bec1b7f0",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-reasoning-summary[0]": {
        "parts": [
            (
                "reasoning",
                "**Generating factorial f\u2026ode to the user. (451 chars)",
                pd(
                    "rs_0b028a7a2aca8d68006942f4e0d380819398dfa502c33bce7b",
                    encrypted_content="gAAAAABpQvTkJZft62qJKaLh\u2026OHiHdces_zR5QA== (1252 chars)",
                ),
            ),
            (
                "text",
                "```python\ndef factorial(\u2026l(5))  # 120\n``` (543 chars)",
                pd("msg_0b028a7a2aca8d68006942f4e484e08193afa69324a01f6707"),
            ),
        ],
        "usage": (34, 226, 59, 0),
        "finish_reason": "stop",
        "id": "resp_0b028a7a2aca8d68006942f4e05a848193a3052f1530ea1deb",
        "model": "gpt-5.2-2025-12-11",
    },
    "openai-responses-stream-reasoning-summary[0]": {
        "parts": [
            (
                "reasoning",
                "**Exploring prime number\u2026st small primes. (443 chars)",
                pd("rs_0a1097cbfef27a8c00696afa2459008196a08a4261aba00f56"),
            ),
            (
                "reasoning",
                "**Testing prime candidat\u20269 are my primes! (477 chars)",
                pd("rs_0a1097cbfef27a8c00696afa2459008196a08a4261aba00f56"),
            ),
            (
                "reasoning",
                '**Final count of primes*\u2026y answer as "3." (479 chars)',
                pd("rs_0a1097cbfef27a8c00696afa2459008196a08a4261aba00f56"),
            ),
            ("text", "3", pd("msg_0a1097cbfef27a8c00696afa33407081969902b1b1da52f678")),
        ],
        "usage": (32, 839, 832, 0),
        "finish_reason": "stop",
        "id": "resp_0a1097cbfef27a8c00696afa23fb9c819693455c72eabd7718",
        "model": "gpt-5-2025-08-07",
    },
    "openai-responses-stream-reasoning-summary[1]": {
        "parts": [
            ("reasoning", None, pd("rs_0a1097cbfef27a8c00696afa340cac81969cbdf59ae7fcc4d7")),
            (
                "text",
                "I don't remember.",
                pd("msg_0a1097cbfef27a8c00696afa34411c8196842111c511fa629f"),
            ),
        ],
        "usage": (62, 10, 0, 0),
        "finish_reason": "stop",
        "id": "resp_0a1097cbfef27a8c00696afa33ac948196becd38b81da13589",
        "model": "gpt-5-2025-08-07",
    },
    "openai-responses-stream-text[0]": {
        "parts": [
            (
                "text",
                "pong",
                pd("msg_00592e63e61b66660169fab1bada8481a28ef92eb62c168ead", phase="final_answer"),
            ),
        ],
        "usage": (11, 5, 0, 0),
        "finish_reason": "stop",
        "id": "resp_00592e63e61b66660169fab1b9f8e481a2b321356198d7ac1b",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-stream-tool-call[0]": {
        "parts": [
            (
                "tool_call",
                "multiply",
                "call_sVidsfFJ6zlzRpelrPkTPlpd",
                {"a": 1231, "b": 2331},
                pd("fc_00d64fa806f333310169fab1bf324481a0852cda3180856290"),
            ),
        ],
        "usage": (58, 23, 0, 0),
        "finish_reason": "tool_calls",
        "id": "resp_00d64fa806f333310169fab1be69d081a08f8285661855594c",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-stream-tool-call[1]": {
        "parts": [
            (
                "text",
                "1231 \xd7 2331 = **2,869,461**",
                pd("msg_0dacb603de1c9e6b0169fab1c2e40081a3857ad788023cb7ea", phase="final_answer"),
            ),
        ],
        "usage": (94, 18, 0, 0),
        "finish_reason": "stop",
        "id": "resp_0dacb603de1c9e6b0169fab1c2314081a3b1df3cc5c09e0c60",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-text[0]": {
        "parts": [
            (
                "text",
                "pong",
                pd("msg_08ddf351751647d60169fab1b9828c81a0bef694acd7d53106", phase="final_answer"),
            ),
        ],
        "usage": (11, 5, 0, 0),
        "finish_reason": "stop",
        "id": "resp_08ddf351751647d60169fab1b8a7ac81a081b9e2400e87fb63",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-tool-call[0]": {
        "parts": [
            (
                "tool_call",
                "multiply",
                "call_nJmCK7SJe3ajdYYplIbH0KgL",
                {"a": 1231, "b": 2331},
                pd("fc_05c01d5dceb461c50169fab1bc6a208196a8f7957526d1ef99"),
            ),
        ],
        "usage": (58, 23, 0, 0),
        "finish_reason": "tool_calls",
        "id": "resp_05c01d5dceb461c50169fab1bb5ec08196b7e38f8207aae2dd",
        "model": "gpt-5.5-2026-04-23",
    },
    "openai-responses-tool-call[1]": {
        "parts": [
            (
                "text",
                "1231 * 2331 = 2,869,461",
                pd("msg_07c42ac68b2c94310169fab1bd8b2c81a3a54a853f8c577cae", phase="final_answer"),
            ),
        ],
        "usage": (94, 17, 0, 0),
        "finish_reason": "stop",
        "id": "resp_07c42ac68b2c94310169fab1bce68081a389e6a5a094a8d66e",
        "model": "gpt-5.5-2026-04-23",
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
def test_texts_and_secrets_are_kept_whole() -> None:
    """The snapshots abbreviate; the parts hold the recorded strings exactly."""
    (exchange,) = (ex for ex in SUCCESSES if ex.id == "openai-responses-reasoning-summary[0]")
    reasoning, message = json.loads(exchange.body)["output"]
    first, text = complete(exchange).parts
    assert first == ReasoningPart(
        text=reasoning["summary"][0]["text"],
        provider_data=pd(reasoning["id"], encrypted_content=reasoning["encrypted_content"]),
    )
    assert text == TextPart(text=message["content"][0]["text"], provider_data=pd(message["id"]))


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_a_stream_gives_what_its_completed_response_holds(exchange: Exchange) -> None:
    """Rule 81: the final `response.completed` read as a body gives the streamed completion."""
    events = events_of(exchange.body)
    completed = json.loads(events[-1].data)
    assert completed["type"] == "response.completed"
    whole = PROVIDER.parse_body(json.dumps(completed["response"]).encode())
    assert whole == run_stream(PROVIDER, events)[0]
    assert whole.parts


# (c) every streamed event is handled -----------------------------------------------------------

EVENT_COUNTS: dict[str, dict[str, int]] = {
    "openai-responses-stream-reasoning-summary[0]": {
        "response.created": 1,
        "response.in_progress": 1,
        "response.output_item.added": 2,
        "response.reasoning_summary_part.added": 3,
        "response.reasoning_summary_text.delta": 320,
        "response.reasoning_summary_text.done": 3,
        "response.reasoning_summary_part.done": 3,
        "response.output_item.done": 2,
        "response.content_part.added": 1,
        "response.output_text.delta": 1,
        "response.output_text.done": 1,
        "response.content_part.done": 1,
        "response.completed": 1,
    },
    "openai-responses-stream-reasoning-summary[1]": {
        "response.created": 1,
        "response.in_progress": 1,
        "response.output_item.added": 2,
        "response.output_item.done": 2,
        "response.content_part.added": 1,
        "response.output_text.delta": 4,
        "response.output_text.done": 1,
        "response.content_part.done": 1,
        "response.completed": 1,
    },
    "openai-responses-stream-text[0]": {
        "response.created": 1,
        "response.in_progress": 1,
        "response.output_item.added": 1,
        "response.content_part.added": 1,
        "response.output_text.delta": 1,
        "response.output_text.done": 1,
        "response.content_part.done": 1,
        "response.output_item.done": 1,
        "response.completed": 1,
    },
    "openai-responses-stream-tool-call[0]": {
        "response.created": 1,
        "response.in_progress": 1,
        "response.output_item.added": 1,
        "response.function_call_arguments.delta": 11,
        "response.function_call_arguments.done": 1,
        "response.output_item.done": 1,
        "response.completed": 1,
    },
    "openai-responses-stream-tool-call[1]": {
        "response.created": 1,
        "response.in_progress": 1,
        "response.output_item.added": 1,
        "response.content_part.added": 1,
        "response.output_text.delta": 14,
        "response.output_text.done": 1,
        "response.content_part.done": 1,
        "response.output_item.done": 1,
        "response.completed": 1,
    },
}


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_every_recorded_event_is_handled(exchange: Exchange) -> None:
    data_lines = [line for line in exchange.body.splitlines() if line.startswith(b"data:")]
    events = events_of(exchange.body)
    assert len(events) == len(data_lines)  # one data line per event in these recordings
    _, parser = run_stream(PROVIDER, events)
    assert sum(parser.event_counts.values()) == len(events)
    assert dict(parser.event_counts) == EVENT_COUNTS[exchange.id]


@needs_conformance
def test_every_stream_has_its_event_counts() -> None:
    assert set(ids(STREAMS)) == set(EVENT_COUNTS)


@pytest.mark.parametrize(
    "event",
    [
        SseEvent(data='{"type": "response.reasoning_text.delta", "delta": "x"}'),
        SseEvent(data='{"type": "response.web_search_call.searching"}'),
        SseEvent(data='{"choices": []}'),
    ],
)
def test_an_unknown_event_type_fails_loudly(event: SseEvent) -> None:
    with pytest.raises(UnexpectedResponse, match="unknown type"):
        PROVIDER.stream_parser().feed(event)


def test_an_sse_event_name_must_match_its_type() -> None:
    event = SseEvent(data='{"type": "response.created", "response": {}}', event="response.done")
    with pytest.raises(UnexpectedResponse, match=r"`response\.done` event whose data says"):
        PROVIDER.stream_parser().feed(event)


# (d) re-split streams give the same completion ------------------------------------------------


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_resplit_streams_give_the_same_completion(exchange: Exchange) -> None:
    expected, expected_parser = run_stream(PROVIDER, events_of(exchange.body))

    @settings(max_examples=100, deadline=None)
    @given(resplit(exchange.body, bom=False, favour=None, max_size=60))
    def check(chunks: list[bytes]) -> None:
        completion, parser = run_chunks(PROVIDER, SseDecoder(), chunks)
        assert completion == expected
        assert parser.event_counts == expected_parser.event_counts

    check()


# (e) error classification ----------------------------------------------------------------------

QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
VERDICTS = {
    "openai-responses-error-400-invalid-param[0]": ErrorVerdict(
        retryable=False,
        error_type="ProviderHTTPError",
        message="Invalid 'temperature': decimal below minimum value. Expected a value >= 0, "
        "but got -1 instead.",
    ),
    # insufficient_quota is a 429 that waiting will not fix: not retryable, no Retry-After.
    **{
        f"openai-responses-error-429-insufficient-quota[{i}]": ErrorVerdict(
            retryable=False, error_type="RateLimited", message=QUOTA
        )
        for i in (3, 4, 5)
    },
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
    ("error", "cls", "retryable"),
    [
        ({"code": "server_error", "message": "The server had an error"}, ProviderHTTPError, True),
        ({"code": "rate_limit_exceeded", "message": "Slow down"}, RateLimited, True),
        ({"code": "invalid_prompt", "message": "Flagged"}, ProviderHTTPError, False),
        ({"code": "image_too_large", "message": "Too big"}, ProviderHTTPError, False),
        ({"code": None, "message": "Something odd"}, ProviderHTTPError, True),
    ],
)
def test_a_failed_response_is_classified(
    error: dict[str, Any], cls: type[ProviderHTTPError], retryable: bool
) -> None:
    failed = {"id": "resp_1", "status": "failed", "error": error, "output": []}
    parser = PROVIDER.stream_parser()
    parser.feed(sse({"type": "response.created", "response": {**failed, "status": "queued"}}))
    with pytest.raises(cls) as streamed:
        parser.feed(sse({"type": "response.failed", "response": failed}))
    with pytest.raises(cls) as whole:
        PROVIDER.parse_body(json.dumps(failed).encode())
    for caught in (streamed, whole):
        assert type(caught.value) is cls
        assert caught.value.verdict is not None
        assert caught.value.verdict.retryable is retryable
        assert str(caught.value) == f"the response failed: {error['message']}"


def test_an_error_event_and_an_error_body_are_raised() -> None:
    event = {"type": "error", "code": "invalid_api_key", "message": "Bad key", "param": None}
    with pytest.raises(AuthFailed, match="error event in a 200 stream: Bad key"):
        PROVIDER.stream_parser().feed(sse(event))
    nested = {"type": "error", "error": {"type": "server_error", "message": "Busy"}}
    with pytest.raises(ProviderHTTPError, match="Busy") as caught:
        PROVIDER.stream_parser().feed(sse(nested))
    assert caught.value.verdict is not None
    assert caught.value.verdict.retryable
    body = json.dumps({"error": {"message": "No money", "code": "insufficient_quota"}})
    with pytest.raises(RateLimited, match="No money") as quota:
        PROVIDER.parse_body(body.encode())
    assert quota.value.verdict is not None
    assert not quota.value.verdict.retryable


# (f) a parsed turn, sent back, is what the recorder sent in the next request ------------------

CHAINS = sorted({ex.file for ex in SUCCESSES if ex.index > 0})


@needs_conformance
def test_the_chains_are_the_multi_turn_recordings() -> None:
    assert CHAINS == [
        "openai-responses-reasoning-encrypted-tool-chain.yaml",
        "openai-responses-stream-reasoning-summary.yaml",
        "openai-responses-stream-tool-call.yaml",
        "openai-responses-tool-call.yaml",
    ]


@needs_conformance
@pytest.mark.parametrize("file", CHAINS)
def test_a_parsed_turn_goes_back_as_the_recorder_sent_it(file: str) -> None:
    """Reasoning (ids, summaries, encrypted content), messages and calls survive a round trip."""
    turns = [ex for ex in SUCCESSES if ex.file == file]
    for turn, following in itertools.pairwise(turns):
        sent, recorded = turn.request_json()["input"], following.request_json()
        new = recorded["input"][len(sent) :]
        answered = next((i for i, item in enumerate(new) if not from_assistant(item)), len(new))
        later = new[answered:]
        assert answered > 0
        assert not any(from_assistant(item) for item in later)
        assistant = Message(role="assistant", parts=list(complete(turn).parts))
        messages = [*messages_from_input(sent), assistant, *messages_from_input(later)]
        stream = bool(recorded.get("stream"))

        call = PROVIDER.build_call(recorded["model"], messages, options_of(recorded), stream=stream)

        assert call.body is not None
        assert canonical(dict(call.body)) == canonical(recorded)


# (g) end to end through the runner ------------------------------------------------------------


def recorded(file: str, index: int = 0) -> Exchange:
    return load(recordings("openai", file)[0])[index]


def test_a_run_through_the_runner_streamed_and_whole(tmp_path: Path) -> None:
    stream_text = recorded("openai-responses-stream-text.yaml")
    text = recorded("openai-responses-text.yaml")
    quota = recorded("openai-responses-error-429-insufficient-quota.yaml", 3)

    def answer(body: dict[str, Any]) -> Answer:
        if body["input"][-1]["content"] == "spend":
            return Answer(quota.status, "application/json", quota.body)
        if body.get("stream"):
            return Answer(200, "text/event-stream", stream_text.body)
        return Answer(200, "application/json", text.body)

    source = tmp_path / "p.jsonl"
    rows = [
        {"id": "pong", "prompt": "Reply with exactly: pong"},
        {"id": "quota", "prompt": "spend"},
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with ReplayServer(answer) as server:
        for stream in (True, False):
            out = tmp_path / f"run-{stream}"
            request = RunRequest(
                source=source,
                models=["openai-responses/gpt-5.5"],
                out=out,
                read=ReadOptions(),
                model_options={"store": False, "reasoning": {"effort": "low"}},
                options=RunOptions(stream=stream, backoff_base=0.01),
                base_url=server.base_url,
            )
            result = asyncio.run(launch(request))
            assert (result.ok, result.errors) == (1, 1)
            answers = sql(out, "select * from responses order by prompt_id").to_pylist()
            ok, failed = answers
            assert (ok["status"], ok["provider"], ok["finish_reason"]) == ("ok", NAME, "stop")
            assert (ok["input_tokens"], ok["output_tokens"], ok["reasoning_tokens"]) == (11, 5, 0)
            assert (ok["cached_tokens"], ok["attempts"]) == (0, 1)
            assert (ok["ttft_ms"] is not None) is stream
            assert (failed["status"], failed["error_type"], failed["http_status"]) == (
                "error",
                "RateLimited",
                429,
            )
            assert failed["attempts"] == 1  # insufficient_quota is not retried
            parts = sql(out, "select prompt_id, type, text, provider_data from parts").to_pylist()
            assert len(parts) == 1
            assert parts[0]["prompt_id"] == "pong"
            assert (parts[0]["type"], parts[0]["text"]) == ("text", "pong")
            assert json.loads(parts[0]["provider_data"])["phase"] == "final_answer"
        sent = server.requests
    assert [path for path, _ in sent] == ["/v1/responses"] * 4
    pong = [body for _, body in sent if body["input"][0]["content"] != "spend"]
    assert [b.get("stream", False) for b in pong] == [True, False]
    assert all(
        b["input"] == [{"role": "user", "content": "Reply with exactly: pong"}]
        and (b["model"], b["store"], b["reasoning"]) == ("gpt-5.5", False, {"effort": "low"})
        for b in pong
    )


# build_call for what the recordings do not cover ---------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


def items(*messages: Message, **options: Any) -> list[dict[str, Any]]:
    call = PROVIDER.build_call("m", list(messages), options, stream=False)
    assert call.body is not None
    return list(call.body["input"])


def user(*parts: Any) -> Message:
    return Message(role="user", parts=list(parts))


def assistant(*parts: Any) -> Message:
    return Message(role="assistant", parts=list(parts))


def test_streaming_and_option_renames() -> None:
    call = PROVIDER.build_call("m", [user(TextPart(text="hi"))], {"max_tokens": 5}, stream=True)
    assert call.body == {
        "model": "m",
        "input": [{"role": "user", "content": "hi"}],
        "max_output_tokens": 5,
        "stream": True,
    }
    assert (call.path, call.stream, call.method) == ("/responses", True, "POST")
    kept = PROVIDER.build_call(
        "m", [user(TextPart(text="hi"))], {"max_output_tokens": 7}, stream=False
    )
    assert kept.body is not None
    assert kept.body["max_output_tokens"] == 7
    assert "stream" not in kept.body


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"stream": True}, "`stream`"),
        ({"model": "x"}, "`model`"),
        ({"input": []}, "`input`"),
        ({"previous_response_id": "resp_1"}, "whole conversation"),
        ({"conversation": "conv_1"}, "whole conversation"),
        ({"background": True}, "`background`"),
        ({"top_logprobs": 3}, "log probabilities"),
        ({"include": ["message.output_text.logprobs"]}, "log probabilities"),
        ({"max_tokens": 5, "max_output_tokens": 5}, "say the same thing"),
    ],
)
def test_options_llmframe_owns_or_cannot_store_are_refused(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        PROVIDER.build_call("m", [user(TextPart(text="hi"))], options, stream=False)


def test_system_developer_and_user_media() -> None:
    detail = {"provider": "openai", "detail": "low"}
    assert items(
        Message(role="system", parts=[TextPart(text="Be brief.")]),
        Message(role="developer", parts=[TextPart(text="a"), TextPart(text="b")]),
        user(
            TextPart(text="Look"),
            ImagePart(data=PNG, uri="photos/cat.png"),  # inlined by the runner: data wins
            ImagePart(uri="https://example.com/a.jpg", provider_data=detail),
            ImagePart(provider_data={"provider": NAME, "file_id": "file-1"}),
            DocumentPart(data=b"%PDF-1.7"),
            DocumentPart(uri="https://example.com/a.pdf"),
            DocumentPart(uri="data:text/plain;base64,bm90ZXM=", name="notes.txt"),
            DocumentPart(provider_data={"provider": "openai", "file_id": "file-2"}),
        ),
    ) == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "developer",
            "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}],
        },
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look"},
                {
                    "type": "input_image",
                    "detail": "auto",
                    "image_url": "data:image/png;base64,iVBORw0KGgoAAAAAAAAAAA==",
                },
                {"type": "input_image", "detail": "low", "image_url": "https://example.com/a.jpg"},
                {"type": "input_image", "detail": "auto", "file_id": "file-1"},
                {
                    "type": "input_file",
                    "file_data": "data:application/pdf;base64,JVBERi0xLjc=",
                    "filename": "document.pdf",
                },
                {"type": "input_file", "file_url": "https://example.com/a.pdf"},
                {
                    "type": "input_file",
                    "file_data": "data:text/plain;base64,bm90ZXM=",
                    "filename": "notes.txt",
                },
                {"type": "input_file", "file_id": "file-2"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (user(TextPart(text="x"), AudioPart(data=b"RIFF")), r"message 1 \(user\).*audio.*openai/"),
        (user(ImagePart(uri="photos/cat.png")), "not a URL"),
        (user(ImagePart(data=b"??")), "mime_type"),
        (user(RefusalPart(text="no")), "only assistant messages"),
        (assistant(ImagePart(uri="https://e.com/a.png")), "only user messages"),
        (assistant(ToolCallPart(name="f", arguments={})), "needs its `tool_call_id`"),
        (Message(role="system", parts=[ImagePart(uri="https://e.com/a.png")]), "text only"),
        (Message(role="tool", parts=[TextPart(text="1")]), "tool results only"),
        (
            Message(role="tool", parts=[ToolResultPart(tool_call_id="c", text="1", value=1)]),
            "not both",
        ),
    ],
)
def test_parts_a_role_cannot_carry_are_refused_by_name(message: Message, match: str) -> None:
    with pytest.raises(UnsupportedPart, match=match):
        items(message)


def mixed_turn() -> Message:
    """An assistant turn as this provider parses it, plus parts from elsewhere."""
    return assistant(
        ReasoningPart(text="Anthropic thinking", provider_data={"provider": "anthropic"}),
        ReasoningPart(text="chat reasoning"),
        ReasoningPart(text="Plan", provider_data=pd("rs_1", encrypted_content="SECRET")),
        ReasoningPart(text="More", provider_data=pd("rs_1")),
        ReasoningPart(provider_data=pd("rs_2")),
        TextPart(text="One", provider_data=pd("msg_1", phase="commentary")),
        RefusalPart(text="Two", provider_data=pd("msg_1", phase="commentary")),
        TextPart(text="Three", provider_data=pd("msg_2", phase="commentary")),
        TextPart(text="Mine"),
        ToolCallPart(name="f", tool_call_id="call_1", arguments={"x": 1}, provider_data=pd("fc_1")),
        ToolCallPart(name="g", tool_call_id="call_2", raw_arguments="{bad"),
    )


def test_reasoning_and_ids_go_back_when_the_server_stores_them() -> None:
    assert items(mixed_turn()) == [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [
                {"type": "summary_text", "text": "Plan"},
                {"type": "summary_text", "text": "More"},
            ],
            "encrypted_content": "SECRET",
        },
        {"type": "reasoning", "id": "rs_2", "summary": []},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "phase": "commentary",
            "content": [
                {"type": "output_text", "text": "One", "annotations": []},
                {"type": "refusal", "refusal": "Two"},
            ],
        },
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_2",
            "status": "completed",
            "phase": "commentary",
            "content": [{"type": "output_text", "text": "Three", "annotations": []}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Mine", "annotations": []}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "f",
            "arguments": '{"x":1}',
        },
        {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{bad"},
    ]


def test_without_store_only_encrypted_reasoning_and_no_ids_go_back() -> None:
    sent = items(mixed_turn(), store=False)
    assert [i["type"] for i in sent] == ["reasoning", "message", "message", "message"] + [
        "function_call"
    ] * 2
    assert sent[0]["id"] == "rs_1"
    assert sent[0]["encrypted_content"] == "SECRET"
    assert all("id" not in i for i in sent[1:])
    assert [i.get("phase") for i in sent[1:4]] == ["commentary", "commentary", None]


def test_tool_results_go_as_function_call_outputs() -> None:
    results = Message(
        role="tool",
        parts=[
            ToolResultPart(tool_call_id="call_1", name="f", value={"ok": True}),
            ToolResultPart(tool_call_id="call_2", text="done"),
        ],
    )
    assert items(results) == [
        {"type": "function_call_output", "call_id": "call_1", "output": '{"ok":true}'},
        {"type": "function_call_output", "call_id": "call_2", "output": "done"},
    ]


# parse_body and streams for what the recordings do not cover -----------------------------------


def response(*output: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {"id": "resp_1", "model": "m", "status": "completed", "output": list(output)}
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 3},
    }
    return {**base, "usage": usage, **fields}


MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [
        {"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []},
        {"type": "refusal", "refusal": "But no."},
    ],
}
CALLS = [
    {"id": f"fc_{n}", "type": "function_call", "call_id": f"c{n}", "name": n, "arguments": a}
    for n, a in (("a", "{}"), ("b", '{"x": 1}'))
]


def events_for(whole: dict[str, Any]) -> list[SseEvent]:
    """A stream of `whole` as the API sends one: items added, deltas, done events, completed."""
    out = [{"type": "response.created", "response": {**whole, "status": "in_progress"}}]
    for index, item in enumerate(whole["output"]):
        empty = {**item, "content": []} if item["type"] == "message" else {**item, "arguments": ""}
        out.append({"type": "response.output_item.added", "output_index": index, "item": empty})
        if item["type"] == "function_call":
            for piece in (item["arguments"][:2], item["arguments"][2:]):
                out.append(
                    {
                        "type": "response.function_call_arguments.delta",
                        "output_index": index,
                        "delta": piece,
                    }
                )
        for position, content in enumerate(item.get("content", [])):
            text_kind = content["type"] == "output_text"
            key = "text" if text_kind else "refusal"
            where = {"output_index": index, "content_index": position}
            blank = {**content, key: ""}
            out.append({"type": "response.content_part.added", **where, "part": blank})
            name = "response.output_text" if text_kind else "response.refusal"
            for char in content[key]:
                out.append({"type": f"{name}.delta", **where, "delta": char})
            out.append({"type": f"{name}.done", **where, key: content[key]})
        out.append({"type": "response.output_item.done", "output_index": index, "item": item})
    out.append({"type": "response.completed", "response": whole})
    return [sse(event) for event in out]


def test_refusals_and_parallel_calls_stream_like_the_body() -> None:
    whole = response(MESSAGE, *CALLS)
    body = PROVIDER.parse_body(json.dumps(whole).encode())
    assert run_stream(PROVIDER, events_for(whole))[0] == body
    assert body == Completion(
        parts=[
            TextPart(text="Hello", provider_data=pd("msg_1")),
            RefusalPart(text="But no.", provider_data=pd("msg_1")),
            ToolCallPart(name="a", tool_call_id="ca", arguments={}, provider_data=pd("fc_a")),
            ToolCallPart(name="b", tool_call_id="cb", arguments={"x": 1}, provider_data=pd("fc_b")),
        ],
        usage=Usage(10, 7, 3, 4),
        finish_reason="tool_calls",
        response_id="resp_1",
        model="m",
    )


def test_feed_returns_only_deltas_that_carry_content() -> None:
    parser = PROVIDER.stream_parser()
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": []}
    added = {"type": "response.output_item.added", "output_index": 0, "item": reasoning}
    assert parser.feed(sse(added)) == []
    text = {"type": "response.output_text.delta", "output_index": 1, "content_index": 0}
    assert parser.feed(sse({**text, "delta": "Hi"})) == [TextDelta(key="1:0", text="Hi")]


def test_a_stream_of_whole_items_only_loses_nothing() -> None:
    whole = response(MESSAGE, CALLS[1])
    items_done = [
        {"type": "response.output_item.done", "output_index": i, "item": item}
        for i, item in enumerate(whole["output"])
    ]
    events = [sse(e) for e in [*items_done, {"type": "response.completed", "response": whole}]]
    assert run_stream(PROVIDER, events)[0] == PROVIDER.parse_body(json.dumps(whole).encode())


def test_a_done_text_that_contradicts_the_deltas_is_refused() -> None:
    parser = PROVIDER.stream_parser()
    where = {"output_index": 0, "content_index": 0}
    parser.feed(sse({"type": "response.output_text.delta", **where, "delta": "Hello"}))
    with pytest.raises(UnexpectedResponse, match="differs from its streamed deltas"):
        parser.feed(sse({"type": "response.output_text.done", **where, "text": "Help"}))


IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
IMAGE_CALL = {
    "id": "ig_1",
    "type": "image_generation_call",
    "status": "completed",
    "background": "opaque",
    "output_format": "png",
    "quality": "high",
    "size": "1024x1024",
    "revised_prompt": "A grey cat",
    "result": base64.b64encode(IMAGE).decode(),
}
SAID = {**MESSAGE, "id": "msg_2", "content": [MESSAGE["content"][0]]}  # type: ignore[index]


def image_events(whole: dict[str, Any]) -> list[SseEvent]:
    """A stream as the API sends an image: the call in progress, a preview, the call done."""
    call, message = whole["output"]
    progress = {"output_index": 0, "item_id": "ig_1", "sequence_number": 0}
    events = [
        {"type": "response.created", "response": {**whole, "output": [], "status": "in_progress"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "ig_1", "type": "image_generation_call", "status": "in_progress"},
        },
        {"type": "response.image_generation_call.in_progress", **progress},
        {"type": "response.image_generation_call.generating", **progress},
        {
            "type": "response.image_generation_call.partial_image",
            **progress,
            "partial_image_index": 0,
            "partial_image_b64": base64.b64encode(b"preview").decode(),
        },
        {"type": "response.image_generation_call.completed", **progress},
        {"type": "response.output_item.done", "output_index": 0, "item": call},
        {"type": "response.output_item.done", "output_index": 1, "item": message},
        {"type": "response.completed", "response": whole},
    ]
    return [sse(event) for event in events]


def test_a_generated_image_is_an_image_part_whole_or_streamed() -> None:
    whole = response(IMAGE_CALL, SAID)
    body = PROVIDER.parse_body(json.dumps(whole).encode())
    completion, parser = run_stream(PROVIDER, image_events(whole))
    assert completion == body
    assert body.parts == [
        ImagePart(
            data=IMAGE, mime_type="image/png", provider_data=pd("ig_1", revised_prompt="A grey cat")
        ),
        TextPart(text="Hello", provider_data=pd("msg_2")),
    ]
    assert body.finish_reason == "stop"
    assert parser.event_counts["response.image_generation_call.partial_image"] == 1


def test_an_image_takes_its_mime_type_from_output_format_and_must_agree_when_done() -> None:
    jpeg = {**IMAGE_CALL, "output_format": "jpeg", "revised_prompt": None}
    (part,) = PROVIDER.parse_body(json.dumps(response(jpeg)).encode()).parts
    assert part == ImagePart(data=IMAGE, mime_type="image/jpeg", provider_data=pd("ig_1"))
    parser = PROVIDER.stream_parser()
    parser.feed(sse({"type": "response.output_item.done", "output_index": 0, "item": IMAGE_CALL}))
    other = {**IMAGE_CALL, "result": base64.b64encode(b"other").decode()}
    with pytest.raises(UnexpectedResponse, match="differs from the one already given"):
        parser.feed(sse({"type": "response.completed", "response": response(other)}))
    with pytest.raises(UnexpectedResponse, match="not \\(non-empty\\) base64"):
        PROVIDER.parse_body(json.dumps(response({**IMAGE_CALL, "result": "%%"})).encode())


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        ({"reason": "max_output_tokens"}, "length"),
        ({"reason": "content_filter"}, "content_filter"),
        ({"reason": "something_new"}, "something_new"),
        (None, "incomplete"),
    ],
)
def test_an_incomplete_response_says_why(details: dict[str, Any] | None, reason: str) -> None:
    whole = response(MESSAGE, status="incomplete", incomplete_details=details)
    assert PROVIDER.parse_body(json.dumps(whole).encode()).finish_reason == reason
    ended = [sse({"type": "response.incomplete", "response": whole})]
    assert run_stream(PROVIDER, ended)[0].finish_reason == reason


@pytest.mark.parametrize(
    ("output", "match"),
    [
        ({"type": "web_search_call", "id": "ws_1", "status": "completed"}, "`web_search_call`"),
        (
            {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"text": "raw"}]},
            "reasoning `content`",
        ),
        (
            {
                "type": "message",
                "content": [{"type": "output_text", "text": "x", "annotations": [{"url": "u"}]}],
            },
            "`annotations`",
        ),
        ({"type": "message", "content": [{"type": "output_audio"}]}, "`output_audio`"),
        ({"type": "function_call", "name": "f", "arguments": "{}"}, "`call_id`"),
    ],
)
def test_output_llmframe_cannot_store_is_refused_not_dropped(
    output: dict[str, Any], match: str
) -> None:
    with pytest.raises(UnexpectedResponse, match=match):
        PROVIDER.parse_body(json.dumps(response(output)).encode())


@pytest.mark.parametrize(
    ("whole", "match"),
    [
        ({"id": "resp_1", "status": "queued", "output": []}, "status `queued`"),
        ({"id": "resp_1", "status": "completed"}, "`output`"),
        ({"status": "completed", "output": [], "usage": {"input_tokens": "9"}}, "`input_tokens`"),
    ],
)
def test_bodies_of_an_unexpected_shape_are_refused(whole: dict[str, Any], match: str) -> None:
    with pytest.raises(UnexpectedResponse, match=match):
        PROVIDER.parse_body(json.dumps(whole).encode())


def test_a_cut_stream_and_events_after_the_end_are_refused() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(sse({"type": "response.created", "response": {"id": "resp_1"}}))
    with pytest.raises(UnexpectedResponse, match="cut short"):
        parser.finish()
    # A compatible server may leave out the status (the event names it) and the usage.
    done = sse({"type": "response.completed", "response": {"id": "resp_1", "output": []}})
    parser.feed(done)
    assert parser.finish() == Completion(parts=[], finish_reason="stop", response_id="resp_1")
    with pytest.raises(UnexpectedResponse, match="after the response ended"):
        parser.feed(done)


def test_junk_carries_only_its_own_event() -> None:
    parser = PROVIDER.stream_parser()
    where = {"output_index": 0, "content_index": 0}
    parser.feed(sse({"type": "response.output_text.delta", **where, "delta": "secret text"}))
    with pytest.raises(UnexpectedResponse) as caught:
        parser.feed(SseEvent(data="<html>oops" + "!" * 500))
    assert caught.value.excerpt == "<html>oops" + "!" * 190 + "…"
    assert "secret text" not in str(caught.value)


def test_the_registry_knows_the_provider() -> None:
    provider = get_provider("openai_responses")
    assert isinstance(provider, OpenAIResponses)
    assert (provider.name, provider.api) == (NAME, "openai_responses")
