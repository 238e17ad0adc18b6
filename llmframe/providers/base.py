"""The provider contract: sans-I/O data passed between a wire-format module and the runner.

A provider turns messages and options into an `HttpCall`, and a response body or a stream of
server-sent events into a `Completion`. It does no I/O: the runner owns the HTTP client, auth,
retries, rate limits and timeouts for every provider alike (DESIGN.md section 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Union

from llmframe.parts.types import Message, Part
from llmframe.tools.spec import ToolSpec

__all__ = [
    "Completion",
    "ErrorVerdict",
    "HttpCall",
    "MediaDelta",
    "PartDelta",
    "Provider",
    "ReasoningDelta",
    "RefusalDelta",
    "SseEvent",
    "StreamDecoder",
    "StreamParser",
    "StructuredOutput",
    "StructuredOutputs",
    "TextDelta",
    "ToolCallDelta",
    "ToolOptions",
    "Usage",
]


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request to make, minus base URL and credentials (the runner adds those last)."""

    method: Literal["POST", "GET"]
    path: str
    """Relative to the endpoint's base URL, e.g. ``/chat/completions``."""
    body: Mapping[str, Any] | None
    """The JSON body."""
    stream: bool
    headers: Mapping[str, str] = field(default_factory=dict)
    """Non-secret headers only."""


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them (None where it did not)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    """A finished response: its parts in order, usage and why it stopped."""

    parts: Sequence[Part]
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    """``stop``, ``length``, ``tool_calls``, ``content_filter``, or the provider's own word."""
    response_id: str | None = None
    """The provider's id of the response, when it gives one."""
    model: str | None = None
    """The model the provider says answered (may differ from the one asked for)."""


@dataclass(frozen=True)
class ErrorVerdict:
    """How the runner should treat a failed response."""

    retryable: bool
    error_type: str
    """An `llmframe.errors` class name: ``RateLimited``, ``AuthFailed``, ``ProviderHTTPError``..."""
    message: str
    """Short, from the provider's error body; never holds credentials."""
    retry_after: float | None = None
    """Seconds to wait before retrying, when the provider said."""


@dataclass(frozen=True)
class StructuredOutput:
    """How a provider asks for JSON that fits a schema, natively (`StructuredOutputs`)."""

    options: Mapping[str, Any]
    """Request options to merge into the user's (``response_format``, ``output_config``...)."""
    answer: Literal["text", "tool_call"] = "text"
    """Where the JSON comes back: the answer's text, or the arguments of a forced tool call."""


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


@dataclass(frozen=True)
class TextDelta:
    """More text for the text part keyed `key`."""

    key: str
    text: str


@dataclass(frozen=True)
class RefusalDelta:
    """More text for the refusal part keyed `key`."""

    key: str
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """More reasoning for the part keyed `key`; a signature arrives once, usually last."""

    key: str
    text: str = ""
    signature: str | None = None


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a tool call keyed `key`: the id and name come first, arguments in pieces."""

    key: str
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class MediaDelta:
    """Bytes of the media part keyed `key` (an image a model made), already decoded.

    A media item usually comes whole, in one delta. A second delta for the same key appends its
    bytes, so a provider that sends one item in pieces can feed them as they come; a
    provider that makes a second image gives it a key of its own. `mime_type` is fixed by the
    first delta that names one; a different one later is an error.
    """

    key: str
    mime_type: str | None
    data: bytes
    kind: Literal["image"] = "image"
    """The part it becomes; only images so far (`ImagePart`)."""


PartDelta = Union[TextDelta, RefusalDelta, ReasoningDelta, ToolCallDelta, MediaDelta]  # noqa: UP007


class StreamDecoder(Protocol):
    """Bytes of a streamed body in, framed events out (SSE, NDJSON lines, ...); pure."""

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume a chunk; return the events it completed."""
        ...

    def finish(self) -> list[SseEvent]:
        """The body ended; return any last event."""
        ...


class StreamParser(Protocol):
    """Per-response state for one stream: events in, deltas out, a `Completion` at the end."""

    def feed(self, event: SseEvent) -> Iterable[PartDelta]:
        """Consume one event; yield the deltas it carries. Raise `UnexpectedResponse` on junk."""
        ...

    def finish(self) -> Completion:
        """The finished response, its parts joined by the shared assembler."""
        ...


class Provider(Protocol):
    """One wire API (OpenAI chat, Anthropic...); structural, so plugins need not inherit."""

    name: str
    api: str

    def build_call(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any],
        *,
        stream: bool,
    ) -> HttpCall:
        """The request for one conversation; raise `UnsupportedPart` for a part it cannot carry."""
        ...

    def parse_body(self, body: bytes) -> Completion:
        """A whole (non-streamed) response body."""
        ...

    def stream_decoder(self) -> StreamDecoder:
        """A fresh framing decoder for one streamed body (`SseDecoder` for SSE APIs)."""
        ...

    def stream_parser(self) -> StreamParser:
        """A fresh parser for one streamed response."""
        ...

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorVerdict:
        """How to treat an HTTP error (also applied to an error event inside a 200 stream)."""
        ...


class StructuredOutputs(Protocol):
    """Optional: a provider with a native structured-output mode implements this too.

    Extraction (``llmframe extract``, ``run --schema``) uses it when present; a provider without
    it gets the schema as instructions in the prompt, and its answer is parsed tolerantly.
    """

    def structured_output(self, schema: Mapping[str, Any], name: str) -> StructuredOutput:
        """The options that make the model answer with JSON valid against `schema`.

        `schema` is a JSON Schema object whose root is an object; `name` is a short identifier
        (``[A-Za-z0-9_-]``, at most 64 characters) for APIs that want one. Raise `UsageError`
        when the API cannot express the schema.
        """
        ...


class ToolOptions(Protocol):
    """Optional: how a provider offers tools to the model (every built-in provider has it)."""

    def tool_options(self, tools: Sequence[ToolSpec], choice: str | None) -> Mapping[str, Any]:
        """Request options offering `tools` with `choice`, in this API's shape.

        `choice` is ``auto``, ``none``, ``required`` or a tool name; None leaves the API's
        default. Raise `UsageError` when the API cannot express the choice.
        """
        ...
