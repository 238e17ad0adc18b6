"""The OpenAI Responses API (``POST /responses``): input items in, output items out.

Request: ``{"model", "input", **options}``; streaming adds ``"stream": true``. The message
mapping, and the rules for sending reasoning and item ids back, are in
`_openai_responses_request`. Options pass through as given (``instructions``, ``reasoning``,
``tools`` in the Responses shape, ``text`` for a JSON schema, ``store``, ``include``...), except:
``model``, ``input`` and ``stream`` belong to llmframe; ``max_tokens`` (or Chat's
``max_completion_tokens``) is renamed ``max_output_tokens``; ``previous_response_id`` and
``conversation`` are refused, since llmframe sends the whole conversation and server-side history
would make the stored one incomplete; ``background`` is refused, as its answer is not finished;
and log probabilities (``top_logprobs``, ``include`` of ``message.output_text.logprobs``) are
refused because llmframe does not store them. No default is added: the recordings show each
client choosing ``store``/``include`` itself. For reasoning that survives without server-side
storage, send ``store: false`` with ``include: ["reasoning.encrypted_content"]`` (as simonw/llm
does); with the API's default ``store: true`` the reasoning items go back by id.

Response: ``message`` items give text and refusal parts, ``reasoning`` items one reasoning part
per summary (one without text when there is no summary), ``function_call`` items tool-call
parts, ``image_generation_call`` items (the ``image_generation`` tool) image parts holding the
decoded ``result`` inline; `_openai_responses_output` keeps what sending them back needs in
provider data. Other item types (web search, file search, computer use...), non-empty
``annotations`` or ``logprobs``, and reasoning ``content`` raise `UnexpectedResponse`, since
llmframe cannot store them yet. ``finish_reason``: ``stop``, or ``tool_calls`` when a function was
called; for an ``incomplete`` response ``length`` (``max_output_tokens``), ``content_filter``, else
the API's reason. Usage: ``input_tokens``, ``output_tokens``,
``output_tokens_details.reasoning_tokens``, ``input_tokens_details.cached_tokens``.

Stream: every event names its ``type`` (matching the SSE ``event:`` line); each type the API
documents for the parts above has a handler, and any other type raises `UnexpectedResponse`.
Deltas feed the shared assembler; ``*.done`` and ``output_item.done`` events, and the output of
``response.completed``, are reconciled with them (see `_openai_responses_output`).
``response.created``/``in_progress``/``queued`` give the id and model. The
``response.image_generation_call.*`` events (``in_progress``, ``generating``, ``completed``, and
``partial_image`` previews when the tool's ``partial_images`` is set) are counted and otherwise
ignored: the finished image arrives whole in ``output_item.done`` and again in
``response.completed``, and a preview is not the answer. A stream ends with
``response.completed`` or ``response.incomplete``; without one it was cut short and `finish`
raises. ``response.failed`` and ``error`` events raise the classified error, as does an error in
a 200 body: statuses and retry rules are Chat Completions' (same envelope), so a 429 for
``insufficient_quota`` is not retried.

Structured output (`OpenAIResponses.structured_output`, the path extraction takes):
``text.format`` ``json_schema`` with the same fields as Chat Completions' (`json_schema_format`):
the schema rewritten by `openai_strict` with ``strict: true``, or, when strict mode cannot express
it, as given with ``strict: false``; llmframe validates every answer against the original schema
either way. The JSON comes back as the answer's text.

Tools (`OpenAIResponses.tool_options`): ``tools`` of ``{"type": "function", name, description,
parameters, "strict": false}`` (explicit: left out, the API rewrites the schema into strict mode
when it can, making optional parameters required); ``tool_choice`` ``auto``/``none``/``required``
or ``{"type": "function", "name": ...}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmframe.errors import UnexpectedResponse, UsageError
from llmframe.parts.types import Message
from llmframe.providers._openai_responses_output import (
    OutputReader,
    classify_error,
    content_delta,
    finish_reason,
    in_band_error,
    junk,
    number,
    parse_object,
    require,
    summary_delta,
    usage,
)
from llmframe.providers._openai_responses_request import PROVIDER, input_items
from llmframe.providers._sse import SseDecoder
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    HttpCall,
    MediaDelta,
    PartDelta,
    ReasoningDelta,
    RefusalDelta,
    SseEvent,
    StructuredOutput,
    TextDelta,
    ToolCallDelta,
)
from llmframe.providers.openai import json_schema_format
from llmframe.tools.load import check_choice
from llmframe.tools.spec import TOOL_CHOICES, ToolSpec

__all__ = ["OpenAIResponses", "OpenAIResponsesStream"]

_RESERVED = {
    "model": "is the `model` argument",
    "input": "comes from the prompt's messages",
    "stream": "is decided by the runner",
    "previous_response_id": "would add server-side history; llmframe sends the whole conversation",
    "conversation": "would add server-side history; llmframe sends the whole conversation",
}
_MAX_TOKENS = ("max_output_tokens", "max_tokens", "max_completion_tokens")
_LOGPROBS = "message.output_text.logprobs"


class OpenAIResponses:
    """The OpenAI Responses wire format; stateless, one instance serves every request."""

    name = PROVIDER
    api = "openai_responses"

    def build_call(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any],
        *,
        stream: bool,
    ) -> HttpCall:
        """``POST /responses`` for one conversation."""
        options = _options(options)
        items = input_items(messages, stored=options.get("store") is not False)
        body: dict[str, Any] = {"model": model, "input": items, **options}
        if stream:
            body["stream"] = True
        return HttpCall(method="POST", path="/responses", body=body, stream=stream)

    def parse_body(self, body: bytes) -> Completion:
        """A whole ``response`` object."""
        payload = parse_object(body, "response body")
        if payload.get("error") is not None and payload.get("status") != "failed":
            raise in_band_error(payload["error"], "error inside a 200 response")
        reader = OutputReader()
        for index, item in enumerate(require(payload, "output", list, "response")):
            reader.item(index, item)
        return _completion(reader, payload)

    def stream_decoder(self) -> SseDecoder:
        """Responses streams are server-sent events."""
        return SseDecoder()

    def stream_parser(self) -> OpenAIResponsesStream:
        """A parser for one Responses event stream."""
        return OpenAIResponsesStream()

    def structured_output(self, schema: Mapping[str, Any], name: str) -> StructuredOutput:
        """``text.format`` ``json_schema``: strict when strict mode can express `schema`."""
        text_format = {"type": "json_schema", **json_schema_format(schema, name)}
        return StructuredOutput(options={"text": {"format": text_format}})

    def tool_options(self, tools: Sequence[ToolSpec], choice: str | None) -> dict[str, Any]:
        """``tools`` of ``{"type": "function", "name", ...}``, ``strict: false``; ``tool_choice``.

        ``auto``, ``none`` and ``required`` are sent as they are, a tool's name as
        ``{"type": "function", "name": ...}``. ``strict: false`` is explicit because the Responses
        API, unlike Chat Completions, otherwise rewrites a schema into strict mode when it can,
        which makes every optional parameter required; the schema goes as given, as on every
        other API, and llmframe validates the arguments of the tools it runs.
        """
        choice = check_choice(tools, choice)
        if not tools:
            return {}
        options: dict[str, Any] = {"tools": [_function_tool(tool) for tool in tools]}
        if choice is not None:
            options["tool_choice"] = (
                choice if choice in TOOL_CHOICES else {"type": "function", "name": choice}
            )
        return options

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorVerdict:
        """408/409/429/5xx retryable, other statuses not, nor a 429 for ``insufficient_quota``."""
        return classify_error(status, headers, body)


def _function_tool(tool: ToolSpec) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description is not None:
        wire["description"] = tool.description
    wire["parameters"] = dict(tool.parameters)
    wire["strict"] = False
    return wire


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    for key, why in _RESERVED.items():
        if key in options:
            msg = f"option `{key}` cannot be set: it {why}"
            raise UsageError(msg)
    if options.get("background"):
        msg = "option `background` is not supported: llmframe needs the finished response"
        raise UsageError(msg)
    include = options.get("include") or []
    if options.get("top_logprobs") or (isinstance(include, list) and _LOGPROBS in include):
        msg = "log probabilities are not supported: llmframe does not store them"
        raise UsageError(msg)
    given = [key for key in _MAX_TOKENS if key in options]
    if len(given) > 1:
        msg = f"options {' and '.join(f'`{k}`' for k in given)} say the same thing; give one"
        raise UsageError(msg)
    out = dict(options)
    if given and given[0] != "max_output_tokens":
        out["max_output_tokens"] = out.pop(given[0])
    return out


def _completion(reader: OutputReader, response: Mapping[str, Any]) -> Completion:
    return Completion(
        parts=reader.parts(),
        usage=usage(response.get("usage")),
        finish_reason=finish_reason(response, made_calls=reader.made_calls),
        response_id=response.get("id") if isinstance(response.get("id"), str) else None,
        model=response.get("model") if isinstance(response.get("model"), str) else None,
    )


_Handler = Callable[["OpenAIResponsesStream", dict[str, Any]], list[PartDelta]]


class OpenAIResponsesStream:
    """Per-response state of one stream. `event_counts` tallies each type of event handled."""

    def __init__(self) -> None:
        self._reader = OutputReader()
        self.event_counts: Counter[str] = Counter()
        self._response: dict[str, Any] = {}
        self._completion: Completion | None = None

    def feed(self, event: SseEvent) -> list[PartDelta]:
        """Consume one event; return the deltas that carry content (all go to the assembler)."""
        if self._completion is not None:
            raise junk(event.data, "an event after the response ended")
        payload = parse_object(event.data, "stream event")
        kind = payload.get("type")
        if event.event is not None and event.event != kind:
            raise junk(event.data, f"an `{event.event}` event whose data says `{kind}`")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise junk(event.data, f"an event of unknown type `{kind}`")
        deltas = handler(self, payload)
        self.event_counts[str(kind)] += 1
        return [d for d in deltas if _carries(d)]

    def finish(self) -> Completion:
        """The finished response; raise `UnexpectedResponse` if the stream was cut short."""
        if self._completion is None:
            msg = "the stream was cut short: it ended before `response.completed`"
            raise UnexpectedResponse(msg, provider=PROVIDER)
        return self._completion

    # -- handlers, one per event type -------------------------------------------------------

    def _started(self, payload: dict[str, Any]) -> list[PartDelta]:
        self._response = require(payload, "response", dict, "event")
        return []

    def _ended(self, payload: dict[str, Any]) -> list[PartDelta]:
        response = require(payload, "response", dict, "event")
        # The event names the outcome; a compatible server may leave `status` out.
        response.setdefault("status", payload["type"].removeprefix("response."))
        output = response.get("output")
        items = [] if output is None else require(response, "output", list, "response")
        deltas = [d for index, item in enumerate(items) for d in self._reader.item(index, item)]
        self._completion = _completion(self._reader, {**self._response, **response})
        return deltas

    def _failed(self, payload: dict[str, Any]) -> list[PartDelta]:
        response = require(payload, "response", dict, "event")
        raise in_band_error(response.get("error"), "the response failed")

    def _error(self, payload: dict[str, Any]) -> list[PartDelta]:
        error = payload.get("error") if isinstance(payload.get("error"), Mapping) else payload
        raise in_band_error(error, "error event in a 200 stream")

    def _item(self, payload: dict[str, Any]) -> list[PartDelta]:
        return self._reader.item(_index(payload), require(payload, "item", dict, "event"))

    def _content_part(self, payload: dict[str, Any]) -> list[PartDelta]:
        index, position = _index(payload), number(payload, "content_index", "event")
        whole = content_delta(index, position, require(payload, "part", dict, "event"))
        return self._reader.reconcile(index, whole)

    def _text_delta(self, payload: dict[str, Any]) -> list[PartDelta]:
        if payload.get("logprobs"):
            raise junk(str(payload["logprobs"]), "output text `logprobs`, which are not stored")
        key = _content_key(payload)
        text = require(payload, "delta", str, "event")
        return [self._reader.add(_index(payload), TextDelta(key=key, text=text))]

    def _text_done(self, payload: dict[str, Any]) -> list[PartDelta]:
        whole = TextDelta(key=_content_key(payload), text=require(payload, "text", str, "event"))
        return self._reader.reconcile(_index(payload), whole)

    def _refusal_delta(self, payload: dict[str, Any]) -> list[PartDelta]:
        text = require(payload, "delta", str, "event")
        delta = RefusalDelta(key=_content_key(payload), text=text)
        return [self._reader.add(_index(payload), delta)]

    def _refusal_done(self, payload: dict[str, Any]) -> list[PartDelta]:
        text = require(payload, "refusal", str, "event")
        whole = RefusalDelta(key=_content_key(payload), text=text)
        return self._reader.reconcile(_index(payload), whole)

    def _arguments_delta(self, payload: dict[str, Any]) -> list[PartDelta]:
        key = f"{_index(payload)}:call"
        delta = ToolCallDelta(key=key, arguments=require(payload, "delta", str, "event"))
        return [self._reader.add(_index(payload), delta)]

    def _arguments_done(self, payload: dict[str, Any]) -> list[PartDelta]:
        key = f"{_index(payload)}:call"
        whole = ToolCallDelta(key=key, arguments=require(payload, "arguments", str, "event"))
        return self._reader.reconcile(_index(payload), whole)

    def _summary_part(self, payload: dict[str, Any]) -> list[PartDelta]:
        index, position = _index(payload), number(payload, "summary_index", "event")
        whole = summary_delta(index, position, require(payload, "part", dict, "event"))
        return self._reader.reconcile(index, whole)

    def _summary_delta(self, payload: dict[str, Any]) -> list[PartDelta]:
        text = require(payload, "delta", str, "event")
        delta = ReasoningDelta(key=_summary_key(payload), text=text)
        return [self._reader.add(_index(payload), delta)]

    def _summary_done(self, payload: dict[str, Any]) -> list[PartDelta]:
        text = require(payload, "text", str, "event")
        whole = ReasoningDelta(key=_summary_key(payload), text=text)
        return self._reader.reconcile(_index(payload), whole)

    def _image_progress(self, payload: dict[str, Any]) -> list[PartDelta]:
        """Progress and previews of an image; the finished one comes in ``output_item.done``."""
        _index(payload)
        return []

    def _annotation(self, payload: dict[str, Any]) -> list[PartDelta]:
        raise junk(str(payload.get("annotation")), "an output text annotation, not stored yet")


_HANDLERS: dict[str, _Handler] = {
    "response.created": OpenAIResponsesStream._started,
    "response.in_progress": OpenAIResponsesStream._started,
    "response.queued": OpenAIResponsesStream._started,
    "response.completed": OpenAIResponsesStream._ended,
    "response.incomplete": OpenAIResponsesStream._ended,
    "response.failed": OpenAIResponsesStream._failed,
    "error": OpenAIResponsesStream._error,
    "response.output_item.added": OpenAIResponsesStream._item,
    "response.output_item.done": OpenAIResponsesStream._item,
    "response.content_part.added": OpenAIResponsesStream._content_part,
    "response.content_part.done": OpenAIResponsesStream._content_part,
    "response.output_text.delta": OpenAIResponsesStream._text_delta,
    "response.output_text.done": OpenAIResponsesStream._text_done,
    "response.output_text.annotation.added": OpenAIResponsesStream._annotation,
    "response.refusal.delta": OpenAIResponsesStream._refusal_delta,
    "response.refusal.done": OpenAIResponsesStream._refusal_done,
    "response.function_call_arguments.delta": OpenAIResponsesStream._arguments_delta,
    "response.function_call_arguments.done": OpenAIResponsesStream._arguments_done,
    "response.reasoning_summary_part.added": OpenAIResponsesStream._summary_part,
    "response.reasoning_summary_part.done": OpenAIResponsesStream._summary_part,
    "response.reasoning_summary_text.delta": OpenAIResponsesStream._summary_delta,
    "response.reasoning_summary_text.done": OpenAIResponsesStream._summary_done,
    "response.image_generation_call.in_progress": OpenAIResponsesStream._image_progress,
    "response.image_generation_call.generating": OpenAIResponsesStream._image_progress,
    "response.image_generation_call.partial_image": OpenAIResponsesStream._image_progress,
    "response.image_generation_call.completed": OpenAIResponsesStream._image_progress,
}
"""Every event type handled; ``*.added``/``*.done`` of a whole item or part are reconciled."""


def _index(payload: Mapping[str, Any]) -> int:
    return number(payload, "output_index", "event")


def _content_key(payload: Mapping[str, Any]) -> str:
    return f"{_index(payload)}:{number(payload, 'content_index', 'event')}"


def _summary_key(payload: Mapping[str, Any]) -> str:
    return f"{_index(payload)}:summary:{number(payload, 'summary_index', 'event')}"


def _carries(delta: PartDelta) -> bool:
    """Whether a delta holds content (a call's name counts; an empty placeholder does not)."""
    if isinstance(delta, ToolCallDelta):
        return bool(delta.name or delta.arguments)
    if isinstance(delta, MediaDelta):
        return bool(delta.data)
    return bool(delta.text or (isinstance(delta, ReasoningDelta) and delta.signature))
