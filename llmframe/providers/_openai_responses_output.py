"""A Responses ``output`` -> parts: the one reading shared by whole bodies and streams.

`OutputReader.item` turns an output item into the deltas of its whole content. A body is read
item by item; a stream feeds its deltas as they come and hands every item (or content part, or
summary part) that the server reports finished to `OutputReader.reconcile`, which adds only what
the deltas have not already given and refuses a finished text that contradicts them. So a body
and a stream of the same response give identical parts, and a stream missing deltas still
loses nothing.

Delta keys: ``"<output_index>:<content_index>"`` for message content, ``"<output_index>:summary:
<summary_index>"`` for reasoning summaries, ``"<output_index>:call"`` for function calls. A
reasoning item always starts its first summary key, so one without a summary still becomes a
`ReasoningPart` (text None) that carries its id and ``encrypted_content``.
``"<output_index>:image"`` for an ``image_generation_call`` (the built-in image generation tool):
its ``result`` (base64) is decoded into an `ImagePart` whose bytes live inline in the parts table's
``data`` column (`_assembler` says why), ``image/<output_format>`` (``image/png`` when absent); an
item still in progress has no ``result`` and gives nothing until it is done. A finished image that
differs from one already given for its key raises `UnexpectedResponse`.

Provider data (``"provider": "openai-responses"``): the item ``id`` on every part, a message's
``phase`` on its text, the reasoning item's ``encrypted_content`` on its first part, and an
image's ``revised_prompt``; they are what `_openai_responses_request` needs to send the parts back
(``revised_prompt`` is kept only so that it is not lost).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmframe import _json
from llmframe.errors import ProviderHTTPError, UnexpectedResponse
from llmframe.parts.types import (
    ImagePart,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
)
from llmframe.providers import _http
from llmframe.providers._assembler import PartAssembler
from llmframe.providers._openai_responses_request import PROVIDER
from llmframe.providers._wire import Wire, in_band_status
from llmframe.providers.base import (
    ErrorVerdict,
    MediaDelta,
    PartDelta,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmframe.providers.openai import OpenAIChat

__all__ = [
    "OutputReader",
    "classify_error",
    "content_delta",
    "finish_reason",
    "in_band_error",
    "junk",
    "number",
    "parse_object",
    "require",
    "summary_delta",
    "usage",
]

_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
_CLIENT_FAULT = ("invalid_", "image_", "unsupported_", "empty_", "failed_to_download")
"""`response.failed` codes that name a problem with the request: sending it again won't help."""
_CHAT = OpenAIChat()
_WIRE = Wire(PROVIDER)
junk = _WIRE.junk
parse_object = _WIRE.json_object


# -- shapes -------------------------------------------------------------------------------------


def require(obj: Mapping[str, Any], key: str, cls: type, what: str) -> Any:
    """``obj[key]`` when it is a `cls` (a bool is not an int here), else `UnexpectedResponse`."""
    value = obj.get(key)
    if not isinstance(value, cls) or (isinstance(value, bool) and cls is not bool):
        excerpt = _http.excerpt(_json.dumps(obj))
        msg = f"`{key}` in the {what} is not of type `{cls.__name__}`: {excerpt}"
        raise UnexpectedResponse(msg, provider=PROVIDER, excerpt=excerpt)
    return value


def _optional(obj: Mapping[str, Any], key: str, cls: type, what: str) -> Any:
    return None if obj.get(key) is None else require(obj, key, cls, what)


def number(obj: Mapping[str, Any], key: str, what: str) -> int:
    """A required integer field (an index)."""
    return int(require(obj, key, int, what))


def usage(raw: Any) -> Usage:
    """``usage``: input, output, reasoning and cached tokens."""
    if raw is None:
        return Usage()
    if not isinstance(raw, Mapping):
        raise junk(_json.dumps(raw), "a `usage` that is not an object")
    given = raw.get("input_tokens_details") or {}
    made = raw.get("output_tokens_details") or {}
    for details in (given, made):
        if not isinstance(details, Mapping):
            raise junk(_json.dumps(details), "usage details that are not an object")
    return Usage(
        input_tokens=_optional(raw, "input_tokens", int, "usage"),
        output_tokens=_optional(raw, "output_tokens", int, "usage"),
        reasoning_tokens=_optional(made, "reasoning_tokens", int, "usage"),
        cached_tokens=_optional(given, "cached_tokens", int, "usage"),
    )


# -- errors -------------------------------------------------------------------------------------


def classify_error(status: int, headers: Mapping[str, str], body: bytes) -> ErrorVerdict:
    """The Responses API shares Chat Completions' error envelope, so its rules apply as they are."""
    return _CHAT.classify_error(status, headers, body)


def in_band_error(error: Any, where: str) -> ProviderHTTPError:
    """The exception for an error reported inside a 200 response (`where` says how)."""
    status = in_band_status(error)
    code = error.get("code") if isinstance(error, Mapping) else None
    if status == 500 and isinstance(code, str) and code.startswith(_CLIENT_FAULT):
        status = 400
    verdict = classify_error(status, {}, _json.dumps({"error": error}).encode())
    return _http.in_band_error(verdict, provider=PROVIDER, where=where)


# -- output items -------------------------------------------------------------------------------


@dataclass
class _Item:
    """What an output item needs beyond its content to be sent back."""

    type: str
    id: str | None = None
    phase: str | None = None
    encrypted_content: str | None = None
    revised_prompt: str | None = None


_Textual = TextDelta | RefusalDelta | ReasoningDelta | ToolCallDelta


def _text_of(delta: _Textual) -> str:
    return delta.arguments if isinstance(delta, ToolCallDelta) else delta.text


def _with_text(delta: _Textual, text: str) -> PartDelta:
    if isinstance(delta, ToolCallDelta):
        return dataclasses.replace(delta, arguments=text)
    return dataclasses.replace(delta, text=text)


def content_delta(index: int, position: int, content: Any) -> PartDelta:
    """The whole delta of one message content part: output text or a refusal."""
    if not isinstance(content, Mapping):
        raise _WIRE.unsupported(content, "a message content part that is not an object")
    key = f"{index}:{position}"
    kind = content.get("type")
    if kind == "output_text":
        for extra in ("annotations", "logprobs"):
            if content.get(extra):
                raise _WIRE.unsupported(content[extra], f"output text `{extra}`")
        return TextDelta(key=key, text=require(content, "text", str, "output text"))
    if kind == "refusal":
        return RefusalDelta(key=key, text=require(content, "refusal", str, "refusal"))
    raise _WIRE.unsupported(content, f"message content of type `{kind}`")


def summary_delta(index: int, position: int, summary: Any) -> ReasoningDelta:
    """The whole delta of one reasoning summary part."""
    if not isinstance(summary, Mapping) or summary.get("type") != "summary_text":
        raise _WIRE.unsupported(summary, "a reasoning summary that is not `summary_text`")
    text = require(summary, "text", str, "reasoning summary")
    return ReasoningDelta(key=f"{index}:summary:{position}", text=text)


def _item_deltas(index: int, item: Mapping[str, Any]) -> tuple[_Item, list[PartDelta]]:
    kind = item.get("type")
    meta = _Item(type=str(kind), id=_optional(item, "id", str, "output item"))
    if kind == "message":
        meta.phase = _optional(item, "phase", str, "message")
        content = _optional(item, "content", list, "message") or []
        return meta, [content_delta(index, i, c) for i, c in enumerate(content)]
    if kind == "reasoning":
        if item.get("content"):
            raise _WIRE.unsupported(item["content"], "reasoning `content`")
        meta.encrypted_content = _optional(item, "encrypted_content", str, "reasoning")
        summary = _optional(item, "summary", list, "reasoning") or []
        deltas = [summary_delta(index, i, s) for i, s in enumerate(summary)]
        return meta, deltas or [ReasoningDelta(key=f"{index}:summary:0")]
    if kind == "function_call":
        call = ToolCallDelta(
            key=f"{index}:call",
            call_id=require(item, "call_id", str, "function call"),
            name=require(item, "name", str, "function call"),
            arguments=_optional(item, "arguments", str, "function call") or "",
        )
        return meta, [call]
    if kind == "image_generation_call":
        meta.revised_prompt = _optional(item, "revised_prompt", str, "image generation call")
        return meta, _image_deltas(index, item)
    raise _WIRE.unsupported(item, f"an output item of type `{kind}`")


def _image_deltas(index: int, item: Mapping[str, Any]) -> list[PartDelta]:
    """The image of a finished ``image_generation_call``; none while it is in progress."""
    result = _optional(item, "result", str, "image generation call")
    if result is None:
        return []
    try:
        data = base64.b64decode(result, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise junk(result, "an image generation `result` that is not (non-empty) base64")
    fmt = _optional(item, "output_format", str, "image generation call") or "png"
    return [MediaDelta(key=f"{index}:image", mime_type=f"image/{fmt}", data=data)]


class OutputReader:
    """The parts of one response, from whole items or from stream deltas plus finished items."""

    def __init__(self) -> None:
        self._assembler = PartAssembler(PROVIDER)
        self._items: dict[int, _Item] = {}
        self._owner: dict[str, int] = {}
        self._seen: dict[str, list[str]] = {}
        self._media: dict[str, bytes] = {}

    @property
    def made_calls(self) -> bool:
        """Whether any output item is a function call."""
        return any(item.type == "function_call" for item in self._items.values())

    def add(self, index: int, delta: PartDelta) -> PartDelta:
        """Collect one streamed delta of output item `index`."""
        self._owner.setdefault(delta.key, index)
        self._assembler.add(delta)
        if isinstance(delta, MediaDelta):
            self._media[delta.key] = self._media.get(delta.key, b"") + delta.data
        else:
            self._seen.setdefault(delta.key, []).append(_text_of(delta))
        return delta

    def item(self, index: int, item: Any) -> list[PartDelta]:
        """Reconcile output item `index`, whole or as far as the server has sent it."""
        if not isinstance(item, Mapping):
            raise _WIRE.unsupported(item, "an output item that is not an object")
        meta, deltas = _item_deltas(index, item)
        known = self._items.get(index)
        if known is not None:
            if known.type != meta.type:
                msg = f"output item {index} changed type from `{known.type}` to `{meta.type}`"
                raise UnexpectedResponse(msg, provider=PROVIDER)
            meta = _Item(
                type=meta.type,
                id=meta.id or known.id,
                phase=meta.phase or known.phase,
                encrypted_content=meta.encrypted_content or known.encrypted_content,
                revised_prompt=meta.revised_prompt or known.revised_prompt,
            )
        self._items[index] = meta
        return [new for delta in deltas for new in self.reconcile(index, delta)]

    def reconcile(self, index: int, whole: PartDelta) -> list[PartDelta]:
        """Add what `whole` (a finished text) holds beyond the deltas already given for its key."""
        if isinstance(whole, MediaDelta):
            given = self._media.get(whole.key)
            if given is None:
                return [self.add(index, whole)]
            if given == whole.data:
                return []
            msg = f"the finished image of `{whole.key}` differs from the one already given"
            raise UnexpectedResponse(msg, provider=PROVIDER)
        text = _text_of(whole)
        fragments = self._seen.get(whole.key)
        if fragments is None:
            return [self.add(index, whole)]
        seen = "".join(fragments)
        if text == seen:
            return []
        if text.startswith(seen):
            return [self.add(index, _with_text(whole, text[len(seen) :]))]
        excerpt = _http.excerpt(text)
        msg = f"the finished text of `{whole.key}` differs from its streamed deltas: {excerpt!r}"
        raise UnexpectedResponse(msg, provider=PROVIDER, excerpt=excerpt)

    def parts(self) -> list[Part]:
        """The finished parts, each with the provider data needed to send it back."""
        return [self._finished(key, part) for key, part in self._assembler.keyed_parts()]

    def _finished(self, key: str, part: Part) -> Part:
        item = self._items.get(self._owner[key])
        data: dict[str, Any] = {"provider": PROVIDER}
        if item is not None and item.id is not None:
            data["id"] = item.id
        update: dict[str, Any] = {}
        if isinstance(part, (TextPart, RefusalPart)):
            if item is not None and item.phase is not None:
                data["phase"] = item.phase
        elif isinstance(part, ReasoningPart):
            first = key.endswith(":summary:0")
            if first and item is not None and item.encrypted_content is not None:
                data["encrypted_content"] = item.encrypted_content
            update["text"] = part.text or None
        elif isinstance(part, ImagePart):
            if item is not None and item.revised_prompt is not None:
                data["revised_prompt"] = item.revised_prompt
        elif not isinstance(part, ToolCallPart):
            msg = f"part `{key}` is a {part.type} part, which no output item makes"
            raise UnexpectedResponse(msg, provider=PROVIDER)
        if len(data) > 1:
            update["provider_data"] = data
        return part.model_copy(update=update) if update else part


def finish_reason(response: Mapping[str, Any], *, made_calls: bool) -> str:
    """The normalised reason a finished response stopped; raise for a failed or unfinished one."""
    status = response.get("status")
    if status == "completed":
        return "tool_calls" if made_calls else "stop"
    if status == "incomplete":
        details = response.get("incomplete_details") or {}
        reason = details.get("reason") if isinstance(details, Mapping) else None
        return _INCOMPLETE.get(str(reason), reason if isinstance(reason, str) else "incomplete")
    if status == "failed":
        raise in_band_error(response.get("error"), "the response failed")
    what = f"a response with status `{status}`, not a finished one (is `background` set?)"
    raise junk(_json.dumps({"id": response.get("id"), "status": status}), what)
