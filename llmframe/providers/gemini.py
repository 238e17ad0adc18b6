"""Google Gemini ``generateContent`` (Generative Language API v1beta), whole or streamed.

Request: ``POST /models/{model}:generateContent``, or ``:streamGenerateContent?alt=sse`` to
stream as server-sent events; a model name with a ``/`` (``tunedModels/x``) is a resource name used
as it is. The body (contents, systemInstruction, options into generationConfig) is built by
`_gemini_request`, whose docstring has the rules, including which reasoning is sent back.

Response: each part of ``candidates[0].content.parts`` becomes a delta for the shared
`PartAssembler`, whether it came in one body or in stream chunks (a body is read as one chunk):
text, ``thought`` text as reasoning, ``functionCall`` as a tool call (``args`` as compact JSON,
``id`` when Gemini gives one), and ``inlineData`` (an image a model such as
``gemini-2.5-flash-image`` made: base64 ``data`` with its ``mimeType``) as an `ImagePart` holding
the decoded bytes inline, stored in the parts table's ``data`` column (`_assembler` says why).
Each ``inlineData`` part is one whole image; a ``thought`` image (a draft some models show while
thinking) raises `UnexpectedResponse`, as llmframe has no place for it yet. Text of one kind
continues the part before it until a ``thoughtSignature`` closes it, so streamed fragments join
into the part a whole body would hold.
A signature belongs to the part it arrives on, kept as ``provider_data={"provider": "gemini",
"signature": ...}`` and sent back with it (Gemini 3 requires them on function calls); one on an
empty text part joins the open text part, or is an empty text part of its own. Gemini's
reasoning parts always name ``gemini`` in their provider data, so only they are sent back. Empty
text without a signature adds nothing.

A key of a candidate or part that llmframe does not read (``fileData``, ``executableCode``,
``groundingMetadata``...) raises `UnexpectedResponse` when it holds something,
except ``avgLogprobs``, ``safetyRatings``, ``citationMetadata`` and ``finishMessage`` on a
candidate, which are not stored; top-level metadata other than the ids, usage and
``promptFeedback`` is not read. A second candidate raises too.

Usage: ``promptTokenCount`` (+ ``toolUsePromptTokenCount``) in, ``candidatesTokenCount`` +
``thoughtsTokenCount`` out (Gemini counts thoughts apart; OpenAI and Anthropic count them in the
output, so the column means the same for all), reasoning ``thoughtsTokenCount``, cached
``cachedContentTokenCount``; a stream's last report wins. finish_reason: ``STOP`` is ``stop``
(``tool_calls`` when the answer calls tools), ``MAX_TOKENS`` ``length``, the safety words
``content_filter``, any other word kept as Gemini gives it; a prompt blocked before any candidate
(``promptFeedback.blockReason``) finishes the same way.

Errors (``{"error": {code, message, status, details}}``, also as the one element of an array or
as an event inside a 200 stream): 408/409/429/5xx are retryable. ``RetryInfo.retryDelay`` in
``details`` (``"30s"``) is the retry delay when no ``Retry-After`` header gives one. A 400 whose
``ErrorInfo`` reason is ``API_KEY_INVALID`` is `AuthFailed`, not retried. A stream that ends
without a finish reason was cut short and raises `UnexpectedResponse`.

Structured output (`Gemini.structured_output`, the path extraction takes): ``responseMimeType:
"application/json"`` with the schema as given in ``responseJsonSchema``, both as options that
`_gemini_request` puts in ``generationConfig`` (flat, so they sit beside a ``generationConfig``
the options give, and one set twice is refused). Gemini reads the subset of JSON Schema it
supports and ignores the rest; llmframe validates every answer against the whole schema. The
JSON comes back as the answer's text.

Tools (`Gemini.tool_options`): ``tools: [{"functionDeclarations": [{name, description,
parametersJsonSchema}]}]`` (JSON Schema as given, not the OpenAPI subset of ``parameters``) and
``toolConfig.functionCallingConfig.mode`` ``AUTO``/``NONE``/``ANY``, a named tool being ``ANY``
with ``allowedFunctionNames``.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from llmframe import _json
from llmframe.errors import ProviderHTTPError, UnexpectedResponse
from llmframe.parts.types import Message, Part, ReasoningPart, ToolCallPart
from llmframe.providers import _http
from llmframe.providers._assembler import PartAssembler
from llmframe.providers._gemini_request import request_body
from llmframe.providers._sse import SseDecoder
from llmframe.providers._wire import Wire, error_body
from llmframe.providers.base import (
    Completion,
    ErrorVerdict,
    HttpCall,
    MediaDelta,
    PartDelta,
    ReasoningDelta,
    SseEvent,
    StructuredOutput,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmframe.tools.load import check_choice
from llmframe.tools.spec import ToolSpec

__all__ = ["Gemini", "GeminiStream"]

_NAME = "gemini"
_WIRE = Wire(_NAME)
_CANDIDATE_KEYS = {"content", "finishReason", "index"}
_NOT_STORED = {"avgLogprobs", "safetyRatings", "citationMetadata", "finishMessage"}
_PART_KEYS = {"text", "thought", "thoughtSignature", "functionCall", "inlineData"}
_INLINE_KEYS = {"mimeType", "data"}
_CALL_KEYS = {"name", "args", "id"}
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_FILTERED = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
}
_CALLING_MODE = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED"}
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


class Gemini:
    """The Gemini ``generateContent`` wire format; stateless, one instance serves every request."""

    name = _NAME
    api = "gemini_generate_content"

    def build_call(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any],
        *,
        stream: bool,
    ) -> HttpCall:
        """``POST /models/{model}:generateContent`` (or its streaming twin) for one conversation."""
        body = request_body(messages, options)
        resource = model if "/" in model else f"models/{model}"
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        path = f"/{urllib.parse.quote(resource, safe='/')}:{method}"
        return HttpCall(method="POST", path=path, body=body, stream=stream)

    def parse_body(self, body: bytes) -> Completion:
        """A whole ``GenerateContentResponse``, read as a stream of one chunk."""
        reader = _Reader(self)
        reader.read(_WIRE.json_object(body, "response body"))
        return reader.completion()

    def stream_decoder(self) -> SseDecoder:
        """Requests ask for ``alt=sse``, so streams are server-sent events."""
        return SseDecoder()

    def stream_parser(self) -> GeminiStream:
        """A parser for one ``streamGenerateContent`` response."""
        return GeminiStream(self)

    def structured_output(self, schema: Mapping[str, Any], name: str) -> StructuredOutput:
        """JSON answers (``responseMimeType``) fitting ``responseJsonSchema``; no name is sent."""
        options = {"responseMimeType": "application/json", "responseJsonSchema": dict(schema)}
        return StructuredOutput(options=options)

    def tool_options(self, tools: Sequence[ToolSpec], choice: str | None) -> dict[str, Any]:
        """``tools: [{"functionDeclarations": [...]}]`` and ``toolConfig.functionCallingConfig``.

        Each declaration has ``name``, ``description`` (``""`` when there is none; Gemini calls it
        required) and the schema as given in ``parametersJsonSchema``, which takes JSON Schema,
        rather than ``parameters``, which takes only Gemini's OpenAPI subset. The choice is the
        ``mode``: ``auto`` -> ``AUTO``, ``none`` -> ``NONE``, ``required`` -> ``ANY``, and a tool's
        name -> ``ANY`` with ``allowedFunctionNames: [name]``.
        """
        choice = check_choice(tools, choice)
        if not tools:
            return {}
        declarations = [
            {
                "name": tool.name,
                "description": tool.description or "",
                "parametersJsonSchema": dict(tool.parameters),
            }
            for tool in tools
        ]
        options: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
        if choice is not None:
            config: dict[str, Any] = {"mode": _CALLING_MODE.get(choice, "ANY")}
            if choice not in _CALLING_MODE:
                config["allowedFunctionNames"] = [choice]
            options["toolConfig"] = {"functionCallingConfig": config}
        return options

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorVerdict:
        """The status decides (`_http`), but for ``API_KEY_INVALID`` and ``RetryInfo``."""
        text, payload = error_body(body)
        if isinstance(payload, list) and len(payload) == 1:  # an error in a JSON-array stream
            payload = payload[0]
        error = payload.get("error") if isinstance(payload, Mapping) else None
        error = error if isinstance(error, Mapping) else {}
        message = error.get("message")
        if isinstance(message, str) and message:
            message = _http.excerpt(message, 1000)
        else:
            message = _http.excerpt(text.strip()) or f"HTTP {status}"
        details = error.get("details")
        details = (
            [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []
        )
        if any(str(d.get("reason")) in _AUTH_REASONS for d in details):
            return ErrorVerdict(retryable=False, error_type="AuthFailed", message=message)
        retry_after = _http.retry_after(headers)
        if retry_after is None:
            retry_after = next(
                (_retry_delay(d) for d in details if d.get("@type") == _RETRY_INFO), None
            )
        return ErrorVerdict(
            retryable=_http.retryable_status(status),
            error_type=_http.error_type(status),
            message=message,
            retry_after=retry_after,
        )


class GeminiStream:
    """Per-response state of one stream. `event_counts` tallies each kind of event handled."""

    def __init__(self, provider: Gemini) -> None:
        self._reader = _Reader(provider)
        self.event_counts: Counter[str] = Counter()

    def feed(self, event: SseEvent) -> list[PartDelta]:
        """Consume one event; return the deltas it carries (already given to the assembler)."""
        if event.event not in (None, "message"):
            raise _WIRE.junk(event.data, f"an event of unknown type `{event.event}`")
        kind, deltas = self._reader.read(_WIRE.json_object(event.data, "stream event"))
        self.event_counts[kind] += 1
        return deltas

    def finish(self) -> Completion:
        """The finished response; raise `UnexpectedResponse` if the stream was cut short."""
        if not self._reader.finished:
            msg = "the stream ended before a finish reason"
            raise UnexpectedResponse(msg, provider=_NAME)
        return self._reader.completion()


class _Reader:
    """Reads ``GenerateContentResponse`` objects (a body, or each stream chunk) into one answer."""

    def __init__(self, provider: Gemini) -> None:
        self._provider = provider
        self._parts = _Parts()
        self._usage = Usage()
        self._finish: str | None = None
        self._blocked: str | None = None
        self._response_id: str | None = None
        self._model: str | None = None

    @property
    def finished(self) -> bool:
        return self._finish is not None or self._blocked is not None

    def read(self, payload: Mapping[str, Any]) -> tuple[str, list[PartDelta]]:
        """Read one object; return what kind of chunk it was and the deltas it carried."""
        error = payload.get("error")
        if error is not None:
            raise _in_band_error(error, self._provider)
        self._response_id = self._response_id or _WIRE.optional_str(
            payload, "responseId", "response"
        )
        self._model = self._model or _WIRE.optional_str(payload, "modelVersion", "response")
        if payload.get("usageMetadata") is not None:
            self._usage = _usage(payload["usageMetadata"])
        feedback = payload.get("promptFeedback")
        if feedback is not None:
            if not isinstance(feedback, Mapping):
                raise _WIRE.shape_error(feedback, "response", "promptFeedback", "an object")
            self._blocked = (
                _WIRE.optional_str(feedback, "blockReason", "promptFeedback") or self._blocked
            )
        candidates = payload.get("candidates")
        if candidates is None or candidates == []:
            return "metadata", []
        if not isinstance(candidates, list) or not isinstance(candidates[0], Mapping):
            raise _WIRE.shape_error(candidates, "response", "candidates", "a list of objects")
        if len(candidates) > 1 or candidates[0].get("index", 0) != 0:
            msg = "got a second candidate; llmframe keeps one answer per request"
            raise UnexpectedResponse(msg, provider=_NAME)
        return "chunk", self._candidate(candidates[0])

    def _candidate(self, candidate: Mapping[str, Any]) -> list[PartDelta]:
        _WIRE.refuse_unread(candidate, _CANDIDATE_KEYS | _NOT_STORED, "a candidate")
        self._finish = _WIRE.optional_str(candidate, "finishReason", "candidate") or self._finish
        content = candidate.get("content")
        if content is None:
            return []
        if not isinstance(content, Mapping) or content.get("role", "model") != "model":
            raise _WIRE.shape_error(content, "candidate", "content", "the model's content")
        parts = content.get("parts") or []
        if not isinstance(parts, list):
            raise _WIRE.shape_error(parts, "content", "parts", "a list")
        deltas: list[PartDelta] = []
        for part in parts:
            deltas.extend(self._parts.read(part))
        return deltas

    def completion(self) -> Completion:
        parts = self._parts.parts()
        return Completion(
            parts=parts,
            usage=self._usage,
            finish_reason=_finish_reason(self._finish or self._blocked, parts),
            response_id=self._response_id,
            model=self._model,
        )


class _Parts:
    """Gemini parts -> keyed deltas for the assembler, with each part's thought signature."""

    def __init__(self) -> None:
        self._assembler = PartAssembler(_NAME)
        self._count = 0
        self._signatures: dict[str, str] = {}
        self._open: tuple[str, str] | None = None  # (kind, key) of the text that may continue

    def read(self, part: Any) -> list[PartDelta]:
        if not isinstance(part, Mapping):
            raise _WIRE.shape_error(part, "content", "parts", "a list of objects")
        _WIRE.refuse_unread(part, _PART_KEYS, "a part")
        signature = _WIRE.optional_str(part, "thoughtSignature", "part")
        call = part.get("functionCall")
        if call is not None:
            if "text" in part:
                raise _WIRE.shape_error(part, "content", "parts", "text or a call, not both")
            return self._call(call, signature)
        inline = part.get("inlineData")
        if inline is not None:
            if "text" in part or part.get("thought"):
                raise _WIRE.unsupported(part, "an inlineData part with text or a thought")
            return self._image(inline, signature)
        text = _WIRE.optional_str(part, "text", "part") or ""
        thought = part.get("thought", False)
        if not isinstance(thought, bool):
            raise _WIRE.shape_error(thought, "part", "thought", "a boolean")
        return self._text(text, thought=thought, signature=signature)

    def _text(self, text: str, *, thought: bool, signature: str | None) -> list[PartDelta]:
        kind = "reasoning" if thought else "text"
        if self._open is not None and self._open[0] == kind:
            key = self._open[1]
        elif text or signature is not None:
            key = self._key(kind)
            self._open = (kind, key)
        else:
            return []
        if not text and signature is None:
            return []
        delta: PartDelta
        if thought:
            delta = ReasoningDelta(key=key, text=text, signature=signature)
        else:
            delta = TextDelta(key=key, text=text)
            if signature is not None:
                self._signatures[key] = signature
        if signature is not None:
            self._open = None
        return [self._add(delta)]

    def _call(self, call: Any, signature: str | None) -> list[PartDelta]:
        if not isinstance(call, Mapping):
            raise _WIRE.shape_error(call, "part", "functionCall", "an object")
        _WIRE.refuse_unread(call, _CALL_KEYS, "a functionCall")
        args = call.get("args")
        if args is not None and not isinstance(args, Mapping):
            raise _WIRE.shape_error(args, "functionCall", "args", "an object")
        key = self._key("tool_call")
        self._open = None
        if signature is not None:
            self._signatures[key] = signature
        delta = ToolCallDelta(
            key=key,
            call_id=_WIRE.optional_str(call, "id", "functionCall"),
            name=_WIRE.optional_str(call, "name", "functionCall"),
            arguments="" if args is None else _json.dumps(args),
        )
        return [self._add(delta)]

    def _image(self, inline: Any, signature: str | None) -> list[PartDelta]:
        if not isinstance(inline, Mapping):
            raise _WIRE.shape_error(inline, "part", "inlineData", "an object")
        _WIRE.refuse_unread(inline, _INLINE_KEYS, "an inlineData")
        encoded = _WIRE.optional_str(inline, "data", "inlineData") or ""
        try:
            # proto3 JSON bytes: standard base64, though parsers accept the URL-safe alphabet too
            data = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if not data:
            raise _WIRE.shape_error(inline, "part", "inlineData", "non-empty base64 `data`")
        key = self._key("image")
        self._open = None
        if signature is not None:
            self._signatures[key] = signature
        mime = _WIRE.optional_str(inline, "mimeType", "inlineData")
        return [self._add(MediaDelta(key=key, mime_type=mime, data=data))]

    def _key(self, kind: str) -> str:
        self._count += 1
        return f"{kind}:{self._count - 1}"

    def _add(self, delta: PartDelta) -> PartDelta:
        self._assembler.add(delta)
        return delta

    def parts(self) -> list[Part]:
        """The finished parts; signatures on text and calls, and Gemini's name on reasoning."""
        out: list[Part] = []
        for key, part in self._assembler.keyed_parts():
            if key in self._signatures:
                data = {"provider": _NAME, "signature": self._signatures[key]}
                part = part.model_copy(update={"provider_data": data})
            elif isinstance(part, ReasoningPart) and part.provider_data is None:
                part = part.model_copy(update={"provider_data": {"provider": _NAME}})
            out.append(part)
        return out


def _finish_reason(word: str | None, parts: Sequence[Part]) -> str | None:
    if word == "STOP" and any(isinstance(p, ToolCallPart) for p in parts):
        return "tool_calls"
    if word in _FILTERED:
        return "content_filter"
    return _FINISH.get(word, word) if word is not None else None


def _retry_delay(detail: Mapping[str, Any]) -> float | None:
    """Seconds from a ``RetryInfo``: ``"30s"`` (protobuf JSON) or ``{seconds, nanos}``."""
    delay = detail.get("retryDelay")
    if isinstance(delay, str) and (match := _DURATION.match(delay)):
        return float(match[1])
    if isinstance(delay, Mapping):
        seconds, nanos = delay.get("seconds", 0), delay.get("nanos", 0)
        if isinstance(seconds, (int, str)) and isinstance(nanos, int):
            try:
                return max(0.0, int(seconds) + nanos / 1e9)
            except ValueError:
                return None
    return None


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, Mapping):
        raise _WIRE.shape_error(raw, "response", "usageMetadata", "an object")
    prompt, tool_prompt, candidates, thoughts, cached = (
        _WIRE.optional_int(raw, key, "usageMetadata")
        for key in (
            "promptTokenCount",
            "toolUsePromptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
            "cachedContentTokenCount",
        )
    )
    return Usage(
        input_tokens=None if prompt is None else prompt + (tool_prompt or 0),
        output_tokens=None
        if candidates is None and thoughts is None
        else (candidates or 0) + (thoughts or 0),
        reasoning_tokens=thoughts,
        cached_tokens=cached,
    )


def _in_band_error(error: Any, provider: Gemini) -> ProviderHTTPError:
    code = error.get("code") if isinstance(error, Mapping) else None
    status = code if isinstance(code, int) and 400 <= code <= 599 else 500
    body = _json.dumps({"error": error}).encode()
    verdict = provider.classify_error(status, {}, body)
    return _http.in_band_error(verdict, provider=provider.name, status=status)
