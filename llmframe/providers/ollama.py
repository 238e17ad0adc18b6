"""Ollama's native chat API (``POST /api/chat``), streamed as NDJSON or answered whole.

Request: ``{"model", "messages", ...top-level fields, "options": {...}, "stream"}``; ``stream``
is always sent, ``false`` for a whole answer since Ollama streams by default. How options split
between top-level fields and model ``options``, how messages and images are encoded and how
reasoning goes back are in `llmframe.providers._ollama_request`.

Response: a whole body is one JSON object; a stream is one per line (`NdjsonDecoder`), each with
a ``message`` fragment, the last with ``"done": true``. ``message.thinking`` becomes a reasoning
part, ``content`` a text part, and each entry of ``tool_calls`` (Ollama sends every call whole,
its ``arguments`` an object) a tool-call part with its ``id`` when given, numbered in order of
arrival. A whole body is read as a stream of that one object, so the two cannot drift apart.
Empty strings add nothing. Another key in ``message`` that holds something (``images`` from an
image model...) raises `UnexpectedResponse`: llmframe cannot store it yet and drops nothing.
Top-level keys besides those read (``created_at``, durations) are metadata and not kept.

Usage: ``prompt_eval_count`` in, ``eval_count`` out (thinking included: Ollama reports no
separate reasoning or cache counts). Finish: ``done_reason`` ``stop`` and ``length`` are already
llmframe's words, others (``load``, ``unload``) are kept; Ollama says ``stop`` after tool calls, so,
as its own OpenAI layer does, a response that stopped with tool calls finishes ``tool_calls``.

Errors: ``{"error": "..."}``, as an error body, a 200 body or a stream line. HTTP statuses follow
`llmframe.providers._http` (404, an unknown model, is not retried). An error inside a 200 response
has no status, so it is taken as a 500 (a stream that broke server-side is usually transient) and
raised as a `ProviderHTTPError` carrying that verdict. A stream that ends before its ``done`` line
was cut short and raises `UnexpectedResponse`; a line after ``done``, or junk, raises it too, with
that one line's text.

Structured output (`Ollama.structured_output`, the path extraction takes): the top-level
``format`` field holding the JSON schema as given, which Ollama turns into a grammar that
constrains decoding. The JSON comes back as the answer's text.

Tools (`Ollama.tool_options`): ``tools`` in Chat Completions' shape; Ollama has no
``tool_choice``, so only ``auto`` (or none) is taken.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from llmframe import _json
from llmframe.errors import ProviderHTTPError, UnexpectedResponse, UsageError
from llmframe.parts.types import Message, ToolCallPart
from llmframe.providers import _http
from llmframe.providers._assembler import PartAssembler
from llmframe.providers._ndjson import NdjsonDecoder
from llmframe.providers._ollama_request import request_body
from llmframe.providers._wire import Wire, error_body
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    HttpCall,
    PartDelta,
    ReasoningDelta,
    SseEvent,
    StructuredOutput,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmframe.providers.openai import chat_tool
from llmframe.tools.load import check_choice
from llmframe.tools.spec import ToolSpec

__all__ = ["Ollama", "OllamaStream"]

_NAME = "ollama"
_WIRE = Wire(_NAME)
_PATH = "/api/chat"
_READ_KEYS = {"role", "content", "thinking", "tool_calls"}
_IN_BAND_STATUS = 500


class Ollama:
    """Ollama's ``/api/chat`` wire format; stateless, one instance serves every request."""

    name = _NAME
    api = "ollama_chat"

    def build_call(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any],
        *,
        stream: bool,
    ) -> HttpCall:
        """``POST /api/chat`` for one conversation."""
        body = request_body(model, messages, options, stream=stream)
        return HttpCall(method="POST", path=_PATH, body=body, stream=stream)

    def parse_body(self, body: bytes) -> Completion:
        """A whole (``"stream": false``) response: the same reading as one stream line."""
        parser = self.stream_parser()
        parser.feed(SseEvent(data=body.decode("utf-8", errors="replace")))
        return parser.finish()

    def stream_decoder(self) -> NdjsonDecoder:
        """Ollama streams newline-delimited JSON."""
        return NdjsonDecoder()

    def stream_parser(self) -> OllamaStream:
        """A parser for one NDJSON stream."""
        return OllamaStream(self)

    def structured_output(self, schema: Mapping[str, Any], name: str) -> StructuredOutput:
        """``format`` set to `schema`, as given; no name is sent."""
        return StructuredOutput(options={"format": dict(schema)})

    def tool_options(self, tools: Sequence[ToolSpec], choice: str | None) -> dict[str, Any]:
        """``tools`` in Chat Completions' shape; the choice can only be ``auto``, Ollama's way.

        Ollama has no ``tool_choice``: ``auto`` sends nothing more, and ``none``, ``required`` or
        a tool's name raise `UsageError`, since ignoring them would change what the model does.
        """
        choice = check_choice(tools, choice)
        if choice not in (None, "auto"):
            msg = (
                f"`tool_choice` `{choice}` is not supported for Ollama: it cannot force or forbid "
                "tool calls. Hint: leave `tool_choice` unset or `auto`"
            )
            raise UsageError(msg)
        return {"tools": [chat_tool(tool) for tool in tools]} if tools else {}

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorVerdict:
        """408/409/429/5xx retryable, other statuses not; the message from ``{"error": ...}``."""
        text, payload = error_body(body)
        error = payload.get("error") if isinstance(payload, Mapping) else None
        if isinstance(error, Mapping):  # an OpenAI-style envelope from a proxy in between
            error = error.get("message")
        if isinstance(error, str) and error:
            message = _http.excerpt(error, 1000)
        else:
            message = _http.excerpt(text.strip()) or f"HTTP {status}"
        return ErrorVerdict(
            retryable=_http.retryable_status(status),
            error_type=_http.error_type(status),
            message=message,
            retry_after=_http.retry_after(headers),
        )


class OllamaStream:
    """Per-response state of one stream (or one whole body). `event_counts` tallies lines."""

    def __init__(self, provider: Ollama) -> None:
        self._provider = provider
        self._assembler = PartAssembler(provider.name)
        self.event_counts: Counter[str] = Counter()
        self._done = False
        self._calls = 0
        self._usage = Usage()
        self._done_reason: str | None = None
        self._model: str | None = None

    def feed(self, event: SseEvent) -> list[PartDelta]:
        """Consume one line; return the deltas it carries (already given to the assembler)."""
        kind, deltas = self._handle(event)
        for delta in deltas:
            self._assembler.add(delta)
        self.event_counts[kind] += 1
        return deltas

    def finish(self) -> Completion:
        """The finished response; raise `UnexpectedResponse` if the stream was cut short."""
        if not self._done:
            msg = 'the response ended before its `"done": true` object'
            raise UnexpectedResponse(msg, provider=_NAME)
        parts = self._assembler.parts()
        finish_reason = self._done_reason
        if finish_reason == "stop" and any(isinstance(p, ToolCallPart) for p in parts):
            finish_reason = "tool_calls"
        return Completion(
            parts=parts, usage=self._usage, finish_reason=finish_reason, model=self._model
        )

    def _handle(self, event: SseEvent) -> tuple[str, list[PartDelta]]:
        if self._done:
            raise _WIRE.junk(event.data, 'a line after the `"done": true` line')
        payload = _WIRE.json_object(event.data, "line")
        if payload.get("error") is not None:
            raise _in_band_error(payload["error"], self._provider)
        done = payload.get("done")
        if not isinstance(done, bool):
            raise _WIRE.shape_error(done, "response", "done", "true or false")
        self._model = self._model or _WIRE.optional_str(payload, "model", "response")
        message = payload.get("message")
        if message is None:
            deltas = []
        elif isinstance(message, Mapping):
            deltas = self._deltas(message)
        else:
            raise _WIRE.shape_error(message, "response", "message", "an object")
        if not done:
            return "chunk", deltas
        self._done = True
        self._done_reason = _WIRE.optional_str(payload, "done_reason", "response")
        self._usage = Usage(
            input_tokens=_WIRE.optional_int(payload, "prompt_eval_count", "response"),
            output_tokens=_WIRE.optional_int(payload, "eval_count", "response"),
        )
        return "done", deltas

    def _deltas(self, message: Mapping[str, Any]) -> list[PartDelta]:
        """The deltas of one ``message``: a whole answer's or one stream line's, read alike."""
        _WIRE.refuse_unread(message, _READ_KEYS, "the message")
        if message.get("role") not in (None, "assistant"):
            raise _WIRE.shape_error(message.get("role"), "message", "role", '"assistant"')
        deltas: list[PartDelta] = []
        thinking = _WIRE.optional_str(message, "thinking", "response")
        if thinking:
            deltas.append(ReasoningDelta(key="reasoning", text=thinking))
        content = _WIRE.optional_str(message, "content", "response")
        if content:
            deltas.append(TextDelta(key="text", text=content))
        calls = message.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise _WIRE.shape_error(calls, "message", "tool_calls", "a list")
            for call in calls:
                deltas.append(_tool_call_delta(call, self._calls))
                self._calls += 1
        return deltas


def _tool_call_delta(call: Any, number: int) -> ToolCallDelta:
    """One whole tool call; `number` counts the calls of the response, as its key."""
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping):
        raise _WIRE.shape_error(call, "message", "tool_calls", "a list of function calls")
    name = _WIRE.optional_str(function, "name", "response")
    if not name:
        raise _WIRE.shape_error(call, "message", "tool_calls", "a list of named function calls")
    arguments = function.get("arguments")
    if isinstance(arguments, str):  # not Ollama's shape, but unambiguous: keep it as given
        text = arguments
    elif arguments is None or isinstance(arguments, Mapping):
        text = _json.dumps(arguments or {})
    else:
        raise _WIRE.shape_error(arguments, "tool call", "arguments", "an object")
    return ToolCallDelta(
        key=f"tool_call:{number}",
        call_id=_WIRE.optional_str(call, "id", "response") or None,
        name=name,
        arguments=text,
    )


def _in_band_error(error: Any, provider: Ollama) -> ProviderHTTPError:
    body = _json.dumps({"error": error}).encode()
    verdict = provider.classify_error(_IN_BAND_STATUS, {}, body)
    return _http.in_band_error(verdict, provider=provider.name)
