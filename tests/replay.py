"""Replaying recorded exchanges through a provider, shared by the tests/test_provider_*.py files.

`decode` turns a body into events with the provider's decoder, `run_stream` and `run_chunks` feed
them (or raw byte chunks) to a fresh stream parser, and `resplit` is the Hypothesis strategy that
cuts a recorded stream at arbitrary byte offsets, so every provider's chunk-boundary test draws
from the same cuts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from conformance import Exchange
from hypothesis import strategies as st

from llmframe.providers.base import Completion, SseEvent

NEWLINES = (b"\n", b"\r\n", b"\r")
BOM = b"\xef\xbb\xbf"


def ids(exchanges: Sequence[Exchange]) -> list[str]:
    """Test ids for parametrizing over `exchanges`."""
    return [ex.id for ex in exchanges]


def decode(decoder: Any, body: bytes) -> list[SseEvent]:
    """Every event `decoder` (fresh) reads from the whole `body`."""
    return [*decoder.feed(body), *decoder.finish()]


def run_stream(provider: Any, events: Iterable[SseEvent]) -> tuple[Completion, Any]:
    """The completion a fresh stream parser of `provider` gives for `events`, and that parser."""
    parser = provider.stream_parser()
    for event in events:
        parser.feed(event)
    return parser.finish(), parser


def run_chunks(provider: Any, decoder: Any, chunks: Iterable[bytes]) -> tuple[Completion, Any]:
    """`run_stream` for a body that arrives as `chunks`, decoded as they come."""
    parser = provider.stream_parser()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            parser.feed(event)
    for event in decoder.finish():
        parser.feed(event)
    return parser.finish(), parser


def brief(text: str, *, limit: int = 100, head: int = 40, tail: int = 30) -> str:
    """`text`, or its ends and length when it is longer than `limit` (for readable snapshots)."""
    return text if len(text) <= limit else f"{text[:head]}…{text[-tail:]} ({len(text)} chars)"


def after_cr(data: bytes) -> list[int]:
    """The offsets just after each CR, where a cut splits CR from LF."""
    return [i + 1 for i, byte in enumerate(data) if byte == 0x0D]


@st.composite
def resplit(
    draw: st.DrawFn,
    body: bytes,
    *,
    newlines: Sequence[bytes] = NEWLINES,
    bom: bool = True,
    favour: Callable[[bytes], list[int]] | None = after_cr,
    max_size: int | None = None,
) -> list[bytes]:
    """`body` with its line ends rewritten (one of `newlines`) and maybe a BOM, cut anywhere.

    `favour` names offsets drawn as often as any other (just after a CR, by default).
    """
    newline = draw(st.sampled_from(newlines))
    data = (BOM if bom and draw(st.booleans()) else b"") + body.replace(b"\n", newline)
    anywhere = st.integers(1, len(data) - 1)
    favoured = favour(data) if favour is not None else []
    cuts = draw(
        st.sets(
            st.one_of(anywhere, st.sampled_from(favoured)) if favoured else anywhere,
            max_size=max_size,
        )
    )
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]
