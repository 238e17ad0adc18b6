"""OpenAI Chat Completions (``POST /chat/completions``), for OpenAI and the servers that copy it.

Request: ``{"model", "messages", **options}``; streaming adds ``"stream": true`` and
``stream_options.include_usage`` so the last chunk carries usage. Options are passed through
except those llmframe owns (``model``, ``messages``, ``stream``) or cannot store (``n`` other than
1, ``logprobs``), which raise `UsageError`. The message mapping is in `_openai_request`.

Reasoning parts in the history are not sent unless the endpoint asks for them. Chat
Completions has no input field for reasoning (OpenAI keeps its own server-side) and some servers
reject unknown message fields, so by default they are left out: the one deliberate omission.
DeepSeek's thinking mode is the exception that needs them: it answers 400 unless the
``reasoning_content`` of an assistant turn that made tool calls comes back, and ignores it on
other turns (its older rule, 400 whenever ``reasoning_content`` came back, is gone). An endpoint
such as DeepSeek's therefore builds ``OpenAIChat(reasoning_field="reasoning_content")``.

Response: ``reasoning_content`` (DeepSeek, vLLM) or ``reasoning`` (vLLM, OpenRouter, Groq) becomes
a reasoning part (one of them when a server sends both), ``content`` a text part, ``refusal`` a
refusal part, and ``tool_calls`` tool-call parts keyed by their ``index``, in order of first
appearance. A whole body and a stream both become deltas for the one `PartAssembler`. Empty
strings add nothing. Usage: ``prompt_tokens``, ``completion_tokens``,
``completion_tokens_details.reasoning_tokens`` and ``prompt_tokens_details.cached_tokens``
(DeepSeek's ``prompt_cache_hit_tokens`` when the details are absent). A key in a message or delta
that llmframe does not read (output ``audio``, ``annotations``, ``function_call``...) raises
`UnexpectedResponse` when it holds something, except OpenRouter's ``reasoning_details``, a
structured copy of ``reasoning``, and llama-cpp-python's ``function_call`` copy of a tool
call. A second choice raises too: llmframe keeps one per request.

Errors inside a 200 response (``{"error": {...}}`` as a body or a stream event, or an SSE
``event: error``) are classified like an HTTP error: the status is the error's numeric ``code``,
else inferred from its ``type``/``code`` words (``rate_limit_exceeded`` -> 429,
``invalid_request_error`` -> 400...), else 500, since a stream that broke server-side is usually
transient. The raised `ProviderHTTPError` subclass carries the verdict; on a retry the runner
discards the partial deltas. A stream that ends with neither ``[DONE]`` nor a finish reason was
cut short and raises `UnexpectedResponse`; junk raises it with that one event's text.

Structured output (`OpenAIChat.structured_output`, the path extraction takes): ``response_format``
``json_schema`` with the schema rewritten by `openai_strict` and ``strict: true``, named, and
described by the schema's root ``description`` when it has one. A schema strict mode cannot
express (``allOf``, ``not``, ``if``/``then``/``else``...) goes as given with ``strict: false``,
so the model is guided rather than constrained; llmframe validates every answer against the
original schema either way. The JSON comes back as the answer's text. A server that refuses
``json_schema`` gets `OpenAIChat.structured_output_fallbacks`: ``{"type": "json_object",
"schema": ...}``, the form llama-cpp-python's server (and Anyscale's, Fireworks', Together's)
constrains with (`llmframe.extraction.contract` steps down to it). llama-cpp-python's server
refuses ``json_schema`` with HTTP 500 (a request validation error reported as a server error),
so an error whose message names ``response_format`` is not retryable whatever its status: the
same body would be refused again.

Tools (`OpenAIChat.tool_options`): ``tools`` of ``{"type": "function", "function": {name,
description, parameters}}`` (`chat_tool`, which Ollama shares), the schema as given (no
``strict``); ``tool_choice`` ``auto``/``none``/``required`` or ``{"type": "function",
"function": {"name": ...}}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from llmframe import _json
from llmframe.errors import ProviderHTTPError, UnexpectedResponse, UsageError
from llmframe.extraction.strict import openai_strict
from llmframe.parts.types import Message
from llmframe.providers import _http
from llmframe.providers._assembler import PartAssembler
from llmframe.providers._openai_request import wire_messages
from llmframe.providers._sse import SseDecoder
from llmframe.providers._wire import Wire, error_body, in_band_status
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    HttpCall,
    PartDelta,
    ReasoningDelta,
    RefusalDelta,
    SseEvent,
    StructuredOutput,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmframe.tools.load import check_choice
from llmframe.tools.spec import TOOL_CHOICES, ToolSpec

__all__ = ["OpenAIChat", "OpenAIChatStream", "chat_tool", "json_schema_format"]

_NAME = "openai"
_RESERVED = {
    "model": "is the `model` argument",
    "messages": "comes from the prompt's messages",
    "stream": "is decided by the runner",
}
_READ_KEYS = {"role", "content", "refusal", "tool_calls", "reasoning_content", "reasoning"}
_NOT_STORED = {"reasoning_details"}
_KNOWN_KEYS = _READ_KEYS | _NOT_STORED
_OBJECT = (dict, Mapping)
"""For isinstance: a parsed JSON object is a dict, found before the slower ABC check."""
_REASONING_KEYS = ("reasoning_content", "reasoning")
_WIRE = Wire(_NAME)
_STRUCTURED_OPTION = "response_format"


class OpenAIChat:
    """The OpenAI Chat Completions wire format; stateless, one instance serves every request.

    `reasoning_field` is the endpoint's field for reasoning sent back in assistant messages
    (``"reasoning_content"`` for DeepSeek), or None to leave reasoning out (OpenAI's own API).
    """

    name = _NAME
    api = "openai_chat"

    def __init__(self, *, reasoning_field: str | None = None) -> None:
        self.reasoning_field = reasoning_field

    def build_call(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any],
        *,
        stream: bool,
    ) -> HttpCall:
        """``POST /chat/completions`` for one conversation."""
        _check_options(options)
        wire = wire_messages(messages, reasoning_field=self.reasoning_field)
        body: dict[str, Any] = {"model": model, "messages": wire, **options}
        if stream:
            body["stream"] = True
            body["stream_options"] = {
                **(options.get("stream_options") or {}),
                "include_usage": True,
            }
        return HttpCall(method="POST", path="/chat/completions", body=body, stream=stream)

    def parse_body(self, body: bytes) -> Completion:
        """A whole ``chat.completion`` body."""
        payload = _WIRE.json_object(body, "response body")
        error = _error_of(payload)
        if error is not None:
            raise _in_band_error(error, self)
        choice = _only_choice(_require(payload, "choices", list, "response body"))
        assembler = PartAssembler(self.name)
        finish_reason = None
        if choice is not None:
            message = _require(choice, "message", _OBJECT, "choice")
            for delta in _deltas(message, "message"):
                assembler.add(delta)
            finish_reason = _WIRE.optional_str(choice, "finish_reason", "response")
        usage = payload.get("usage")
        return Completion(
            parts=assembler.parts(),
            usage=Usage() if usage is None else _usage(usage),
            finish_reason=finish_reason,
            response_id=_WIRE.optional_str(payload, "id", "response"),
            model=_WIRE.optional_str(payload, "model", "response"),
        )

    def stream_decoder(self) -> SseDecoder:
        """Chat Completions streams are server-sent events."""
        return SseDecoder()

    def stream_parser(self) -> OpenAIChatStream:
        """A parser for one ``chat.completion.chunk`` stream."""
        return OpenAIChatStream(self)

    def structured_output(self, schema: Mapping[str, Any], name: str) -> StructuredOutput:
        """``response_format`` ``json_schema``: strict when strict mode can express `schema`."""
        response_format = {"type": "json_schema", "json_schema": json_schema_format(schema, name)}
        return StructuredOutput(options={"response_format": response_format})

    def structured_output_fallbacks(
        self, schema: Mapping[str, Any], name: str
    ) -> list[StructuredOutput]:
        """What a server that refuses ``json_schema`` may take: ``json_object`` with ``schema``.

        The schema goes as given (not rewritten for strict mode): llama-cpp-python's server
        turns it into a grammar, where optional properties may simply be left out.
        """
        del name  # this form has no name
        response_format = {"type": "json_object", "schema": dict(schema)}
        return [StructuredOutput(options={"response_format": response_format})]

    def tool_options(self, tools: Sequence[ToolSpec], choice: str | None) -> dict[str, Any]:
        """``tools`` of ``{"type": "function", "function": ...}``; ``tool_choice`` as named.

        ``auto``, ``none`` and ``required`` are sent as they are, a tool's name as
        ``{"type": "function", "function": {"name": ...}}``. No ``strict``: the schema is sent
        as given, and llmframe validates the arguments of the tools it runs.
        """
        choice = check_choice(tools, choice)
        if not tools:
            return {}
        options: dict[str, Any] = {"tools": [chat_tool(tool) for tool in tools]}
        if choice is not None:
            options["tool_choice"] = (
                choice
                if choice in TOOL_CHOICES
                else {"type": "function", "function": {"name": choice}}
            )
        return options

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorVerdict:
        """408/409/429/5xx retryable, other statuses not, nor a 429 for ``insufficient_quota``.

        Nor an error that names ``response_format`` (a server refusing the structured-output
        form, llama-cpp-python's with a 500): the same request would be refused again, and the
        runner asks the next way instead (`llmframe.extraction.contract.JsonRequest.refused`).
        """
        text, payload = error_body(body)
        error = _error_of(payload) if isinstance(payload, Mapping) else None
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            message = _http.excerpt(error["message"], 1000)
        elif isinstance(error, str):
            message = _http.excerpt(error, 1000)
        else:
            message = _http.excerpt(text.strip()) or f"HTTP {status}"
        quota = isinstance(error, Mapping) and "insufficient_quota" in (
            error.get("code"),
            error.get("type"),
        )
        refused = status not in (408, 409, 429) and _STRUCTURED_OPTION in message
        return ErrorVerdict(
            retryable=_http.retryable_status(status) and not quota and not refused,
            error_type=_http.error_type(status),
            message=message,
            retry_after=_http.retry_after(headers),
        )


class OpenAIChatStream:
    """Per-response state of one stream. `event_counts` tallies each kind of event handled."""

    def __init__(self, provider: OpenAIChat) -> None:
        self._provider = provider
        self._assembler = PartAssembler(provider.name)
        self.event_counts: Counter[str] = Counter()
        self._done = False
        self._usage = Usage()
        self._finish_reason: str | None = None
        self._response_id: str | None = None
        self._model: str | None = None

    def feed(self, event: SseEvent) -> list[PartDelta]:
        """Consume one event; return the deltas it carries (already given to the assembler)."""
        kind, deltas = self._handle(event)
        for delta in deltas:
            self._assembler.add(delta)
        self.event_counts[kind] += 1
        return deltas

    def finish(self) -> Completion:
        """The finished response; raise `UnexpectedResponse` if the stream was cut short."""
        if self._finish_reason is None:
            # `[DONE]` alone is not enough: llama-cpp-python's server ends a stream it cut off
            # (to serve another request) with a role chunk and `[DONE]`, no finish reason.
            if self._done:
                msg = "the stream ended with `[DONE]` but no finish reason: the answer was cut off"
            else:
                msg = "the stream ended before `[DONE]` or a finish reason"
            raise UnexpectedResponse(msg, provider=_NAME)
        return Completion(
            parts=self._assembler.parts(),
            usage=self._usage,
            finish_reason=self._finish_reason,
            response_id=self._response_id,
            model=self._model,
        )

    def _handle(self, event: SseEvent) -> tuple[str, list[PartDelta]]:
        if self._done:
            raise _WIRE.junk(event.data, "an event after `[DONE]`")
        if event.event not in (None, "message", "error"):
            raise _WIRE.junk(event.data, f"an event of unknown type `{event.event}`")
        if event.data == "[DONE]" and event.event != "error":
            self._done = True
            return "done", []
        payload = _WIRE.json_object(event.data, "stream event")
        error = _error_of(payload)
        if error is not None or event.event == "error":
            raise _in_band_error(payload if error is None else error, self._provider)
        if payload.get("object") not in (None, "chat.completion.chunk"):
            raise _WIRE.junk(event.data, f"a `{payload.get('object')}` object in the stream")
        choice = _only_choice(_require(payload, "choices", list, "stream chunk"))
        self._response_id = self._response_id or _WIRE.optional_str(payload, "id", "response")
        self._model = self._model or _WIRE.optional_str(payload, "model", "response")
        if payload.get("usage") is not None:
            self._usage = _usage(payload["usage"])
        if choice is None:
            return ("usage" if payload.get("usage") is not None else "empty"), []
        self._finish_reason = (
            _WIRE.optional_str(choice, "finish_reason", "response") or self._finish_reason
        )
        delta = choice.get("delta")
        if delta is None:
            return "chunk", []
        return "chunk", _deltas(_require(choice, "delta", _OBJECT, "choice"), "delta")


def json_schema_format(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    """OpenAI's ``json_schema`` format fields (``name``, ``schema``, ``strict``, ``description``).

    The schema is rewritten by `openai_strict` with ``strict: true``, or, when strict mode cannot
    express it, sent as given with ``strict: false``. Chat Completions nests these under
    ``response_format.json_schema``; the Responses API puts them in ``text.format``.
    """
    given = dict(schema)
    try:
        fields: dict[str, Any] = {"name": name, "schema": openai_strict(given), "strict": True}
    except UsageError:
        fields = {"name": name, "schema": given, "strict": False}
    description = given.get("description")
    if isinstance(description, str) and description:
        fields["description"] = description
    return fields


def chat_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool in Chat Completions' shape (Ollama's too): ``{"type": "function", "function"}``."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = dict(tool.parameters)
    return {"type": "function", "function": function}


def _check_options(options: Mapping[str, Any]) -> None:
    for key, why in _RESERVED.items():
        if key in options:
            msg = f"option `{key}` cannot be set: it {why}"
            raise UsageError(msg)
    if options.get("n", 1) != 1:
        msg = "option `n` must be 1: llmframe keeps one completion per prompt and model"
        raise UsageError(msg)
    if options.get("logprobs"):
        msg = "option `logprobs` is not supported: llmframe does not store log probabilities"
        raise UsageError(msg)


def _require(obj: Mapping[str, Any], key: str, cls: type | tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, cls):
        name = (cls[-1] if isinstance(cls, tuple) else cls).__name__
        raise _WIRE.shape_error(value, what, key, f"a {name}")
    return value


def _only_choice(choices: list[Any]) -> Mapping[str, Any] | None:
    if not choices:
        return None
    choice = choices[0]
    if not isinstance(choice, _OBJECT):
        raise _WIRE.shape_error(choices, "response", "choices", "a list of objects")
    if len(choices) > 1 or choice.get("index", 0) != 0:
        msg = "got a second choice; llmframe keeps one completion per request"
        raise UnexpectedResponse(msg, provider=_NAME)
    return choice


def _deltas(message: Mapping[str, Any], what: str) -> list[PartDelta]:
    """The deltas of a whole ``message`` or a stream's ``delta``: one shape, one reading."""
    if not message.keys() <= _KNOWN_KEYS:
        _WIRE.refuse_unread(_without_copied_function_call(message), _KNOWN_KEYS, f"the {what}")
    deltas: list[PartDelta] = []
    if "reasoning_content" in message or "reasoning" in message:
        reasoning = _reasoning(message, what)
        if reasoning:
            deltas.append(ReasoningDelta(key="reasoning", text=reasoning))
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _WIRE.shape_error(content, what, "content", "a string")
    if content:
        deltas.append(TextDelta(key="text", text=content))
    refusal = message.get("refusal")
    if refusal is not None:
        refusal = _WIRE.optional_str(message, "refusal", "response")
        if refusal:
            deltas.append(RefusalDelta(key="refusal", text=refusal))
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise _WIRE.shape_error(calls, what, "tool_calls", "a list")
        deltas.extend(_tool_call_delta(call, position) for position, call in enumerate(calls))
    return deltas


def _without_copied_function_call(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """`message` without a legacy ``function_call`` that only repeats one of its ``tool_calls``.

    llama-cpp-python's server sends both for a forced tool call; a ``function_call`` alone, or
    one that differs, is still refused (it would be a call llmframe did not store).
    """
    copied = message.get("function_call")
    calls = message.get("tool_calls")
    if not isinstance(copied, Mapping) or not isinstance(calls, list):
        return message
    functions = [c.get("function") for c in calls if isinstance(c, Mapping)]
    if copied not in functions:
        return message
    return {key: value for key, value in message.items() if key != "function_call"}


def _reasoning(message: Mapping[str, Any], what: str) -> str | None:
    texts = [_WIRE.optional_str(message, key, "response") for key in _REASONING_KEYS]
    given = [text for text in texts if text]
    if len(given) == 2 and given[0] != given[1]:
        msg = f"the {what} has both `reasoning_content` and `reasoning`, and they differ"
        raise UnexpectedResponse(msg, provider=_NAME)
    return given[0] if given else None


def _tool_call_delta(call: Any, position: int) -> ToolCallDelta:
    if not isinstance(call, Mapping):
        raise _WIRE.shape_error(call, "message", "tool_calls", "a list of objects")
    if call.get("type") not in (None, "function"):
        raise _WIRE.shape_error(call, "message", "tool_calls", "a function call")
    index = call.get("index", position)
    function = call.get("function") or {}
    if not isinstance(index, int) or not isinstance(function, Mapping):
        raise _WIRE.shape_error(call, "message", "tool_calls", "a function call")
    arguments = function.get("arguments")
    if isinstance(arguments, Mapping):
        arguments = _json.dumps(arguments)
    elif arguments is not None and not isinstance(arguments, str):
        raise _WIRE.shape_error(arguments, "message", "arguments", "JSON text")
    return ToolCallDelta(
        key=f"tool_call:{index}",
        call_id=_WIRE.optional_str(call, "id", "response"),
        name=_WIRE.optional_str(function, "name", "response"),
        arguments=arguments or "",
    )


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, Mapping):
        raise _WIRE.shape_error(raw, "response", "usage", "an object")
    prompt, completion = (
        _details(raw, key) for key in ("prompt_tokens_details", "completion_tokens_details")
    )
    cached = _WIRE.optional_int(prompt, "cached_tokens", "usage")
    if cached is None:
        cached = _WIRE.optional_int(raw, "prompt_cache_hit_tokens", "usage")  # DeepSeek
    return Usage(
        input_tokens=_WIRE.optional_int(raw, "prompt_tokens", "usage"),
        output_tokens=_WIRE.optional_int(raw, "completion_tokens", "usage"),
        reasoning_tokens=_WIRE.optional_int(completion, "reasoning_tokens", "usage"),
        cached_tokens=cached
        if cached is not None
        else _WIRE.optional_int(raw, "prompt_cache_hit_tokens", "usage"),
    )


def _details(usage: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    details = usage.get(key) or {}
    if not isinstance(details, Mapping):
        raise _WIRE.shape_error(details, "usage", key, "an object")
    return details


def _error_of(payload: Mapping[str, Any]) -> Any:
    """The error a 200 body or event holds: ``{"error": ...}`` or a flat ``"object": "error"``."""
    if payload.get("object") == "error":
        return payload
    return payload.get("error")


def _in_band_error(error: Any, provider: OpenAIChat) -> ProviderHTTPError:
    body = _json.dumps({"error": error}).encode()
    verdict = provider.classify_error(in_band_status(error), {}, body)
    return _http.in_band_error(verdict, provider=provider.name)
