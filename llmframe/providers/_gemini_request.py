"""Messages and options -> the body of a Gemini ``generateContent`` request (the wire, not a file).

Roles:

- ``system``/``developer``: text parts, all into the one ``systemInstruction``. Gemini has no
  system turn, so these must come before every other message.
- ``user``: a ``"user"`` turn of text and media.
- ``assistant``: a ``"model"`` turn. Text and tool calls (``functionCall`` with ``args`` and, when
  the part has one, ``id``) carry their ``thoughtSignature`` back when the part's provider data
  names Gemini. Reasoning goes back as a ``thought`` part with its signature, but only Gemini's
  own (provider data naming ``gemini``): another provider's reasoning, signed or not, means
  nothing to Gemini, which treats thoughts as its own, so it is not sent. A refusal is sent as
  text (Gemini has no refusal part). Media go as for a user (below), so an image Gemini made goes
  back as ``inlineData`` with its ``thoughtSignature``. A turn left empty by that rule is not sent.
- ``tool``: one ``"user"`` turn of ``functionResponse`` parts; consecutive tool messages share the
  turn, as Gemini wants parallel calls answered together. The response is the result's JSON value
  when that is an object, else ``{"output": <text or value>}`` (the key Gemini documents). Its
  ``name`` is the result's ``name``, else the name of the call with that ``tool_call_id``; the
  ``id`` is sent only when a call in the conversation carries that id. Gemini 2.x calls have no
  id, so their results are linked by name and their ``tool_call_id`` is a local label.

Media (any role but system) go as ``inlineData`` (base64 of ``data``, or of a ``data:`` URL) or as
``fileData`` with the ``uri`` when it is an ``http(s):`` URL (the Files API, YouTube, public URLs).
A local path never reaches a provider: the runner inlines local media first. Gemini provider data
on a media part may add ``videoMetadata`` and ``mediaResolution``. A document's ``name`` has no
field in a Gemini part and is not sent.

Options: each name is camelCased (``top_p`` -> ``topP``; Gemini's own names pass as they are),
``max_tokens``/``max_completion_tokens`` become ``maxOutputTokens``, ``stop`` becomes
``stopSequences`` (a string becomes a one-item list), and ``n`` becomes ``candidateCount``, which
must be 1. ``tools``, ``toolConfig``, ``safetySettings`` and ``cachedContent`` go to the top of the
request; ``generationConfig`` is merged with everything else, which goes into it (Gemini answers
400 to a field it does not know, so a typo fails loudly). Names that llmframe owns or that other
APIs spell differently (``response_format``, ``tool_choice``, ``reasoning_effort``, logprobs)
raise `UsageError` with the Gemini name to use.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from typing_extensions import assert_never

from llmframe._mime import sniff_mime_type
from llmframe.errors import UnsupportedPart, UsageError
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

__all__ = ["request_body", "signature_of"]

_PROVIDER = "gemini"
_TOP_LEVEL = ("tools", "toolConfig", "safetySettings", "cachedContent")
_RENAMED = {
    "maxTokens": "maxOutputTokens",
    "maxCompletionTokens": "maxOutputTokens",
    "stop": "stopSequences",
    "n": "candidateCount",
}
_RESERVED = {
    "model": "it is the `model` argument",
    "contents": "it comes from the prompt's messages",
    "systemInstruction": "it comes from the prompt's system messages",
    "stream": "it is decided by the runner",
}
_REFUSED = {
    "responseFormat": "Hint: use `responseMimeType` and `responseJsonSchema`",
    "toolChoice": "Hint: use `toolConfig`",
    "reasoningEffort": "Hint: use `thinkingConfig`",
    "logprobs": "llmframe does not store log probabilities",
    "topLogprobs": "llmframe does not store log probabilities",
    "responseLogprobs": "llmframe does not store log probabilities",
}
_MEDIA_EXTRAS = ("videoMetadata", "mediaResolution")
_HINTS = {
    "json": "Hint: send the value as a text part",
    "tool_call": "Hint: tool calls belong in an assistant message",
    "tool_result": "Hint: tool results belong in a `tool` message",
    "reasoning": "Hint: only assistant messages hold reasoning",
    "refusal": "Hint: only assistant messages hold refusals",
}
_CAMEL = re.compile(r"_([a-z0-9])")


def request_body(messages: Sequence[Message], options: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body for one conversation; `UsageError` or `UnsupportedPart` when it cannot go."""
    top, config = _options(options)
    system, contents = _contents(messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    body.update(top)
    if config:
        body["generationConfig"] = config
    return body


def signature_of(part: Part) -> str | None:
    """The thought signature Gemini gave this part, if it did."""
    data = part.provider_data or {}
    signature = data.get("signature")
    return signature if data.get("provider") == _PROVIDER and isinstance(signature, str) else None


# Options -------------------------------------------------------------------------------------


def _options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    top: dict[str, Any] = {}
    config: dict[str, Any] = {}
    given: dict[str, str] = {}  # Gemini name -> the option name that set it
    for key, value in options.items():
        name = _CAMEL.sub(lambda m: m[1].upper(), key)
        name = _RENAMED.get(name, name)
        if name in _RESERVED:
            msg = f"option `{key}` cannot be set: {_RESERVED[name]}"
            raise UsageError(msg)
        if name in _REFUSED:
            msg = f"option `{key}` is not supported for Gemini. {_REFUSED[name]}"
            raise UsageError(msg)
        if name == "generationConfig":
            if not isinstance(value, Mapping):
                msg = f"option `{key}` must be an object"
                raise UsageError(msg)
            for inner, inner_value in value.items():
                _put(config, given, inner, inner_value, f"{key}.{inner}")
        elif name in _TOP_LEVEL:
            _put(top, given, name, value, key)
        else:
            if name == "stopSequences" and isinstance(value, str):
                value = [value]
            _put(config, given, name, value, key)
    if config.get("candidateCount", 1) != 1:
        msg = "option `n` (`candidateCount`) must be 1: llmframe keeps one answer per request"
        raise UsageError(msg)
    return top, config


def _put(target: dict[str, Any], given: dict[str, str], name: str, value: Any, key: str) -> None:
    if name in given:
        msg = f"options `{given[name]}` and `{key}` both set Gemini's `{name}`; give one"
        raise UsageError(msg)
    given[name] = key
    target[name] = value


# Messages ------------------------------------------------------------------------------------


def _contents(messages: Sequence[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    call_names = {
        part.tool_call_id: part.name
        for message in messages
        for part in message.parts
        if isinstance(part, ToolCallPart) and part.tool_call_id is not None
    }
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"message {index + 1} ({message.role})"
        role = message.role
        if role in ("system", "developer"):
            if contents:
                hint = "Hint: Gemini takes one system instruction; put system messages first"
                raise _unsupported(message.parts[0], where, hint, what="a system message here")
            system.extend(_system_part(part, where) for part in message.parts)
        elif role == "user":
            contents.append({"role": "user", "parts": [_user(p, where) for p in message.parts]})
        elif role == "assistant":
            parts = [wire for p in message.parts if (wire := _model(p, where)) is not None]
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            results = [_result(part, where, call_names) for part in message.parts]
            previous = contents[-1] if contents else None
            if previous is not None and previous.get("_tool"):
                previous["parts"].extend(results)
            else:
                contents.append({"role": "user", "parts": results, "_tool": True})
        else:
            assert_never(role)
    for content in contents:
        content.pop("_tool", None)
    return system, contents


def _unsupported(part: Part, where: str, hint: str = "", *, what: str = "") -> UnsupportedPart:
    hint = hint or _HINTS.get(part.type, "")
    msg = f"{where}: Gemini cannot carry {what or f'a {part.type} part here'}"
    return UnsupportedPart(f"{msg}. {hint}" if hint else msg, provider=_PROVIDER)


def _system_part(part: Part, where: str) -> dict[str, Any]:
    if not isinstance(part, TextPart):
        raise _unsupported(part, where, "Hint: system and developer messages take text only")
    return {"text": part.text}


def _user(part: Part, where: str) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)):
        return _media(part, where)
    if isinstance(part, (ReasoningPart, RefusalPart, JsonPart, ToolCallPart, ToolResultPart)):
        raise _unsupported(part, where)
    assert_never(part)


def _signed(wire: dict[str, Any], part: Part) -> dict[str, Any]:
    signature = signature_of(part)
    return {**wire, "thoughtSignature": signature} if signature is not None else wire


def _model(part: Part, where: str) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return _signed({"text": part.text}, part)
    if isinstance(part, ReasoningPart):
        if (part.provider_data or {}).get("provider") != _PROVIDER:
            return None  # another provider's reasoning: not sent (the module docstring says why)
        return _signed({"text": part.text or "", "thought": True}, part)
    if isinstance(part, RefusalPart):
        return {"text": part.text}
    if isinstance(part, ToolCallPart):
        return _signed({"functionCall": _call(part, where)}, part)
    if isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)):
        return _signed(_media(part, where), part)
    if isinstance(part, (JsonPart, ToolResultPart)):
        raise _unsupported(part, where)
    assert_never(part)


def _call(part: ToolCallPart, where: str) -> dict[str, Any]:
    if not isinstance(part.arguments, dict):
        hint = "Hint: Gemini takes a tool call's arguments as a JSON object"
        raise _unsupported(part, where, hint, what=f"the arguments of tool call `{part.name}`")
    call: dict[str, Any] = {"name": part.name, "args": part.arguments}
    if part.tool_call_id is not None:
        call["id"] = part.tool_call_id
    return call


def _result(part: Part, where: str, call_names: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(part, ToolResultPart):
        raise _unsupported(part, where, "Hint: a tool message holds tool results only")
    if part.text is not None and part.value is not None:
        raise _unsupported(part, where, "Hint: give a tool result `text` or `value`, not both")
    name = part.name or call_names.get(part.tool_call_id)
    if name is None:
        hint = f"Hint: give it a `name`; no call in the conversation has id `{part.tool_call_id}`"
        raise _unsupported(part, where, hint, what="a tool result without the tool's name")
    value = part.text if part.text is not None else part.value
    response = value if isinstance(value, dict) else {"output": value}
    wire: dict[str, Any] = {"name": name, "response": response}
    if part.tool_call_id in call_names:
        wire["id"] = part.tool_call_id
    return {"functionResponse": wire}


# Media ---------------------------------------------------------------------------------------


def _media(part: MediaPart, where: str) -> dict[str, Any]:
    data = part.provider_data or {}
    extras = {k: data[k] for k in _MEDIA_EXTRAS if data.get("provider") == _PROVIDER and k in data}
    uri = part.uri or ""
    if part.data is not None:
        mime = part.mime_type or sniff_mime_type(part.data)
        encoded = base64.b64encode(part.data).decode()
    elif uri.lower().startswith("data:"):
        mime, encoded = _split_data_url(part, where)
    elif uri.lower().startswith(("https://", "http://")):
        file_data = {"fileUri": uri, **({"mimeType": part.mime_type} if part.mime_type else {})}
        return {"fileData": file_data, **extras}
    elif part.uri is None:
        raise _unsupported(part, where, "Hint: it has neither `data` nor a URL")
    else:
        hint = f"Hint: `uri` {uri!r} is not a URL; the runner must inline local media first"
        raise _unsupported(part, where, hint)
    if mime is None:
        raise _unsupported(part, where, "Hint: give the part a `mime_type`")
    return {"inlineData": {"mimeType": mime, "data": encoded}, **extras}


def _split_data_url(part: MediaPart, where: str) -> tuple[str | None, str]:
    header, comma, payload = (part.uri or "")[len("data:") :].partition(",")
    if not comma:
        raise _unsupported(part, where, "Hint: its `data:` URL has no `,`")
    params = header.split(";")
    mime = params[0] or part.mime_type
    if params[-1] == "base64":
        return mime, payload
    return mime, base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode()
