"""Messages -> the ``system`` and ``messages`` of an Anthropic Messages request.

The rules (`llmframe.providers.anthropic` documents the request around them):

- ``system``/``developer``: text only, and only before the conversation (Anthropic takes the
  system prompt at the top level, not as a turn). One text part is sent as a string, several
  (or one with ``cache_control``) as text blocks.
- ``user``: a string for one plain text part, else content blocks: ``text``; ``image`` and
  ``document`` with a ``base64`` source (from inline ``data``, or a base64 ``data:`` URL), a
  ``url`` source (an ``http(s):`` URL) or a ``file`` source (an Anthropic ``file_id`` in provider
  data). A document's ``name`` is its ``title``; a PDF goes as base64, a ``text/*`` document as a
  ``text`` source (``text/plain``, the only text type the API names; the text is sent as is).
  Tool results are taken here too, as ``tool_result`` blocks, since that is where the wire keeps
  them.
- ``assistant``: ``thinking`` blocks (text and signature) and ``redacted_thinking`` blocks from
  Anthropic's provider data, ``text`` (a refusal from another provider is sent as the text it
  is), ``tool_use`` (``input`` must be a JSON object). Empty text is left out, as the API refuses
  empty text blocks; an assistant message left with nothing is not sent.
- ``tool``: each message becomes a ``user`` turn of ``tool_result`` blocks, and consecutive tool
  messages are merged into one turn (the API wants every result of a turn's calls together).
  A result's content is its text, or its JSON value as compact text, or both as two text
  blocks (neither: no content); its ``name`` is not sent (``tool_use_id`` links it);
  ``is_error`` comes from provider data.

Reasoning goes back only as Anthropic issued it: a part whose provider data names
``"anthropic"`` and holds a ``signature`` (a thinking block) or ``redacted_thinking`` data.
Anything else (reasoning from another provider, or unsigned) is left out: the API verifies
signatures and has no other slot for reasoning. Provider data naming ``"anthropic"`` may carry
``cache_control`` for any block but thinking (the API caches those with their turn, and refuses
the mark). A part a role cannot carry raises `UnsupportedPart`.
"""

from __future__ import annotations

import base64
import binascii
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

__all__ = ["wire_request"]

_PROVIDER = "anthropic"
_URL_PREFIXES = ("https://", "http://")
_HINTS = {
    "audio": "Hint: Anthropic takes no audio; transcribe it first",
    "video": "Hint: Anthropic takes no video; send frames as images or use a Gemini model",
    "json": "Hint: send the value as a text part",
    "tool_call": "Hint: tool calls belong in an assistant message",
    "reasoning": "Hint: only assistant messages hold reasoning",
    "refusal": "Hint: only assistant messages hold refusals",
}

Block = dict[str, Any]


def wire_request(messages: Sequence[Message]) -> tuple[str | list[Block] | None, list[Block]]:
    """The request's ``system`` (None when there is none) and ``messages``."""
    system: list[Block] = []
    out: list[Block] = []
    previous_role: str | None = None
    for index, message in enumerate(messages):
        where = f"message {index + 1} ({message.role})"
        role = message.role
        if role in ("system", "developer"):
            if out:
                hint = "Hint: Anthropic takes system text only before the first turn"
                msg = f"{where}: a system message after the conversation. {hint}"
                raise UnsupportedPart(msg, provider=_PROVIDER)
            system.extend(_system_block(part, where) for part in message.parts)
        elif role == "tool":
            blocks = [_tool_message_block(part, where) for part in message.parts]
            if previous_role == "tool":
                out[-1]["content"].extend(blocks)
            else:
                out.append({"role": "user", "content": blocks})
        elif role == "user":
            out.append({"role": "user", "content": _user_content(message.parts, where)})
        elif role == "assistant":
            content = [b for part in message.parts if (b := _assistant_block(part, where))]
            if content:
                out.append({"role": "assistant", "content": content})
        else:
            assert_never(role)
        previous_role = role
    if not system:
        return None, out
    if len(system) == 1 and system[0].keys() == {"type", "text"}:
        return system[0]["text"], out
    return system, out


def _unsupported(part: Part, where: str, hint: str = "") -> UnsupportedPart:
    hint = hint or _HINTS.get(part.type, "")
    msg = f"{where}: Anthropic cannot carry a {part.type} part here"
    return UnsupportedPart(f"{msg}. {hint}" if hint else msg, provider=_PROVIDER)


def _ours(part: Part) -> Mapping[str, Any]:
    """The part's provider data when Anthropic wrote it, else nothing."""
    data = part.provider_data or {}
    return data if data.get("provider") == _PROVIDER else {}


def _with_cache(block: Block, part: Part) -> Block:
    cache = _ours(part).get("cache_control")
    return {**block, "cache_control": cache} if cache is not None else block


def _text_block(part: TextPart | RefusalPart) -> Block:
    return _with_cache({"type": "text", "text": part.text}, part)


def _system_block(part: Part, where: str) -> Block:
    if not isinstance(part, TextPart):
        raise _unsupported(part, where, "Hint: system and developer messages take text only")
    return _text_block(part)


def _user_content(parts: Sequence[Part], where: str) -> str | list[Block]:
    if len(parts) == 1 and isinstance(parts[0], TextPart) and not _ours(parts[0]):
        return parts[0].text
    return [_user_block(part, where) for part in parts]


def _user_block(part: Part, where: str) -> Block:
    if isinstance(part, TextPart):
        return _text_block(part)
    if isinstance(part, ImagePart):
        return _with_cache({"type": "image", "source": _image_source(part, where)}, part)
    if isinstance(part, DocumentPart):
        return _document(part, where)
    if isinstance(part, ToolResultPart):
        return _tool_result(part, where)
    if isinstance(part, (AudioPart, VideoPart, JsonPart, ToolCallPart, ReasoningPart, RefusalPart)):
        raise _unsupported(part, where)
    assert_never(part)


def _assistant_block(part: Part, where: str) -> Block | None:
    """The block for one assistant part; None for a part the rules leave out."""
    if isinstance(part, (TextPart, RefusalPart)):
        return _text_block(part) if part.text else None
    if isinstance(part, ToolCallPart):
        return _tool_use(part, where)
    if isinstance(part, ReasoningPart):
        return _reasoning(part)
    if isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)):
        raise _unsupported(part, where, "Hint: only user messages hold media")
    if isinstance(part, ToolResultPart):
        raise _unsupported(part, where, "Hint: tool results belong in a `tool` message")
    if isinstance(part, JsonPart):
        raise _unsupported(part, where)
    assert_never(part)


def _reasoning(part: ReasoningPart) -> Block | None:
    data = _ours(part)
    if isinstance(data.get("redacted_thinking"), str):
        return {"type": "redacted_thinking", "data": data["redacted_thinking"]}
    if isinstance(data.get("signature"), str):
        return {"type": "thinking", "thinking": part.text or "", "signature": data["signature"]}
    return None  # foreign or unsigned reasoning: the module's documented rule


def _tool_use(call: ToolCallPart, where: str) -> Block:
    if call.tool_call_id is None:
        raise _unsupported(call, where, "Hint: Anthropic needs the call's `tool_call_id`")
    if call.raw_arguments is not None:
        hint = "Hint: its arguments are not JSON, and Anthropic takes only a JSON object"
        raise _unsupported(call, where, hint)
    arguments = {} if call.arguments is None else call.arguments
    if not isinstance(arguments, dict):
        raise _unsupported(call, where, "Hint: Anthropic takes tool arguments as a JSON object")
    block = {"type": "tool_use", "id": call.tool_call_id, "name": call.name, "input": arguments}
    return _with_cache(block, call)


def _tool_message_block(part: Part, where: str) -> Block:
    if not isinstance(part, ToolResultPart):
        raise _unsupported(part, where, "Hint: a tool message holds tool results only")
    return _tool_result(part, where)


def _tool_result(part: ToolResultPart, where: str) -> Block:
    texts = [] if part.text is None else [part.text]
    if part.value is not None:
        texts.append(_json.dumps(part.value))
    block: Block = {"type": "tool_result", "tool_use_id": part.tool_call_id}
    if len(texts) == 1:
        block["content"] = texts[0]
    elif texts:
        block["content"] = [{"type": "text", "text": t} for t in texts]
    is_error = _ours(part).get("is_error")
    if is_error is not None:
        block["is_error"] = bool(is_error)
    return _with_cache(block, part)


def _mime(part: MediaPart, where: str, data: bytes) -> str:
    mime = part.mime_type or sniff_mime_type(data)
    if mime is None:
        raise _unsupported(part, where, "Hint: give the part a `mime_type`")
    return mime


def _inline(part: MediaPart, where: str) -> tuple[str, bytes] | None:
    """The media type and bytes of inline data or a ``data:`` URL; None for anything else."""
    if part.data is not None:
        return _mime(part, where, part.data), part.data
    uri = part.uri or ""
    if not uri.lower().startswith("data:"):
        return None
    header, _, payload = uri[len("data:") :].partition(",")
    if not header.endswith(";base64"):
        raise _unsupported(part, where, "Hint: a `data:` URL here must be base64")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _unsupported(part, where, "Hint: its `data:` URL is not valid base64") from None
    mime = header.removesuffix(";base64").split(";")[0] or part.mime_type
    return mime or _mime(part, where, data), data


def _reference(part: MediaPart, where: str) -> Block:
    """A ``url`` or ``file`` source for media that is not inline."""
    uri = part.uri or ""
    if uri.lower().startswith(_URL_PREFIXES):
        return {"type": "url", "url": uri}
    file_id = _ours(part).get("file_id")
    if isinstance(file_id, str):
        return {"type": "file", "file_id": file_id}
    if not uri:
        raise _unsupported(part, where, "Hint: it has neither `data` nor a URL")
    hint = f"Hint: `uri` {uri!r} is not a URL; the runner must inline local media first"
    raise _unsupported(part, where, hint)


def _base64(mime: str, data: bytes) -> Block:
    return {"type": "base64", "media_type": mime, "data": base64.b64encode(data).decode()}


def _image_source(part: ImagePart, where: str) -> Block:
    inline = _inline(part, where)
    if inline is None:
        return _reference(part, where)
    mime, data = inline
    if not mime.startswith("image/"):
        raise _unsupported(part, where, f"Hint: its media type `{mime}` is not an image type")
    return _base64(mime, data)


def _document(part: DocumentPart, where: str) -> Block:
    inline = _inline(part, where)
    if inline is None:
        source = _reference(part, where)
    elif inline[0].startswith("text/"):
        try:
            text = inline[1].decode("utf-8")
        except UnicodeDecodeError:
            raise _unsupported(part, where, "Hint: a text document must be UTF-8") from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
    elif inline[0] == "application/pdf":
        source = _base64(*inline)
    else:
        hint = f"Hint: Anthropic takes PDF and plain-text documents, not `{inline[0]}`"
        raise _unsupported(part, where, hint)
    block: Block = {"type": "document", "source": source}
    if part.name is not None:
        block["title"] = part.name
    return _with_cache(block, part)
