"""The Gemini provider against every recorded Gemini exchange (../shared/conformance/gemini/*.yaml),
plus the cases no recording holds, and end to end through the runner on a loopback server."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import replay
from conformance import Exchange, load, needs_conformance, recordings
from gemini_server import GeminiServer, Reply
from hypothesis import given, settings
from replay import ids, resplit, run_chunks, run_stream

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
from llmframe.providers._json_array import JsonArrayDecoder
from llmframe.providers._sse import SseDecoder
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    MediaDelta,
    ReasoningDelta,
    SseEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmframe.providers.endpoints import ENDPOINTS
from llmframe.providers.gemini import Gemini
from llmframe.query import sql
from llmframe.runner import RunOptions

PROVIDER = Gemini()
FILES = recordings("gemini", "*.yaml")
# generateContent calls only: the 503 recording also holds fileSearchStores setup and teardown.
EXCHANGES = [
    ex
    for path in FILES
    for ex in load(path)
    if ex.path.endswith((":generateContent", ":streamGenerateContent"))
]
SUCCESSES = [ex for ex in EXCHANGES if ex.status == 200]
FAILURES = [ex for ex in EXCHANGES if ex.status >= 400]
STREAMS = [ex for ex in SUCCESSES if ex.path.endswith(":streamGenerateContent")]


def by_id(exchange_id: str) -> Exchange:
    return next(ex for ex in EXCHANGES if ex.id == exchange_id)


def decoder_for(exchange: Exchange) -> SseDecoder | JsonArrayDecoder:
    # Our requests always ask for alt=sse; llm-gemini's recording streams a JSON array instead.
    return SseDecoder() if "alt=sse" in exchange.uri else JsonArrayDecoder()


def events_of(exchange: Exchange) -> list[SseEvent]:
    return replay.decode(decoder_for(exchange), exchange.body)


def complete(exchange: Exchange) -> Completion:
    if exchange in STREAMS:
        return run_stream(PROVIDER, events_of(exchange))[0]
    return PROVIDER.parse_body(exchange.body)


def brief(text: str) -> str:
    return replay.brief(text, limit=72, head=30, tail=20)


def summary(completion: Completion) -> dict[str, Any]:
    parts: list[tuple[Any, ...]] = []
    for part in completion.parts:
        data = dict(part.provider_data or {})
        signature = data.pop("signature", None)
        if signature is None:  # only reasoning names Gemini without a signature
            assert data == ({"provider": "gemini"} if isinstance(part, ReasoningPart) else {})
        else:
            assert data == {"provider": "gemini"}, part
        sig = None if signature is None else brief(signature)
        if isinstance(part, ToolCallPart):
            parts.append(("tool_call", part.name, part.tool_call_id, part.arguments, sig))
        else:
            assert isinstance(part, (TextPart, ReasoningPart)), part
            parts.append((part.type, brief(part.text or ""), sig))
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


# The recorded requests as llmframe messages (how a table would hold them) -----------------------


def decode(text: str) -> bytes:
    """Base64 in either alphabet: google-genai writes bytes URL-safe, the API answers standard."""
    return base64.urlsafe_b64decode(text)


def part_from_wire(wire: dict[str, Any]) -> Part:
    signature = wire.get("thoughtSignature")
    signed = {"provider": "gemini", "signature": signature} if signature else None
    if "functionCall" in wire:
        call = wire["functionCall"]
        return ToolCallPart(
            name=call["name"],
            tool_call_id=call.get("id"),
            arguments=call.get("args", {}),
            provider_data=signed,
        )
    if "functionResponse" in wire:
        result = wire["functionResponse"]
        response = result["response"]
        text = response["output"] if list(response) == ["output"] else None
        return ToolResultPart(
            # Gemini 2.x results carry no id: the tool's name is the local label.
            tool_call_id=result.get("id") or result["name"],
            name=result["name"],
            text=text if isinstance(text, str) else None,
            value=None if isinstance(text, str) else response,
        )
    if "inlineData" in wire:
        mime = wire["inlineData"]["mimeType"]
        kind = {"image": ImagePart, "audio": AudioPart, "video": VideoPart}.get(
            mime.split("/")[0], DocumentPart
        )
        return kind(data=decode(wire["inlineData"]["data"]), mime_type=mime)
    if wire.get("thought"):
        return ReasoningPart(text=wire["text"], provider_data=signed or {"provider": "gemini"})
    assert set(wire) <= {"text", "thoughtSignature"}, wire
    return TextPart(text=wire["text"], provider_data=signed)


def messages_from_gemini(body: dict[str, Any]) -> list[Message]:
    messages = []
    if "systemInstruction" in body:
        parts = [part_from_wire(p) for p in body["systemInstruction"]["parts"]]
        messages.append(Message(role="system", parts=parts))
    for content in body["contents"]:
        parts = [part_from_wire(p) for p in content["parts"]]
        if content["role"] == "model":
            role = "assistant"
        elif all(isinstance(p, ToolResultPart) for p in parts):
            role = "tool"
        else:
            role = "user"
        messages.append(Message(role=role, parts=parts))
    return messages


def options_from(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded options as a user gives them: flat, Gemini's generationConfig names."""
    rest = {k: v for k, v in body.items() if k not in ("contents", "systemInstruction")}
    config = rest.pop("generationConfig", {})
    return {**rest, **config}


# (a) build_call reproduces every recorded request ------------------------------------------------


def canonical(body: Any) -> dict[str, Any]:
    """Where our encoding legitimately differs from the recorders', both sides are normalised."""
    body = json.loads(json.dumps(body))
    system = body.get("systemInstruction")
    if system is not None:
        # Every recorder sends `"role": "user"` in systemInstruction; Gemini ignores a role
        # there, and we send none.
        system.pop("role", None)
    if body.get("generationConfig") == {}:
        del body["generationConfig"]  # mirascope sends an empty one; we leave it out
    for content in [*body["contents"], *([system] if system else [])]:
        for part in content["parts"]:
            # Base64 in either alphabet (see `decode`) compares as the bytes it holds.
            if "thoughtSignature" in part:
                part["thoughtSignature"] = decode(part["thoughtSignature"]).hex()
            if "inlineData" in part:
                part["inlineData"]["data"] = decode(part["inlineData"]["data"]).hex()
    return body


def model_of(exchange: Exchange) -> str:
    match = re.search(r"/models/([^/:]+):", exchange.path)
    assert match is not None
    return match[1]


@needs_conformance
@pytest.mark.parametrize("exchange", EXCHANGES, ids=ids(EXCHANGES))
def test_build_call_reproduces_the_recorded_request(exchange: Exchange) -> None:
    recorded = exchange.request_json()
    stream = exchange.path.endswith(":streamGenerateContent")
    messages = messages_from_gemini(recorded)

    call = PROVIDER.build_call(model_of(exchange), messages, options_from(recorded), stream=stream)

    assert (call.method, call.stream, call.headers) == ("POST", stream, {})
    # llm-gemini streams without alt=sse (a JSON array); we always ask for server-sent events.
    uri = exchange.uri if "alt=sse" in exchange.uri or not stream else f"{exchange.uri}?alt=sse"
    assert ENDPOINTS["gemini"].base_url + call.path == uri
    assert canonical(call.body) == canonical(recorded)


def test_the_normalisation_only_forgives_what_it_says() -> None:
    ours = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    with_role = {**ours, "systemInstruction": {"role": "user", "parts": [{"text": "s"}]}}
    without = {**ours, "systemInstruction": {"parts": [{"text": "s"}]}}
    assert canonical(with_role) == canonical(without)
    assert canonical({**ours, "generationConfig": {}}) == canonical(ours)
    assert canonical({**ours, "generationConfig": {"seed": 1}}) != canonical(ours)
    standard = {
        "contents": [{"role": "model", "parts": [{"text": "", "thoughtSignature": "+/8A"}]}]
    }
    urlsafe = {"contents": [{"role": "model", "parts": [{"text": "", "thoughtSignature": "-_8A"}]}]}
    other = {"contents": [{"role": "model", "parts": [{"text": "", "thoughtSignature": "+/9A"}]}]}
    assert canonical(standard) == canonical(urlsafe) != canonical(other)


# (b) recorded responses parse to the right parts, usage and finish reason -----------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "gemini-generate-text[0]": {
        "parts": [
            (
                "text",
                "To calculate 4200 + 42:\n\n*   *…200 + 42 = **4242**. (153 chars)",
                None,
            )
        ],
        "usage": (13, 102, 25, None),  # out: candidatesTokenCount 77 + thoughtsTokenCount 25
        "finish_reason": "stop",
        "id": "SJfyaMbrNJKlqtsPvNOW8Ao",
        "model": "gemini-2.5-flash",
    },
    "gemini-image-base64[0]": {
        "parts": [
            (
                "text",
                "The image displays a three-dim… dark gray interior. (193 chars)",
                None,
            )
        ],
        "usage": (266, 179, 145, None),
        "finish_reason": "stop",
        "id": "MGz5aOm0N87Qz7IP5OjdoAs",
        "model": "gemini-2.5-flash",
    },
    "gemini-json-schema[0]": {
        # avgLogprobs on the candidate is not stored; no thoughts in a 2.0 model's usage.
        "parts": [("text", '{\n  "city": "Mexico City",\n  "country": "Mexico"\n}', None)],
        "usage": (8, 20, None, None),
        "finish_reason": "stop",
        "id": "EfsgaZT5JPbXz7IPqtGJkQ8",
        "model": "gemini-2.0-flash",
    },
    "gemini-stream-array-thinking[0]": {
        # The signature arrives last, on an empty text part: it joins the text before it.
        "parts": [
            (
                "reasoning",
                "**Considering the Constraint**…int is paramount.\n\n\n (275 chars)",
                None,
            ),
            (
                "text",
                "Scoop",
                "Eq0JCqoJARFNMg+W/PqAbyHOY74CxX…llZWrA273y21OrQg8vJ4 (1600 chars)",
            ),
        ],
        "usage": (11, 293, 291, None),
        "finish_reason": "stop",
        "id": "IopyaseNCL-s-8YP7urOoAY",
        "model": "gemini-3.6-flash",
    },
    "gemini-stream-sse-text[0]": {
        "parts": [("text", "The capital of France is Paris.\n", None)],
        "usage": (13, 8, None, None),
        "finish_reason": "stop",
        "id": "w1peaMz6INOvnvgPgYfPiQY",
        "model": "gemini-2.0-flash-exp",
    },
    "gemini-stream-sse-tool-call-thought-signature[0]": {
        # Gemini says STOP for a turn that calls tools; the empty closing text adds nothing.
        "parts": [
            (
                "tool_call",
                "get_country",
                None,
                {},
                "EpwICpkIAXLI2nxlU6gsWZaZHRYkX1…5owonoBDAXOk15QuFyU= (1408 chars)",
            )
        ],
        "usage": (29, 212, 202, None),
        "finish_reason": "tool_calls",
        "id": "QUVVadTSNJ6_qtsPvN7J8Q0",
        "model": "gemini-3-pro-preview",
    },
    "gemini-stream-sse-tool-call-thought-signature[1]": {
        "parts": [("text", "The capital of Mexico is Mexico City.", None)],
        "usage": (257, 8, None, None),  # the last chunk's count wins
        "finish_reason": "stop",
        "id": "REVVabaiCdq4qtsPnZu96Qo",
        "model": "gemini-3-pro-preview",
    },
    "gemini-thinking[0]": {
        "parts": [
            (
                "reasoning",
                "**Analyzing Prime Numbers for …hus the count is 3.\n (1423 chars)",
                None,
            ),
            (
                "text",
                "The primes below 400 that cont…re 3 such primes.\n\n3 (355 chars)",
                None,
            ),
        ],
        "usage": (30, 1890, 1754, None),
        "finish_reason": "stop",
        "id": "gaRgacOXM6znqtsPy9_AmQY",
        "model": "gemini-2.5-flash",
    },
    "gemini-thinking[1]": {
        "parts": [("text", "I do remember. They were:\n\n79\n179\n379", None)],
        "usage": (881, 64, 46, None),
        "finish_reason": "stop",
        "id": "gqRgaf37MNSQmtkPxNaniAw",
        "model": "gemini-2.5-flash",
    },
    "gemini-tool-call[0]": {
        # Parallel calls: only the first carries a signature; Gemini 2.5 gives no call ids.
        "parts": [
            (
                "tool_call",
                "secret_retrieval_tool",
                None,
                {"password": "mellon"},
                "CtICAdHtim9BiyFrJTR8wDY7/ya4zv…8+9X2HnhdA56ArTOxlc= (456 chars)",
            ),
            ("tool_call", "secret_retrieval_tool", None, {"password": "radiance"}, None),
        ],
        "usage": (70, 116, 76, None),
        "finish_reason": "tool_calls",
        "id": "AJnyaJv6GPulqtsP5Z6fgAs",
        "model": "gemini-2.5-flash",
    },
    "gemini-tool-call[1]": {
        "parts": [
            (
                "text",
                'The secrets have been retrieve…"Life before Death". (158 chars)',
                None,
            )
        ],
        "usage": (152, 37, None, None),
        "finish_reason": "stop",
        "id": "AZnyaNDpA8mcqtsP7cWI8Qo",
        "model": "gemini-2.5-flash",
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
def test_texts_and_signatures_are_whole_and_exact() -> None:
    exchange = by_id("gemini-stream-array-thinking[0]")
    chunks = [json.loads(event.data) for event in events_of(exchange)]
    wire = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    reasoning, text = complete(exchange).parts
    assert reasoning == ReasoningPart(text=wire[0]["text"], provider_data={"provider": "gemini"})
    signature = wire[2]["thoughtSignature"]
    assert text == TextPart(
        text="Scoop", provider_data={"provider": "gemini", "signature": signature}
    )
    streamed = [json.loads(e.data) for e in events_of(by_id("gemini-stream-sse-text[0]"))]
    fragments = [c["candidates"][0]["content"]["parts"][0]["text"] for c in streamed]
    assert complete(by_id("gemini-stream-sse-text[0]")).parts == [TextPart(text="".join(fragments))]


# (c) every streamed event is handled -----------------------------------------------------------

EVENT_COUNTS = {
    "gemini-stream-array-thinking[0]": {"chunk": 3},
    "gemini-stream-sse-text[0]": {"chunk": 3},
    "gemini-stream-sse-tool-call-thought-signature[0]": {"chunk": 2},
    "gemini-stream-sse-tool-call-thought-signature[1]": {"chunk": 3},
}


@needs_conformance
def test_every_recorded_stream_has_event_counts() -> None:
    assert set(ids(STREAMS)) == set(EVENT_COUNTS)


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_every_recorded_event_is_handled(exchange: Exchange) -> None:
    events = events_of(exchange)
    if "alt=sse" in exchange.uri:
        framed = [line for line in exchange.body.splitlines() if line.startswith(b"data:")]
    else:
        framed = json.loads(exchange.body)  # the array's elements
    assert [json.loads(e.data) for e in events] == [
        json.loads(f.removeprefix(b"data:")) if isinstance(f, bytes) else f for f in framed
    ]
    _, parser = run_stream(PROVIDER, events)
    assert sum(parser.event_counts.values()) == len(events)
    assert dict(parser.event_counts) == EVENT_COUNTS[exchange.id]


def chunk(*parts: dict[str, Any], finish: str | None = None, **extra: Any) -> SseEvent:
    candidate: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}}
    if finish is not None:
        candidate["finishReason"] = finish
    return SseEvent(data=json.dumps({"candidates": [{**candidate, **extra}]}))


def test_an_unknown_event_type_fails_loudly() -> None:
    with pytest.raises(UnexpectedResponse, match="unknown type `ping`"):
        PROVIDER.stream_parser().feed(SseEvent(data="{}", event="ping"))


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (chunk({"executableCode": {"code": "print(1)"}}), "`executableCode` in a part"),
        (chunk({"fileData": {"fileUri": "https://x/y.png"}}), "`fileData`"),
        (
            chunk({"inlineData": {"mimeType": "image/png", "data": "AA=="}, "thought": True}),
            "thought",
        ),
        (chunk({"inlineData": {"mimeType": "image/png", "data": "A?=="}}), "base64"),
        (chunk({"inlineData": {"mimeType": "image/png", "data": ""}}), "non-empty base64"),
        (chunk({"inlineData": {"data": "AA==", "displayName": "x"}}), "`displayName`"),
        (chunk({"text": "a"}, groundingMetadata={"webSearchQueries": ["q"]}), "grounding"),
        (chunk({"functionCall": {"name": "f", "partialArgs": [{}]}}), "`partialArgs`"),
        (chunk({"functionCall": {"name": "f", "args": [1]}}), "`args`.*an object"),
        (chunk({"text": "a", "functionCall": {"name": "f"}}), "text or a call"),
        (chunk({"text": 7}), "`text`.*a string"),
        (chunk({"text": "a", "thought": "yes"}), "`thought`.*a boolean"),
        (SseEvent(data='{"candidates": [{}, {}]}'), "second candidate"),
        (SseEvent(data='{"candidates": [{"index": 1}]}'), "second candidate"),
        (SseEvent(data='{"candidates": {"content": {}}}'), "`candidates`"),
        (SseEvent(data='{"candidates": [{"content": {"role": "user"}}]}'), "`content`"),
        (SseEvent(data='{"usageMetadata": {"promptTokenCount": "9"}}'), "`promptTokenCount`"),
        (SseEvent(data='{"promptFeedback": "blocked"}'), "`promptFeedback`"),
        (SseEvent(data="[1, 2]"), "not a JSON object"),
        (SseEvent(data="<html>"), "not JSON"),
    ],
)
def test_chunks_llmframe_cannot_read_are_refused_not_dropped(event: SseEvent, match: str) -> None:
    with pytest.raises(UnexpectedResponse, match=match):
        PROVIDER.stream_parser().feed(event)


def test_candidate_metadata_is_not_stored_and_not_refused() -> None:
    quiet = {
        "avgLogprobs": -0.1,
        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}],
        "citationMetadata": {"citationSources": [{"uri": "https://example.com"}]},
        "finishMessage": "Model generated function call(s).",
        "groundingMetadata": {},
    }
    parser = PROVIDER.stream_parser()
    assert parser.feed(chunk({"text": "hi"}, finish="STOP", **quiet)) == [
        TextDelta(key="text:0", text="hi")
    ]
    assert parser.finish().parts == [TextPart(text="hi")]


def test_stream_end_without_a_finish_reason_is_an_error() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(chunk({"text": "Hel"}))
    with pytest.raises(UnexpectedResponse, match="ended before a finish reason"):
        parser.finish()


# (d) re-split streams give the same completion -------------------------------------------------


@needs_conformance
@pytest.mark.parametrize("exchange", STREAMS, ids=ids(STREAMS))
def test_resplit_streams_give_the_same_completion(exchange: Exchange) -> None:
    expected, expected_parser = run_stream(PROVIDER, events_of(exchange))

    @settings(max_examples=150, deadline=None)
    @given(resplit(exchange.body))
    def check(chunks: list[bytes]) -> None:
        completion, parser = run_chunks(PROVIDER, decoder_for(exchange), chunks)
        assert completion == expected
        assert parser.event_counts == expected_parser.event_counts

    check()


@pytest.mark.parametrize("decoder", [SseDecoder, JsonArrayDecoder])
def test_a_multibyte_stream_survives_byte_by_byte_feeding(decoder: type) -> None:
    # The recorded streams are ASCII; this one splits inside 2-, 3- and 4-byte sequences.
    text = 'héllo — 世界 🌍 [{"]}'
    first = {"candidates": [{"content": {"parts": [{"text": text}]}}]}
    last = {"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}]}
    payloads = [json.dumps(c, ensure_ascii=False) for c in (first, last)]
    if decoder is SseDecoder:
        body = "".join(f"data: {p}\r\n\r\n" for p in payloads).encode()
    else:
        body = ("[" + ",\r\n".join(payloads) + "]").encode()
    framing, parser = decoder(), PROVIDER.stream_parser()
    for index in range(len(body)):
        for event in framing.feed(body[index : index + 1]):
            parser.feed(event)
    assert framing.finish() == []
    assert parser.finish().parts == [TextPart(text=text + "!")]


# The JSON-array decoder on its own ---------------------------------------------------------------


def frames(*pieces: bytes) -> list[str]:
    decoder = JsonArrayDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)]
    return [e.data for e in [*events, *decoder.finish()]]


def test_json_array_elements_are_cut_out_whole() -> None:
    body = b'\xef\xbb\xbf [ {"a": "x\\"}{[", "b": [1, {"c": []}]} ,\n\t7 , "s,]" ,true,{}]  '
    assert frames(body) == ['{"a": "x\\"}{[", "b": [1, {"c": []}]}', "7", '"s,]"', "true", "{}"]
    assert frames(*[body[i : i + 1] for i in range(len(body))]) == frames(body)
    assert frames(b"[]") == frames(b"  ") == frames(b"") == []


def test_json_array_element_arrives_as_soon_as_it_closes() -> None:
    decoder = JsonArrayDecoder()
    assert [e.data for e in decoder.feed(b'[{"a": 1}')] == ['{"a": 1}']
    assert decoder.feed(b',\n{"b": ') == []
    assert [e.data for e in decoder.feed(b'"\\\\"}')] == ['{"b": "\\\\"}']


def test_json_array_junk_is_handed_on_for_the_parser_to_refuse() -> None:
    # A body that is not an array is one event; so is a cut element, or text after the `]`.
    assert frames(b'{"error": {"code": 500}}\n') == ['{"error": {"code": 500}}']
    assert frames(b'[{"a": 1}, {"b": ') == ['{"a": 1}', '{"b":']
    assert frames(b'[{"a": 1}] trailing') == ['{"a": 1}', "trailing"]
    parser = PROVIDER.stream_parser()
    parser.feed(SseEvent(data='{"a": 1}'))
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        parser.feed(SseEvent(data='{"b":'))


# (e) error classification ----------------------------------------------------------------------

VERDICTS = {
    "gemini-error-400-api-key-invalid[0]": ErrorVerdict(
        retryable=False,
        error_type="AuthFailed",
        message="API key not valid. Please pass a valid API key.",
    ),
    "gemini-error-404-model-not-found-stream[0]": ErrorVerdict(
        retryable=False,
        error_type="ProviderHTTPError",
        message="models/this-model-does-not-exist-12345 is not found for API version v1beta, or "
        "is not supported for generateContent. Call ListModels to see the list of available "
        "models and their supported methods.",
    ),
    "gemini-error-429-resource-exhausted[0]": ErrorVerdict(
        retryable=True,
        error_type="RateLimited",
        message="Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    ),
    "gemini-error-500-internal[0]": ErrorVerdict(
        retryable=True,
        error_type="ProviderHTTPError",
        message="An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    "gemini-error-503-overloaded[3]": ErrorVerdict(
        retryable=True,
        error_type="ProviderHTTPError",
        message="The model is overloaded. Please try again later.",
    ),
}
# mirascope sent the 404 twice: the same body, the same verdict.
VERDICTS["gemini-error-404-model-not-found-stream[1]"] = VERDICTS[
    "gemini-error-404-model-not-found-stream[0]"
]


@needs_conformance
def test_every_recorded_error_has_a_verdict() -> None:
    assert set(ids(FAILURES)) == set(VERDICTS)


@needs_conformance
@pytest.mark.parametrize("exchange", FAILURES, ids=ids(FAILURES))
def test_recorded_error_is_classified(exchange: Exchange) -> None:
    verdict = PROVIDER.classify_error(exchange.status, exchange.headers, exchange.body)
    assert verdict == VERDICTS[exchange.id]


@needs_conformance
def test_the_404_stream_error_is_json_under_an_event_stream_content_type() -> None:
    exchange = by_id("gemini-error-404-model-not-found-stream[0]")
    assert exchange.header("content-type") == "text/event-stream"
    assert json.loads(exchange.body)["error"]["status"] == "NOT_FOUND"


def quota_error(delay: Any, *, array: bool = False) -> bytes:
    """A 429 shaped as Gemini's: QuotaFailure, Help and RetryInfo details (values made up)."""
    error = {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
            },
            {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ],
    }
    return json.dumps([{"error": error}] if array else {"error": error}).encode()


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("0.250s", 0.25),
        ({"seconds": "2", "nanos": 500_000_000}, 2.5),
        ("soon", None),
        ("-3s", None),
        (None, None),
    ],
)
def test_retry_info_gives_the_retry_delay(delay: Any, seconds: float | None) -> None:
    verdict = PROVIDER.classify_error(429, {}, quota_error(delay))
    assert (verdict.retryable, verdict.error_type, verdict.retry_after) == (
        True,
        "RateLimited",
        seconds,
    )
    assert verdict.message.startswith("You exceeded your current quota")


def test_a_retry_after_header_wins_and_an_array_body_is_read() -> None:
    assert PROVIDER.classify_error(429, {"Retry-After": "4"}, quota_error("30s")).retry_after == 4
    verdict = PROVIDER.classify_error(429, {}, quota_error("7s", array=True))
    assert (verdict.retry_after, verdict.message[:8]) == (7.0, "You exce")


@pytest.mark.parametrize(
    ("status", "retryable", "error_type"),
    [
        (400, False, "ProviderHTTPError"),
        (401, False, "AuthFailed"),
        (403, False, "AuthFailed"),
        (404, False, "ProviderHTTPError"),
        (408, True, "ProviderHTTPError"),
        (429, True, "RateLimited"),
        (500, True, "ProviderHTTPError"),
        (503, True, "ProviderHTTPError"),
        (504, True, "ProviderHTTPError"),
    ],
)
def test_status_classification(status: int, retryable: bool, error_type: str) -> None:
    verdict = PROVIDER.classify_error(status, {}, b"")
    assert verdict == ErrorVerdict(retryable, error_type, f"HTTP {status}")


def test_error_messages_mask_keys() -> None:
    body = {"error": {"code": 400, "message": "bad key AIzaSyA1234567890abcdef", "details": 5}}
    verdict = PROVIDER.classify_error(400, {}, json.dumps(body).encode())
    assert verdict == ErrorVerdict(False, "ProviderHTTPError", "bad key AIza***")
    assert PROVIDER.classify_error(502, {}, b"<html>Bad gateway</html>").message == (
        "<html>Bad gateway</html>"
    )


def test_an_error_event_in_a_200_stream_is_raised_with_its_verdict() -> None:
    parser = PROVIDER.stream_parser()
    parser.feed(chunk({"text": "partial"}))
    overloaded = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    with pytest.raises(ProviderHTTPError, match="overloaded") as caught:
        parser.feed(SseEvent(data=json.dumps(overloaded)))
    assert caught.value.verdict == ErrorVerdict(
        True, "ProviderHTTPError", "error inside a 200 response: overloaded"
    )
    with pytest.raises(RateLimited) as limited:
        PROVIDER.parse_body(quota_error("9s"))
    assert limited.value.verdict is not None
    assert limited.value.verdict.retry_after == 9.0
    with pytest.raises(AuthFailed):
        PROVIDER.parse_body(by_id("gemini-error-400-api-key-invalid[0]").body)


# (f) a conversation parsed from a recording, sent back, is the next recorded request -------------

CHAINS = ["gemini-tool-call.yaml", "gemini-stream-sse-tool-call-thought-signature.yaml"]
CHAINS += ["gemini-thinking.yaml"]


def without_invented_ids(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic-ai gives Gemini's id-less calls ids of its own ("pyd_ai_..."); we invent none."""
    for content in contents:
        for part in content["parts"]:
            for key in ("functionCall", "functionResponse"):
                if part.get(key, {}).get("id", "").startswith("pyd_ai_"):
                    del part[key]["id"]
    return contents


@needs_conformance
@pytest.mark.parametrize("file", CHAINS)
def test_a_parsed_turn_sent_back_is_the_next_recorded_request(file: str) -> None:
    first, second = [ex for ex in SUCCESSES if ex.file == file]
    before = first.request_json()["contents"]
    after = second.request_json()
    parsed = complete(first)
    history = messages_from_gemini({"contents": after["contents"]})
    assert history[len(before)].role == "assistant"
    messages = [
        *messages_from_gemini(first.request_json()),
        Message(role="assistant", parts=list(parsed.parts)),
        *history[len(before) + 1 :],
    ]
    call = PROVIDER.build_call(model_of(second), messages, options_from(after), stream=False)
    assert call.body is not None
    ours = canonical(call.body)["contents"]
    assert ours == without_invented_ids(canonical(after)["contents"])
    sent = call.body["contents"][len(before)]["parts"]
    signatures = [(p.provider_data or {}).get("signature") for p in parsed.parts]
    # The signature goes back exactly as Gemini gave it (canonical compares bytes, this text).
    assert [p.get("thoughtSignature") for p in sent] == signatures


# Parsing rules no recording shows ----------------------------------------------------------------


def parse(*events: SseEvent) -> Completion:
    return run_stream(PROVIDER, list(events))[0]


def signed(signature: str) -> dict[str, Any]:
    return {"provider": "gemini", "signature": signature}


def test_a_signature_closes_its_part_and_an_orphan_one_is_kept_on_empty_text() -> None:
    completion = parse(
        chunk({"text": "Think", "thought": True}),
        chunk({"text": "ing", "thought": True, "thoughtSignature": "R1"}),
        chunk({"text": "more", "thought": True}),
        chunk({"text": "Hello "}, {"text": "world", "thoughtSignature": "T1"}),
        chunk({"text": "", "thoughtSignature": "T2"}),
        chunk({"functionCall": {"name": "f", "args": {"x": [1]}, "id": "c1"}}),
        chunk({"text": ""}, {"functionCall": {"name": "g"}, "thoughtSignature": "C2"}),
        chunk({"text": "", "thought": True, "thoughtSignature": "R2"}, finish="STOP"),
    )
    assert completion.parts == [
        ReasoningPart(text="Thinking", provider_data=signed("R1")),
        ReasoningPart(text="more", provider_data={"provider": "gemini"}),
        TextPart(text="Hello world", provider_data=signed("T1")),
        TextPart(text="", provider_data=signed("T2")),
        ToolCallPart(name="f", tool_call_id="c1", arguments={"x": [1]}),
        ToolCallPart(name="g", arguments={}, provider_data=signed("C2")),
        ReasoningPart(text=None, provider_data=signed("R2")),
    ]
    assert completion.finish_reason == "tool_calls"


def test_a_whole_body_gives_what_its_stream_gives() -> None:
    parts = [
        {"text": "Let me see.", "thought": True},
        {"text": "Calling.", "thoughtSignature": "S"},
        {"functionCall": {"name": "a", "args": {}}},
        {"functionCall": {"name": "b", "args": {"x": 1}}},
    ]
    events = [chunk(part) for part in parts]
    events.append(chunk(finish="STOP"))
    body = {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3},
        "responseId": "r1",
        "modelVersion": "gemini-x",
    }
    events.append(SseEvent(data=json.dumps({k: body[k] for k in list(body)[1:]})))
    whole = PROVIDER.parse_body(json.dumps(body).encode())
    assert parse(*events) == whole
    assert whole == Completion(
        parts=[
            ReasoningPart(text="Let me see.", provider_data={"provider": "gemini"}),
            TextPart(text="Calling.", provider_data=signed("S")),
            ToolCallPart(name="a", arguments={}),
            ToolCallPart(name="b", arguments={"x": 1}),
        ],
        usage=Usage(input_tokens=5, output_tokens=3),
        finish_reason="tool_calls",
        response_id="r1",
        model="gemini-x",
    )


IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
IMAGE_PART = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(IMAGE).decode()}}


def image_answer() -> list[dict[str, Any]]:
    """What an image model (gemini-2.5-flash-image) answers: text, then a signed image."""
    return [{"text": "Here it is."}, {**IMAGE_PART, "thoughtSignature": "I1"}, {"text": "Done."}]


def test_an_output_image_is_an_image_part_whole_or_streamed() -> None:
    body = {
        "candidates": [
            {"content": {"parts": image_answer(), "role": "model"}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1290},
    }
    events = [chunk(part) for part in image_answer()]
    events.append(SseEvent(data=json.dumps({**body, "candidates": [{"finishReason": "STOP"}]})))
    whole = PROVIDER.parse_body(json.dumps(body).encode())
    assert parse(*events) == whole
    assert whole.parts == [
        TextPart(text="Here it is."),
        ImagePart(data=IMAGE, mime_type="image/png", provider_data=signed("I1")),
        TextPart(text="Done."),
    ]
    assert whole.finish_reason == "stop"
    parser = PROVIDER.stream_parser()
    (delta,) = parser.feed(chunk(IMAGE_PART))
    assert delta == MediaDelta(key="image:0", mime_type="image/png", data=IMAGE)


def test_an_image_gemini_made_goes_back_inline_with_its_signature() -> None:
    image = ImagePart(data=IMAGE, mime_type="image/png", provider_data=signed("I1"))
    assert contents(HI, assistant(image))[1] == {
        "role": "model",
        "parts": [{**IMAGE_PART, "thoughtSignature": "I1"}],
    }


def test_feed_returns_the_deltas_it_carries() -> None:
    parser = PROVIDER.stream_parser()
    event = chunk(
        {"text": "Hm", "thought": True},
        {"text": "", "thoughtSignature": "Z"},
        {"functionCall": {"name": "f", "id": "c", "args": {"a": "é"}}},
    )
    assert parser.feed(event) == [
        ReasoningDelta(key="reasoning:0", text="Hm"),
        TextDelta(key="text:1", text=""),
        ToolCallDelta(key="tool_call:2", call_id="c", name="f", arguments='{"a":"é"}'),
    ]
    assert parser.feed(chunk({"text": ""}, {"text": "", "thought": True})) == []


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "MALFORMED_FUNCTION_CALL"),
        ("OTHER", "OTHER"),
    ],
)
def test_finish_reasons_are_normalised_where_the_word_clearly_maps(word: str, reason: str) -> None:
    assert parse(chunk({"text": "x"}, finish=word)).finish_reason == reason


def test_a_blocked_prompt_finishes_with_no_parts() -> None:
    body = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
    }
    completion = parse(SseEvent(data=json.dumps(body)))
    assert completion == Completion(
        parts=[], usage=Usage(input_tokens=7), finish_reason="content_filter"
    )
    assert PROVIDER.parse_body(json.dumps(body).encode()) == completion
    other = {"promptFeedback": {"blockReason": "OTHER"}}
    assert PROVIDER.parse_body(json.dumps(other).encode()).finish_reason == "OTHER"


def test_usage_counts_thoughts_as_output_and_tool_prompts_as_input() -> None:
    usage = {
        "promptTokenCount": 100,
        "toolUsePromptTokenCount": 20,
        "cachedContentTokenCount": 64,
        "candidatesTokenCount": 7,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 157,
    }
    body = json.dumps({"candidates": [], "usageMetadata": usage}).encode()
    assert PROVIDER.parse_body(body).usage == Usage(120, 37, 30, 64)
    only_thoughts = json.dumps({"usageMetadata": {"thoughtsTokenCount": 3}}).encode()
    assert PROVIDER.parse_body(only_thoughts).usage == Usage(None, 3, 3, None)


# build_call for what the recordings do not cover ---------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


def body_of(*messages: Message, options: dict[str, Any] | None = None) -> dict[str, Any]:
    call = PROVIDER.build_call("gemini-2.5-flash", list(messages), options or {}, stream=False)
    assert call.body is not None
    return dict(call.body)


def contents(*messages: Message) -> list[dict[str, Any]]:
    return body_of(*messages)["contents"]


def user(*parts: Any) -> Message:
    return Message(role="user", parts=list(parts))


def assistant(*parts: Any) -> Message:
    return Message(role="assistant", parts=list(parts))


def tool(*parts: Any) -> Message:
    return Message(role="tool", parts=list(parts))


HI = user(TextPart(text="hi"))


def test_paths_stream_with_sse_and_take_resource_names() -> None:
    stream = PROVIDER.build_call("gemini-2.5-flash", [HI], {}, stream=True)
    assert (stream.path, stream.stream) == (
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        True,
    )
    whole = PROVIDER.build_call("tunedModels/my-model-7", [HI], {}, stream=False)
    assert whole.path == "/tunedModels/my-model-7:generateContent"
    assert whole.body == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_common_option_names_map_into_generation_config() -> None:
    options = {
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "max_tokens": 256,
        "stop": "END",
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "n": 1,
        "response_mime_type": "application/json",
        "thinkingConfig": {"thinkingLevel": "low"},
        "tools": [{"googleSearch": {}}],
        "tool_config": {"functionCallingConfig": {"mode": "ANY"}},
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc",
        "generationConfig": {"responseModalities": ["TEXT"]},
    }
    body = body_of(HI, options=options)
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc",
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "topK": 40,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "seed": 7,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.3,
            "candidateCount": 1,
            "responseMimeType": "application/json",
            "thinkingConfig": {"thinkingLevel": "low"},
            "responseModalities": ["TEXT"],
        },
    }
    assert body_of(HI, options={"max_completion_tokens": 9, "stop": ["a", "b"]})[
        "generationConfig"
    ] == {"maxOutputTokens": 9, "stopSequences": ["a", "b"]}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": "x"}, "`model` cannot be set"),
        ({"contents": []}, "`contents` cannot be set"),
        ({"system_instruction": {}}, "system messages"),
        ({"stream": True}, "`stream` cannot be set"),
        ({"n": 2}, "must be 1"),
        ({"generationConfig": {"candidateCount": 3}}, "must be 1"),
        ({"response_format": {"type": "json_object"}}, "responseJsonSchema"),
        ({"tool_choice": "auto"}, "toolConfig"),
        ({"reasoning_effort": "low"}, "thinkingConfig"),
        ({"logprobs": True}, "log probabilities"),
        ({"responseLogprobs": True}, "log probabilities"),
        ({"max_tokens": 5, "maxOutputTokens": 6}, "`max_tokens` and `maxOutputTokens`"),
        ({"temperature": 1, "generationConfig": {"temperature": 0}}, "both set"),
        ({"generationConfig": "hot"}, "must be an object"),
    ],
)
def test_options_llmframe_owns_or_gemini_spells_otherwise_are_refused(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        body_of(HI, options=options)


def test_media_go_inline_or_by_url() -> None:
    video = {"provider": "gemini", "videoMetadata": {"startOffset": "10s"}, "detail": "x"}
    (content,) = contents(
        user(
            ImagePart(data=PNG, uri="photos/cat.png"),  # inlined by the runner: data wins
            AudioPart(data=b"ID3...", mime_type="audio/mpeg"),
            DocumentPart(uri="data:application/pdf;base64,JVBERi0=", name="a.pdf"),
            DocumentPart(uri="data:text/plain,caf%C3%A9"),
            VideoPart(uri="https://www.youtube.com/watch?v=abc", provider_data=video),
            ImagePart(uri="https://example.com/a.jpg", mime_type="image/jpeg"),
            VideoPart(uri="https://example.com/v.mp4", provider_data={"provider": "x", "fps": 1}),
        )
    )
    assert content["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
        {"inlineData": {"mimeType": "audio/mpeg", "data": "SUQzLi4u"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"inlineData": {"mimeType": "text/plain", "data": "Y2Fmw6k="}},
        {
            "fileData": {"fileUri": "https://www.youtube.com/watch?v=abc"},
            "videoMetadata": {"startOffset": "10s"},
        },
        {"fileData": {"fileUri": "https://example.com/a.jpg", "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "https://example.com/v.mp4"}},
    ]


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (user(ImagePart(uri="photos/cat.png")), r"message 1 \(user\).*not a URL"),
        (user(ImagePart(data=b"??")), "mime_type"),
        (user(DocumentPart(uri="data:,plain")), "mime_type"),
        (user(DocumentPart(uri="data:text/plain")), "no `,`"),
        (user(JsonPart(value={"a": 1})), "json part.*send the value as a text part"),
        (user(ReasoningPart(text="hm")), "only assistant messages hold reasoning"),
        (user(ToolResultPart(tool_call_id="c", text="1")), "`tool` message"),
        (assistant(JsonPart(value=[1])), r"message 1 \(assistant\).*json part"),
        (assistant(ToolCallPart(name="f", raw_arguments="{bad")), "arguments of tool call `f`"),
        (assistant(ToolCallPart(name="f", arguments=[1])), "as a JSON object"),
        (Message(role="system", parts=[ImagePart(data=PNG)]), "text only"),
        (tool(TextPart(text="1")), "tool results only"),
        (tool(ToolResultPart(tool_call_id="c", text="1")), "without the tool's name"),
        (tool(ToolResultPart(tool_call_id="c", name="f", text="1", value=2)), "not both"),
    ],
)
def test_parts_gemini_cannot_carry_are_refused_by_name(message: Message, match: str) -> None:
    with pytest.raises(UnsupportedPart, match=match):
        contents(message)


def test_system_messages_go_first_into_the_system_instruction() -> None:
    system = Message(role="system", parts=[TextPart(text="Be brief.")])
    developer = Message(role="developer", parts=[TextPart(text="Use metric.")])
    body = body_of(system, developer, HI)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    with pytest.raises(UnsupportedPart, match=r"message 2 \(system\).*put system messages first"):
        contents(HI, system)


def test_assistant_turns_carry_signatures_and_only_geminis_reasoning() -> None:
    turn = assistant(
        ReasoningPart(text="mine", provider_data=signed("R")),
        ReasoningPart(text="unsigned, mine", provider_data={"provider": "gemini"}),
        ReasoningPart(text="theirs", provider_data={"provider": "anthropic", "signature": "A"}),
        ReasoningPart(text="plain"),
        ReasoningPart(provider_data={"provider": "openai-responses", "encrypted": "E"}),
        TextPart(text="Answer", provider_data=signed("T")),
        TextPart(text="more", provider_data={"provider": "anthropic", "signature": "X"}),
        RefusalPart(text="Not that."),
        ToolCallPart(name="f", tool_call_id="c1", arguments={"x": 1}, provider_data=signed("C")),
        ImagePart(data=PNG),
    )
    only_foreign = assistant(ReasoningPart(text="theirs", provider_data={"provider": "x"}))
    assert contents(HI, turn, only_foreign, HI) == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {
            "role": "model",
            "parts": [
                {"text": "mine", "thought": True, "thoughtSignature": "R"},
                {"text": "unsigned, mine", "thought": True},
                {"text": "Answer", "thoughtSignature": "T"},
                {"text": "more"},
                {"text": "Not that."},
                {
                    "functionCall": {"name": "f", "args": {"x": 1}, "id": "c1"},
                    "thoughtSignature": "C",
                },
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
            ],
        },
        {"role": "user", "parts": [{"text": "hi"}]},  # the all-foreign turn has nothing to send
    ]


def test_tool_results_share_one_turn_and_are_linked_by_id_or_name() -> None:
    calls = assistant(
        ToolCallPart(name="weather", tool_call_id="call_1", arguments={"city": "Oslo"}),
        ToolCallPart(name="clock", arguments={}),
    )
    results = contents(
        HI,
        calls,
        tool(ToolResultPart(tool_call_id="call_1", value={"temp": -3})),
        tool(
            ToolResultPart(tool_call_id="clock", name="clock", text="09:00"),
            ToolResultPart(tool_call_id="x", name="log", value=[1, 2]),
        ),
        HI,
    )
    assert results[2:] == [
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "weather", "response": {"temp": -3}, "id": "call_1"}},
                {"functionResponse": {"name": "clock", "response": {"output": "09:00"}}},
                {"functionResponse": {"name": "log", "response": {"output": [1, 2]}}},
            ],
        },
        {"role": "user", "parts": [{"text": "hi"}]},
    ]


def test_get_provider_knows_gemini() -> None:
    provider = get_provider("gemini")
    assert isinstance(provider, Gemini)
    assert (provider.name, provider.api) == ("gemini", "gemini_generate_content")
    assert isinstance(provider.stream_decoder(), SseDecoder)


# (g) end to end through the runner, against a loopback Gemini server -----------------------------

KEY = "AIzaSy-sentinel-0123456789"


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[GeminiServer]:
    with GeminiServer() as server:
        yield server


def launch_run(
    source: Path, out: Path, server: GeminiServer, model: str, *, stream: bool, **kwargs: Any
) -> None:
    request = RunRequest(
        source=source,
        models=[f"gemini/{model}"],
        out=out,
        read=ReadOptions(),
        options=RunOptions(stream=stream, backoff_base=0.01, max_retries=2),
        base_url=server.base_url,
        **{"model_options": {}, **kwargs},
    )
    asyncio.run(launch(request))


def prompt_file(tmp_path: Path, exchange: Exchange) -> Path:
    (first,) = exchange.request_json()["contents"][0]["parts"]
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"id": "p1", "prompt": first["text"]}) + "\n")
    return path


def rows(out: Path, query: str) -> list[dict[str, Any]]:
    return sql(out, query).to_pylist()


def assert_no_key_written(out: Path) -> None:
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@needs_conformance
def test_a_streamed_tool_call_runs_end_to_end(
    tmp_path: Path, gemini_server: GeminiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    exchange = by_id("gemini-stream-sse-tool-call-thought-signature[0]")
    recorded = exchange.request_json()
    gemini_server.script(Reply(exchange.body, content_type="text/event-stream", chunk=97))
    out = tmp_path / "run"
    options = {k: v for k, v in options_from(recorded).items()}
    launch_run(
        prompt_file(tmp_path, exchange), out, gemini_server, "gemini-3-pro-preview",
        stream=True, model_options=options,
    )  # fmt: skip

    (sent,) = gemini_server.requests
    assert (sent.path, sent.query) == (
        "/v1beta/models/gemini-3-pro-preview:streamGenerateContent",
        {"alt": "sse"},
    )
    assert sent.headers["x-goog-api-key"] == KEY
    assert "Authorization" not in sent.headers
    assert sent.body == recorded
    (response,) = rows(out, "select * from responses")
    assert {k: response[k] for k in ("status", "provider", "finish_reason", "attempts")} == {
        "status": "ok",
        "provider": "gemini",
        "finish_reason": "tool_calls",
        "attempts": 1,
    }
    assert (response["input_tokens"], response["output_tokens"], response["reasoning_tokens"]) == (
        29,
        212,
        202,
    )
    assert 0 < response["ttft_ms"] <= response["latency_ms"]
    (part,) = rows(out, "select type, name, json, provider_data from parts")
    signature = json.loads(exchange.body.split(b"\r\n\r\n")[0][len(b"data: ") :])["candidates"][0][
        "content"
    ]["parts"][0]["thoughtSignature"]
    assert (part["type"], part["name"], json.loads(part["json"])) == (
        "tool_call",
        "get_country",
        {},
    )
    assert json.loads(part["provider_data"]) == signed(signature)
    assert_no_key_written(out)


@needs_conformance
def test_thoughts_come_back_in_the_follow_up_turn_exactly_as_recorded(
    tmp_path: Path, gemini_server: GeminiServer
) -> None:
    first, second = [ex for ex in SUCCESSES if ex.file == "gemini-thinking.yaml"]
    gemini_server.script(Reply(first.body), Reply(second.body))
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    launch_run(
        prompt_file(tmp_path, first), run1, gemini_server, "gemini-2.5-flash", stream=False,
        model_options=options_from(first.request_json()),
    )  # fmt: skip
    follow_up = second.request_json()["contents"][2]["parts"][0]["text"]
    launch_run(
        run1, run2, gemini_server, "gemini-2.5-flash", stream=False, follow_up=follow_up,
        model_options=options_from(second.request_json()),
    )  # fmt: skip

    # The first request, and the second built from what the run stored, are the recorded ones.
    assert [r.body for r in gemini_server.requests] == [
        first.request_json(),
        second.request_json(),
    ]
    assert [r["text"] for r in rows(run2, "select text from outputs")] == [
        "I do remember. They were:\n\n79\n179\n379"
    ]
    stored = rows(run1, "select type, provider_data from parts order by part_index")
    assert [(p["type"], json.loads(p["provider_data"] or "null")) for p in stored] == [
        ("reasoning", {"provider": "gemini"}),
        ("text", None),
    ]


@needs_conformance
def test_a_streamed_signature_is_stored_and_sent_back(
    tmp_path: Path, gemini_server: GeminiServer
) -> None:
    exchange = by_id("gemini-stream-array-thinking[0]")
    elements = json.loads(exchange.body)
    # The recorded array's elements, framed as the alt=sse stream we ask for.
    sse = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in elements).encode()
    gemini_server.script(
        Reply(sse, content_type="text/event-stream", chunk=211),
        Reply(by_id("gemini-generate-text[0]").body),
    )
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    launch_run(
        prompt_file(tmp_path, exchange), run1, gemini_server, "gemini-flash-latest", stream=True
    )
    launch_run(run1, run2, gemini_server, "gemini-flash-latest", stream=False, follow_up="Why?")

    sent = gemini_server.requests[1].body["contents"]
    parts = [p for e in elements for p in e["candidates"][0]["content"]["parts"]]
    assert sent == [
        exchange.request_json()["contents"][0],
        {
            "role": "model",
            "parts": [
                {"text": parts[0]["text"], "thought": True},
                {"text": "Scoop", "thoughtSignature": parts[2]["thoughtSignature"]},
            ],
        },
        {"role": "user", "parts": [{"text": "Why?"}]},
    ]


def test_retry_info_sets_the_wait_before_the_retry(
    tmp_path: Path, gemini_server: GeminiServer
) -> None:
    answer = {
        "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1},
    }
    gemini_server.script(Reply(quota_error("0.4s"), status=429), Reply(json.dumps(answer).encode()))
    source = tmp_path / "p.jsonl"
    source.write_text('{"id": "p1", "prompt": "hi"}\n')
    out = tmp_path / "run"
    launch_run(source, out, gemini_server, "gemini-2.5-flash", stream=False)
    first, second = (r.time for r in gemini_server.requests)
    assert second - first >= 0.4
    (response,) = rows(out, "select status, attempts, output_tokens from responses")
    assert response == {"status": "ok", "attempts": 2, "output_tokens": 1}


@needs_conformance
def test_an_invalid_key_is_an_error_row_without_retry(
    tmp_path: Path, gemini_server: GeminiServer
) -> None:
    exchange = by_id("gemini-error-400-api-key-invalid[0]")
    gemini_server.script(Reply(exchange.body, status=400))
    source = tmp_path / "p.jsonl"
    source.write_text('{"id": "p1", "prompt": "hi"}\n')
    out = tmp_path / "run"
    launch_run(source, out, gemini_server, "gemini-2.5-flash", stream=True)
    (response,) = rows(out, "select status, error_type, http_status, attempts from responses")
    assert response == {
        "status": "error",
        "error_type": "AuthFailed",
        "http_status": 400,
        "attempts": 1,
    }
    assert len(gemini_server.requests) == 1


def test_a_generated_image_lands_inline_in_the_parts_table_and_goes_back(
    tmp_path: Path, gemini_server: GeminiServer
) -> None:
    events = [chunk(*image_answer()[:2]), chunk(image_answer()[2], finish="STOP")]
    sse = "".join(f"data: {e.data}\r\n\r\n" for e in events).encode()
    answer = {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
    gemini_server.script(
        Reply(sse, content_type="text/event-stream", chunk=64), Reply(json.dumps(answer).encode())
    )
    source = tmp_path / "p.jsonl"
    source.write_text('{"id": "p1", "prompt": "Draw a cat"}\n')
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    launch_run(source, run1, gemini_server, "gemini-2.5-flash-image", stream=True)
    launch_run(run1, run2, gemini_server, "gemini-2.5-flash-image", stream=False, follow_up="More")

    stored = rows(run1, "select type, mime_type, data, uri from parts order by part_index")
    assert [(p["type"], p["mime_type"], p["data"], p["uri"]) for p in stored] == [
        ("text", None, None, None),
        ("image", "image/png", IMAGE, None),
        ("text", None, None, None),
    ]
    sent = gemini_server.requests[1].body["contents"][1]
    assert sent == {"role": "model", "parts": image_answer()}
