"""The built-in offline model ``echo``: an OpenAI Chat Completions server inside the process.

`EchoTransport` is an in-process `llmframe.transports.Transport` that answers
``POST .../chat/completions`` with no key and no network, in the OpenAI wire format (a whole
body, or the events of a stream), so the runner's path through the OpenAI parser is the same as
for a real server; only the HTTP is skipped. The pure
functions `echo_completion` and `echo_chunks` (request body -> response body / stream chunks) are
also what the test suite's loopback server answers with.

The answer, deterministic for a given request body:

- **Text.** ``"echo: " + TEXT``, where TEXT is the last user message rendered as its text parts
  and a ``[image]``, ``[audio]``, ``[video]`` or ``[document]`` marker per media part, joined by
  single spaces. When the conversation ends in tool messages, TEXT is those tool results instead,
  so a tool loop's final answer shows what the tools returned.
- **Tool call.** When the request has ``tools``, ``tool_choice`` is not ``"none"`` and the last
  message is from the user or a tool result: one call of the first tool, in the order given (or
  the one ``tool_choice`` names), that has not been called since the last user message (the
  names in the ``tool_calls`` of the assistant messages after it), its arguments the tool's
  ``parameters`` filled in as for JSON below, from TEXT; ``finish_reason`` is ``tool_calls``.
  When every such tool has been called, echo answers as below, so two tools make a three-step
  chain: call the first, call the second, answer with the second's result. A new user message
  starts a new chain. ``"required"`` is treated as ``"auto"``, or the chain would never end.
- **JSON.** With ``response_format`` ``json_schema``, the content is compact JSON valid against
  the schema whose values are derived from TEXT and the same in every process, for offline demos
  of extraction; `llmframe.providers._echo_json` says exactly which values, and which keywords
  are not honoured. ``json_object`` gives ``{"echo": TEXT}``.
- **Length.** ``max_completion_tokens`` (or ``max_tokens``) keeps the first N words of a text or
  JSON answer and sets ``finish_reason`` ``length``; a cut JSON answer is usually not valid
  JSON, as with a real model.

Tokens are words: ``len(text.split())``. ``prompt_tokens`` is the sum over messages of 1 plus
the words of the rendered message (its text as above, plus tool calls' names and arguments);
tools and schemas are not counted. ``completion_tokens`` is the words of the content, or of the
tool call's arguments JSON.

Streaming sends a role chunk, one chunk per word of content (or 8-character fragments of the
arguments), a finish chunk, a usage chunk when ``stream_options.include_usage``, then
``[DONE]``. The extra body key ``latency_ms`` simulates latency: half of it before the first
chunk (so time to first token is visible), the rest spread over the others; a non-streamed
answer waits all of it. The runner's timeout applies to these waits as to a server's. ``id`` is
``echo-`` plus a hash of the request, ``created`` is 0 and ``model`` is the model asked for.
Echo injects no faults: a malformed request gets a 400 like a real server's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _string
from typing import TYPE_CHECKING, Any

from llmframe.providers._echo_json import fill
from llmframe.providers.base import HttpCall, Provider, SseEvent
from llmframe.transports.base import Reply

if TYPE_CHECKING:
    from llmframe.providers.endpoints import ModelTarget

__all__ = [
    "BASE_URL",
    "DONE",
    "EchoError",
    "EchoTransport",
    "chunk_delays",
    "count_tokens",
    "echo_chunks",
    "echo_completion",
    "echo_events",
    "error_body",
    "latency_seconds",
    "prompt_text",
    "prompt_tokens",
    "sse_event",
]

BASE_URL = "http://echo.invalid/v1"
"""The base URL the echo model is reached at; the host is never resolved."""

DONE = b"data: [DONE]\n\n"
"""The event that ends an OpenAI stream."""

_NOT_HASHED = ("stream", "stream_options", "latency_ms")
_MEDIA = {
    "image_url": "[image]",
    "input_audio": "[audio]",
    "file": "[document]",
    "video_url": "[video]",
}
_ARGUMENT_FRAGMENT = 8
_PIECE = re.compile(r"\s*\S+|\s+$")


class EchoError(ValueError):
    """A request echo refuses, as a real server would with a 400."""


@dataclass(frozen=True)
class _Answer:
    response_id: str
    model: str
    content: str | None
    tool_call: tuple[str, str] | None  # (name, arguments JSON)
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def count_tokens(text: str) -> int:
    """Echo's token estimate: whitespace-separated words."""
    return len(text.split())


def error_body(
    message: str, *, type_: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def sse_event(chunk: Mapping[str, Any]) -> bytes:
    """One chunk as a server-sent event."""
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def _render_content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        msg = "message `content` must be a string, null or a list of parts"
        raise EchoError(msg)
    pieces = []
    for part in content:
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            msg = "each content part must be an object with a `type`"
            raise EchoError(msg)
        kind = part["type"]
        if kind in ("text", "refusal"):
            pieces.append(str(part.get(kind, "")))
        else:
            pieces.append(_MEDIA.get(kind, f"[{kind}]"))
    return " ".join(pieces)


def _render(message: Mapping[str, Any]) -> str:
    pieces = [_render_content(message.get("content"))]
    for call in message.get("tool_calls") or []:
        function = call.get("function", {}) if isinstance(call, Mapping) else {}
        pieces += [str(function.get("name", "")), str(function.get("arguments", ""))]
    return " ".join(pieces)


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        msg = "`messages` must be a non-empty list"
        raise EchoError(msg)
    for message in messages:
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            msg = "each message must be an object with a `role`"
            raise EchoError(msg)
    return messages


def prompt_text(body: Mapping[str, Any]) -> str:
    """The text echo answers: trailing tool results, else the last user message, rendered."""
    messages = _messages(body)
    tail: list[str] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        tail.append(_render(message))
    if tail:
        return " ".join(reversed(tail))
    users = [m for m in messages if m["role"] == "user"]
    return _render(users[-1]) if users else ""


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Echo's prompt token count: per message, 1 plus the words of the rendered message."""
    return sum(1 + count_tokens(_render(m)) for m in _messages(body))


def latency_seconds(body: Mapping[str, Any]) -> float:
    """The simulated latency the body asks for (``latency_ms``), in seconds."""
    latency = body.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not latency >= 0:
        msg = "`latency_ms` must be a non-negative number"
        raise EchoError(msg)
    return latency / 1000


def chunk_delays(latency: float, n_chunks: int) -> list[float]:
    """Seconds to wait before each of `n_chunks`: half before the first, the rest spread evenly."""
    if n_chunks <= 1:
        return [latency] * n_chunks
    rest = latency / 2 / (n_chunks - 1)
    return [latency / 2] + [rest] * (n_chunks - 1)


def _json_answer(body: Mapping[str, Any], text: str) -> str | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_object":
        return json.dumps({"echo": text}, ensure_ascii=False, separators=(",", ":"))
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema", {})
        value = fill(schema, text)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return None


def _called_since_user(messages: Sequence[Mapping[str, Any]]) -> set[str]:
    """The names of the tools the assistant called after the last user message."""
    called: set[str] = set()
    for message in reversed(messages):
        if message["role"] == "user":
            break
        if message["role"] != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                called.add(function["name"])
    return called


def _tool_call(
    body: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]
) -> tuple[str, str] | None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if (
        not isinstance(tools, list)
        or not tools
        or messages[-1]["role"] not in ("user", "tool")
        or choice == "none"
    ):
        return None
    functions = [t.get("function", t) for t in tools if isinstance(t, Mapping)]
    if not functions or not all(
        isinstance(f, Mapping) and isinstance(f.get("name"), str) for f in functions
    ):
        msg = "each tool needs a function `name`"
        raise EchoError(msg)
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        functions = [f for f in functions if f["name"] == wanted] or functions
    called = _called_since_user(messages)
    uncalled = [f for f in functions if f["name"] not in called]
    if not uncalled:
        return None
    tool = uncalled[0]
    schema = tool.get("parameters") or {"type": "object", "properties": {}}
    arguments = fill(schema, prompt_text(body))
    return tool["name"], json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        msg = "`max_completion_tokens` must be a positive integer"
        raise EchoError(msg)
    return limit


def _answer(body: Mapping[str, Any]) -> _Answer:
    if not isinstance(body, Mapping):
        msg = "the request body must be a JSON object"
        raise EchoError(msg)
    messages = _messages(body)
    model = body.get("model", "echo")
    if not isinstance(model, str):
        msg = "`model` must be a string"
        raise EchoError(msg)
    latency_seconds(body)
    hashed = {k: v for k, v in body.items() if k not in _NOT_HASHED}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()
    text = prompt_text(body)
    tokens_in = prompt_tokens(body)
    response_id = f"echo-{digest[:24]}"
    call = _tool_call(body, messages)
    if call is not None:
        tokens_out = count_tokens(call[1])
        return _Answer(response_id, model, None, call, "tool_calls", tokens_in, tokens_out)
    content = _json_answer(body, text)
    content = f"echo: {text}" if content is None else content
    finish = "stop"
    limit = _max_tokens(body)
    pieces = _PIECE.findall(content)
    if limit is not None and count_tokens(content) > limit:
        content, finish = "".join(pieces[:limit]), "length"
    return _Answer(response_id, model, content, None, finish, tokens_in, count_tokens(content))


def _usage(answer: _Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _call_id(answer: _Answer) -> str:
    return "call_" + answer.response_id.removeprefix("echo-")


def echo_completion(body: Mapping[str, Any]) -> dict[str, Any]:
    """The whole (non-streamed) ``chat.completion`` body echo answers `body` with."""
    answer = _answer(body)
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_call is not None:
        name, arguments = answer.tool_call
        function = {"name": name, "arguments": arguments}
        message["tool_calls"] = [{"id": _call_id(answer), "type": "function", "function": function}]
    return {
        "id": answer.response_id,
        "object": "chat.completion",
        "created": 0,
        "model": answer.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": _usage(answer),
    }


def echo_chunks(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects echo streams for `body` (``[DONE]`` not included)."""
    return [json.loads(text) for text in echo_events(body)]


def echo_events(body: Mapping[str, Any]) -> list[str]:
    """`echo_chunks` as the compact JSON texts of the stream's events, made without a dict each.

    A chunk differs from the next only in its delta and finish reason, so the rest is encoded
    once per answer; the engine benchmark streams these (BENCHMARKS.md).
    """
    answer = _answer(body)
    options = body.get("stream_options")
    include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    deltas: list[str]
    if answer.tool_call is not None:
        name, arguments = answer.tool_call
        start = {"index": 0, "id": _call_id(answer), "type": "function"}
        start["function"] = {"name": name, "arguments": ""}
        deltas = [_compact({"role": "assistant", "content": None, "tool_calls": [start]})]
        deltas += [
            '{"tool_calls":[{"index":0,"function":{"arguments":'
            + _string(arguments[i : i + _ARGUMENT_FRAGMENT])
            + "}}]}"
            for i in range(0, len(arguments), _ARGUMENT_FRAGMENT)
        ]
    else:
        deltas = ['{"role":"assistant","content":""}']
        deltas += ['{"content":' + _string(p) + "}" for p in _PIECE.findall(answer.content or "")]
    head = _compact({"id": answer.response_id, "object": "chat.completion.chunk", "created": 0})
    head = head[:-1] + ',"model":' + _string(answer.model)
    tail = ',"usage":null}' if include_usage else "}"
    choice = head + ',"choices":[{"index":0,"delta":'
    events = [f'{choice}{delta},"logprobs":null,"finish_reason":null}}]{tail}' for delta in deltas]
    finish = _string(answer.finish_reason)
    events.append(f'{choice}{{}},"logprobs":null,"finish_reason":{finish}}}]{tail}')
    if include_usage:
        events.append(f'{head},"choices":[],"usage":{_compact(_usage(answer))}}}')
    return events


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def _stream(events: list[str], latency: float) -> AsyncGenerator[SseEvent, None]:
    if latency > 0:
        for delay, event in zip(chunk_delays(latency, len(events)), events, strict=True):
            await asyncio.sleep(delay)
            yield SseEvent(event)
    else:
        for event in events:
            yield SseEvent(event)
    yield SseEvent("[DONE]")


def _error(status: int, message: str) -> Reply:
    body = json.dumps(error_body(message)).encode()
    return Reply(status, {"content-type": "application/json"}, body=body)


class EchoTransport:
    """Answers OpenAI Chat Completions calls in-process with `echo_completion`/`echo_chunks`.

    A `llmframe.transports.Transport` with no HTTP: the call's body goes to echo as it is, and
    the answer comes back as the body or the events a server would send, for the OpenAI parser.
    """

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        """Answer one call; never touches the network."""
        if not call.path.rstrip("/").endswith("/chat/completions"):
            return _error(404, f"echo serves POST /chat/completions, not {call.path}")
        if call.method != "POST":
            return _error(405, f"echo does not serve {call.method}")
        body = call.body
        try:
            latency = latency_seconds(body) if isinstance(body, Mapping) else 0.0
            if isinstance(body, Mapping) and body.get("stream") is True:
                events = _stream(echo_events(body), latency)
                return Reply(200, {"content-type": "text/event-stream"}, events=events)
            completion = echo_completion(body)  # type: ignore[arg-type]
        except EchoError as exc:
            return _error(400, str(exc))
        if latency > 0:
            await asyncio.sleep(latency)
        answer = json.dumps(completion, separators=(",", ":")).encode()
        return Reply(200, {"content-type": "application/json"}, body=answer)

    async def aclose(self) -> None:
        """Nothing to release."""
