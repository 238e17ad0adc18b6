"""Suite 7 of issue #8, fuzzing: any framing gives the same parts; junk only ever gives an error.

Two guarantees, for every provider's stream parser and framing decoder:

1. **Framing does not matter.** Every streamed recording in ``../shared/conformance`` (OpenAI
   chat, OpenAI Responses, Anthropic and Gemini SSE, the Gemini JSON array, Ollama NDJSON) is
   re-framed the way a server or proxy may legally frame it, then cut at arbitrary byte offsets
   (inside UTF-8 sequences and between CR and LF too); the decoder and parser must give the same
   deltas and the same `Completion` as the recording read whole. SSE re-framing: CRLF, CR and LF
   line ends mixed line by line, ``:`` comment lines between and inside events, empty
   (data-less) events and blank lines, ``id:``, ``retry:`` and unknown fields, a JSON payload
   split over several ``data:`` lines (between JSON tokens, so the joined data means the same),
   ``data:`` without the space, a BOM, no final blank line. NDJSON: LF/CRLF mixed, blank and
   whitespace-only lines, a BOM, no final line end. JSON array: any whitespace between elements.
   Generated SSE and NDJSON streams (every field kind, invalid UTF-8, mixed line ends) are checked
   against a reference model of the WHATWG / NDJSON rules, under any chunking.
2. **Junk is classified.** Random bytes, SSE-shaped junk, JSON events built from each provider's
   own vocabulary (keys and words taken from its recordings), recorded streams and bodies that are
   garbled (a value replaced, a key dropped or added, events dropped, repeated, swapped) or
   truncated, every field of every kind of recorded event and body replaced in turn by a value of
   each JSON type (exhaustively, not at random), and error responses with junk statuses, headers
   and bodies: a decoder never raises;
   a parser either answers or raises an `llmframe.errors.ProviderError` (what
   ``llmframe/_attempt.py:_translated`` turns into a verdict; anything else escapes it and kills
   the runner's worker), whose message stays short; `classify_error` always returns a verdict.

Found by this suite and fixed in ``llmframe/providers/``: JSON nested deeper than Python's parser
allows (``[[[[...`` as a body, a stream event, an error body or tool arguments) raised
`RecursionError` through every parser, and the runner's worker died (``_wire.py``,
``_assembler.py``; ``test_deeply_nested_json_is_classified``); a list as an Anthropic block
``index`` raised `TypeError` (``_anthropic_content.py``), and usage ``*_tokens_details`` that
are not objects raised `AttributeError` in OpenAI chat and Responses (``openai.py``,
``_openai_responses_output.py``; both ``test_every_field_of_every_recorded_event_and_body_...``);
an error message quoted a value of the event (its ``type``, its SSE name) whole, however long
(``_wire.py``; ``test_a_huge_value_quoted_in_an_error_message_is_cut``).

Not repeated here: ``tests/test_sse.py`` and ``tests/test_ndjson.py`` (one line-end style per
stream, data/event lines only, any chunking) and each ``tests/test_provider_*.py::
test_resplit_streams_give_the_same_completion`` (the recordings with their line ends replaced
wholesale and an optional BOM, cut anywhere), plus their hand-written junk cases.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from conformance import Exchange, load, needs_conformance, recordings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmframe.errors import ProviderError, UnexpectedResponse
from llmframe.providers import _http
from llmframe.providers._json_array import JsonArrayDecoder
from llmframe.providers._ndjson import NdjsonDecoder
from llmframe.providers._sse import SseDecoder
from llmframe.providers.anthropic import Anthropic
from llmframe.providers.base import Completion, ErrorVerdict, PartDelta, SseEvent
from llmframe.providers.gemini import Gemini
from llmframe.providers.ollama import Ollama
from llmframe.providers.openai import OpenAIChat
from llmframe.providers.openai_responses import OpenAIResponses

PROVIDERS: dict[str, Any] = {
    "openai": OpenAIChat(),
    "openai_responses": OpenAIResponses(),
    "anthropic": Anthropic(),
    "gemini": Gemini(),
    "ollama": Ollama(),
}
DECODERS: dict[str, Callable[[], Any]] = {
    "sse": SseDecoder,
    "ndjson": NdjsonDecoder,
    "array": JsonArrayDecoder,
}
FRAMINGS = [  # (provider, framing) as the runner pairs them
    ("openai", "sse"),
    ("openai_responses", "sse"),
    ("anthropic", "sse"),
    ("gemini", "sse"),
    ("gemini", "array"),
    ("ollama", "ndjson"),
]


def fuzz(examples: int) -> settings:
    """Hypothesis settings for this suite: `examples` runs, no deadline (streams are big)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


SEEDED = st.integers(0, 2**32 - 1).map(random.Random)
"""A seeded `random.Random`: one draw, however many choices a 100 kB stream needs."""
MESSAGE_LIMIT = 1500
"""Characters an error message may have: what went wrong and one event's excerpt (200
characters, shown with repr), never the whole stream or an unbounded value from it."""


# --- the recordings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One recorded exchange and how the runner reads it."""

    provider: str
    framing: str  # "sse", "ndjson", "array", or "body" for a whole response
    exchange: Exchange

    @property
    def id(self) -> str:
        return self.exchange.id

    def events(self) -> list[SseEvent]:
        decoder = DECODERS[self.framing]()
        return [*decoder.feed(self.exchange.body), *decoder.finish()]


def _recorded() -> list[Recorded]:
    def exchanges(folder: str, *patterns: str) -> list[Exchange]:
        return [ex for path in recordings(folder, *patterns) for ex in load(path)]

    found = []
    for ex in exchanges("openai", "openai-chat-*.yaml", "openai-compat-*.yaml"):
        if ex.path.endswith("/chat/completions"):
            streamed = ex.status == 200 and ex.request_json().get("stream")
            found.append(Recorded("openai", "sse" if streamed else "body", ex))
    for ex in exchanges("openai", "openai-responses-*.yaml"):
        if ex.path.endswith("/responses"):
            streamed = ex.status == 200 and ex.request_json().get("stream")
            found.append(Recorded("openai_responses", "sse" if streamed else "body", ex))
    for ex in exchanges("anthropic", "*.yaml"):
        if ex.path.endswith("/messages"):
            streamed = ex.status == 200 and ex.request_json().get("stream")
            found.append(Recorded("anthropic", "sse" if streamed else "body", ex))
    for ex in exchanges("gemini", "*.yaml"):
        if ex.path.endswith(":streamGenerateContent") and ex.status == 200:
            found.append(Recorded("gemini", "sse" if "alt=sse" in ex.uri else "array", ex))
        elif ex.path.endswith((":generateContent", ":streamGenerateContent")):
            found.append(Recorded("gemini", "body", ex))
    for ex in exchanges("ollama", "*.yaml", "*.httprr"):
        if ex.path == "/api/chat":
            streamed = ex.status == 200 and ex.request_json().get("stream", True)
            found.append(Recorded("ollama", "ndjson" if streamed else "body", ex))
    return found


RECORDED = _recorded()
STREAMS = [r for r in RECORDED if r.framing != "body"]
SSE_STREAMS = [r for r in STREAMS if r.framing == "sse"]
NDJSON_STREAMS = [r for r in STREAMS if r.framing == "ndjson"]
ARRAY_STREAMS = [r for r in STREAMS if r.framing == "array"]
BODIES = [r for r in RECORDED if r.framing == "body" and r.exchange.status == 200]
ERRORS = [r for r in RECORDED if r.exchange.status >= 400]


@needs_conformance
def test_every_provider_and_framing_has_recordings() -> None:
    assert {(r.provider, r.framing) for r in STREAMS} == set(FRAMINGS)
    assert {r.provider for r in BODIES} == set(PROVIDERS)
    assert {r.provider for r in ERRORS} == set(PROVIDERS)


# --- reading a stream -----------------------------------------------------------------------------

Outcome = tuple[list[PartDelta], Completion]


def read_events(provider: Any, events: Iterable[SseEvent]) -> Outcome:
    """The deltas and the completion a fresh parser makes of `events`."""
    parser = provider.stream_parser()
    deltas = [delta for event in events for delta in parser.feed(event)]
    return deltas, parser.finish()


def read_chunks(provider: Any, framing: str, chunks: Iterable[bytes]) -> Outcome:
    """`read_events` for a body arriving as `chunks`, decoded as they come (as `_attempt` does)."""
    decoder, parser = DECODERS[framing](), provider.stream_parser()
    deltas: list[PartDelta] = []
    for chunk in chunks:
        for event in decoder.feed(chunk):
            deltas.extend(parser.feed(event))
    for event in decoder.finish():
        deltas.extend(parser.feed(event))
    return deltas, parser.finish()


def decode_chunks(framing: str, chunks: Iterable[bytes]) -> list[SseEvent]:
    """Every event a fresh decoder makes of `chunks`; a decoder must never raise."""
    decoder = DECODERS[framing]()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return [*events, *decoder.finish()]


@st.composite
def cut(draw: st.DrawFn, body: bytes, max_cuts: int = 40) -> list[bytes]:
    """`body` cut at up to `max_cuts` arbitrary offsets (CR|LF and mid-UTF-8 offsets favoured)."""
    if len(body) < 2:
        return [body]
    anywhere = st.integers(1, len(body) - 1)
    tricky = [i for i in range(1, len(body)) if body[i - 1] == 0x0D or body[i] >= 0x80]
    offsets = st.one_of(anywhere, st.sampled_from(tricky)) if tricky else anywhere
    cuts = sorted(draw(st.sets(offsets, max_size=max_cuts)))
    return [body[a:b] for a, b in itertools.pairwise([0, *cuts, len(body)])]


def classified(action: Callable[..., Any], *args: Any) -> Any:
    """`action(*args)`, or None after a classified error (any other exception fails the test)."""
    try:
        return action(*args)
    except ProviderError as exc:
        error = exc
    message = str(error)
    assert message, type(error)
    assert len(message) <= MESSAGE_LIMIT, (type(error).__name__, len(message), message[:300])
    if isinstance(error, UnexpectedResponse) and error.excerpt is not None:
        assert len(error.excerpt) <= 201
    return None


# --- 1. re-framed recordings give the same parts --------------------------------------------------

COMMENTS = [
    ":",
    ": keep-alive",
    ":ping",
    ": OPENROUTER PROCESSING",
    ":: ::",
    ": data: {not an event}",
]
EMPTY_BLOCKS: list[list[str]] = [  # blocks that dispatch nothing (no data field)
    [],  # one more blank line
    [": keep-alive"],
    ["event: ping"],
    ["id: 42"],
    ["retry: 3000"],
    ["id"],
    ["event: ping", "id: 7", "retry: 10", ": between"],
    ["unknown: field", "event"],
]
IN_EVENT_LINES = [
    ": comment",
    "id: evt-1",
    "id:",
    "retry: 250",
    "retry: soon",
    "x-unknown: 1",
    "id",
]
SSE_EDITS = ["block", "line", "split", "nospace"]


def json_token_gaps(data: str) -> list[int]:
    """Offsets in JSON text where a line feed is insignificant: after ``,:{[`` outside strings."""
    try:
        if not isinstance(json.loads(data), (dict, list)):
            return []
    except ValueError:
        return []
    gaps, in_string, escaped = [], False, False
    for index, char in enumerate(data[:-1]):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in ",:{[":
            gaps.append(index + 1)
    return gaps


def _data_lines(data: str, splits: set[int], nospace: bool) -> list[str]:
    gaps = json_token_gaps(data) if splits else []
    chosen = sorted({gaps[s % len(gaps)] for s in splits}) if gaps else []
    cut_up = [data[a:b] for a, b in itertools.pairwise([0, *chosen, len(data)])]
    pieces = [line for piece in cut_up for line in piece.split("\n")]  # one field per line
    # `data:x` loses no space; `data: x` loses exactly one, so a piece starting with one keeps it.
    return [f"data:{p}" if nospace and not p.startswith(" ") else f"data: {p}" for p in pieces]


def _terminators(lines: Sequence[str], mode: str, rng: Any) -> list[str]:
    ends: list[str] = []
    for line in lines:
        if mode != "mixed":
            ends.append(mode)
        elif ends and ends[-1] == "\r" and not line:
            ends.append(rng.choice(["\r", "\r\n"]))  # "\r" then "\n" would be one CRLF line end
        else:
            ends.append(rng.choice(["\n", "\r\n", "\r"]))
    return ends


@st.composite
def reframed_sse(draw: st.DrawFn, events: Sequence[SseEvent]) -> bytes:
    """`events` written again as a legal SSE stream framed differently, as bytes."""
    count = len(events)
    rng = draw(SEEDED)
    edits = draw(
        st.lists(
            st.tuples(st.integers(0, count), st.sampled_from(SSE_EDITS), st.integers(0, 10**6)),
            max_size=24,
        )
    )
    by_event: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for index, kind, param in edits:
        by_event[index].append((kind, param))
    lines: list[str] = []
    for index in range(count + 1):
        mine = by_event[index]
        for kind, param in mine:
            if kind == "block":
                lines += [*EMPTY_BLOCKS[param % len(EMPTY_BLOCKS)], ""]
        if index == count:
            break
        event = events[index]
        splits = {param for kind, param in mine if kind == "split"}
        nospace = any(kind == "nospace" for kind, _ in mine)
        block = _data_lines(event.data, splits, nospace)
        if event.event is not None:  # anywhere in its block
            block.insert(rng.randint(0, len(block)), f"event: {event.event}")
        for kind, param in mine:
            if kind == "line":
                extra = IN_EVENT_LINES + COMMENTS
                block.insert(param % (len(block) + 1), extra[param % len(extra)])
        lines += [*block, ""]
    if lines and not draw(st.booleans()):
        lines.pop()  # no final blank line: `finish` dispatches the last event
    mode = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    ends = _terminators(lines, mode, rng)
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode()


def as_json(data: str) -> Any:
    """`data` parsed when it is JSON (a split over ``data:`` lines adds only whitespace)."""
    try:
        return json.loads(data)
    except ValueError:
        return data


def examples_for(recorded: Recorded) -> int:
    """Fewer examples for the biggest recordings (100 kB streams), so the suite stays quick."""
    return max(8, min(40, 150_000 // max(1, len(recorded.exchange.body))))


def test_json_token_gaps_keep_the_json_the_same() -> None:
    data = '{"a": "x,:{[\\"]", "b": [1, {"c": "\\\\"}], "d": "\\":{"}'
    gaps = json_token_gaps(data)
    assert gaps
    for gap in gaps:
        assert json.loads(data[:gap] + "\n" + data[gap:]) == json.loads(data)
    assert json_token_gaps("[DONE]") == json_token_gaps('"s,"') == []


@needs_conformance
@pytest.mark.parametrize("recorded", SSE_STREAMS, ids=[r.id for r in SSE_STREAMS])
def test_recorded_sse_reframed_and_resplit_gives_the_same_parts(recorded: Recorded) -> None:
    provider, events = PROVIDERS[recorded.provider], recorded.events()
    expected = read_events(provider, events)
    originals = [(as_json(e.data), e.event) for e in events]
    assert not any("\r" in e.data for e in events)  # a CR in data could not be written back

    @fuzz(examples_for(recorded))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        chunks = data.draw(cut(data.draw(reframed_sse(events))))
        decoded = [(as_json(e.data), e.event) for e in decode_chunks("sse", chunks)]
        assert decoded == originals
        assert read_chunks(provider, "sse", chunks) == expected

    check()


@st.composite
def reframed_ndjson(draw: st.DrawFn, events: Sequence[SseEvent]) -> bytes:
    """`events` as NDJSON lines again: LF/CRLF mixed, blank and whitespace-only lines between."""
    rng = draw(SEEDED)
    blank_rate, crlf_rate = (
        draw(st.sampled_from([0.0, 0.05, 0.5])),
        draw(st.sampled_from([0, 0.5, 1])),
    )
    blanks = ["", " ", "\t", " \t ", "\x0c"]
    lines: list[str] = []
    for event in [*events, None]:
        while rng.random() < blank_rate:
            lines.append(rng.choice(blanks))
        if event is not None:
            lines.append(event.data)
    ends = ["\r\n" if rng.random() < crlf_rate else "\n" for _ in lines]
    if draw(st.booleans()):
        ends[-1] = ""  # no final line end: `finish` hands the last line on
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode()


@st.composite
def reframed_array(draw: st.DrawFn, events: Sequence[SseEvent]) -> bytes:
    """`events` as one JSON array again, with any JSON whitespace around its brackets and commas."""
    rng = draw(SEEDED)

    def space() -> str:
        return "".join(rng.choice(" \t\r\n") for _ in range(rng.choice([0, 0, 1, 3])))

    text = space() + "[" + space()
    for index, event in enumerate(events):
        if index:
            text += space() + "," + space()
        text += event.data
    text += space() + "]" + space()
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode()


@needs_conformance
@pytest.mark.parametrize(
    "recorded", NDJSON_STREAMS + ARRAY_STREAMS, ids=[r.id for r in NDJSON_STREAMS + ARRAY_STREAMS]
)
def test_recorded_ndjson_and_array_reframed_and_resplit_give_the_same_parts(
    recorded: Recorded,
) -> None:
    provider, events = PROVIDERS[recorded.provider], recorded.events()
    expected = read_events(provider, events)
    reframe = reframed_ndjson if recorded.framing == "ndjson" else reframed_array

    @fuzz(examples_for(recorded))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        chunks = data.draw(cut(data.draw(reframe(events))))
        assert [e.data for e in decode_chunks(recorded.framing, chunks)] == [e.data for e in events]
        assert read_chunks(provider, recorded.framing, chunks) == expected

    check()


# --- generated streams against a reference model --------------------------------------------------

VALUE = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
SSE_LINE = st.one_of(
    st.tuples(st.just("data"), st.sampled_from([b": ", b":", b":  "]), VALUE),
    st.tuples(
        st.sampled_from(["event", "id", "retry", "x"]), st.sampled_from([b": ", b":"]), VALUE
    ),
    st.tuples(
        st.just("retry"), st.just(b": "), st.integers(0, 10**6).map(lambda n: str(n).encode())
    ),
    st.tuples(st.sampled_from(["data", "event", "id", "retry"]), st.just(b""), st.just(b"")),
    st.tuples(st.just(""), st.just(b":"), VALUE),  # a comment
    st.tuples(st.just("blank"), st.just(b""), st.just(b"")),
)


def reference_sse(lines: Sequence[bytes]) -> list[SseEvent]:
    """The events of whole `lines` (line ends removed), by the spec's words and `_sse`'s two
    documented choices (a pending retry goes to the next event; the last event is dispatched)."""
    events: list[SseEvent] = []
    data: list[str] = []
    name, last_id, retry = "", None, None

    def dispatch() -> None:
        nonlocal data, name, retry
        if data:
            events.append(SseEvent("\n".join(data), name or None, last_id, retry))
            retry = None
        data, name = [], ""

    for raw in lines:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            dispatch()
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id" and "\0" not in value:
            last_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    dispatch()
    return events


@fuzz(300)
@given(
    st.lists(SSE_LINE, max_size=30),
    st.sampled_from(["\n", "\r\n", "\r", "mixed"]),
    st.booleans(),
    SEEDED,
    st.data(),
)
def test_generated_sse_any_framing_matches_the_reference(
    fields: list[tuple[str, bytes, bytes]],
    mode: str,
    bom: bool,
    rng: Any,
    data: st.DataObject,
) -> None:
    lines = [
        b"" if name == "blank" else name.encode() + colon + value for name, colon, value in fields
    ]
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = b"x" + lines[0]  # a BOM there would be eaten as the stream's own
    ends = _terminators([line.decode("latin-1") for line in lines], mode, rng)
    body = (b"\xef\xbb\xbf" if bom else b"") + b"".join(
        line + end.encode() for line, end in zip(lines, ends, strict=True)
    )
    chunks = data.draw(cut(body))
    assert decode_chunks("sse", chunks) == reference_sse(lines)


@fuzz(200)
@given(
    st.lists(
        st.one_of(
            VALUE, st.sampled_from([b"", b" ", b"\t", b"\x0b\x0c", b" {} ", b"\xef\xbb\xbf"])
        ),
        max_size=20,
    ),
    SEEDED,
    st.booleans(),
    st.booleans(),
    st.data(),
)
def test_generated_ndjson_any_framing_matches_the_reference(
    lines: list[bytes], rng: Any, bom: bool, final_end: bool, data: st.DataObject
) -> None:
    ends = [rng.choice([b"\n", b"\r\n"]) for _ in lines]
    if ends and not final_end:
        ends[-1] = b""
    body = (b"\xef\xbb\xbf" if bom else b"") + b"".join(
        line + end for line, end in zip(lines, ends, strict=True)
    )
    whole = body.removeprefix(b"\xef\xbb\xbf")
    expected = [
        SseEvent(line.removesuffix(b"\r").decode("utf-8", errors="replace"))
        for line in whole.split(b"\n")
        if line.removesuffix(b"\r").strip()
    ]
    assert decode_chunks("ndjson", data.draw(cut(body))) == expected


# --- 2. junk is classified ------------------------------------------------------------------------


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _vocabulary(provider: str) -> tuple[list[str], list[str]]:
    """The keys and short words of `provider`'s recorded JSON, and its SSE event names."""
    words: set[str] = {"type", "error", "message", "code", "status", "data", "text", "index"}
    names: set[str] = {"error", "message", "ping"}
    for recorded in RECORDED:
        if recorded.provider != provider:
            continue
        texts = [recorded.exchange.body]
        if recorded.framing != "body":
            events = recorded.events()
            names |= {e.event for e in events if e.event}
            texts = [e.data.encode() for e in events]
        for text in texts:
            try:
                payload = json.loads(text)
            except ValueError:
                continue
            words |= {w for w in _walk(payload) if isinstance(w, str) and len(w) <= 40}
    return sorted(words), sorted(names)


VOCABULARY = {name: _vocabulary(name) for name in PROVIDERS}


@functools.cache
def words_of(provider: str) -> st.SearchStrategy[str]:
    return st.sampled_from(VOCABULARY[provider][0])


@functools.cache
def json_values(provider: str) -> st.SearchStrategy[Any]:
    """JSON values whose keys and strings come mostly from a provider's own vocabulary."""
    word = words_of(provider)
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        word,
        st.text(max_size=8),
        st.sampled_from(["", "data:image/png;base64,AA==", "A?==", "{", "[DONE]"]),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.one_of(word, st.text(max_size=4)), children, max_size=6),
        ),
        max_leaves=40,
    )


def _prefix_events(provider: str) -> list[list[SseEvent]]:
    """Recorded streams of `provider` (SSE or NDJSON), as event lists: to start junk deep inside."""
    return [r.events() for r in STREAMS if r.provider == provider and r.framing != "array"]


@functools.cache
def _junk_event_lists(provider: str) -> st.SearchStrategy[list[SseEvent]]:
    name = st.one_of(st.none(), st.sampled_from(VOCABULARY[provider][1]), st.text(max_size=6))
    text = st.one_of(
        json_values(provider).map(lambda v: json.dumps(v, ensure_ascii=False)),
        st.text(max_size=30),
        st.sampled_from(["", "[DONE]", "null", "{}", "[]", '{"type": "error"}', '{"error": 1}']),
    )
    return st.lists(st.builds(SseEvent, text, name), min_size=1, max_size=8)


@st.composite
def junk_events(draw: st.DrawFn, provider: str) -> list[SseEvent]:
    """Junk events, after the start of a recorded stream of `provider` half the time."""
    prefixes = _prefix_events(provider)
    events: list[SseEvent] = []
    if prefixes and draw(st.booleans()):
        stream = draw(st.sampled_from(prefixes))
        events = stream[: draw(st.integers(0, min(len(stream), 60)))]
    return events + draw(_junk_event_lists(provider))


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_json_junk_events_raise_only_classified_errors(provider: str) -> None:
    parser_of = PROVIDERS[provider]

    @fuzz(250)
    @given(junk_events(provider))
    def check(events: list[SseEvent]) -> None:
        classified(lambda: read_events(parser_of, events))

    check()


SSE_TOKENS = [
    b"data: ", b"data:", b"event: ", b"id: ", b"retry: ", b": ", b"\n", b"\r\n", b"\r", b"\n\n",
    b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"[DONE]", b"null", b"true", b"0", b"-1",
    b'"type"', b'"choices"', b'"delta"', b'"content"', b'"error"', b'"done"', b'"candidates"',
    b"\xef\xbb\xbf", b"\xff", b"\xe2\x82", b"\x00",
]  # fmt: skip
JUNK_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(st.sampled_from(SSE_TOKENS), st.binary(max_size=4)), max_size=80).map(
        b"".join
    ),
)


@pytest.mark.parametrize(("provider", "framing"), FRAMINGS)
def test_random_bytes_never_crash_a_decoder_or_parser(provider: str, framing: str) -> None:
    parser_of = PROVIDERS[provider]

    @fuzz(250)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        chunks = data.draw(cut(data.draw(JUNK_BYTES)))
        decode_chunks(framing, chunks)  # decoders frame; they never raise
        classified(lambda: read_chunks(parser_of, framing, chunks))
        classified(lambda: parser_of.parse_body(b"".join(chunks)))

    check()


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


@st.composite
def garbled_json(draw: st.DrawFn, value: Any, provider: str) -> Any:
    """`value` with one change at a random place: replaced, removed, or a key added."""
    paths = list(_paths(value))
    path = draw(st.sampled_from(paths))
    value = copy.deepcopy(value)
    kind = draw(st.sampled_from(["replace", "remove", "add"]))
    replacement = draw(json_values(provider))
    if not path:
        return replacement
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "replace":
        parent[last] = replacement
    elif kind == "remove":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][draw(words_of(provider))] = replacement
    else:
        parent[last] = [parent[last], replacement]
    return value


@st.composite
def garbled_stream(draw: st.DrawFn) -> tuple[Recorded, list[SseEvent] | bytes]:
    """A recorded stream with events garbled, dropped, repeated or swapped, or its bytes cut."""
    recorded = draw(st.sampled_from(STREAMS))
    if draw(st.integers(0, 3)) == 0:
        body = recorded.exchange.body
        return recorded, body[: draw(st.integers(0, len(body)))]
    events = list(recorded.events())
    for _ in range(draw(st.integers(1, 3))):
        if not events:
            break
        index = draw(st.integers(0, len(events) - 1))
        kind = draw(st.sampled_from(["garble", "garble", "drop", "repeat", "swap", "cut"]))
        event = events[index]
        if kind == "garble":
            try:
                payload = json.loads(event.data)
            except ValueError:
                continue
            text = json.dumps(draw(garbled_json(payload, recorded.provider)), ensure_ascii=False)
            events[index] = SseEvent(text, event.event, event.id, event.retry)
        elif kind == "drop":
            del events[index]
        elif kind == "repeat":
            events.insert(index, event)
        elif kind == "swap" and index + 1 < len(events):
            events[index], events[index + 1] = events[index + 1], event
        elif kind == "cut":
            events[index] = SseEvent(
                event.data[: draw(st.integers(0, len(event.data)))], event.event
            )
    return recorded, events


@needs_conformance
@fuzz(300)
@given(garbled_stream())
def test_garbled_and_truncated_recorded_streams_raise_only_classified_errors(
    garbled: tuple[Recorded, list[SseEvent] | bytes],
) -> None:
    recorded, stream = garbled
    provider = PROVIDERS[recorded.provider]
    if isinstance(stream, bytes):
        classified(lambda: read_chunks(provider, recorded.framing, [stream]))
    else:
        classified(lambda: read_events(provider, stream))


@st.composite
def garbled_body(draw: st.DrawFn) -> tuple[Recorded, bytes]:
    recorded = draw(st.sampled_from(BODIES))
    body = recorded.exchange.body
    if draw(st.booleans()):
        return recorded, body[: draw(st.integers(0, len(body)))]
    for _ in range(draw(st.integers(1, 3))):
        body = json.dumps(draw(garbled_json(json.loads(body), recorded.provider))).encode()
    return recorded, body


@needs_conformance
@fuzz(300)
@given(garbled_body())
def test_garbled_and_truncated_recorded_bodies_raise_only_classified_errors(
    garbled: tuple[Recorded, bytes],
) -> None:
    recorded, body = garbled
    classified(lambda: PROVIDERS[recorded.provider].parse_body(body))


CONFUSED = [None, True, 0, -1, 2**64, 1.5, "", "x", [], [1], {}, {"a": 1}]
"""What each field of a recorded event or body is replaced by, one at a time."""


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value = copy.deepcopy(value)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return value


def _structure(value: Any) -> frozenset[Any]:
    """The shape of a JSON value: its paths (list indices as 0) and its ``type``/``object``."""
    shape: set[Any] = {tuple(0 if isinstance(s, int) else s for s in p) for p in _paths(value)}
    if isinstance(value, dict):
        shape.add(("=", str(value.get("type")), str(value.get("object"))))
    return frozenset(shape)


def _confused(payload: Any) -> Iterator[Any]:
    for path in _paths(payload):
        for new in CONFUSED:
            yield _replaced(payload, path, new)


@needs_conformance
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_every_field_of_every_recorded_event_and_body_survives_type_confusion(
    provider: str,
) -> None:
    """Exhaustive, not random: each field of each kind of recorded event (in its stream) and of
    each kind of recorded body, replaced in turn by each value of `CONFUSED`."""
    parser_of, seen, tried = PROVIDERS[provider], set(), 0
    mine = sorted(
        (r for r in STREAMS if r.provider == provider), key=lambda r: len(r.exchange.body)
    )
    for recorded in mine:
        events = recorded.events()
        for index, event in enumerate(events):
            payload = as_json(event.data)
            if not isinstance(payload, (dict, list)) or _structure(payload) in seen:
                continue
            seen.add(_structure(payload))
            for changed in _confused(payload):
                junk = SseEvent(json.dumps(changed), event.event)
                classified(read_events, parser_of, [*events[:index], junk, *events[index + 1 :]])
                tried += 1
    for recorded in (r for r in BODIES if r.provider == provider):
        payload = json.loads(recorded.exchange.body)
        if _structure(payload) in seen:
            continue
        seen.add(_structure(payload))
        for changed in _confused(payload):
            classified(parser_of.parse_body, json.dumps(changed).encode())
            tried += 1
    assert tried > 500


RETRY_VALUES = [
    "0",
    "1.5",
    "-1",
    "nan",
    "inf",
    "1e400",
    "",
    "soon",
    "Wed, 21 Oct 2015 07:28:00 GMT",
]
HEADER_NAMES = [
    "retry-after", "retry-after-ms", "x-should-retry", "x-ratelimit-remaining-requests",
    "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-reset", "content-type",
]  # fmt: skip


@st.composite
def error_response(draw: st.DrawFn) -> tuple[str, int, dict[str, str], bytes]:
    provider = draw(st.sampled_from(list(PROVIDERS)))
    status = draw(st.one_of(st.sampled_from([400, 401, 403, 404, 408, 409, 429, 500, 503, 529]),
                            st.integers(100, 999)))  # fmt: skip
    value = st.one_of(st.sampled_from(RETRY_VALUES), st.text(max_size=12))
    headers = draw(st.dictionaries(st.sampled_from(HEADER_NAMES), value, max_size=4))
    mine = [r for r in ERRORS if r.provider == provider]
    choice = draw(st.integers(0, 2))
    if choice == 0 and mine:
        body = draw(st.sampled_from(mine)).exchange.body
        try:
            body = json.dumps(draw(garbled_json(json.loads(body), provider))).encode()
        except ValueError:
            pass
    elif choice == 1:
        body = json.dumps(draw(json_values(provider))).encode()
    else:
        body = draw(JUNK_BYTES)
    return provider, status, headers, body


@fuzz(400)
@given(error_response())
def test_classify_error_always_returns_a_verdict(
    response: tuple[str, int, dict[str, str], bytes],
) -> None:
    name, status, headers, body = response
    provider = PROVIDERS[name]
    verdict = provider.classify_error(status, headers, body)
    assert isinstance(verdict, ErrorVerdict)
    assert verdict.error_type in ("RateLimited", "AuthFailed", "ProviderHTTPError")
    assert isinstance(verdict.message, str)
    assert len(verdict.message) <= MESSAGE_LIMIT
    assert verdict.retry_after is None or (
        math.isfinite(verdict.retry_after) and verdict.retry_after >= 0
    )
    translate = getattr(provider, "rate_limit_headers", None)
    if translate is not None:
        assert isinstance(translate(headers), dict)


DEEP = ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "[" * 100_000]


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("text", DEEP, ids=["array", "object", "unclosed"])
def test_deeply_nested_json_is_classified(provider: str, text: str) -> None:
    """Python's parser raises RecursionError here; it used to escape every parser."""
    parser_of = PROVIDERS[provider]
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        parser_of.parse_body(text.encode())
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        read_events(parser_of, [SseEvent(text)])
    verdict = parser_of.classify_error(500, {}, text.encode())
    assert verdict.error_type == "ProviderHTTPError"
    assert len(verdict.message) <= MESSAGE_LIMIT


def test_deeply_nested_tool_arguments_are_kept_as_text() -> None:
    """Arguments that do not parse are kept raw; so are ones nested too deep to parse."""
    deep = "[" * 100_000 + "]" * 100_000
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 0, "id": "t", "function": {"name": "f", "arguments": deep}}
                    ]
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    _, completion = read_events(
        PROVIDERS["openai"], [SseEvent(json.dumps(chunk)), SseEvent("[DONE]")]
    )
    (part,) = completion.parts
    assert part.raw_arguments == deep  # type: ignore[union-attr]


HUGE = "x" * 100_000
QUOTING_EVENTS = [  # events whose error message quotes a value taken from the event itself
    ("anthropic", SseEvent(json.dumps({"type": HUGE}), "message_start")),
    ("anthropic", SseEvent(json.dumps({"type": HUGE}))),
    ("openai", SseEvent("{}", HUGE)),
    ("openai", SseEvent(json.dumps({"object": HUGE, "choices": []}))),
    ("openai_responses", SseEvent(json.dumps({"type": HUGE}))),
    ("openai_responses", SseEvent(json.dumps({"type": "response.created"}), HUGE)),
    ("gemini", SseEvent("{}", HUGE)),
]


@pytest.mark.parametrize(("provider", "event"), QUOTING_EVENTS)
def test_a_huge_value_quoted_in_an_error_message_is_cut(provider: str, event: SseEvent) -> None:
    """Found by the garbled-stream property: the message quoted an event's ``type`` whole."""
    with pytest.raises(UnexpectedResponse) as refused:
        read_events(PROVIDERS[provider], [event])
    assert len(str(refused.value)) <= MESSAGE_LIMIT
    assert len(_http.excerpt(HUGE)) == 201  # excerpts are cut after redaction
