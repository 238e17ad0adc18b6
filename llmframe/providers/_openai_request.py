"""Messages -> the ``messages`` of an OpenAI Chat Completions request (the wire, not a file).

`llmframe.io.openai_chat` writes the same format for files; the wire differs where a server has
needs a file does not, so the rules here are:

- ``system``/``developer``: text only (a string, or text items when there are several parts).
- ``user``: a string for one text part, else content items: ``text``; ``image_url`` (a ``data:``
  URL built from inline ``data`` and ``mime_type``, else the ``uri`` when it is an ``http(s):`` or
  ``data:`` URL; ``detail`` from OpenAI provider data); ``input_audio`` (base64 and a ``format``
  of ``wav``/``mp3`` or the MIME subtype, from ``data`` or a ``data:`` URL, as the API takes no
  audio URLs); ``file`` (``file_data`` as a ``data:`` URL with a ``filename``, which OpenAI
  requires, defaulting to ``document.pdf``/``document``; or an OpenAI ``file_id``). A ``uri`` that
  is a local path never reaches a provider: the runner inlines local media first.
- ``assistant``: text and refusals as content (one text part -> a string; only a refusal -> the
  ``refusal`` field), tool calls as ``tool_calls`` with compact JSON arguments (``raw_arguments``
  verbatim), no ``content`` key beside tool calls when there is no text. Reasoning text goes to
  `reasoning_field` when the endpoint names one, and is otherwise not sent (the rule is in
  `llmframe.providers.openai`); a message left with nothing gets ``"content": ""``.
- ``tool``: one tool message per result: text, or the JSON value as compact text. The result's
  tool ``name`` is not sent (chat tool messages have no such field; ``tool_call_id`` links it).

A part a role cannot carry (video, JSON, media from the assistant, ...) raises `UnsupportedPart`
naming the message and part; nothing is dropped but reasoning, by that documented rule.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from typing_extensions import assert_never

from llmframe import _json
from llmframe._mime import sniff_mime_type
from llmframe.errors import UnsupportedPart
from llmframe.parts.types import (
    AudioPart,
    DocumentPart,
    ImagePart,
    JsonPart,
    MediaPart,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)

__all__ = ["wire_messages"]

_PROVIDER = "openai"
_URL_PREFIXES = ("https://", "http://", "data:")
_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}
_HINTS = {
    "video": "Hint: OpenAI chat takes no video; send frames as images or use a Gemini model",
    "json": "Hint: send the value as a text part",
    "tool_call": "Hint: tool calls belong in an assistant message",
    "tool_result": "Hint: tool results belong in a `tool` message",
}


def wire_messages(
    messages: Sequence[Message], *, reasoning_field: str | None = None
) -> list[dict[str, Any]]:
    """The request's ``messages``; raise `UnsupportedPart` for a part that cannot go.

    `reasoning_field` names the assistant-message field that takes reasoning text back (DeepSeek:
    ``reasoning_content``); None leaves reasoning out. Several reasoning parts in one message are
    joined with a blank line; one without text (an encrypted blob only) has nothing to send.
    """
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"message {index + 1} ({message.role})"
        if message.role == "assistant":
            out.append(_assistant(message.parts, where, reasoning_field))
        elif message.role == "tool":
            out.extend(_tool_result(part, where) for part in message.parts)
        elif message.role == "user":
            out.append({"role": "user", "content": _user_content(message.parts, where)})
        elif message.role in ("system", "developer"):
            out.append({"role": message.role, "content": _text_content(message.parts, where)})
        else:
            assert_never(message.role)
    return out


def _unsupported(part: Part, where: str, hint: str = "") -> UnsupportedPart:
    hint = hint or _HINTS.get(part.type, "")
    msg = f"{where}: OpenAI chat cannot carry a {part.type} part here"
    return UnsupportedPart(f"{msg}. {hint}" if hint else msg, provider=_PROVIDER)


def _text_content(parts: Sequence[Part], where: str) -> str | list[dict[str, Any]]:
    for part in parts:
        if not isinstance(part, TextPart):
            raise _unsupported(part, where, "Hint: system and developer messages take text only")
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    return texts[0] if len(texts) == 1 else [{"type": "text", "text": t} for t in texts]


def _user_content(parts: Sequence[Part], where: str) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    return [_user_item(part, where) for part in parts]


def _user_item(part: Part, where: str) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        url = _data_url(part, where) if part.data is not None else _url(part, where)
        return {"type": "image_url", "image_url": {"url": url, **_detail(part)}}
    if isinstance(part, AudioPart):
        return {"type": "input_audio", "input_audio": _audio(part, where)}
    if isinstance(part, DocumentPart):
        return {"type": "file", "file": _file(part, where)}
    if isinstance(part, (ReasoningPart, RefusalPart)):
        raise _unsupported(part, where, "Hint: only assistant messages hold these")
    if isinstance(part, (VideoPart, JsonPart, ToolCallPart, ToolResultPart)):
        raise _unsupported(part, where)
    assert_never(part)


def _assistant(parts: Sequence[Part], where: str, reasoning_field: str | None) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for part in parts:
        if isinstance(part, TextPart):
            items.append({"type": "text", "text": part.text})
        elif isinstance(part, RefusalPart):
            items.append({"type": "refusal", "refusal": part.text})
        elif isinstance(part, ToolCallPart):
            calls.append(_tool_call(part))
        elif isinstance(part, ReasoningPart):
            if part.text:
                reasoning.append(part.text)
        elif isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)):
            raise _unsupported(part, where, "Hint: only user messages hold media")
        elif isinstance(part, (JsonPart, ToolResultPart)):
            raise _unsupported(part, where)
        else:
            assert_never(part)
    out: dict[str, Any] = {"role": "assistant"}
    if len(items) == 1 and items[0]["type"] == "text":
        out["content"] = items[0]["text"]
    elif len(items) == 1:
        out.update(content=None, refusal=items[0]["refusal"])
    elif items:
        out["content"] = items
    elif not calls:
        out["content"] = ""
    if calls:
        out["tool_calls"] = calls
    if reasoning_field is not None and reasoning:
        out[reasoning_field] = "\n\n".join(reasoning)
    return out


def _tool_call(call: ToolCallPart) -> dict[str, Any]:
    arguments = call.raw_arguments
    if arguments is None:
        arguments = _json.dumps(call.arguments)
    out: dict[str, Any] = {
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }
    if call.tool_call_id is not None:
        out["id"] = call.tool_call_id
    return out


def _tool_result(part: Part, where: str) -> dict[str, Any]:
    if not isinstance(part, ToolResultPart):
        raise _unsupported(part, where, "Hint: a tool message holds tool results only")
    if part.text is not None and part.value is not None:
        raise _unsupported(part, where, "Hint: give a tool result `text` or `value`, not both")
    content = part.text if part.text is not None else _json.dumps(part.value)
    return {"role": "tool", "tool_call_id": part.tool_call_id, "content": content}


def _detail(part: MediaPart) -> dict[str, Any]:
    data = part.provider_data or {}
    if data.get("provider") == _PROVIDER and "detail" in data:
        return {"detail": data["detail"]}
    return {}


def _mime(part: MediaPart, where: str) -> str:
    mime = part.mime_type or (sniff_mime_type(part.data) if part.data is not None else None)
    if mime is None:
        raise _unsupported(part, where, "Hint: give the part a `mime_type`")
    return mime


def _data_url(part: MediaPart, where: str) -> str:
    encoded = base64.b64encode(part.data or b"").decode()
    return f"data:{_mime(part, where)};base64,{encoded}"


def _url(part: MediaPart, where: str) -> str:
    uri = part.uri
    if uri is not None and uri.lower().startswith(_URL_PREFIXES):
        return uri
    if uri is None:
        raise _unsupported(part, where, "Hint: it has neither `data` nor a URL")
    hint = f"Hint: `uri` {uri!r} is not a URL; the runner must inline local media first"
    raise _unsupported(part, where, hint)


def _split_data_url(part: MediaPart, where: str) -> tuple[str | None, str]:
    header, _, payload = (part.uri or "")[len("data:") :].partition(",")
    if not header.endswith(";base64"):
        raise _unsupported(part, where, "Hint: a `data:` URL here must be base64")
    return header.removesuffix(";base64").split(";")[0] or part.mime_type, payload


def _audio(part: AudioPart, where: str) -> dict[str, str]:
    if part.data is not None:
        mime: str | None = _mime(part, where)
        encoded = base64.b64encode(part.data).decode()
    elif (part.uri or "").lower().startswith("data:"):
        mime, encoded = _split_data_url(part, where)
    else:
        raise _unsupported(part, where, "Hint: OpenAI chat takes audio inline, not by URL")
    if mime is None or not mime.startswith("audio/"):
        raise _unsupported(part, where, "Hint: give the part an audio `mime_type`")
    return {"data": encoded, "format": _AUDIO_FORMATS.get(mime, mime.removeprefix("audio/"))}


def _file(part: DocumentPart, where: str) -> dict[str, Any]:
    provider_data = part.provider_data or {}
    if part.data is not None:
        file_data = _data_url(part, where)
    elif (part.uri or "").lower().startswith("data:"):
        file_data = part.uri or ""
    elif provider_data.get("provider") == _PROVIDER and "file_id" in provider_data:
        return {"file_id": provider_data["file_id"]}
    else:
        raise _unsupported(part, where, "Hint: OpenAI chat takes documents inline, not by URL")
    pdf = file_data.lower().startswith("data:application/pdf")
    return {
        "file_data": file_data,
        "filename": part.name or ("document.pdf" if pdf else "document"),
    }
