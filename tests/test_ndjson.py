"""The incremental NDJSON decoder: one event per line, chunk boundaries anywhere."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from llmframe.providers._ndjson import NdjsonDecoder
from llmframe.providers.base import SseEvent


def decode(*chunks: bytes) -> list[SseEvent]:
    decoder = NdjsonDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return [*events, *decoder.finish()]


def datas(*chunks: bytes) -> list[str]:
    return [event.data for event in decode(*chunks)]


def test_one_event_per_line() -> None:
    assert decode(b'{"a": 1}\n{"b": 2}\n') == [SseEvent(data='{"a": 1}'), SseEvent(data='{"b": 2}')]


def test_crlf_is_a_line_end_also_when_split_between_chunks() -> None:
    assert datas(b"one\r", b"\ntwo\r\n") == ["one", "two"]


def test_a_last_line_without_a_line_end_is_flushed_by_finish() -> None:
    decoder = NdjsonDecoder()
    assert decoder.feed(b"one\ntw") == [SseEvent(data="one")]
    assert decoder.feed(b"o") == []
    assert decoder.finish() == [SseEvent(data="two")]
    assert decoder.finish() == []
    assert datas(b"last\r") == ["last"]


def test_blank_lines_carry_nothing() -> None:
    assert datas(b"\n\none\n \t\r\n\ntwo\n\n") == ["one", "two"]


def test_a_lone_cr_is_not_a_line_end() -> None:
    # NDJSON lines end in LF; a CR inside a line is kept (JSON would have escaped a real one).
    assert datas(b"a\rb\n") == ["a\rb"]


def test_a_leading_bom_is_dropped_even_when_split() -> None:
    assert datas(b"\xef", b"\xbb", b"\xbfone\n") == ["one"]
    assert datas(b"\xef\xbb\xbf") == []
    assert datas(b"one\n\xef\xbb\xbftwo\n") == ["one", "\ufefftwo"]  # only a leading one


def test_utf8_split_inside_a_sequence_and_invalid_bytes() -> None:
    text = "héllo — 世界 🌍".encode()
    assert datas(*(text[i : i + 1] for i in range(len(text))), b"\n") == ["héllo — 世界 🌍"]
    assert datas(b"\xff ok\n") == ["\ufffd ok"]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), min_size=1)
        .filter(str.strip)
        .filter(lambda s: not s.startswith("\ufeff")),
        max_size=8,
    ),
    newline=st.sampled_from([b"\n", b"\r\n"]),
    final_newline=st.booleans(),
    data=st.data(),
)
def test_any_split_gives_the_same_lines(
    lines: list[str], newline: bytes, final_newline: bool, data: st.DataObject
) -> None:
    body = newline.join(line.encode() for line in lines) + (newline if final_newline else b"")
    cuts = data.draw(st.sets(st.integers(0, len(body))))
    bounds = [0, *sorted(cuts), len(body)]
    chunks = [body[a:b] for a, b in itertools.pairwise(bounds)]
    assert datas(*chunks) == lines
