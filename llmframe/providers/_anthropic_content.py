"""Anthropic content blocks -> parts, for a whole body and a stream alike.

A whole ``message`` is read as a stream whose blocks each start complete and stop at once, so
both go through `ContentBlocks` and the shared `PartAssembler` and cannot drift apart. Block
``i`` is keyed ``block:i``:

- ``text`` -> a text part (``text_delta``). Non-empty ``citations`` raise: llmframe cannot store
  them yet, and dropping them would lose the sources.
- ``thinking`` -> a reasoning part with ``provider_data={"provider": "anthropic", "signature":
  ...}`` (``thinking_delta``, ``signature_delta``; the empty signature a stream starts with is
  no signature).
- ``redacted_thinking`` -> a reasoning part without text, its encrypted ``data`` kept as
  ``provider_data={"provider": "anthropic", "redacted_thinking": ...}``.
- ``tool_use`` -> a tool-call part; ``input`` (whole) or ``input_json_delta`` fragments
  (streamed) are its arguments.

Any other block or delta type (server tools, web search results, ``citations_delta``...) raises
`UnexpectedResponse`: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmframe import _json
from llmframe.errors import UnexpectedResponse
from llmframe.parts.types import Part, ReasoningPart
from llmframe.providers import _http
from llmframe.providers._assembler import PartAssembler
from llmframe.providers._wire import Wire
from llmframe.providers.base import (
    PartDelta,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)

__all__ = ["NAME", "ContentBlocks", "carries_content", "json_object", "junk", "shape_error"]

NAME = "anthropic"
_DELTA_OF = {
    "text_delta": "text",
    "input_json_delta": "tool_use",
    "thinking_delta": "thinking",
    "signature_delta": "thinking",
}
_WIRE = Wire(NAME)
junk = _WIRE.junk
json_object = _WIRE.json_object
shape_error = _WIRE.shape_error


def _string(obj: Mapping[str, Any], key: str, what: str, *, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise shape_error(value, what, key, "a string")
    return value


def _unsupported(kind: str, value: Any) -> UnexpectedResponse:
    excerpt = _http.excerpt(_json.dumps(value))
    msg = f"{kind}, which llmframe does not support yet: {excerpt}"
    return UnexpectedResponse(msg, provider=NAME, excerpt=excerpt)


def carries_content(delta: PartDelta) -> bool:
    """Whether a delta adds anything (a block's empty start only fixes the part's place)."""
    if isinstance(delta, ToolCallDelta):
        return bool(delta.arguments or delta.call_id or delta.name)
    if isinstance(delta, ReasoningDelta):
        return bool(delta.text or delta.signature)
    return bool(delta.text)


class ContentBlocks:
    """The content blocks of one response: started, fed deltas, stopped, joined into parts."""

    def __init__(self) -> None:
        self._assembler = PartAssembler(NAME)
        self._redacted: set[str] = set()
        self._types: dict[int, str] = {}
        self._open: set[int] = set()

    @property
    def open(self) -> bool:
        """Whether a block was started and not stopped."""
        return bool(self._open)

    def _add(self, delta: PartDelta) -> PartDelta:
        self._assembler.add(delta)
        return delta

    def start(self, index: Any, block: Any) -> PartDelta:
        """Block `index` begins as `block` (complete, for a whole body)."""
        if not _is_index(index) or index in self._types:
            raise shape_error(index, "content block start", "index", "a new block index")
        if not isinstance(block, Mapping):
            raise shape_error(block, "content block start", "content_block", "an object")
        kind = _string(block, "type", "content block")
        key = f"block:{index}"
        self._types[index] = kind
        self._open.add(index)
        if kind == "text":
            if block.get("citations"):
                what = "a text block with `citations`"
                raise _unsupported(what, block["citations"])
            return self._add(TextDelta(key=key, text=_string(block, "text", "text block")))
        if kind == "thinking":
            text = _string(block, "thinking", "thinking block", default="")
            signature = _string(block, "signature", "thinking block", default="")
            return self._add(ReasoningDelta(key=key, text=text, signature=signature or None))
        if kind == "redacted_thinking":
            self._redacted.add(key)
            data = _string(block, "data", "redacted_thinking block")
            return self._add(ReasoningDelta(key=key, signature=data))
        if kind == "tool_use":
            arguments = block.get("input", {})
            if not isinstance(arguments, Mapping):
                raise shape_error(arguments, "tool_use block", "input", "an object")
            call = ToolCallDelta(
                key=key,
                call_id=_string(block, "id", "tool_use block"),
                name=_string(block, "name", "tool_use block"),
                arguments=_json.dumps(arguments) if arguments else "",
            )
            return self._add(call)
        what = f"a `{kind}` content block"
        raise _unsupported(what, block)

    def delta(self, index: Any, delta: Any) -> PartDelta:
        """More of the open block `index`."""
        if not _is_index(index) or index not in self._open:  # a list would not even hash
            raise shape_error(index, "content block delta", "index", "an open block")
        if not isinstance(delta, Mapping):
            raise shape_error(delta, "content block delta", "delta", "an object")
        kind = _string(delta, "type", "content block delta")
        if kind == "citations_delta":
            what = "a `citations_delta`"
            raise _unsupported(what, delta)
        block = self._types[index]
        if _DELTA_OF.get(kind) != block:
            raise shape_error(delta, f"{block} block", "delta", "a delta of its type")
        key = f"block:{index}"
        if kind == "text_delta":
            return self._add(TextDelta(key=key, text=_string(delta, "text", kind)))
        if kind == "input_json_delta":
            fragment = _string(delta, "partial_json", kind)
            return self._add(ToolCallDelta(key=key, arguments=fragment))
        if kind == "thinking_delta":
            return self._add(ReasoningDelta(key=key, text=_string(delta, "thinking", kind)))
        signature = _string(delta, "signature", kind)
        return self._add(ReasoningDelta(key=key, signature=signature or None))

    def stop(self, index: Any) -> None:
        """Block `index` is complete."""
        if not _is_index(index) or index not in self._open:
            raise shape_error(index, "content block stop", "index", "an open block")
        self._open.remove(index)

    def parts(self) -> list[Part]:
        """The finished parts, in block order; redacted thinking keeps its data as such."""
        return [self._finished(key, part) for key, part in self._assembler.keyed_parts()]

    def _finished(self, key: str, part: Part) -> Part:
        if key not in self._redacted:
            return part
        assert isinstance(part, ReasoningPart)
        assert part.provider_data is not None
        data = {"provider": NAME, "redacted_thinking": part.provider_data["signature"]}
        return ReasoningPart(provider_data=data)


def _is_index(index: Any) -> bool:
    """A content block index: an integer (JSON ``true`` is not 1, nor ``[]`` anything)."""
    return isinstance(index, int) and not isinstance(index, bool)
