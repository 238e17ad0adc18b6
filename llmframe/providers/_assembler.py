"""Part deltas keyed by the vendor's key -> finished parts; shared by every provider.

Text, refusal, reasoning and tool-call fragments are joined as strings; a `MediaDelta`'s bytes
are concatenated, so an image given in one delta (the usual case) or in several ends up as one
`ImagePart` holding the bytes inline. They stay inline through to the parts table's ``data``
column rather than becoming files under the run directory: the run directory stays
self-contained, every Parquet reader sees them, the journal already base64-encodes binary, and
``Run._repr_html_`` thumbnails render inline bytes.

Streaming and non-streaming responses both go through `PartAssembler` (a whole body is replayed
as one delta per part), so the two cannot drift apart (pydantic-ai's parts manager, its rule 81).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from typing_extensions import assert_never

from llmframe import _json
from llmframe.errors import UnexpectedResponse
from llmframe.parts.types import (
    ImagePart,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
)
from llmframe.providers.base import (
    MediaDelta,
    PartDelta,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
)

__all__ = ["PartAssembler"]


@dataclass
class _Pending:
    """What one key has collected so far; `first` fixes the kind of part it becomes."""

    first: PartDelta
    fragments: list[str] = field(default_factory=list)
    call_id: str | None = None
    name: str | None = None
    signature: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    mime_type: str | None = None


class PartAssembler:
    """Collects deltas for one response; `parts` joins them once, in order of first appearance."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._pending: dict[str, _Pending] = {}

    def add(self, delta: PartDelta) -> None:
        """Buffer one delta under its key."""
        pending = self._pending.get(delta.key)
        if pending is None:
            pending = self._pending[delta.key] = _Pending(first=delta)
        elif type(pending.first) is not type(delta):
            msg = f"part `{delta.key}` got deltas of two kinds"
            raise UnexpectedResponse(msg, provider=self.provider)
        if isinstance(delta, (TextDelta, RefusalDelta)):
            pending.fragments.append(delta.text)
        elif isinstance(delta, ReasoningDelta):
            pending.fragments.append(delta.text)
            if delta.signature is not None:
                if pending.signature not in (None, delta.signature):
                    msg = f"reasoning `{delta.key}` got a second, different signature"
                    raise UnexpectedResponse(msg, provider=self.provider)
                pending.signature = delta.signature
        elif isinstance(delta, ToolCallDelta):
            pending.call_id = pending.call_id or delta.call_id
            pending.name = pending.name or delta.name
            pending.fragments.append(delta.arguments)
        elif isinstance(delta, MediaDelta):
            if isinstance(pending.first, MediaDelta) and pending.first.kind != delta.kind:
                msg = f"media `{delta.key}` got deltas of two kinds"
                raise UnexpectedResponse(msg, provider=self.provider)
            if delta.mime_type is not None:
                if pending.mime_type not in (None, delta.mime_type):
                    msg = f"media `{delta.key}` got a second, different MIME type"
                    raise UnexpectedResponse(msg, provider=self.provider)
                pending.mime_type = delta.mime_type
            pending.chunks.append(delta.data)
        else:
            assert_never(delta)

    def parts(self) -> list[Part]:
        """The finished parts."""
        return [self._part(key, pending) for key, pending in self._pending.items()]

    def keyed_parts(self) -> list[tuple[str, Part]]:
        """The finished parts with their keys, for a provider that adds state per key."""
        return [(key, self._part(key, pending)) for key, pending in self._pending.items()]

    def _part(self, key: str, pending: _Pending) -> Part:
        first, text = pending.first, "".join(pending.fragments)
        if isinstance(first, TextDelta):
            return TextPart(text=text)
        if isinstance(first, RefusalDelta):
            return RefusalPart(text=text)
        if isinstance(first, ReasoningDelta):
            if pending.signature is None:
                return ReasoningPart(text=text)
            data: dict[str, Any] = {"provider": self.provider, "signature": pending.signature}
            return ReasoningPart(text=text or None, provider_data=data)
        if isinstance(first, ToolCallDelta):
            return self._tool_call(key, pending, text)
        if isinstance(first, MediaDelta):
            return self._media(first, pending)
        assert_never(first)

    def _media(self, first: MediaDelta, pending: _Pending) -> Part:
        data = b"".join(pending.chunks)
        if not data:
            msg = f"media `{first.key}` got no bytes"
            raise UnexpectedResponse(msg, provider=self.provider)
        if first.kind == "image":
            return ImagePart(data=data, mime_type=pending.mime_type)
        assert_never(first.kind)

    def _tool_call(self, key: str, pending: _Pending, raw: str) -> ToolCallPart:
        name, call_id = pending.name, pending.call_id
        if not name:
            msg = f"tool call `{key}` never got a name"
            raise UnexpectedResponse(msg, provider=self.provider)
        if not raw.strip():
            return ToolCallPart(name=name, tool_call_id=call_id, arguments={})
        try:
            arguments = _json.loads(raw)
        except (ValueError, RecursionError):  # kept as text, as any unparseable arguments
            return ToolCallPart(name=name, tool_call_id=call_id, raw_arguments=raw)
        return ToolCallPart(name=name, tool_call_id=call_id, arguments=arguments)
