"""Messages -> the ``input`` items of an OpenAI Responses request.

- ``system``/``developer``: an input message of that role, text only (a string, or
  ``input_text`` items when there are several parts). They stay in place in the conversation;
  a caller who prefers the ``instructions`` field passes it as an option.
- ``user``: a string for one text part, else ``input_text``, ``input_image`` (``image_url`` is a
  ``data:`` URL built from inline ``data`` and ``mime_type``, else the ``uri`` when it is an
  ``http(s):`` or ``data:`` URL; ``detail`` from OpenAI provider data, else ``auto``, which the
  API requires) and ``input_file`` (``file_data`` as a ``data:`` URL with a ``filename``, an
  ``http(s)`` ``file_url``, or an OpenAI ``file_id``). Audio and video are refused: use the
  Chat Completions endpoint for audio.
- ``assistant``: each part becomes an item, in order. Text and refusals become ``message``
  items (``output_text``/``refusal`` content; consecutive parts of one recorded message share
  one item). Tool calls become ``function_call`` items; a call without a ``tool_call_id`` is
  refused, as the API links results by it. Reasoning parts that this provider produced become
  ``reasoning`` items: consecutive parts with one item ``id`` are one item whose ``summary`` is
  their texts, with the ``encrypted_content`` kept in provider data.
- ``tool``: one ``function_call_output`` per result: text, or the JSON value as compact text.

Item ids. With the API's default ``store: true`` the server links a reasoning item to the item
that followed it by their ids, so the ids (and a message's ``phase``, which newer models want
back) are sent again. With ``store: false`` nothing was kept server-side, so message and call
ids are left out (the server would look them up and fail) and a reasoning part goes back only
with its ``encrypted_content``; ask for it with ``include: ["reasoning.encrypted_content"]``.

Dropped by rule, never silently by accident: reasoning from another provider (Chat Completions,
Anthropic...), which this API cannot take, since a reasoning item needs an id this provider
issued; and under ``store: false``, reasoning without ``encrypted_content``, which the server
could only look up by its id and would answer 404. Any other part a role cannot carry raises
`UnsupportedPart` naming the message and the part.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
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

__all__ = ["PROVIDER", "input_items"]

PROVIDER = "openai-responses"
_OPENAI = (PROVIDER, "openai")  # provider data both OpenAI wire formats read (detail, file_id)
_URL_PREFIXES = ("https://", "http://", "data:")
_HINTS = {
    "audio": "Hint: the Responses API takes no audio input; use an `openai/MODEL` model",
    "video": "Hint: OpenAI takes no video; send frames as images or use a Gemini model",
    "json": "Hint: send the value as a text part",
    "tool_call": "Hint: tool calls belong in an assistant message",
    "tool_result": "Hint: tool results belong in a `tool` message",
}


def input_items(messages: Sequence[Message], *, stored: bool) -> list[dict[str, Any]]:
    """The request's ``input``; `stored` is False when the request says ``store: false``."""
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"message {index + 1} ({message.role})"
        if message.role == "assistant":
            out.extend(_assistant(message.parts, where, stored=stored))
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
    msg = f"{where}: the OpenAI Responses API cannot carry a {part.type} part here"
    return UnsupportedPart(f"{msg}. {hint}" if hint else msg, provider=PROVIDER)


def _ours(part: Part) -> Mapping[str, Any]:
    """The part's provider data when this provider wrote it, else an empty mapping."""
    data = part.provider_data or {}
    return data if data.get("provider") == PROVIDER else {}


def _text_content(parts: Sequence[Part], where: str) -> str | list[dict[str, Any]]:
    for part in parts:
        if not isinstance(part, TextPart):
            raise _unsupported(part, where, "Hint: system and developer messages take text only")
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    return texts[0] if len(texts) == 1 else [{"type": "input_text", "text": t} for t in texts]


def _user_content(parts: Sequence[Part], where: str) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    return [_user_item(part, where) for part in parts]


def _user_item(part: Part, where: str) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return _image(part, where)
    if isinstance(part, DocumentPart):
        return _file(part, where)
    if isinstance(part, (ReasoningPart, RefusalPart)):
        raise _unsupported(part, where, "Hint: only assistant messages hold these")
    if isinstance(part, (AudioPart, VideoPart, JsonPart, ToolCallPart, ToolResultPart)):
        raise _unsupported(part, where)
    assert_never(part)


def _assistant(parts: Sequence[Part], where: str, *, stored: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    groups: list[tuple[str, Any, Any]] = []  # per item: its kind, recorded id and phase
    for part in parts:
        if isinstance(part, (TextPart, RefusalPart, ReasoningPart)):
            ours = _ours(part)
            if isinstance(part, ReasoningPart) and not isinstance(ours.get("id"), str):
                continue  # another provider's reasoning: this API cannot take it (docstring)
            kind = "reasoning" if isinstance(part, ReasoningPart) else "message"
            group = (kind, ours.get("id"), ours.get("phase"))
            if not groups or groups[-1] != group:
                groups.append(group)
                items.append(_new_item(part, ours, stored=stored))
            _add_to_item(items[-1], part, ours)
        elif isinstance(part, ToolCallPart):
            groups.append(("function_call", len(items), None))  # never joined
            items.append(_function_call(part, where, stored=stored))
        elif isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)):
            raise _unsupported(part, where, "Hint: only user messages hold media")
        elif isinstance(part, (JsonPart, ToolResultPart)):
            raise _unsupported(part, where)
        else:
            assert_never(part)
    # Without `store`, reasoning goes back only as its encrypted copy (module docstring).
    return [i for i in items if stored or i["type"] != "reasoning" or "encrypted_content" in i]


def _new_item(
    part: TextPart | RefusalPart | ReasoningPart, ours: Mapping[str, Any], *, stored: bool
) -> dict[str, Any]:
    if isinstance(part, ReasoningPart):
        return {"type": "reasoning", "id": ours["id"], "summary": []}
    item: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
    if stored and isinstance(ours.get("id"), str):
        item.update(id=ours["id"], status="completed")
    if isinstance(ours.get("phase"), str):
        item["phase"] = ours["phase"]
    return item


def _add_to_item(
    item: dict[str, Any], part: TextPart | RefusalPart | ReasoningPart, ours: Mapping[str, Any]
) -> None:
    if isinstance(part, TextPart):
        item["content"].append({"type": "output_text", "text": part.text, "annotations": []})
    elif isinstance(part, RefusalPart):
        item["content"].append({"type": "refusal", "refusal": part.text})
    else:
        if part.text is not None:
            item["summary"].append({"type": "summary_text", "text": part.text})
        if isinstance(ours.get("encrypted_content"), str):
            item["encrypted_content"] = ours["encrypted_content"]


def _function_call(part: ToolCallPart, where: str, *, stored: bool) -> dict[str, Any]:
    if part.tool_call_id is None:
        hint = "Hint: a tool call here needs its `tool_call_id` (the API's `call_id`)"
        raise _unsupported(part, where, hint)
    arguments = part.raw_arguments
    if arguments is None:
        arguments = _json.dumps(part.arguments)
    item = {
        "type": "function_call",
        "call_id": part.tool_call_id,
        "name": part.name,
        "arguments": arguments,
    }
    ours = _ours(part)
    if stored and isinstance(ours.get("id"), str):
        item["id"] = ours["id"]
    return item


def _tool_result(part: Part, where: str) -> dict[str, Any]:
    if not isinstance(part, ToolResultPart):
        raise _unsupported(part, where, "Hint: a tool message holds tool results only")
    if part.text is not None and part.value is not None:
        raise _unsupported(part, where, "Hint: give a tool result `text` or `value`, not both")
    output = part.text if part.text is not None else _json.dumps(part.value)
    return {"type": "function_call_output", "call_id": part.tool_call_id, "output": output}


def _openai_data(part: MediaPart) -> Mapping[str, Any]:
    data = part.provider_data or {}
    return data if data.get("provider") in _OPENAI else {}


def _data_url(part: MediaPart, where: str) -> str:
    mime = part.mime_type or (sniff_mime_type(part.data) if part.data is not None else None)
    if mime is None:
        raise _unsupported(part, where, "Hint: give the part a `mime_type`")
    return f"data:{mime};base64,{base64.b64encode(part.data or b'').decode()}"


def _url(part: MediaPart, where: str) -> str:
    uri = part.uri
    if uri is not None and uri.lower().startswith(_URL_PREFIXES):
        return uri
    if uri is None:
        raise _unsupported(part, where, "Hint: it has neither `data` nor a URL")
    hint = f"Hint: `uri` {uri!r} is not a URL; the runner must inline local media first"
    raise _unsupported(part, where, hint)


def _image(part: ImagePart, where: str) -> dict[str, Any]:
    data = _openai_data(part)
    out: dict[str, Any] = {"type": "input_image", "detail": data.get("detail", "auto")}
    if part.data is not None:
        out["image_url"] = _data_url(part, where)
    elif part.uri is None and "file_id" in data:
        out["file_id"] = data["file_id"]
    else:
        out["image_url"] = _url(part, where)
    return out


def _file(part: DocumentPart, where: str) -> dict[str, Any]:
    data = _openai_data(part)
    if part.data is not None:
        file_data = _data_url(part, where)
    elif part.uri is None and "file_id" in data:
        return {"type": "input_file", "file_id": data["file_id"]}
    else:
        url = _url(part, where)
        if not url.lower().startswith("data:"):
            return {"type": "input_file", "file_url": url}
        file_data = url
    pdf = file_data.lower().startswith("data:application/pdf")
    name = part.name or ("document.pdf" if pdf else "document")
    return {"type": "input_file", "file_data": file_data, "filename": name}
