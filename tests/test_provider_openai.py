"""The OpenAI Chat Completions provider against every recorded chat and OpenAI-compatible exchange
(../shared/conformance/openai/openai-{chat,compat}-*.yaml), plus the cases no recording holds."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from conformance import Exchange, load, needs_conformance, recordings
from hypothesis import given, settings
from replay import brief, decode, ids, resplit, run_chunks, run_stream

from llmframe.errors import (
    AuthFailed,
    ProviderHTTPError,
    RateLimited,
    UnexpectedResponse,
    UnsupportedPart,
    UsageError,
)
from llmframe.io.openai_chat import message_from_openai
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
from llmframe.providers import get_provider, provider_names
from llmframe.providers._sse import SseDecoder
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    ReasoningDelta,
    SseEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmframe.providers.openai import OpenAIChat

PROVIDER = OpenAIChat()
CHAT_FILES = recordings("openai", "openai-chat-*.yaml", "openai-compat-*.yaml")
# Chat Completions calls only: the 503 recording also holds crewAI's tracing calls to localhost.
EXCHANGES = [
    ex for path in CHAT_FILES for ex in load(path) if ex.path.endswith("/chat/completions")
]
SUCCESSES = [ex for ex in EXCHANGES if ex.status == 200]
FAILURES = [ex for ex in EXCHANGES if ex.status >= 400]
STREAMS = [ex for ex in SUCCESSES if ex.request_json().get("stream")]


def events_of(body: bytes) -> list[SseEvent]:
    return decode(SseDecoder(), body)


def complete(exchange: Exchange) -> Completion:
    if exchange.request_json().get("stream"):
        return run_stream(PROVIDER, events_of(exchange.body))[0]
    return PROVIDER.parse_body(exchange.body)


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"object": "chat.completion.chunk", "choices": [choice]}


def summary(completion: Completion) -> dict[str, Any]:
    parts: list[tuple[Any, ...]] = []
    for part in completion.parts:
        if isinstance(part, ToolCallPart):
            parts.append(("tool_call", part.name, part.tool_call_id, part.arguments))
        else:
            assert isinstance(part, (TextPart, RefusalPart, ReasoningPart)), part
            assert part.provider_data is None
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


# (a) build_call reproduces every recorded request -----------------------------------------------


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """Where our encoding legitimately differs from the recorders', both sides are normalised."""
    body = json.loads(json.dumps(body))
    # simonw/llm and pydantic-ai send `"stream": false`; we leave the default out.
    if body.get("stream") is False:
        del body["stream"]
    for message in body["messages"]:
        for call in message.get("tool_calls") or []:
            # llm writes arguments as `{"a": 1}`; we write compact JSON text: the same value.
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return body


@needs_conformance
@pytest.mark.parametrize("exchange", EXCHANGES, ids=ids(EXCHANGES))
def test_build_call_reproduces_the_recorded_request(exchange: Exchange) -> None:
    recorded = exchange.request_json()
    messages = [message_from_openai(m) for m in recorded["messages"]]
    reserved = ("model", "messages", "stream", "stream_options")
    options = {k: v for k, v in recorded.items() if k not in reserved}
    stream = bool(recorded.get("stream"))

    call = PROVIDER.build_call(recorded["model"], messages, options, stream=stream)

    assert (call.method, call.stream) == ("POST", stream)
    assert exchange.path.endswith(call.path)
    assert call.body is not None
    assert canonical(dict(call.body)) == canonical(recorded)


def test_the_normalisation_only_forgives_what_it_says() -> None:
    ours = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert canonical({**ours, "stream": False}) == canonical(ours)
    assert canonical({**ours, "stream": True}) != canonical(ours)
    assert canonical({**ours, "n": 1}) != canonical(ours)


# (b) recorded responses parse to the right parts, usage and finish reason -----------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "openai-chat-error-400-unsupported-param[1]": {
        "parts": [("text", "4242")],
        "usage": (15, 11, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-D2XDsF36ZXd6TAuE8zHkuCowNYsyI",
        "model": "gpt-5-mini-2025-08-07",
    },
    "openai-chat-error-503-then-retry[1]": {
        "parts": [
            (
                "text",
                "I now can give a great answer  \nFinal An…"
                "atives on overall performance. (3321 chars)",
            )
        ],
        "usage": (162, 562, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-C6190XqBj5KaJqvKCu9oroJOYpKDB",
        "model": "gpt-4o-mini-2024-07-18",
    },
    "openai-chat-image-url[0]": {
        "parts": [
            (
                "text",
                "The image shows the Wikipedia logo, whic…"
                "rom different writing systems. (144 chars)",
            )
        ],
        "usage": (269, 23, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-CTFNV9AVgeo6oczPSjxU1fzjQb3Bs",
        "model": "gpt-4o-2024-08-06",
    },
    "openai-chat-json-schema-strict[0]": {
        "parts": [
            (
                "text",
                '{"title":"THE NAME OF THE WIND","author":{"first_name":"Patrick",'
                '"last_name":"Rothfuss"},"rating":7}',
            )
        ],
        "usage": (172, 29, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-CRl1ZG4wFCynijp6yzg6mt5CECdl8",
        "model": "gpt-4o-2024-08-06",
    },
    "openai-chat-reasoning-tokens[0]": {
        "parts": [("text", "4242")],
        "usage": (15, 75, 64, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-D2XQbO9IthwPQjQgpjGzn6Iy38Z6W",
        "model": "gpt-5-2025-08-07",
    },
    "openai-chat-refusal[0]": {
        "parts": [("refusal", "I'm very sorry, but I can't assist with that request.")],
        "usage": (64, 13, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-CRkRkic1yC57Px3ahQq6yQbltDlWK",
        "model": "gpt-4o-2024-08-06",
    },
    "openai-chat-stream-text-usage[0]": {
        "parts": [("text", "4200 + 42 equals 4242.")],
        "usage": (16, 10, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-CoDWl5rS0pF10P0W0TDVgY3NA26dk",
        "model": "gpt-4o-2024-08-06",
    },
    "openai-chat-stream-tool-call[0]": {
        "parts": [
            ("tool_call", "multiply", "call_1EYWDzueHEp8OsB8jJSEp7WB", {"a": 1231, "b": 2331})
        ],
        "usage": (54, 20, 0, 0),
        "finish_reason": "tool_calls",
        "id": "chatcmpl-BWlJBDk2xe66hjff60joVYpXi1hh4",
        "model": "gpt-4o-mini-2024-07-18",
    },
    "openai-chat-stream-tool-call[1]": {
        "parts": [("text", "The result of \\( 1231 \\times 2331 \\) is \\( 2,869,461 \\).")],
        "usage": (87, 26, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA",
        "model": "gpt-4o-mini-2024-07-18",
    },
    "openai-chat-text[0]": {
        "parts": [("text", "\\(4200 + 42 = 4242\\).")],
        "usage": (16, 12, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-CRkJFgcA6BuMrBur38ZHUXgT6zRjg",
        "model": "gpt-4o-2024-08-06",
    },
    "openai-chat-tool-call-chain[0]": {
        "parts": [
            (
                "tool_call",
                "lookup_population",
                "call_TTY8UFNo7rNCaOBUNtlRSvMG",
                {"country": "Crumpet"},
            )
        ],
        "usage": (92, 17, 0, 0),
        "finish_reason": "tool_calls",
        "id": "chatcmpl-BWpGNGdPONTwxHkZVxbqctQSBDmTn",
        "model": "gpt-4o-mini-2024-07-18",
    },
    "openai-chat-tool-call-chain[1]": {
        "parts": [
            (
                "tool_call",
                "can_have_dragons",
                "call_aq9UyiSFkzX6W8Ydc33DoI9Y",
                {"population": 123124},
            )
        ],
        "usage": (118, 18, 0, 0),
        "finish_reason": "tool_calls",
        "id": "chatcmpl-BWpGQWkuvc0FZdZZjPz8eL1CdtBcF",
        "model": "gpt-4o-mini-2024-07-18",
    },
    "openai-chat-tool-call-chain[2]": {
        "parts": [("text", "YES")],
        "usage": (146, 3, 0, 0),
        "finish_reason": "stop",
        "id": "chatcmpl-BWpGTZY785VsZipCO0bAvF7Z7tjdA",
        "model": "gpt-4o-mini-2024-07-18",
    },
    "openai-compat-deepseek-reasoning-content[0]": {
        "parts": [
            (
                "reasoning",
                "Okay, the user is asking how to cross th…"
                "sent it clearly and concisely. (1997 chars)",
            ),
            (
                "text",
                "Crossing the street safely involves care…"
                "rt until you've fully crossed. (1568 chars)",
            ),
        ],
        # DeepSeek reports prompt_tokens_details.cached_tokens (0) beside its own cache counts.
        "usage": (12, 789, 415, 0),
        "finish_reason": "stop",
        "id": "181d9669-2b3a-445e-bd13-2ebff2c378f6",
        "model": "deepseek-reasoner",
    },
    "openai-compat-groq-429-retry-after[2]": {
        # Groq's `"arguments": "{}"` is an empty object; it reports no token details.
        "parts": [("tool_call", "get_file", "3ac04evgt", {})],
        "usage": (708, 20, None, None),
        "finish_reason": "tool_calls",
        "id": "chatcmpl-ec37c8c0-297f-4a28-9230-981737deb4b7",
        "model": "meta-llama/llama-4-maverick-17b-128e-instruct",
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
def test_deepseek_texts_are_whole() -> None:
    (exchange,) = (ex for ex in SUCCESSES if ex.id == "openai-compat-deepseek-reasoning-content[0]")
    message = json.loads(exchange.body)["choices"][0]["message"]
    reasoning, text = complete(exchange).parts
    assert reasoning == ReasoningPart(text=message["reasoning_content"])
    assert text == TextPart(text=message["content"])


CHAINS = [ex.file for ex in SUCCESSES if ex.id.endswith("[1]") and "tool-call" in ex.file]


@needs_conformance
@pytest.mark.parametrize("file", CHAINS)
def test_tool_calls_chain_across_turns(file: str) -> None:
    """What we parse from turn N is what the recorder sent back as the assistant turn in N+1."""
    turns = [ex for ex in SUCCESSES if ex.file == file]
    assert len(turns) >= 2
    for turn, following in itertools.pairwise(turns):
        sent = turn.request_json()["messages"]
        new = [message_from_openai(m) for m in following.request_json()["messages"][len(sent) :]]
        # llm sends the turn's empty text as an assistant message of its own; it carries nothing.
        assistant = [
            part
            for message in new
            if message.role == "assistant"
            for part in message.parts
            if part != TextPart(text="")
        ]
        results = [part for message in new if message.role == "tool" for part in message.parts]
        parsed = complete(turn).parts
        assert assistant == parsed
        calls = [p.tool_call_id for p in parsed if isinstance(p, ToolCallPart)]
        assert calls
        assert [r.tool_call_id for r in results if isinstance(r, ToolResultPart)] == calls


# (c) every streamed event is handled -----------------------------------------------------------

EVENT_COUNTS = {
    "openai-chat-stream-text-usage[0]": {"chunk": 12, "usage": 1, "done": 1},
    "openai-chat-stream-tool-call[0]": {"chunk": 13, "usage": 1, "done": 1},
    "openai-chat-stream-tool-call[1]": {"chunk": 26, "usage": 1, "done": 1},
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


def test_an_unknown_event_type_fails_loudly() -> None:
    parser = PROVIDER.stream_parser()
    with pytest.raises(UnexpectedResponse, match=r"unknown type `response\.created`"):
        parser.feed(SseEvent(data='{"type": "response.created"}', event="response.created"))


def test_an_unknown_chunk_object_fails_loudly() -> None:
    parser = PROVIDER.stream_parser()
    with pytest.raises(UnexpectedResponse, match="`response` object"):
        parser.feed(SseEvent(data='{"object": "response", "choices": []}'))


# (d) re-split streams give the same completion ------------------------------------------------


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_resplit_streams_give_the_same_completion(exchange: Exchange) -> None:
    expected, expected_parser = run_stream(PROVIDER, events_of(exchange.body))

    @settings(max_examples=200, deadline=None)
    @given(resplit(exchange.body))
    def check(chunks: list[bytes]) -> None:
        completion, parser = run_chunks(PROVIDER, SseDecoder(), chunks)
        assert completion == expected
        assert parser.event_counts == expected_parser.event_counts

    check()


def test_a_multibyte_stream_survives_byte_by_byte_feeding() -> None:
    # The recorded streams are ASCII; this one splits inside 2-, 3- and 4-byte sequences.
    text = "héllo — 世界 🌍"
    chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}]}
    body = f"data: {json.dumps(chunk, ensure_ascii=False)}\r\n\r\ndata: [DONE]\r\n\r\n".encode()
    decoder, parser = SseDecoder(), PROVIDER.stream_parser()
    for index in range(len(body)):
        for event in decoder.feed(body[index : index + 1]):
            parser.feed(event)
    assert decoder.finish() == []
    assert parser.finish().parts == [TextPart(text=text)]


# (e) error classification ----------------------------------------------------------------------

GROQ_MESSAGE = (
    "Rate limit reached for model `meta-llama/llama-4-maverick-17b-128e-instruct` in organization "
    "`org_01k0cr3hcdehfb2mcy22cp8p3y` service tier `on_demand` on tokens per minute (TPM): "
    "Limit 6000, Used {used}, Requested 709. Please try again in {wait}. Need more tokens? "
    "Upgrade to Dev Tier today at https://console.groq.com/settings/billing"
)
VERDICTS = {
    "openai-chat-error-400-unsupported-param[0]": ErrorVerdict(
        retryable=False,
        error_type="ProviderHTTPError",
        message="Unsupported parameter: 'stop' is not supported with this model.",
    ),
    "openai-chat-error-401[0]": ErrorVerdict(
        retryable=False,
        error_type="AuthFailed",
        message="Incorrect API key provided: invalid-*****2345. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    # text/plain from OpenAI's edge: the message is the body itself.
    "openai-chat-error-503-then-retry[0]": ErrorVerdict(
        retryable=True,
        error_type="ProviderHTTPError",
        message="upstream connect error or disconnect/reset before headers. "
        "reset reason: connection termination",
    ),
    "openai-compat-groq-429-retry-after[0]": ErrorVerdict(
        retryable=True,
        error_type="RateLimited",
        message=GROQ_MESSAGE.format(used=5715, wait="4.24s"),
        retry_after=5.0,
    ),
    "openai-compat-groq-429-retry-after[1]": ErrorVerdict(
        retryable=True,
        error_type="RateLimited",
        message=GROQ_MESSAGE.format(used=5910, wait="6.19s"),
        retry_after=7.0,
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
    "file", ["openai-chat-error-503-then-retry.yaml", "openai-compat-groq-429-retry-after.yaml"]
)
def test_a_retryable_error_is_followed_by_the_same_request_succeeding(file: str) -> None:
    failed, retried = [ex for ex in EXCHANGES if ex.file == file][-2:]
    assert PROVIDER.classify_error(failed.status, failed.headers, failed.body).retryable
    assert failed.request_json() == retried.request_json()
    assert retried.status == 200
    assert complete(retried).parts


@needs_conformance
def test_insufficient_quota_is_not_retried() -> None:
    # No chat recording has one; the Responses API shares the error envelope, so its body serves.
    path = recordings("openai", "openai-responses-error-429-insufficient-quota.yaml")[0]
    exchange = next(ex for ex in load(path) if ex.status == 429)
    verdict = PROVIDER.classify_error(exchange.status, exchange.headers, exchange.body)
    assert verdict.error_type == "RateLimited"
    assert not verdict.retryable
    assert verdict.message.startswith("You exceeded your current quota")


@pytest.mark.parametrize(
    ("status", "retryable", "error_type"),
    [
        (400, False, "ProviderHTTPError"),
        (401, False, "AuthFailed"),
        (403, False, "AuthFailed"),
        (404, False, "ProviderHTTPError"),
        (408, True, "ProviderHTTPError"),
        (409, True, "ProviderHTTPError"),
        (413, False, "ProviderHTTPError"),
        (422, False, "ProviderHTTPError"),
        (429, True, "RateLimited"),
        (500, True, "ProviderHTTPError"),
        (502, True, "ProviderHTTPError"),
        (503, True, "ProviderHTTPError"),
        (529, True, "ProviderHTTPError"),
    ],
)
def test_status_classification(status: int, retryable: bool, error_type: str) -> None:
    verdict = PROVIDER.classify_error(status, {}, b"")
    assert (verdict.retryable, verdict.error_type, verdict.message) == (
        retryable,
        error_type,
        f"HTTP {status}",
    )


def test_a_429_for_insufficient_quota_is_not_retryable_by_code_or_type() -> None:
    for key in ("code", "type"):
        body = json.dumps({"error": {"message": "quota", key: "insufficient_quota"}}).encode()
        assert not PROVIDER.classify_error(429, {}, body).retryable
    rate = json.dumps({"error": {"message": "slow down", "code": "rate_limit_exceeded"}})
    assert PROVIDER.classify_error(429, {}, rate.encode()).retryable


def test_error_messages_mask_keys_and_stay_short() -> None:
    body = json.dumps({"error": {"message": "Incorrect API key provided: sk-proj-abc123XYZ789."}})
    verdict = PROVIDER.classify_error(401, {}, body.encode())
    assert verdict.message == "Incorrect API key provided: sk-***."
    html = b"<html>" + b"x" * 500 + b"</html>"
    assert PROVIDER.classify_error(502, {}, html).message == "<html>" + "x" * 194 + "…"
    plain = PROVIDER.classify_error(500, {}, b'{"detail": "Bearer abcdefgh12345 failed"}')
    assert plain.message == '{"detail": "Bearer *** failed"}'


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = {"Retry-After": "5", "retry-after-ms": "1500"}
    assert PROVIDER.classify_error(429, headers, b"").retry_after == 1.5


# In-band errors and junk -------------------------------------------------------------------------


def error_event(error: dict[str, Any], event: str | None = None) -> SseEvent:
    return SseEvent(data=json.dumps({"error": error}), event=event)


@pytest.mark.parametrize(
    ("error", "cls", "retryable"),
    [
        ({"message": "The server had an error", "type": "server_error"}, ProviderHTTPError, True),
        ({"message": "Slow down", "code": "rate_limit_exceeded"}, RateLimited, True),
        ({"message": "No money", "type": "insufficient_quota"}, RateLimited, False),
        ({"message": "Bad key", "code": "invalid_api_key"}, AuthFailed, False),
        ({"message": "Too long", "type": "BadRequestError", "code": 400}, ProviderHTTPError, False),
        ({"message": "Something odd"}, ProviderHTTPError, True),
    ],
)
def test_an_error_inside_a_200_stream_is_classified(
    error: dict[str, Any], cls: type[ProviderHTTPError], retryable: bool
) -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(SseEvent(data=json.dumps(chunk({"content": "Hel"}))))
    with pytest.raises(cls) as caught:
        parser.feed(error_event(error))
    assert type(caught.value) is cls
    assert caught.value.verdict is not None
    assert caught.value.verdict.retryable is retryable
    assert str(caught.value) == f"error inside a 200 response: {error['message']}"


def test_an_sse_error_event_and_a_flat_error_object_are_errors_too() -> None:
    with pytest.raises(ProviderHTTPError, match="overloaded"):
        PROVIDER.stream_parser().feed(SseEvent(data='{"message": "overloaded"}', event="error"))
    flat = {
        "object": "error",
        "message": "context too long",
        "type": "BadRequestError",
        "code": 400,
    }
    with pytest.raises(ProviderHTTPError, match="context too long") as caught:
        PROVIDER.stream_parser().feed(SseEvent(data=json.dumps(flat)))
    assert caught.value.verdict is not None
    assert not caught.value.verdict.retryable


def test_an_error_in_a_200_body_is_raised() -> None:
    body = json.dumps({"error": {"message": "busy", "type": "server_error"}}).encode()
    with pytest.raises(ProviderHTTPError, match="busy") as caught:
        PROVIDER.parse_body(body)
    assert caught.value.verdict is not None
    assert caught.value.verdict.retryable


def test_junk_carries_only_its_own_event() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(SseEvent(data=json.dumps(chunk({"content": "secret earlier text"}))))
    with pytest.raises(UnexpectedResponse) as caught:
        parser.feed(SseEvent(data="<html>oops" + "!" * 500))
    assert caught.value.excerpt == "<html>oops" + "!" * 190 + "…"
    assert "secret earlier text" not in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        "[1, 2]",
        '{"choices": {"index": 0}}',
        '{"choices": [{"index": 0, "delta": {"content": 7}}]}',
        '{"choices": [{"index": 0, "delta": {"tool_calls": [{"type": "custom"}]}}]}',
        '{"choices": [{"index": 0, "delta": {}}], "usage": {"prompt_tokens": "many"}}',
    ],
)
def test_chunks_of_an_unexpected_shape_are_refused(data: str) -> None:
    with pytest.raises(UnexpectedResponse):
        PROVIDER.stream_parser().feed(SseEvent(data=data))


def test_a_non_json_body_is_refused_with_an_excerpt() -> None:
    with pytest.raises(UnexpectedResponse) as caught:
        PROVIDER.parse_body(b"<html>Bad gateway</html>")
    assert caught.value.excerpt == "<html>Bad gateway</html>"


def test_content_llmframe_cannot_store_is_refused_not_dropped() -> None:
    audio = {"content": None, "audio": {"id": "a1", "data": "UklGRg==", "transcript": "hi"}}
    with pytest.raises(UnexpectedResponse, match="`audio`"):
        PROVIDER.stream_parser().feed(SseEvent(data=json.dumps(chunk(audio))))
    quiet = {"content": "hi", "annotations": [], "function_call": None, "reasoning_details": [{}]}
    assert PROVIDER.stream_parser().feed(SseEvent(data=json.dumps(chunk(quiet)))) == [
        TextDelta(key="text", text="hi")
    ]


def test_a_second_choice_is_refused() -> None:
    body = {"choices": [{"index": 1, "delta": {"content": "other"}}]}
    with pytest.raises(UnexpectedResponse, match="second choice"):
        PROVIDER.stream_parser().feed(SseEvent(data=json.dumps(body)))


def test_stream_end_without_done_or_finish_is_an_error() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(SseEvent(data=json.dumps(chunk({"content": "Hel"}))))
    with pytest.raises(UnexpectedResponse, match="ended before"):
        parser.finish()


def test_a_finished_stream_may_omit_done_but_nothing_follows_done() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(SseEvent(data=json.dumps(chunk({"content": "Hi"}, finish="stop"))))
    assert parser.finish().finish_reason == "stop"
    parser.feed(SseEvent(data="[DONE]"))
    with pytest.raises(UnexpectedResponse, match="after `\\[DONE\\]`"):
        parser.feed(SseEvent(data=json.dumps(chunk({"content": "more"}))))


# Streams and bodies agree ----------------------------------------------------------------------


def test_reasoning_text_and_parallel_tool_calls_stream_like_the_body() -> None:
    deltas = [
        {"role": "assistant", "reasoning_content": "Think", "reasoning": "Think"},
        {"reasoning_content": "ing."},
        {"content": "Calling."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "a", "arguments": ""},
                }
            ]
        },
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "b", "arguments": '{"x"'},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": ": 1}"}}]},
    ]
    events = [SseEvent(data=json.dumps(chunk(d))) for d in deltas]
    events.append(SseEvent(data=json.dumps(chunk({}, finish="tool_calls"))))
    streamed, _ = run_stream(PROVIDER, events)
    message = {
        "role": "assistant",
        "reasoning_content": "Thinking.",
        "content": "Calling.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "b", "arguments": '{"x": 1}'}},
        ],
    }
    body = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    whole = PROVIDER.parse_body(json.dumps(body).encode())
    assert streamed == whole
    assert whole.parts == [
        ReasoningPart(text="Thinking."),
        TextPart(text="Calling."),
        ToolCallPart(name="a", tool_call_id="c1", arguments={}),
        ToolCallPart(name="b", tool_call_id="c2", arguments={"x": 1}),
    ]


def test_feed_returns_the_deltas_it_carries() -> None:
    parser = PROVIDER.stream_parser()
    first = {"reasoning": "Hm", "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}]}
    assert parser.feed(SseEvent(data=json.dumps(chunk(first)))) == [
        ReasoningDelta(key="reasoning", text="Hm"),
        ToolCallDelta(key="tool_call:0", call_id="c", name="f", arguments=""),
    ]


def test_differing_reasoning_fields_are_refused() -> None:
    both = {"reasoning_content": "one thing", "reasoning": "another"}
    with pytest.raises(UnexpectedResponse, match="differ"):
        PROVIDER.stream_parser().feed(SseEvent(data=json.dumps(chunk(both))))


def test_invalid_tool_arguments_are_kept_raw() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"x": '}}
    body = {"choices": [{"index": 0, "message": {"tool_calls": [call]}, "finish_reason": "length"}]}
    completion = PROVIDER.parse_body(json.dumps(body).encode())
    assert completion.parts == [ToolCallPart(name="f", tool_call_id="c", raw_arguments='{"x": ')]
    assert completion.usage == Usage()


def test_deepseek_cache_hits_count_when_details_are_absent() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 8}
    body = {"choices": [], "usage": usage}
    assert PROVIDER.parse_body(json.dumps(body).encode()).usage == Usage(10, 2, None, 8)


# build_call for what the recordings do not cover ---------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
WAV = b"RIFF\x24\0\0\0WAVEfmt "


def wire(*messages: Message, **kwargs: Any) -> list[dict[str, Any]]:
    call = OpenAIChat(**kwargs).build_call("m", list(messages), {}, stream=False)
    assert call.body is not None
    return call.body["messages"]


def user(*parts: Any) -> Message:
    return Message(role="user", parts=list(parts))


def assistant(*parts: Any) -> Message:
    return Message(role="assistant", parts=list(parts))


def test_streaming_asks_for_usage_and_keeps_other_stream_options() -> None:
    options = {"temperature": 0, "stream_options": {"include_obfuscation": False}}
    call = PROVIDER.build_call("m", [user(TextPart(text="hi"))], options, stream=True)
    assert call.body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_obfuscation": False, "include_usage": True},
    }
    assert call.stream
    assert call.path == "/chat/completions"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"stream": True}, "`stream`"),
        ({"model": "x"}, "`model`"),
        ({"messages": []}, "`messages`"),
        ({"n": 2}, "`n` must be 1"),
        ({"logprobs": True}, "`logprobs`"),
    ],
)
def test_options_llmframe_owns_or_cannot_store_are_refused(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        PROVIDER.build_call("m", [user(TextPart(text="hi"))], options, stream=False)


def test_images_are_inlined_or_passed_as_urls() -> None:
    detail = {"provider": "openai", "detail": "low"}
    (message,) = wire(
        user(
            TextPart(text="Look"),
            ImagePart(data=b"GIF89a...", mime_type="image/gif"),
            ImagePart(data=PNG, uri="photos/cat.png"),  # inlined by the runner: data wins
            ImagePart(uri="https://example.com/a.jpg", provider_data=detail),
            ImagePart(
                uri="https://example.com/b.jpg", provider_data={"provider": "x", "detail": 1}
            ),
        )
    )
    png = base64.b64encode(PNG).decode()
    assert message["content"] == [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGODlhLi4u"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.jpg"}},
    ]


def test_local_media_paths_and_unknown_mime_types_are_refused() -> None:
    with pytest.raises(UnsupportedPart, match=r"message 1 \(user\).*not a URL"):
        wire(user(ImagePart(uri="photos/cat.png")))
    with pytest.raises(UnsupportedPart, match="mime_type"):
        wire(user(ImagePart(data=b"??")))


def test_audio_goes_inline_with_a_format() -> None:
    (message,) = wire(
        user(
            AudioPart(data=WAV),
            AudioPart(data=b"ID3...", mime_type="audio/mpeg"),
            AudioPart(uri="data:audio/flac;base64,ZmxhYw=="),
        )
    )
    assert message["content"] == [
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"},
        },
        {"type": "input_audio", "input_audio": {"data": "SUQzLi4u", "format": "mp3"}},
        {"type": "input_audio", "input_audio": {"data": "ZmxhYw==", "format": "flac"}},
    ]
    with pytest.raises(UnsupportedPart, match="audio inline"):
        wire(user(AudioPart(uri="https://example.com/a.mp3")))


def test_documents_go_as_files() -> None:
    file_id = {"provider": "openai", "file_id": "file-abc"}
    (message,) = wire(
        user(
            DocumentPart(data=b"%PDF-1.7"),
            DocumentPart(data=b"notes", mime_type="text/plain", name="notes.txt"),
            DocumentPart(provider_data=file_id),
        )
    )
    assert message["content"] == [
        {
            "type": "file",
            "file": {
                "file_data": "data:application/pdf;base64,JVBERi0xLjc=",
                "filename": "document.pdf",
            },
        },
        {
            "type": "file",
            "file": {"file_data": "data:text/plain;base64,bm90ZXM=", "filename": "notes.txt"},
        },
        {"type": "file", "file": {"file_id": "file-abc"}},
    ]
    with pytest.raises(UnsupportedPart, match="documents inline"):
        wire(user(DocumentPart(uri="https://example.com/a.pdf")))


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (
            user(TextPart(text="x"), VideoPart(uri="https://e.com/v.mp4")),
            "message 1 \\(user\\).*video part",
        ),
        (user(JsonPart(value={"a": 1})), "json part.*send the value as a text part"),
        (assistant(JsonPart(value=[1])), "message 1 \\(assistant\\).*json part"),
        (assistant(ImagePart(uri="https://e.com/a.png")), "image part.*only user messages"),
        (user(ToolResultPart(tool_call_id="c", text="1")), "tool_result part.*`tool` message"),
        (Message(role="system", parts=[ImagePart(uri="https://e.com/a.png")]), "text only"),
        (Message(role="tool", parts=[TextPart(text="1")]), "tool results only"),
    ],
)
def test_parts_a_role_cannot_carry_are_refused_by_name(message: Message, match: str) -> None:
    with pytest.raises(UnsupportedPart, match=match):
        wire(message)


def test_reasoning_is_left_out_unless_the_endpoint_takes_it_back() -> None:
    call = ToolCallPart(name="f", tool_call_id="c1", arguments={"x": 1})
    turn = assistant(ReasoningPart(text="Let me see."), TextPart(text="Checking."), call)
    only_reasoning = assistant(ReasoningPart(text="Hmm"), ReasoningPart(text="Still thinking"))
    tool_call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
    assert wire(turn, only_reasoning) == [
        {"role": "assistant", "content": "Checking.", "tool_calls": [tool_call]},
        {"role": "assistant", "content": ""},
    ]
    assert wire(turn, only_reasoning, reasoning_field="reasoning_content") == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [tool_call],
            "reasoning_content": "Let me see.",
        },
        {"role": "assistant", "content": "", "reasoning_content": "Hmm\n\nStill thinking"},
    ]


def test_assistant_refusals_and_tool_results() -> None:
    messages = [
        assistant(RefusalPart(text="No.")),
        assistant(TextPart(text="a"), RefusalPart(text="b")),
        assistant(ToolCallPart(name="f", raw_arguments="{bad")),
        Message(
            role="tool",
            parts=[
                ToolResultPart(tool_call_id="c1", name="f", value={"ok": True}),
                ToolResultPart(tool_call_id="c2", text="done"),
            ],
        ),
    ]
    assert wire(*messages) == [
        {"role": "assistant", "content": None, "refusal": "No."},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}],
        },
        {
            "role": "assistant",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{bad"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"ok":true}'},
        {"role": "tool", "tool_call_id": "c2", "content": "done"},
    ]


# The registry ----------------------------------------------------------------------------------


def test_get_provider_knows_openai_and_names_the_known_ones_otherwise() -> None:
    provider = get_provider("openai")
    assert isinstance(provider, OpenAIChat)
    assert (provider.name, provider.api) == ("openai", "openai_chat")
    assert "openai" in provider_names()
    with pytest.raises(UsageError, match=r"unknown provider `nope`; known providers: .*openai"):
        get_provider("nope")


def test_a_function_call_copy_of_a_tool_call_is_dropped_and_any_other_refused() -> None:
    """llama-cpp-python's server repeats a forced tool call as a legacy ``function_call``."""
    function = {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": function}],
        "function_call": function,
    }
    body = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }
    completion = OpenAIChat().parse_body(json.dumps(body).encode())
    [call] = completion.parts
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    message["function_call"] = {"name": "other", "arguments": "{}"}
    with pytest.raises(UnexpectedResponse, match="function_call"):
        OpenAIChat().parse_body(json.dumps(body).encode())


def test_a_stream_ending_in_done_without_a_finish_reason_is_cut_off() -> None:
    """llama-cpp-python's server ends a stream it interrupts with a role chunk and `[DONE]`."""
    parser = OpenAIChat().stream_parser()
    role = {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}]}
    role["choices"][0]["delta"] = {"role": "assistant", "content": ""}
    parser.feed(SseEvent(json.dumps(role)))
    parser.feed(SseEvent("[DONE]"))
    with pytest.raises(UnexpectedResponse, match="`\\[DONE\\]` but no finish reason"):
        parser.finish()
