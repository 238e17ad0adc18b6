"""The incremental SSE decoder: the WHATWG event-stream rules, chunk boundaries anywhere."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from llmframe.providers._sse import SseDecoder
from llmframe.providers.base import SseEvent


def decode(*chunks: bytes) -> list[SseEvent]:
    decoder = SseDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return [*events, *decoder.finish()]


def test_one_event() -> None:
    assert decode(b"data: hello\n\n") == [SseEvent(data="hello")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Were the CR and the LF two line ends, the LF would make a blank line and dispatch "a" alone.
    assert decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [SseEvent(data="a\nb")]


def test_cr_and_lf_alone_end_lines_too() -> None:
    assert decode(b"data: a\rdata: b\r\rdata: c\n\n") == [
        SseEvent(data="a\nb"),
        SseEvent(data="c"),
    ]


def test_a_lone_cr_at_the_end_of_a_chunk_then_more_data() -> None:
    assert decode(b"data: a\r", b"data: b\r", b"\r") == [SseEvent(data="a\nb")]


def test_comments_are_ignored_and_a_block_without_data_is_not_dispatched() -> None:
    assert decode(b": keep-alive\n\n:another\ndata: x\n: inside\n\n") == [SseEvent(data="x")]
    assert decode(b"event: ping\n\n") == []


def test_multi_line_data_is_joined_with_line_feeds() -> None:
    assert decode(b'data: {\ndata:   "a": 1\ndata: }\n\n') == [SseEvent(data='{\n  "a": 1\n}')]


def test_one_leading_space_is_stripped_and_a_bare_field_has_an_empty_value() -> None:
    assert decode(b"data:no space\n\ndata:  two\n\ndata\n\n") == [
        SseEvent(data="no space"),
        SseEvent(data=" two"),
        SseEvent(data=""),
    ]


def test_event_id_and_retry_fields() -> None:
    stream = (
        b"event: error\nid: 7\nretry: 1500\ndata: a\n\n"
        b"data: b\n\n"  # the id persists; event and retry do not
        b"id: bad\0id\nretry: soon\ndata: c\n\n"  # an id with NUL and a non-numeric retry: ignored
        b"retry: 10\n\ndata: d\n\n"  # retry from a data-less block reaches the next event
        b"unknown: x\ndata: e\n\n"
    )
    assert decode(stream) == [
        SseEvent(data="a", event="error", id="7", retry=1500),
        SseEvent(data="b", id="7"),
        SseEvent(data="c", id="7"),
        SseEvent(data="d", id="7", retry=10),
        SseEvent(data="e", id="7"),
    ]


def test_a_leading_bom_is_ignored_even_when_split_but_only_at_the_start() -> None:
    assert decode(b"\xef", b"\xbb\xbfdata: x\n\n") == [SseEvent(data="x")]
    assert decode(b"data: \xef\xbb\xbfx\n\n") == [SseEvent(data="\ufeffx")]


def test_utf8_split_across_chunks_and_invalid_bytes_replaced() -> None:
    body = "data: héllo 世界 🌍\n\n".encode()
    assert decode(*(body[i : i + 1] for i in range(len(body)))) == [SseEvent(data="héllo 世界 🌍")]
    assert decode(b"data: \xff\n\n") == [SseEvent(data="\ufffd")]


def test_a_final_event_without_a_blank_line_is_dispatched_by_finish() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\n\ndata: last") == [SseEvent(data="a")]
    assert decoder.finish() == [SseEvent(data="last")]
    assert decode(b"data: last\r\n") == [SseEvent(data="last")]
    assert decode(b"data: a\n\n: just a comment") == [SseEvent(data="a")]


# Any stream, any chunking ----------------------------------------------------------------------

LINE = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)))
EVENTS = st.lists(
    st.tuples(st.none() | LINE.filter(bool), st.lists(LINE, min_size=1, max_size=3)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(), st.data())
def test_any_chunking_gives_the_events_written(
    events: list[tuple[str | None, list[str]]], newline: str, bom: bool, data: st.DataObject
) -> None:
    text = "".join(
        (f"event: {name}{newline}" if name else "")
        + "".join(f"data: {line}{newline}" for line in lines)
        + newline
        for name, lines in events
    )
    body = ("\ufeff" if bom else "").encode() + text.encode()
    cuts = data.draw(st.sets(st.integers(1, len(body) - 1)) if len(body) > 1 else st.just(set()))
    bounds = [0, *sorted(cuts), len(body)]
    chunks = [body[a:b] for a, b in itertools.pairwise(bounds)]
    expected = [SseEvent(data="\n".join(lines), event=name) for name, lines in events]
    assert decode(*chunks) == expected
