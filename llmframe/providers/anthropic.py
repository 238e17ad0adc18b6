"""Anthropic Messages (``POST /messages``).

Request: ``{"model", "max_tokens", "system"?, "messages", **options}`` with the header
``anthropic-version: 2023-06-01``; streaming adds ``"stream": true``. Anthropic requires
``max_tokens``, so it defaults to `DEFAULT_MAX_TOKENS` (4096) when the options lack it. Other
options (``temperature``, ``tools``, ``tool_choice``, ``thinking``, ``output_config``,
``stop_sequences``, ``metadata``...) are passed through; ``model``, ``messages``, ``stream`` and
``system`` (which comes from the prompt's system messages) raise `UsageError`. Beta features are
asked for with an ``anthropic-beta`` request header, not an option. The message mapping,
including the rule for reasoning from other providers (left out), is in `_anthropic_request`.

Response: content blocks become parts through `_anthropic_content` (text, thinking with its
signature, redacted thinking, tool calls), a whole body and a stream through the same code.
``stop_reason`` is normalised: ``end_turn`` and ``stop_sequence`` -> ``stop``, ``max_tokens``
and ``model_context_window_exceeded`` -> ``length``, ``tool_use`` -> ``tool_calls``,
``refusal`` -> ``content_filter``; any other word (``pause_turn``) is kept. Usage:
``input_tokens`` is the whole prompt, as other providers count it: Anthropic's uncached
``input_tokens`` plus ``cache_creation_input_tokens`` plus ``cache_read_input_tokens``, the last
also being ``cached_tokens``. Output tokens include thinking, which Anthropic does not count
apart, so ``reasoning_tokens`` stays None. In a stream, ``message_delta`` usage is cumulative
and overrides ``message_start``'s field by field.

Streams: every event type is handled or refused: ``message_start``, ``content_block_start``/
``_delta``/``_stop``, ``message_delta``, ``message_stop``, ``ping`` and ``error``; an unknown
type, an event whose SSE name and ``type`` differ, or anything after ``message_stop`` raises
`UnexpectedResponse`, as does a stream that ends before ``message_stop``.

Errors: ``{"type": "error", "error": {"type", "message"}}``. The ``x-should-retry`` header,
when present, decides whether to retry (Anthropic sets it ``true`` on 529 overloaded, ``false``
on 401 and on some 500s); otherwise 408, 409, 429 and 5xx (529 included) are retried. The wait
is ``Retry-After``, else, for a 429, the latest ``anthropic-ratelimit-*-reset`` of a limit with
nothing remaining. An ``error`` event inside a 200 stream (or an error body with status 200) is
classified with the status its error type implies (``overloaded_error`` -> 529...).

Rate limits: `Anthropic.rate_limit_headers` restates the ``anthropic-ratelimit-*`` headers of
any response in the ``x-ratelimit-*`` words the runner's adaptive budget reads.

Structured output (`Anthropic.structured_output`, the path extraction takes): Anthropic's own
JSON outputs, ``output_config: {"format": {"type": "json_schema", "schema": ...}}``, generally
available, so no ``anthropic-beta`` header, and with no name. Its constrained decoding takes a
subset of JSON Schema, which `anthropic_schema` produces: every object gets
``additionalProperties: false`` (which Anthropic requires); keywords it does not take (numeric
bounds, string lengths, ``maxItems``, ``minItems`` above 1, ``uniqueItems``, string formats
outside its list...) are dropped, which only loosens the schema, since llmframe validates every
answer against the original; ``oneOf`` becomes ``anyOf``. `UsageError` for what it cannot
express: an open object (``additionalProperties`` other than false, or no ``properties``),
recursion through ``$ref``, ``allOf`` over a ``$ref``, objects or arrays in ``enum``/``const``,
and ``not``, ``if``/``then``/``else``, ``dependentRequired``, ``dependentSchemas``. The JSON
comes back as the answer's text.

Tools (`Anthropic.tool_options`): ``tools`` of ``{name, description, input_schema}``, the schema
as given; ``tool_choice`` ``{"type": "auto"}``, ``{"type": "any"}`` (required), ``{"type":
"none"}`` or ``{"type": "tool", "name": ...}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from llmframe import _json
from llmframe.errors import ProviderHTTPError, UnexpectedResponse, UsageError
from llmframe.extraction.strict import REJECTED
from llmframe.parts.types import Message
from llmframe.providers import _http
from llmframe.providers._anthropic_content import (
    NAME,
    ContentBlocks,
    carries_content,
    json_object,
    junk,
    shape_error,
)
from llmframe.providers._anthropic_request import wire_request
from llmframe.providers._sse import SseDecoder
from llmframe.providers._wire import Wire, error_body
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    HttpCall,
    PartDelta,
    SseEvent,
    StructuredOutput,
    Usage,
)
from llmframe.tools.load import check_choice
from llmframe.tools.spec import ToolSpec

__all__ = ["API_VERSION", "DEFAULT_MAX_TOKENS", "Anthropic", "AnthropicStream", "anthropic_schema"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` when the options do not set it (Anthropic requires one)."""

_WIRE = Wire(NAME)
_RESERVED = {
    "model": "is the `model` argument",
    "messages": "comes from the prompt's messages",
    "stream": "is decided by the runner",
    "system": "comes from the prompt's system messages",
}
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
_LIMITS = {"requests": ("requests",), "tokens": ("tokens", "input-tokens", "output-tokens")}
_SCHEMA_DROPPED = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "maxItems",
        "uniqueItems",
        "prefixItems",
        "contains",
        "minContains",
        "maxContains",
        "minProperties",
        "maxProperties",
        "patternProperties",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "$schema",
        "$id",
    }
)
"""JSON Schema keywords Anthropic's structured outputs do not take; dropping them only loosens."""
_SCHEMA_REJECTED = REJECTED - {"allOf"}
_SCHEMA_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
_DEFS = ("$defs", "definitions")


class Anthropic:
    """The Anthropic Messages wire format; stateless, one instance serves every request."""

    name = NAME
    api = "anthropic_messages"

    def build_call(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any],
        *,
        stream: bool,
    ) -> HttpCall:
        """``POST /messages`` for one conversation."""
        for key, why in _RESERVED.items():
            if key in options:
                msg = f"option `{key}` cannot be set: it {why}"
                raise UsageError(msg)
        system, wire = wire_request(messages)
        body: dict[str, Any] = {"model": model, "max_tokens": DEFAULT_MAX_TOKENS}
        if system is not None:
            body["system"] = system
        body.update(messages=wire, **options)
        if stream:
            body["stream"] = True
        headers = {"anthropic-version": API_VERSION}
        return HttpCall(method="POST", path="/messages", body=body, stream=stream, headers=headers)

    def parse_body(self, body: bytes) -> Completion:
        """A whole ``message`` body, read as the stream of its blocks."""
        payload = json_object(body, "response body")
        if payload.get("type") == "error":
            raise _in_band_error(payload, self)
        if payload.get("type") != "message":
            raise junk(body, "a response body that is not a `message`")
        content = payload.get("content")
        if not isinstance(content, list):
            raise shape_error(content, "message", "content", "a list")
        blocks = ContentBlocks()
        for index, block in enumerate(content):
            blocks.start(index, block)
            blocks.stop(index)
        usage = payload.get("usage")
        return Completion(
            parts=blocks.parts(),
            usage=Usage() if usage is None else _usage(_usage_fields(usage)),
            finish_reason=_finish_reason(payload.get("stop_reason")),
            response_id=_WIRE.optional_str(payload, "id", "response"),
            model=_WIRE.optional_str(payload, "model", "response"),
        )

    def stream_decoder(self) -> SseDecoder:
        """Messages streams are server-sent events."""
        return SseDecoder()

    def stream_parser(self) -> AnthropicStream:
        """A parser for one Messages stream."""
        return AnthropicStream(self)

    def structured_output(self, schema: Mapping[str, Any], name: str) -> StructuredOutput:
        """``output_config.format`` ``json_schema`` with `anthropic_schema` (`name` is not sent)."""
        output_format = {"type": "json_schema", "schema": anthropic_schema(schema)}
        return StructuredOutput(options={"output_config": {"format": output_format}})

    def tool_options(self, tools: Sequence[ToolSpec], choice: str | None) -> dict[str, Any]:
        """``tools`` of ``{name, description, input_schema}``; ``tool_choice`` by ``type``.

        ``auto`` -> ``{"type": "auto"}``, ``required`` -> ``{"type": "any"}``, ``none`` ->
        ``{"type": "none"}``, a tool's name -> ``{"type": "tool", "name": ...}``. The schema goes
        as given (tools are not constrained decoding, so `anthropic_schema` does not apply).
        """
        choice = check_choice(tools, choice)
        if not tools:
            return {}
        options: dict[str, Any] = {"tools": [_tool(tool) for tool in tools]}
        if choice is not None:
            options["tool_choice"] = _TOOL_CHOICE.get(choice) or {"type": "tool", "name": choice}
        return options

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorVerdict:
        """``x-should-retry`` when given, else 408/409/429/5xx retryable; the wait if said."""
        text, payload = error_body(body)
        error = payload.get("error") if isinstance(payload, Mapping) else None
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            message = _http.excerpt(error["message"], 1000)
        else:
            message = _http.excerpt(text.strip()) or f"HTTP {status}"
        should_retry = (_http.header(headers, "x-should-retry") or "").strip().lower()
        if should_retry in ("true", "false"):
            retryable = should_retry == "true"
        else:
            retryable = _http.retryable_status(status)
        retry_after = _http.retry_after(headers)
        if retry_after is None and status == 429:
            retry_after = _exhausted_wait(headers)
        return ErrorVerdict(
            retryable=retryable,
            error_type=_http.error_type(status),
            message=message,
            retry_after=retry_after,
        )

    def rate_limit_headers(
        self, headers: Mapping[str, str], *, now: datetime | None = None
    ) -> dict[str, str]:
        """``anthropic-ratelimit-*`` in the ``x-ratelimit-*`` words the runner's budget reads.

        Requests map one to one; for tokens, the tightest of the ``tokens``, ``input-tokens`` and
        ``output-tokens`` limits is taken. Resets (RFC 3339 times) become seconds from `now`.
        """
        out: dict[str, str] = {}
        for kind, names in _LIMITS.items():
            tightest: tuple[int, int, float | None] | None = None
            for name in names:
                remaining = _int_header(headers, f"anthropic-ratelimit-{name}-remaining")
                if remaining is None or (tightest is not None and remaining >= tightest[1]):
                    continue
                limit = _int_header(headers, f"anthropic-ratelimit-{name}-limit")
                reset = _reset_seconds(headers, name, now)
                tightest = (limit if limit is not None else remaining, remaining, reset)
            if tightest is None:
                continue
            limit, remaining, reset = tightest
            out[f"x-ratelimit-limit-{kind}"] = str(limit)
            out[f"x-ratelimit-remaining-{kind}"] = str(remaining)
            if reset is not None:
                out[f"x-ratelimit-reset-{kind}"] = f"{reset:.3f}"
        return out


class AnthropicStream:
    """Per-response state of one stream. `event_counts` tallies each kind of event handled."""

    def __init__(self, provider: Anthropic) -> None:
        self._provider = provider
        self._blocks = ContentBlocks()
        self.event_counts: Counter[str] = Counter()
        self._started = False
        self._stopped = False
        self._usage: dict[str, int] = {}
        self._finish_reason: str | None = None
        self._response_id: str | None = None
        self._model: str | None = None

    def feed(self, event: SseEvent) -> list[PartDelta]:
        """Consume one event; return the deltas that carry content (all go to the assembler)."""
        kind, deltas = self._handle(event)
        self.event_counts[kind] += 1
        return [delta for delta in deltas if carries_content(delta)]

    def finish(self) -> Completion:
        """The finished response; raise `UnexpectedResponse` if the stream was cut short."""
        if not self._stopped:
            msg = "the stream ended before `message_stop`"
            raise UnexpectedResponse(msg, provider=NAME)
        return Completion(
            parts=self._blocks.parts(),
            usage=_usage(self._usage) if self._usage else Usage(),
            finish_reason=self._finish_reason,
            response_id=self._response_id,
            model=self._model,
        )

    def _handle(self, event: SseEvent) -> tuple[str, list[PartDelta]]:
        if self._stopped:
            raise junk(event.data, "an event after `message_stop`")
        payload = json_object(event.data, "stream event")
        kind = payload.get("type")
        if event.event == "error" or kind == "error":
            raise _in_band_error(payload, self._provider)
        if not isinstance(kind, str) or event.event not in (None, kind):
            raise junk(event.data, f"an event named `{event.event}` of type `{kind}`")
        if kind == "ping":
            return kind, []
        if kind == "message_start":
            self._start(payload)
            return kind, []
        if not self._started:
            raise junk(event.data, "an event before `message_start`")
        if kind == "content_block_start":
            return kind, [self._blocks.start(payload.get("index"), payload.get("content_block"))]
        if kind == "content_block_delta":
            return kind, [self._blocks.delta(payload.get("index"), payload.get("delta"))]
        if kind == "content_block_stop":
            self._blocks.stop(payload.get("index"))
        elif kind == "message_delta":
            self._message_delta(payload)
        elif kind == "message_stop":
            if self._blocks.open:
                raise junk(event.data, "`message_stop` while a content block is open")
            self._stopped = True
        else:
            raise junk(event.data, f"an event of unknown type `{kind}`")
        return kind, []

    def _start(self, payload: Mapping[str, Any]) -> None:
        message = payload.get("message")
        if self._started or not isinstance(message, Mapping):
            raise junk(_json.dumps(payload), "a second or malformed `message_start`")
        if message.get("content"):
            raise shape_error(message["content"], "message_start", "content", "empty")
        self._started = True
        self._response_id = _WIRE.optional_str(message, "id", "response")
        self._model = _WIRE.optional_str(message, "model", "response")
        self._usage.update(_usage_fields(message.get("usage") or {}))

    def _message_delta(self, payload: Mapping[str, Any]) -> None:
        delta = payload.get("delta") or {}
        if not isinstance(delta, Mapping):
            raise shape_error(delta, "message_delta", "delta", "an object")
        reason = _finish_reason(delta.get("stop_reason"))
        self._finish_reason = reason or self._finish_reason
        self._usage.update(_usage_fields(payload.get("usage") or {}))


def _tool(tool: ToolSpec) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        wire["description"] = tool.description
    wire["input_schema"] = dict(tool.parameters)
    return wire


def anthropic_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` in the subset Anthropic's structured outputs take (the module docstring says how).

    Raise `UsageError` for what that subset cannot express. The input is not changed.
    """
    out = _schema(schema)
    _refuse_recursion(out)
    return out


def _schema(schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return schema  # a boolean schema
    rejected = sorted(_SCHEMA_REJECTED & schema.keys())
    if rejected:
        msg = f"Anthropic structured outputs cannot express `{rejected[0]}`"
        raise UsageError(msg)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_DROPPED or key == "additionalProperties":
            continue
        if key == "format" and value not in _SCHEMA_FORMATS:
            continue
        if key == "minItems" and value not in (0, 1):
            continue
        if key in (*_DEFS, "properties"):
            out[key] = {name: _schema(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf", "allOf"):
            if key == "allOf" and any(isinstance(sub, Mapping) and "$ref" in sub for sub in value):
                msg = "Anthropic structured outputs cannot express `allOf` over a `$ref`"
                raise UsageError(msg)
            out["anyOf" if key == "oneOf" else key] = [_schema(sub) for sub in value]
        elif key == "items":
            out[key] = _schema(value)
        else:
            if key in ("enum", "const") and any(
                isinstance(v, (Mapping, list)) for v in (value if key == "enum" else [value])
            ):
                msg = f"Anthropic structured outputs take only plain values in `{key}`"
                raise UsageError(msg)
            out[key] = value
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "object" in kinds or "properties" in schema or "additionalProperties" in schema:
        extra = schema.get("additionalProperties")
        if not (extra is False or (extra is None and schema.get("properties"))):
            msg = (
                "Anthropic structured outputs need `additionalProperties: false` on every "
                "object, so an open object (a map, or an object without `properties`) cannot "
                "be expressed"
            )
            raise UsageError(msg)
        out["additionalProperties"] = False
    return out


def _refuse_recursion(schema: Mapping[str, Any]) -> None:
    """`UsageError` when local ``$ref``s make a cycle: Anthropic takes no recursive schema."""
    targets: dict[str, Any] = {"#": {k: v for k, v in schema.items() if k not in _DEFS}}
    for key in _DEFS:
        for name, sub in (schema.get(key) or {}).items():
            targets[f"#/{key}/{name}"] = sub
    edges = {ref: set(_refs(sub)) & targets.keys() for ref, sub in targets.items()}
    while leaves := [ref for ref, out in edges.items() if not out & edges.keys()]:
        for ref in leaves:
            del edges[ref]
    if edges:
        msg = f"Anthropic structured outputs cannot express a recursive schema (`{min(edges)}`)"
        raise UsageError(msg)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _finish_reason(reason: Any) -> str | None:
    if reason is not None and not isinstance(reason, str):
        raise shape_error(reason, "response", "stop_reason", "a string")
    return _FINISH.get(reason, reason) if reason is not None else None


_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def _usage_fields(raw: Any) -> dict[str, int]:
    """The token counts a ``usage`` object gives (absent and null ones left out)."""
    if not isinstance(raw, Mapping):
        raise shape_error(raw, "response", "usage", "an object")
    fields = {}
    for key in _TOKEN_FIELDS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise shape_error(value, "usage", key, "an integer")
        fields[key] = value
    return fields


def _usage(fields: Mapping[str, int]) -> Usage:
    uncached = fields.get("input_tokens")
    written = fields.get("cache_creation_input_tokens", 0)
    read = fields.get("cache_read_input_tokens")
    return Usage(
        input_tokens=None if uncached is None else uncached + written + (read or 0),
        output_tokens=fields.get("output_tokens"),
        cached_tokens=read,
    )


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = _http.header(headers, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _reset_seconds(headers: Mapping[str, str], name: str, now: datetime | None) -> float | None:
    """Seconds until ``anthropic-ratelimit-{name}-reset`` (an RFC 3339 time), at least 0."""
    value = _http.header(headers, f"anthropic-ratelimit-{name}-reset")
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _exhausted_wait(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Until the last spent limit resets, when a 429 came without ``Retry-After``."""
    waits = [
        wait
        for names in _LIMITS.values()
        for name in names
        if _int_header(headers, f"anthropic-ratelimit-{name}-remaining") == 0
        and (wait := _reset_seconds(headers, name, now)) is not None
    ]
    return max(waits) if waits else None


def _in_band_error(payload: Mapping[str, Any], provider: Anthropic) -> ProviderHTTPError:
    error = payload.get("error")
    kind = error.get("type") if isinstance(error, Mapping) else None
    status = _ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    verdict = provider.classify_error(status, {}, _json.dumps(payload).encode())
    return _http.in_band_error(verdict, provider=NAME)
