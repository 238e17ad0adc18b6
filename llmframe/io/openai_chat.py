"""OpenAI chat messages (dicts, as in JSONL files and HF datasets) <-> `Message`.

Reading accepts content as a string or a list of content parts (``text``, ``image_url``,
``input_audio``, ``file``, ``refusal``), assistant ``tool_calls``, ``refusal`` and
``reasoning_content``/``reasoning`` (DeepSeek, vLLM), and ``tool`` messages with a
``tool_call_id``. A key llmframe cannot store is an error, never dropped.

Writing produces the canonical form (README "OpenAI chat JSONL"): content is a string when the
message is exactly one text part and a list of parts otherwise; an assistant message that is only
a refusal has ``"content": null`` and ``"refusal"``; reasoning goes to ``reasoning_content``; tool
call arguments are compact JSON text; a tool message carries one result, so a message answering
several calls becomes several tool messages.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from llmframe import _json
from llmframe.errors import SchemaMismatch, UnsupportedPart
from llmframe.parts.types import (
    AudioPart,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from llmframe.schema import ROLES

__all__ = ["message_from_openai", "message_to_openai"]

_TARGET = "OpenAI chat JSONL"
_MESSAGE_KEYS = {
    "system": {"role", "content"},
    "developer": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "refusal", "tool_calls", "reasoning_content", "reasoning"},
    "tool": {"role", "content", "tool_call_id", "name"},
}
_AUDIO_FORMATS = {"mp3": "audio/mpeg"}


def _fail(message: str) -> SchemaMismatch:
    return SchemaMismatch(message)


def _check_keys(obj: Mapping[str, Any], allowed: set[str], what: str) -> None:
    extra = sorted(k for k, v in obj.items() if k not in allowed and v is not None)
    if extra:
        names = ", ".join(f"`{k}`" for k in extra)
        msg = f"{what} has unsupported key(s) {names}. Hint: drop them before converting"
        raise _fail(msg)


def _require_str(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        got = "nothing" if value is None else type(value).__name__
        msg = f"{what} needs `{key}` as a string, got {got}"
        raise _fail(msg)
    return value


def _openai_detail(detail: Any) -> dict[str, Any] | None:
    return None if detail is None else {"provider": "openai", "detail": detail}


def _image(item: Mapping[str, Any]) -> ImagePart:
    image = item.get("image_url")
    if isinstance(image, str):
        return ImagePart(uri=image)
    if not isinstance(image, Mapping):
        msg = "image_url part needs `image_url` with a `url`"
        raise _fail(msg)
    _check_keys(image, {"url", "detail"}, "image_url")
    return ImagePart(
        uri=_require_str(image, "url", "image_url"),
        provider_data=_openai_detail(image.get("detail")),
    )


def _audio(item: Mapping[str, Any]) -> AudioPart:
    audio = item.get("input_audio")
    if not isinstance(audio, Mapping):
        msg = "input_audio part needs `input_audio` with `data` and `format`"
        raise _fail(msg)
    _check_keys(audio, {"data", "format"}, "input_audio")
    fmt = _require_str(audio, "format", "input_audio")
    try:
        data = base64.b64decode(_require_str(audio, "data", "input_audio"), validate=True)
    except binascii.Error:
        msg = "input_audio `data` is not valid base64"
        raise _fail(msg) from None
    return AudioPart(data=data, mime_type=_AUDIO_FORMATS.get(fmt, f"audio/{fmt}"))


def _file(item: Mapping[str, Any]) -> DocumentPart:
    file = item.get("file")
    if not isinstance(file, Mapping):
        msg = "file part needs `file` with `file_data` or `file_id`"
        raise _fail(msg)
    _check_keys(file, {"file_data", "file_id", "filename"}, "file")
    file_id = file.get("file_id")
    provider_data = {"provider": "openai", "file_id": file_id} if file_id is not None else None
    file_data = file.get("file_data")
    if file_data is not None and not isinstance(file_data, str):
        msg = "file `file_data` must be a data: URL string"
        raise _fail(msg)
    if file_data is None and file_id is None:
        msg = "file part needs `file_data` or `file_id`"
        raise _fail(msg)
    return DocumentPart(uri=file_data, name=file.get("filename"), provider_data=provider_data)


_CONTENT_KEYS = {
    "text": "text",
    "image_url": "image_url",
    "input_audio": "input_audio",
    "file": "file",
    "refusal": "refusal",
}


def _content_part(item: Any) -> Part:
    if not isinstance(item, Mapping):
        msg = f"content part must be an object, got {type(item).__name__}"
        raise _fail(msg)
    kind = item.get("type")
    if kind not in _CONTENT_KEYS:
        expected = ", ".join(_CONTENT_KEYS)
        msg = f"unknown part type `{kind}`; expected one of: {expected}"
        raise _fail(msg)
    _check_keys(item, {"type", _CONTENT_KEYS[kind]}, f"{kind} part")
    if kind == "text":
        return TextPart(text=_require_str(item, "text", "text part"))
    if kind == "refusal":
        return RefusalPart(text=_require_str(item, "refusal", "refusal part"))
    if kind == "image_url":
        return _image(item)
    if kind == "input_audio":
        return _audio(item)
    return _file(item)


def _content(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)]
    if isinstance(content, list):
        parts = []
        for index, item in enumerate(content):
            try:
                parts.append(_content_part(item))
            except SchemaMismatch as exc:
                exc.where.insert(0, f"content part {index + 1}")
                raise
        return parts
    msg = f"`content` must be a string, a list of parts or null, got {type(content).__name__}"
    raise _fail(msg)


def _tool_call(call: Any) -> ToolCallPart:
    if not isinstance(call, Mapping):
        msg = "each of `tool_calls` must be an object"
        raise _fail(msg)
    _check_keys(call, {"id", "type", "function"}, "tool call")
    if call.get("type", "function") != "function":
        msg = f"tool call type `{call.get('type')}` is not supported; expected `function`"
        raise _fail(msg)
    function = call.get("function")
    if not isinstance(function, Mapping):
        msg = "tool call needs `function` with `name` and `arguments`"
        raise _fail(msg)
    _check_keys(function, {"name", "arguments"}, "tool call function")
    name = _require_str(function, "name", "tool call function")
    arguments = function.get("arguments")
    call_id = call.get("id")
    if isinstance(arguments, str):
        try:
            value = _json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return ToolCallPart(name=name, tool_call_id=call_id, raw_arguments=arguments)
        return ToolCallPart(name=name, tool_call_id=call_id, arguments=value)
    if arguments is None or isinstance(arguments, Mapping):
        return ToolCallPart(name=name, tool_call_id=call_id, arguments=arguments or {})
    msg = "tool call `arguments` must be JSON text or an object"
    raise _fail(msg)


def _assistant_parts(obj: Mapping[str, Any]) -> list[Part]:
    parts: list[Part] = []
    for key in ("reasoning_content", "reasoning"):
        reasoning = obj.get(key)
        if reasoning is not None:
            parts.append(ReasoningPart(text=_require_str(obj, key, "assistant message")))
    parts.extend(_content(obj.get("content")))
    if obj.get("refusal") is not None:
        parts.append(RefusalPart(text=_require_str(obj, "refusal", "assistant message")))
    calls = obj.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            msg = "`tool_calls` must be a list"
            raise _fail(msg)
        for index, call in enumerate(calls):
            try:
                parts.append(_tool_call(call))
            except SchemaMismatch as exc:
                exc.where.insert(0, f"tool call {index + 1}")
                raise
    return parts


def _tool_parts(obj: Mapping[str, Any]) -> list[Part]:
    call_id = obj.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        msg = "tool message has no `tool_call_id`. Hint: a tool result names the call it answers"
        raise _fail(msg)
    name = obj.get("name")
    results: list[Part] = []
    for part in _content(obj.get("content")):
        if not isinstance(part, TextPart):
            msg = f"tool message content may only hold text, got a {part.type} part"
            raise _fail(msg)
        results.append(ToolResultPart(tool_call_id=call_id, name=name, text=part.text))
    return results


def message_from_openai(obj: Any) -> Message:
    """Read one OpenAI chat message dict."""
    if not isinstance(obj, Mapping):
        msg = f"message must be an object, got {type(obj).__name__}"
        raise _fail(msg)
    role = obj.get("role")
    if role not in ROLES:
        msg = f"unknown role `{role}`; expected one of: {', '.join(ROLES)}"
        raise _fail(msg)
    _check_keys(obj, _MESSAGE_KEYS[role], f"{role} message")
    if role == "assistant":
        parts = _assistant_parts(obj)
    elif role == "tool":
        parts = _tool_parts(obj)
    else:
        parts = _content(obj.get("content"))
    if not parts:
        msg = f"{role} message has no content"
        raise _fail(msg)
    return Message(role=role, parts=parts)


def _unsupported(part: Part, role: str) -> UnsupportedPart:
    msg = f"{_TARGET} cannot carry a {part.type} part in a `{role}` message. Hint: write Parquet"
    return UnsupportedPart(msg, provider="openai")


def _detail(part: Part) -> dict[str, Any]:
    data = part.provider_data or {}
    return {"detail": data["detail"]} if "detail" in data else {}


def _media_url(uri: str | None, data: bytes | None, mime_type: str | None) -> str:
    if uri is not None:
        return uri
    encoded = base64.b64encode(data or b"").decode()
    return f"data:{mime_type or 'application/octet-stream'};base64,{encoded}"


def _content_item(part: Part, role: str) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, RefusalPart) and role == "assistant":
        return {"type": "refusal", "refusal": part.text}
    if isinstance(part, ImagePart) and role != "assistant":
        return {
            "type": "image_url",
            "image_url": {"url": _media_url(part.uri, part.data, part.mime_type), **_detail(part)},
        }
    if isinstance(part, AudioPart) and role != "assistant" and part.data is not None:
        mime = part.mime_type or "audio/wav"
        fmt = "mp3" if mime == "audio/mpeg" else mime.removeprefix("audio/")
        return {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(part.data).decode(), "format": fmt},
        }
    if isinstance(part, DocumentPart) and role != "assistant":
        file: dict[str, Any] = {}
        if part.name is not None:
            file["filename"] = part.name
        if part.uri is not None or part.data is not None:
            file["file_data"] = _media_url(part.uri, part.data, part.mime_type)
        if part.provider_data and "file_id" in part.provider_data:
            file["file_id"] = part.provider_data["file_id"]
        return {"type": "file", "file": file}
    raise _unsupported(part, role)


def _content_out(parts: list[Part], role: str) -> str | list[dict[str, Any]] | None:
    if not parts:
        return None
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    return [_content_item(p, role) for p in parts]


def _assistant_out(message: Message) -> dict[str, Any]:
    reasoning = [p for p in message.parts if isinstance(p, ReasoningPart)]
    calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
    content = [p for p in message.parts if not isinstance(p, (ReasoningPart, ToolCallPart))]
    out: dict[str, Any] = {"role": "assistant"}
    if len(content) == 1 and isinstance(content[0], RefusalPart):
        out.update(content=None, refusal=content[0].text)
    else:
        out["content"] = _content_out(content, "assistant")
    if reasoning:
        if len(reasoning) > 1 or reasoning[0].text is None or reasoning[0].provider_data:
            raise _unsupported(reasoning[0], "assistant")
        out["reasoning_content"] = reasoning[0].text
    if calls:
        out["tool_calls"] = [_tool_call_out(call) for call in calls]
    return out


def _tool_call_out(call: ToolCallPart) -> dict[str, Any]:
    arguments = (
        call.raw_arguments if call.raw_arguments is not None else _json.dumps(call.arguments)
    )
    out: dict[str, Any] = {"id": call.tool_call_id} if call.tool_call_id is not None else {}
    return {**out, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def _tool_out(message: Message) -> list[dict[str, Any]]:
    out = []
    for part in message.parts:
        if not isinstance(part, ToolResultPart) or (
            part.text is not None and part.value is not None
        ):
            raise _unsupported(part, "tool")
        text = part.text if part.text is not None else _json.dumps(part.value)
        item: dict[str, Any] = {"role": "tool", "tool_call_id": part.tool_call_id, "content": text}
        if part.name is not None:
            item["name"] = part.name
        out.append(item)
    return out


def message_to_openai(message: Message) -> list[dict[str, Any]]:
    """One message in canonical OpenAI chat form (a tool message may become several)."""
    if message.role == "assistant":
        return [_assistant_out(message)]
    if message.role == "tool":
        return _tool_out(message)
    return [{"role": message.role, "content": _content_out(list(message.parts), message.role)}]
