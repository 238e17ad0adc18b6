"""Builders for writing conversations by hand: loose input in, the pydantic parts and messages out.

```python
conversation = [
    system("Answer in one sentence."),
    user("Describe this", image("cat.png")),
]
```

A message builder takes strings (each becomes a `TextPart`) and parts. Text and media go in any
role but ``tool``. What only a model says (tool calls, reasoning, refusals, JSON) goes in
`assistant`, and a tool result is a ``tool`` message of its own, made by `tool_result`: the
OpenAI chat reader and wire format place them so too. Anything else raises `UsageError` naming
the argument.

Media builders take a path (kept as a path string and checked against the media root only when
the conversation is run), an ``http(s)://`` or ``data:`` URL, or bytes. The media type is taken
from the path or URL suffix, the ``data:`` URL, or the bytes' magic number, unless given.
"""

from __future__ import annotations

import math
import mimetypes
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, TypeVar

from pydantic import JsonValue

from llmframe._mime import sniff_mime_type
from llmframe.errors import MediaPathError, UsageError
from llmframe.io.media import is_local_path, parse_data_url
from llmframe.parts.types import (
    PART_CLASSES,
    AudioPart,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)

__all__ = [
    "assistant",
    "audio",
    "developer",
    "document",
    "image",
    "system",
    "tool_call",
    "tool_result",
    "user",
    "video",
]

MediaSource = str | os.PathLike[str] | bytes
"""A media path, an ``http(s)://`` or ``data:`` URL, or the media's bytes."""

_PART_CLASSES = tuple(PART_CLASSES.values())
_ASSISTANT_ONLY = frozenset({"tool_call", "reasoning", "refusal", "json"})
_ROLE_HINTS = {
    "tool_call": "Hint: tool calls belong in `assistant(...)`",
    "tool_result": "Hint: a tool result is a message of its own: `tool_result(call_id, result)`",
}
_URL_PREFIXES = ("http://", "https://", "data:")

_M = TypeVar("_M", ImagePart, AudioPart, VideoPart, DocumentPart)


# Messages ------------------------------------------------------------------------------------


def system(*content: str | Part) -> Message:
    """A system message of text and parts: ``system("Answer in French.")``."""
    return _message("system", content)


def developer(*content: str | Part) -> Message:
    """A developer message (OpenAI's successor to system): ``developer("Use metric units.")``."""
    return _message("developer", content)


def user(*content: str | Part) -> Message:
    """A user message of text and parts: ``user("Describe this", image("cat.png"))``."""
    return _message("user", content)


def assistant(*content: str | Part) -> Message:
    """An assistant message of text, tool calls and other parts: ``assistant("Oslo.")``."""
    return _message("assistant", content)


def _message(role: Role, content: tuple[Any, ...]) -> Message:
    if not content:
        msg = f'`{role}()` needs at least one text or part. Hint: `{role}("...")`'
        raise UsageError(msg)
    return Message(role=role, parts=[_part(role, n, item) for n, item in enumerate(content, 1)])


def _part(role: Role, position: int, item: Any) -> Part:
    where = f"`{role}()` argument {position}"
    if isinstance(item, str):
        if not item.strip():
            msg = f"{where} is empty text"
            raise UsageError(msg)
        return TextPart(text=item)
    if isinstance(item, _PART_CLASSES):
        if item.type == "tool_result" or (item.type in _ASSISTANT_ONLY and role != "assistant"):
            hint = _ROLE_HINTS.get(item.type, "Hint: only a model says these; use `assistant(...)`")
            msg = f"{where} is a {item.type} part, which {role} messages cannot hold. {hint}"
            raise UsageError(msg)
        return item  # type: ignore[return-value]  # one of the Part classes, checked above
    if isinstance(item, Message):
        inner = "tool_result" if item.role == "tool" else item.role
        hint = f"Hint: list messages side by side: `[{role}(...), {inner}(...)]`"
        msg = f"{where} is a {item.role} message, not text or a part. {hint}"
        raise UsageError(msg)
    if isinstance(item, (list, tuple)):
        hint = f"Hint: unpack it: `{role}(*items)`"
    else:
        hint = "Hint: build parts with `image(...)`, `tool_call(...)` or the Part classes"
    msg = f"{where} has type {type(item).__name__}; expected text or a part. {hint}"
    raise UsageError(msg)


def tool_result(call_id: str, result: JsonValue, *, name: str | None = None) -> Message:
    """A ``tool`` message answering the call `call_id`: ``tool_result("c1", {"temp_c": 21})``.

    A string result is kept as text; any other JSON value (dict, list, number, bool, None) as a
    value. `name` is the tool's name, for the APIs that want it.
    """
    _check_id(call_id, "call_id", "tool_result")
    _check_name(name, "name", "tool_result", optional=True)
    if isinstance(result, str):
        part = ToolResultPart(tool_call_id=call_id, name=name, text=result)
    else:
        part = ToolResultPart(tool_call_id=call_id, name=name, value=_json_value(result, "result"))
    return Message(role="tool", parts=[part])


def tool_call(
    name: str, arguments: Mapping[str, JsonValue] | None = None, *, id: str | None = None
) -> ToolCallPart:
    """A tool call for `assistant`: ``tool_call("weather", {"city": "Oslo"}, id="c1")``.

    `arguments` is a JSON object (None means ``{}``); `id` links the call to its `tool_result`.
    """
    _check_name(name, "name", "tool_call")
    if id is not None:
        _check_id(id, "id", "tool_call")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        got = type(arguments).__name__
        msg = (
            f"`tool_call()` `arguments` has type {got}, not a JSON object. "
            'Hint: pass a dict, e.g. `{"city": "Oslo"}`'
        )
        raise UsageError(msg)
    return ToolCallPart(name=name, tool_call_id=id, arguments=_json_value(arguments, "arguments"))


def _check_id(value: Any, param: str, builder: str) -> None:
    if not isinstance(value, str) or not value:
        got = "empty text" if value == "" else f"type {type(value).__name__}"
        msg = f"`{builder}()` `{param}` must be a non-empty string, got {got}"
        raise UsageError(msg)


def _check_name(value: Any, param: str, builder: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        got = "empty text" if isinstance(value, str) else f"type {type(value).__name__}"
        msg = f"`{builder}()` `{param}` must be a non-empty string, got {got}"
        raise UsageError(msg)


def _json_value(value: Any, where: str) -> JsonValue:
    """`value` as a JSON value (tuples become lists), or a `UsageError` naming the bad item."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"`{where}` holds {value}, which JSON cannot represent"
            raise UsageError(msg)
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                msg = f"`{where}` has the key {key!r}, but JSON keys are strings"
                raise UsageError(msg)
            out[key] = _json_value(item, f"{where}[{key!r}]")
        return out
    msg = (
        f"`{where}` has type {type(value).__name__}, which is not a JSON value. "
        "Hint: convert it to str, a number, bool, None, a list or a dict"
    )
    raise UsageError(msg)


# Media ---------------------------------------------------------------------------------------


def image(source: MediaSource, *, mime_type: str | None = None) -> ImagePart:
    """An image from a path, URL or bytes: ``image("cat.png")``."""
    return _media(ImagePart, source, mime_type)


def audio(source: MediaSource, *, mime_type: str | None = None) -> AudioPart:
    """A sound recording from a path, URL or bytes: ``audio("question.wav")``."""
    return _media(AudioPart, source, mime_type)


def video(source: MediaSource, *, mime_type: str | None = None) -> VideoPart:
    """A video from a path, URL or bytes: ``video("https://example.com/clip.mp4")``."""
    return _media(VideoPart, source, mime_type)


def document(
    source: MediaSource, *, name: str | None = None, mime_type: str | None = None
) -> DocumentPart:
    """A document such as a PDF, from a path, URL or bytes: ``document("report.pdf")``.

    `name` is the file name some APIs show the model (OpenAI's ``filename``).
    """
    _check_name(name, "name", "document", optional=True)
    return _media(DocumentPart, source, mime_type, name=name)


def _media(cls: type[_M], source: Any, mime_type: Any, **fields: Any) -> _M:
    kind = cls.model_fields["type"].default
    builder = f"`{kind}()`"
    given = mime_type is not None
    if given:
        _check_mime_type(mime_type, builder)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            msg = f"{builder} got empty bytes"
            raise UsageError(msg)
        found = sniff_mime_type(data)
        if mime_type is None and found is None:
            msg = (
                f"{builder} cannot tell the media type of these bytes "
                "(it knows PNG, JPEG, GIF, WebP, PDF, WAV and MP3). "
                f'Hint: pass `mime_type`, e.g. `{kind}(data, mime_type="...")`'
            )
            raise UsageError(msg)
        fields["data"] = data
    else:
        uri, found = _uri(source, builder, mime_type)
        fields["uri"] = uri
    mime_type = mime_type or found
    _check_kind(kind, mime_type, builder, given=given)
    return cls(mime_type=mime_type, **fields)


def _uri(source: Any, builder: str, mime_type: str | None) -> tuple[str, str | None]:
    """The `uri` a path or URL source becomes, with the media type it implies (if any)."""
    if isinstance(source, os.PathLike):
        path = os.fspath(source)
        if not isinstance(path, str):
            msg = f"{builder} got a bytes path. Hint: pass it as str or pathlib.Path"
            raise UsageError(msg)
        source = PurePath(path).as_posix()
    if not isinstance(source, str):
        msg = (
            f"{builder} `source` has type {type(source).__name__}. "
            "Hint: pass a path, an https:// or data: URL, or bytes"
        )
        raise UsageError(msg)
    if not source.strip():
        msg = f"{builder} got an empty path"
        raise UsageError(msg)
    lowered = source.lower()
    if lowered.startswith("data:"):
        return source, _data_url_mime_type(source, builder, mime_type)
    if lowered.startswith(_URL_PREFIXES):
        return source, mimetypes.guess_type(urllib.parse.urlsplit(source).path)[0]
    if not is_local_path(source):
        msg = (
            f"{builder} cannot take `{source}`. "
            "Hint: use a path, an https:// URL, a data: URL or bytes"
        )
        raise UsageError(msg)
    return source, mimetypes.guess_type(source)[0]


def _data_url_mime_type(uri: str, builder: str, mime_type: str | None) -> str | None:
    try:
        found = parse_data_url(uri).mime_type
    except MediaPathError as exc:
        msg = f"{builder} got a {exc.message}"
        raise UsageError(msg) from None
    if mime_type is not None and found is not None and mime_type != found:
        msg = f"{builder} `mime_type` {mime_type!r} contradicts the data: URL's {found!r}"
        raise UsageError(msg)
    return found


def _check_mime_type(mime_type: Any, builder: str) -> None:
    if not isinstance(mime_type, str) or mime_type.count("/") != 1 or " " in mime_type:
        msg = f'{builder} `mime_type` {mime_type!r} is not a media type such as "image/png"'
        raise UsageError(msg)


def _check_kind(kind: str, mime_type: str | None, builder: str, *, given: bool) -> None:
    """An image, audio or video part must hold that kind of media; documents may hold any."""
    if kind == "document" or mime_type is None or mime_type.startswith(f"{kind}/"):
        return
    major = mime_type.split("/")[0]
    hint = f"Hint: use `{major if major in ('image', 'audio', 'video') else 'document'}(...)`"
    if not given:
        hint += f", or pass `mime_type` if it really is {kind}"
    msg = f"{builder} got {mime_type} media. {hint}"
    raise UsageError(msg)
