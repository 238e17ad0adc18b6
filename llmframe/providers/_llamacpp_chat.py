"""OpenAI Chat Completions bodies to llama-cpp-python's arguments, and its answers back; pure.

`chat_arguments` maps the body the ``llamacpp`` provider builds (`OpenAIChat`'s) to the keyword
arguments of `Llama.create_chat_completion`:

- ``messages``: a content list of text parts becomes one string (the chat templates in GGUF
  files concatenate strings), ``developer`` becomes ``system``, an assistant message with only
  tool calls gets ``""`` as content; any other part is refused (text-only models);
- ``max_completion_tokens`` (or ``max_tokens``), ``temperature``, ``top_p``, ``seed``, ``stop``,
  ``presence_penalty``, ``frequency_penalty`` and llama.cpp's own samplers (``top_k``,
  ``min_p``, ``typical_p``, ``repeat_penalty``, ``tfs_z``, ``mirostat_*``) are passed on;
- ``response_format``: ``json_object`` (with an optional ``schema``) as is, OpenAI's
  ``json_schema`` as ``json_object`` with its ``schema``: llama.cpp turns the schema into a
  grammar that constrains every token, ``text`` as nothing;
- ``tools`` with ``tool_choice`` ``{"type": "function", "function": {"name"}}`` (or
  ``required`` with one tool): a forced call whose arguments a grammar made from the tool's
  ``parameters`` constrains; ``none`` sends no tools. ``auto`` (and ``required`` with several
  tools) is refused: llama-cpp-python's chat templates do not show tools to the model nor read
  calls back from its text, so the model could never choose to call one.

Anything else is an `ArgumentError` (the transport answers it with a 400, as a server would).
`LlamaChunks` and `whole_body` tidy what llama-cpp-python returns into what OpenAI sends: no
legacy ``function_call`` beside ``tool_calls``, a call's id and name in its first chunk only,
``length`` as the finish reason of a call cut short, and the usage it leaves out of streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["OPTIONS", "ArgumentError", "LlamaChunks", "chat_arguments", "whole_body"]

_PASSED = frozenset(
    {
        "temperature",
        "top_p",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "top_k",
        "min_p",
        "typical_p",
        "repeat_penalty",
        "tfs_z",
        "mirostat_mode",
        "mirostat_tau",
        "mirostat_eta",
    }
)
_READ = frozenset(
    {"max_tokens", "max_completion_tokens", "response_format", "tools", "tool_choice"}
)
OPTIONS = _PASSED | _READ | {"stream_options"}
"""The options the llamacpp transport takes (besides ``model``, ``messages`` and ``stream``)."""


class ArgumentError(ValueError):
    """A request llama-cpp-python cannot run as asked."""


def chat_arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of `Llama.create_chat_completion` for an OpenAI Chat `body`."""
    unknown = sorted(set(body) - OPTIONS - {"model", "messages", "stream"})
    if unknown:
        msg = f"llamacpp does not take `{unknown[0]}`; it takes {', '.join(sorted(OPTIONS))}"
        raise ArgumentError(msg)
    arguments: dict[str, Any] = {key: body[key] for key in _PASSED if key in body}
    arguments["messages"] = [_message(m) for m in _list(body.get("messages"), "messages")]
    arguments["stream"] = body.get("stream") is True
    if isinstance(body.get("model"), str):
        arguments["model"] = body["model"]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = "`max_completion_tokens` must be a positive integer"
            raise ArgumentError(msg)
        arguments["max_tokens"] = limit
    response_format = _response_format(body.get("response_format"))
    if response_format is not None:
        arguments["response_format"] = response_format
    arguments.update(_tools(body.get("tools"), body.get("tool_choice")))
    return arguments


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        msg = f"`{what}` must be a non-empty list"
        raise ArgumentError(msg)
    return value


def _text(content: Any, role: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in _list(content, "content"):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in ("text", "refusal"):
            msg = f"llamacpp models take text only; a {role} message has a `{kind}` part"
            raise ArgumentError(msg)
        texts.append(str(part.get(kind, "")))
    return "\n".join(texts)


def _message(message: Any) -> dict[str, Any]:
    if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
        msg = "each message must be an object with a `role`"
        raise ArgumentError(msg)
    out = dict(message)
    role = out["role"]
    out["role"] = "system" if role == "developer" else role
    out["content"] = _text(message.get("content"), role)
    out.pop("refusal", None)
    return out


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return dict(value)
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        if not isinstance(schema, Mapping):
            msg = "`response_format.json_schema.schema` must be a JSON Schema object"
            raise ArgumentError(msg)
        return {"type": "json_object", "schema": dict(schema)}
    msg = "`response_format` must be `text`, `json_object` (optional `schema`) or `json_schema`"
    raise ArgumentError(msg)


def _tool_name(tool: Any) -> str:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or not isinstance(function.get("parameters", {}), Mapping):
        msg = 'each tool must be `{"type": "function", "function": {"name", "parameters"}}`'
        raise ArgumentError(msg)
    return name


def _tools(tools: Any, choice: Any) -> dict[str, Any]:
    if tools is None or tools == [] or choice == "none":
        return {}
    names = [_tool_name(tool) for tool in _list(tools, "tools")]
    if choice == "required" and len(names) == 1:
        choice = {"type": "function", "function": {"name": names[0]}}
    wanted = choice.get("function", {}).get("name") if isinstance(choice, Mapping) else None
    if wanted is None:
        msg = (
            f"llamacpp cannot take `tool_choice` {choice!r}: llama-cpp-python can only force a "
            "call of one named tool (the model cannot choose whether to call one)"
        )
        raise ArgumentError(msg)
    if wanted not in names:
        msg = f"`tool_choice` names `{wanted}`, which is not among the tools"
        raise ArgumentError(msg)
    return {"tools": list(tools), "tool_choice": {"type": "function", "function": {"name": wanted}}}


def _tidy(message: dict[str, Any]) -> None:
    """Drop the legacy ``function_call`` llama-cpp-python repeats beside ``tool_calls``."""
    message.pop("function_call", None)


def whole_body(completion: Mapping[str, Any], usage: dict[str, int], cut: bool) -> dict[str, Any]:
    """A non-streamed answer as OpenAI sends it; `cut` when it stopped at ``max_tokens``."""
    body = dict(completion)
    choices = [dict(choice) for choice in body.get("choices", [])]
    for choice in choices:
        choice["message"] = message = dict(choice.get("message") or {})
        _tidy(message)
        if cut and message.get("tool_calls"):
            choice["finish_reason"] = "length"
    body["choices"] = choices
    body.setdefault("usage", usage)
    return body


class LlamaChunks:
    """Tidies one stream's chunks; `usage_chunk` is the chunk OpenAI ends a stream with."""

    def __init__(self) -> None:
        self._head: dict[str, Any] = {"object": "chat.completion.chunk"}
        self._named: set[int] = set()

    def tidy(self, chunk: Mapping[str, Any], *, cut: bool) -> dict[str, Any]:
        """`chunk` in OpenAI's shape; `cut` when the generation stopped at ``max_tokens``."""
        out = dict(chunk)
        for key in ("id", "created", "model"):
            if key in out:
                self._head.setdefault(key, out[key])
        choices = [dict(choice) for choice in out.get("choices", [])]
        for choice in choices:
            choice["delta"] = delta = dict(choice.get("delta") or {})
            _tidy(delta)
            delta["tool_calls"] = [self._call(call) for call in delta.get("tool_calls") or []]
            if not delta["tool_calls"]:
                del delta["tool_calls"]
            if cut and choice.get("finish_reason") == "tool_calls":
                choice["finish_reason"] = "length"
        out["choices"] = choices
        return out

    def _call(self, call: Mapping[str, Any]) -> dict[str, Any]:
        index = call.get("index", 0)
        if index not in self._named:
            self._named.add(index)
            return dict(call)
        function = call.get("function") or {}
        return {"index": index, "function": {"arguments": function.get("arguments", "")}}

    def usage_chunk(self, usage: dict[str, int]) -> dict[str, Any]:
        """The last chunk: no choices, the usage (``stream_options.include_usage``)."""
        return {**self._head, "choices": [], "usage": usage}
