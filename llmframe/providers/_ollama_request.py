"""Messages and options -> the body of an Ollama ``POST /api/chat`` request.

Options. Ollama splits them in two: ``format``, ``think``, ``keep_alive`` and ``tools`` are
top-level fields, and model options (``temperature``, ``seed``, ``num_predict``, ``top_p``,
``top_k``, ``stop``, ``num_ctx``...) go under ``options``. Either spelling is taken: a top-level
model option is moved under ``options``, beside what an explicit ``options`` mapping holds (one
option given both ways is refused). Ollama ignores, and logs, a model option it does not know.
OpenAI's names are translated, as Ollama's own OpenAI layer does, so one option set can drive
both wires: ``max_tokens`` (or ``max_completion_tokens``) -> ``options.num_predict``;
``response_format`` ``json_schema`` -> ``format`` with its schema, ``json_object`` -> ``"json"``,
``text`` -> nothing; ``reasoning_effort`` -> ``think`` (``"none"`` -> false). Refused with
`UsageError`: ``model``, ``messages``, ``stream`` (llmframe's to set), ``n`` other than 1 and
``logprobs``/``top_logprobs`` (not stored), and ``tool_choice`` other than ``auto``, Ollama's
only behaviour (ignoring ``required`` or ``none`` would change what the model does).

Messages, one Ollama message per llmframe message (tool results: one per result):

- ``system``/``developer``: text only; ``developer`` is sent as ``system`` (Ollama's roles are
  system, user, assistant and tool).
- ``user``: ``content`` is the text parts joined with a blank line, ``images`` the images as
  base64, from inline ``data`` or a ``data:`` URL. Ollama cannot fetch an http(s) URL, so such an
  image raises `UnsupportedPart`. Ollama puts a message's images before its text, so where an
  image stood among the text parts is not kept (its order among the images is).
- ``assistant``: text (and refusal) parts joined with a blank line as ``content`` (``""`` when
  none, as Ollama itself writes), reasoning texts likewise as ``thinking``, tool calls as
  ``tool_calls`` with ``{"id"?, "function": {"name", "arguments"}}``; the arguments must be a
  JSON object. Ollama has no refusal field, so a refusal goes back as what the model said.
- ``tool``: ``content`` is the result's text, or its JSON value as compact text; ``tool_call_id``
  links it to its call (left out when empty: older Ollama gives calls no id), and ``tool_name``
  is the result's ``name`` or else the name of the call it answers.

Reasoning round trip: Ollama's thinking is plain text with no signature, so Ollama reasoning
parts carry no provider data and come back as ``thinking``. Reasoning from another provider is
plain text to Ollama too and is sent the same way; any provider data it holds (another API's
signature or encrypted content) means nothing here and is not sent, and a reasoning part with no
text (an encrypted blob only) has nothing Ollama can read. Every other part a role cannot carry
raises `UnsupportedPart` naming the message and part: nothing is dropped silently.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from typing_extensions import assert_never

from llmframe import _json
from llmframe.errors import UnsupportedPart, UsageError
from llmframe.parts.types import (
    AudioPart,
    DocumentPart,
    ImagePart,
    JsonPart,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)
from llmframe.providers._http import excerpt

__all__ = ["request_body", "wire_messages"]

_PROVIDER = "ollama"
_TOP_LEVEL = ("format", "think", "keep_alive", "tools")
_RESERVED = {
    "model": "is the `model` argument",
    "messages": "comes from the prompt's messages",
    "stream": "is decided by the runner",
}
_NOT_SENT = ("options", "n", "logprobs", "top_logprobs", "tool_choice")
_MAX_TOKENS = ("max_tokens", "max_completion_tokens")
_HINTS = {
    "audio": "Hint: Ollama's chat takes text and images only",
    "video": "Hint: Ollama's chat takes text and images only; send frames as images",
    "document": "Hint: Ollama's chat takes text and images only; send the text",
    "json": "Hint: send the value as a text part",
    "tool_call": "Hint: tool calls belong in an assistant message",
    "tool_result": "Hint: tool results belong in a `tool` message",
    "reasoning": "Hint: only assistant messages hold reasoning",
    "refusal": "Hint: only assistant messages hold refusals",
}


def request_body(
    model: str, messages: Sequence[Message], options: Mapping[str, Any], *, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat``; `UsageError` or `UnsupportedPart` when it cannot be."""
    top, model_options = _split_options(options)
    body: dict[str, Any] = {"model": model, "messages": wire_messages(messages)}
    body.update(top)
    if model_options:
        body["options"] = model_options
    body["stream"] = stream  # Ollama streams unless told `false`; say it either way
    return body


# Options ---------------------------------------------------------------------------------------


def _check_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """Refuse what cannot be sent; the explicit ``options`` mapping, maybe empty."""
    for key, why in _RESERVED.items():
        if key in options:
            msg = f"option `{key}` cannot be set: it {why}"
            raise UsageError(msg)
    for key in ("logprobs", "top_logprobs"):
        if options.get(key):
            msg = f"option `{key}` is not supported: llmframe does not store log probabilities"
            raise UsageError(msg)
    if options.get("tool_choice") not in (None, "auto"):
        msg = "option `tool_choice` must be `auto` for Ollama: it cannot force or forbid tool calls"
        raise UsageError(msg)
    if options.get("n", 1) != 1:
        msg = "option `n` must be 1: llmframe keeps one completion per prompt and model"
        raise UsageError(msg)
    explicit = options.get("options") or {}
    if not isinstance(explicit, Mapping):
        msg = "option `options` must be a mapping of Ollama model options"
        raise UsageError(msg)
    return explicit


def _wire_option(key: str, value: Any) -> tuple[bool, str, Any] | None:
    """(top-level?, Ollama's name, value) for one llmframe option; None sends nothing."""
    if key in _NOT_SENT:  # checked already; `tool_choice` can only be `auto`, Ollama's way
        return None
    if key in _TOP_LEVEL:
        return True, key, value
    if key in _MAX_TOKENS:
        return False, "num_predict", value
    if key == "response_format":
        fmt = _format(value)
        return None if fmt is None else (True, "format", fmt)
    if key == "reasoning_effort":
        return True, "think", False if value == "none" else value
    return False, key, value


def _split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(top-level fields, model options) from llmframe's flat option mapping."""
    top: dict[str, Any] = {}
    model_options: dict[str, Any] = dict(_check_options(options))
    for key, value in options.items():
        placed = _wire_option(key, value)
        if placed is None:
            continue
        is_top, name, wire_value = placed
        target = top if is_top else model_options
        if name in target:
            msg = f"option `{key}` sets Ollama's `{name}`, which another option sets too"
            raise UsageError(msg)
        target[name] = wire_value
    return top, model_options


def _format(response_format: Any) -> Any:
    """Ollama's ``format`` for an OpenAI ``response_format``, or None for plain text."""
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, Mapping):
            return schema
    msg = (
        "option `response_format` must be `text`, `json_object` or `json_schema` with a "
        '`schema`. Hint: for Ollama you may set `format` to "json" or a JSON schema instead'
    )
    raise UsageError(msg)


# Messages --------------------------------------------------------------------------------------


def wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The request's ``messages``; raise `UnsupportedPart` for a part that cannot go."""
    out: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(messages):
        where = f"message {index + 1} ({message.role})"
        if message.role == "assistant":
            out.append(_assistant(message.parts, where, call_names))
        elif message.role == "tool":
            out.extend(_tool_result(part, where, call_names) for part in message.parts)
        elif message.role == "user":
            out.append(_user(message.parts, where))
        elif message.role in ("system", "developer"):
            out.append({"role": "system", "content": _system_text(message.parts, where)})
        else:
            assert_never(message.role)
    return out


def _unsupported(part: Part, where: str, hint: str = "") -> UnsupportedPart:
    hint = hint or _HINTS.get(part.type, "")
    msg = f"{where}: Ollama cannot carry a {part.type} part here"
    return UnsupportedPart(f"{msg}. {hint}" if hint else msg, provider=_PROVIDER)


def _system_text(parts: Sequence[Part], where: str) -> str:
    for part in parts:
        if not isinstance(part, TextPart):
            raise _unsupported(part, where, "Hint: system and developer messages take text only")
    return "\n\n".join(p.text for p in parts if isinstance(p, TextPart))


def _user(parts: Sequence[Part], where: str) -> dict[str, Any]:
    texts: list[str] = []
    images: list[str] = []
    for part in parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ImagePart):
            images.append(_image(part, where))
        elif isinstance(
            part,
            (
                AudioPart,
                VideoPart,
                DocumentPart,
                JsonPart,
                ToolCallPart,
                ToolResultPart,
                ReasoningPart,
                RefusalPart,
            ),
        ):
            raise _unsupported(part, where)
        else:
            assert_never(part)
    out: dict[str, Any] = {"role": "user", "content": "\n\n".join(texts)}
    if images:
        out["images"] = images
    return out


def _image(part: ImagePart, where: str) -> str:
    """The image as base64: from inline `data`, or the payload of a ``data:`` URL."""
    if part.data is not None:
        return base64.b64encode(part.data).decode()
    uri = part.uri or ""
    if uri.lower().startswith("data:"):
        header, comma, payload = uri[len("data:") :].partition(",")
        if not comma:
            raise _unsupported(part, where, "Hint: its `data:` URL has no comma")
        if header.lower().endswith(";base64"):
            return "".join(payload.split())
        return base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode()
    if uri.lower().startswith(("https://", "http://")):
        hint = (
            f"Hint: Ollama takes images inline, not by URL ({uri!r}); download it and give "
            "its bytes or a path under the media root"
        )
    elif uri:
        hint = f"Hint: `uri` {uri!r} is not a URL; the runner must inline local media first"
    else:
        hint = "Hint: it has neither `data` nor a URL"
    raise _unsupported(part, where, hint)


def _assistant(parts: Sequence[Part], where: str, call_names: dict[str, str]) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, (TextPart, RefusalPart)):
            texts.append(part.text)
        elif isinstance(part, ReasoningPart):
            if part.text:
                thinking.append(part.text)
        elif isinstance(part, ToolCallPart):
            calls.append(_tool_call(part, where))
            if part.tool_call_id:
                call_names[part.tool_call_id] = part.name
        elif isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)):
            raise _unsupported(part, where, "Hint: only user messages hold media")
        elif isinstance(part, (JsonPart, ToolResultPart)):
            raise _unsupported(part, where)
        else:
            assert_never(part)
    out: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts)}
    if thinking:
        out["thinking"] = "\n\n".join(thinking)
    if calls:
        out["tool_calls"] = calls
    return out


def _tool_call(part: ToolCallPart, where: str) -> dict[str, Any]:
    if part.raw_arguments is not None or not isinstance(part.arguments, dict):
        shown = part.raw_arguments if part.raw_arguments is not None else part.arguments
        hint = (
            f"Hint: Ollama takes tool-call arguments as a JSON object, not {excerpt(repr(shown))}"
        )
        raise _unsupported(part, where, hint)
    out: dict[str, Any] = {"function": {"name": part.name, "arguments": part.arguments}}
    if part.tool_call_id:
        out = {"id": part.tool_call_id, **out}
    return out


def _tool_result(part: Part, where: str, call_names: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(part, ToolResultPart):
        raise _unsupported(part, where, "Hint: a tool message holds tool results only")
    if part.text is not None and part.value is not None:
        raise _unsupported(part, where, "Hint: give a tool result `text` or `value`, not both")
    content = part.text if part.text is not None else _json.dumps(part.value)
    out: dict[str, Any] = {"role": "tool", "content": content}
    name = part.name or call_names.get(part.tool_call_id)
    if name:
        out["tool_name"] = name
    if part.tool_call_id:
        out["tool_call_id"] = part.tool_call_id
    return out
