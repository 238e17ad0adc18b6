"""A loopback OpenAI Chat Completions server for tests, with fault injection.

`OpenAIServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own event
loop and serves ``POST /v1/chat/completions`` with echo's answers (`llmframe.providers.echo`),
streamed or whole. A test steers it through methods, never the environment:

- ``plan(fault, prompt=..., request=..., times=1)``: the next `times` requests whose prompt (the
  text echo answers: the last user message) equals `prompt`, or request number `request`
  (1-based), or any request, get `fault`. Rules are tried in the order given; ``times=None``
  never runs out; a ``None`` fault answers normally (shielding a prompt from random faults).
- ``script(*faults)``: the next requests, by arrival, get these faults in order.
- ``faults(rate, seed=..., kinds=...)``: otherwise, each request fails with probability `rate`,
  with a kind drawn from `kinds`; the draw is a hash of (seed, prompt, attempt at that prompt),
  so each prompt's fate is the same whatever order concurrent requests arrive in.
- ``plan(Fault("reply", content=...))`` answers normally but with that text as the content.
- ``latency_ms``: the default latency of an answer (a body's ``latency_ms`` wins), spread as echo
  spreads it; ``rate_limits``: the ``x-ratelimit-*`` headers on every HTTP response.
- ``requests``, ``authorization``, ``count``, ``count_for``, ``max_in_window``,
  ``max_concurrent``: what was received; ``reset()`` forgets everything and restores defaults.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import math
import socket
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from aiohttp import web

from llmframe.providers.echo import (
    DONE,
    EchoError,
    chunk_delays,
    echo_chunks,
    echo_completion,
    error_body,
    latency_seconds,
    prompt_text,
    prompt_tokens,
    sse_event,
)

FaultKind = Literal[
    "rate_limit",  # 429, rate_limit_exceeded, `Retry-After: <seconds>`
    "rate_limit_date",  # 429, `Retry-After: <HTTP date>` (whole seconds, rounded up)
    "rate_limit_ms",  # 429, `retry-after-ms: <milliseconds>` and no Retry-After
    "quota",  # 429, insufficient_quota: not retryable
    "bad_request",  # 400, invalid_request_error
    "unauthorized",  # 401, invalid_api_key
    "server_error",  # 500
    "bad_gateway",  # 502 with an HTML body, as proxies send
    "unavailable",  # 503
    "overloaded",  # 529, overloaded_error
    "reset",  # the connection is reset (RST) before any response
    "hang",  # no response at all, until the client gives up
    "stall",  # headers and `after_chunks` chunks, then silence
    "cut",  # headers and `after_chunks` chunks, then the connection closes mid-body
    "truncated",  # `after_chunks` chunks, then a clean end: no finish chunk, no [DONE]
    "malformed",  # an event whose data is not JSON after `after_chunks` chunks; then the rest
    "slow_first_token",  # headers at once, `delay` (default 1 s) before the first chunk
    "reply",  # a normal answer whose content is `content` (say, JSON that breaks a schema)
]

_LOOPBACK = "127.0.0.1"
_PATH = "/v1/chat/completions"
_HANG_LIMIT = 30.0  # a hang ends by itself after this long, so no test can wedge the suite
_SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "x-goog-api-key"}
_STATUS: dict[str, tuple[int, str, str | None, str]] = {
    "rate_limit": (429, "requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    "rate_limit_date": (429, "requests", "rate_limit_exceeded", "Rate limit reached."),
    "rate_limit_ms": (429, "requests", "rate_limit_exceeded", "Rate limit reached."),
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "bad_request": (400, "invalid_request_error", None, "Bad request."),
    "unauthorized": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key."),
    "server_error": (500, "server_error", None, "The server had an error."),
    "bad_gateway": (502, "server_error", None, "Bad gateway."),
    "unavailable": (503, "server_error", None, "The server is overloaded or not ready yet."),
    "overloaded": (529, "overloaded_error", None, "Overloaded."),
}
_BAD_GATEWAY_HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"


@dataclass(frozen=True)
class Fault:
    """One injected failure; the fields apply to the kinds named in their comments."""

    kind: FaultKind
    retry_after: float | None = 1.0
    """Seconds, for the ``rate_limit*`` kinds; None sends no retry header."""
    delay: float | None = None
    """Seconds before acting: before the first chunk for ``slow_first_token`` (default 1), before
    the response otherwise (default 0)."""
    after_chunks: int = 2
    """For ``stall``, ``cut``, ``truncated``, ``malformed``: chunks sent before the fault."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers (say, ``retry-after`` on a 503)."""
    content: str = ""
    """For ``reply``: the answer's text, in place of echo's."""
    tool_calls: tuple[tuple[str, str], ...] = ()
    """For ``reply``: (name, arguments text) of tool calls to answer with, in order; streamed
    as fragments of 5 characters, the calls interleaved."""

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            msg = f"unknown fault kind {self.kind!r}"
            raise ValueError(msg)


RANDOM_KINDS: tuple[Fault, ...] = (
    Fault("rate_limit", retry_after=0),
    Fault("server_error"),
    Fault("bad_gateway"),
    Fault("unavailable"),
    Fault("overloaded"),
    Fault("reset"),
    Fault("cut"),
)
"""The default kinds of `OpenAIServer.faults`: retryable and quick."""


@dataclass(frozen=True)
class RateLimits:
    """The ``x-ratelimit-*`` headers on every response.

    A remaining count of None is computed: the limit less the requests (or echo's prompt tokens)
    received in the last 60 s, the request being answered included. With `window`, the budget
    renews every `window` seconds instead, in fixed windows from the first request received:
    remaining counts the current window, and both resets say when the next window begins.
    """

    limit_requests: int = 10_000
    limit_tokens: int = 1_000_000
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: str = "1s"
    reset_tokens: str = "1s"
    window: float | None = None


@dataclass(frozen=True)
class Received:
    """One request as the server saw it; credentials are never kept here."""

    number: int
    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names, without ``authorization`` and other key headers."""
    body: Any
    """The parsed JSON body, or None when it was not JSON."""
    prompt: str | None
    """The text echo answers (last user message), or None for a body echo refuses."""
    prompt_tokens: int
    time: float
    """`time.monotonic()` on arrival."""
    fault: FaultKind | None


@dataclass
class _Rule:
    fault: Fault | None
    prompt: str | None
    request: int | None
    times: int | None

    def matches(self, number: int, prompt: str | None) -> bool:
        if self.request is not None and self.request != number:
            return False
        return self.prompt is None or self.prompt == prompt


def _as_fault(fault: Fault | FaultKind | None) -> Fault | None:
    return Fault(fault) if isinstance(fault, str) else fault


class OpenAIServer:
    """The server; use as a context manager or call `start` and `close`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="openai-server", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._stopping = threading.Event()
        self._in_flight = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((_LOOPBACK, 0))
        self.base_url = f"http://{_LOOPBACK}:{self._sock.getsockname()[1]}/v1"
        self.reset()

    # -- control ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget rules, random faults, the log and counters; restore the defaults."""
        with self._lock:
            self._rules: list[_Rule] = []
            self._random: tuple[float, int, tuple[Fault, ...]] | None = None
            self._log: list[Received] = []
            self._auth: list[str | None] = []
            self._attempts: dict[str, int] = {}
            self._max_in_flight = self._in_flight  # a gauge: requests still running stay counted
            self.latency_ms: float = 0
            self.rate_limits: RateLimits | None = RateLimits()

    def plan(
        self,
        fault: Fault | FaultKind | None,
        *,
        prompt: str | None = None,
        request: int | None = None,
        times: int | None = 1,
    ) -> None:
        """Give `fault` to the next `times` requests matching `prompt` and/or `request`."""
        with self._lock:
            self._rules.append(_Rule(_as_fault(fault), prompt, request, times))

    def script(self, *faults: Fault | FaultKind | None) -> None:
        """Give the next requests, by arrival, these faults in order (None: a normal answer)."""
        with self._lock:
            start = len(self._log) + 1
            for offset, fault in enumerate(faults):
                self._rules.append(_Rule(_as_fault(fault), None, start + offset, 1))

    def faults(
        self, rate: float, *, seed: int = 0, kinds: Sequence[Fault | FaultKind] = RANDOM_KINDS
    ) -> None:
        """Fail each request no rule matched with probability `rate` (0 turns this off)."""
        chosen = tuple(Fault(k) if isinstance(k, str) else k for k in kinds)
        with self._lock:
            self._random = (rate, seed, chosen) if rate > 0 and chosen else None

    # -- what was received ----------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        """Every request received since the last reset, in arrival order."""
        with self._lock:
            return list(self._log)

    @property
    def authorization(self) -> list[str | None]:
        """The ``Authorization`` header of each request, in arrival order."""
        with self._lock:
            return list(self._auth)

    @property
    def count(self) -> int:
        """How many requests arrived since the last reset."""
        with self._lock:
            return len(self._log)

    @property
    def max_concurrent(self) -> int:
        """The most requests in progress at once since the last reset."""
        with self._lock:
            return self._max_in_flight

    def count_for(self, prompt: str) -> int:
        """How many requests had this prompt."""
        return sum(r.prompt == prompt for r in self.requests)

    def max_in_window(self, seconds: float) -> int:
        """The most requests that arrived within any `seconds`-long sliding window."""
        times = [r.time for r in self.requests]
        start, best = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        """Start serving; returns self."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def close(self) -> None:
        """Stop serving; hanging requests are let go."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()
        self._sock.close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)  # inline media makes big bodies
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- serving --------------------------------------------------------------------------------

    def _choose(self, number: int, prompt: str | None) -> Fault | None:
        key = prompt if prompt is not None else f"#{number}"
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        for rule in self._rules:
            if rule.matches(number, prompt):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return rule.fault
        if self._random is None:
            return None
        rate, seed, kinds = self._random
        digest = hashlib.sha256(f"{seed}\0{key}\0{attempt}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= rate:
            return None
        return kinds[int.from_bytes(digest[8:16], "big") % len(kinds)]

    def _limit_headers(self, now: float) -> dict[str, str]:
        limits = self.rate_limits
        if limits is None:
            return {}
        recent = [r for r in self._log if now - r.time < 60]
        reset_requests, reset_tokens = limits.reset_requests, limits.reset_tokens
        if limits.window is not None:
            origin = self._log[0].time
            start = origin + (now - origin) // limits.window * limits.window
            recent = [r for r in self._log if r.time >= start]
            reset_requests = reset_tokens = f"{math.ceil((start + limits.window - now) * 1000)}ms"
        requests = limits.remaining_requests
        tokens = limits.remaining_tokens
        if requests is None:
            requests = max(0, limits.limit_requests - len(recent))
        if tokens is None:
            tokens = max(0, limits.limit_tokens - sum(r.prompt_tokens for r in recent))
        return {
            "x-ratelimit-limit-requests": str(limits.limit_requests),
            "x-ratelimit-limit-tokens": str(limits.limit_tokens),
            "x-ratelimit-remaining-requests": str(requests),
            "x-ratelimit-remaining-tokens": str(tokens),
            "x-ratelimit-reset-requests": reset_requests,
            "x-ratelimit-reset-tokens": reset_tokens,
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        now = time.monotonic()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        try:
            prompt, tokens = prompt_text(body), prompt_tokens(body)
        except (EchoError, AttributeError):  # AttributeError: a body that is not an object
            prompt, tokens = None, 0
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            number = len(self._log) + 1
            routed = request.path == _PATH and request.method == "POST"
            fault = self._choose(number, prompt) if routed else None
            public = {k: v for k, v in headers.items() if k not in _SECRET_HEADERS}
            kind = fault.kind if fault else None
            self._log.append(
                Received(
                    number, request.method, request.path, public, body, prompt, tokens, now, kind
                )
            )
            self._auth.append(headers.get("authorization"))
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            limit_headers = self._limit_headers(now)
            latency = self.latency_ms / 1000
        try:
            return await self._respond(request, body, fault, limit_headers, latency)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _respond(
        self,
        request: web.Request,
        body: Any,
        fault: Fault | None,
        headers: dict[str, str],
        latency: float,
    ) -> web.StreamResponse:
        if request.path != _PATH or request.method != "POST":
            return web.json_response(error_body(f"no route {request.path}"), status=404)
        kind = fault.kind if fault else None
        if fault is not None:
            headers = {**headers, **fault.headers}
            if kind != "slow_first_token":
                await asyncio.sleep(fault.delay or 0.0)
        if fault is not None and fault.kind in _STATUS:
            return _status_response(fault, headers)
        if kind == "reset":
            _reset(request)
            return web.Response()
        if kind == "hang":
            await self._hang(request)
            return web.Response()
        try:
            if not isinstance(body, dict):
                msg = "the request body must be a JSON object"
                raise EchoError(msg)
            latency = latency_seconds(body) if "latency_ms" in body else latency
            answer = echo_chunks(body) if body.get("stream") is True else echo_completion(body)
            if kind == "reply":
                assert fault is not None
                answer = (
                    _with_tool_calls(answer, fault.tool_calls)
                    if fault.tool_calls
                    else _with_content(answer, fault.content)
                )
        except EchoError as exc:
            return web.json_response(error_body(str(exc)), status=400, headers=headers)
        if isinstance(answer, list):
            return await self._stream(request, answer, fault, headers, latency)
        return await self._whole(request, answer, fault, headers, latency)

    async def _hang(self, request: web.Request) -> None:
        """Wait until the client leaves, the server stops, or the hang limit passes."""
        deadline = time.monotonic() + _HANG_LIMIT
        while time.monotonic() < deadline and not self._stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.02)

    async def _whole(
        self,
        request: web.Request,
        answer: dict[str, Any],
        fault: Fault | None,
        headers: dict[str, str],
        latency: float,
    ) -> web.StreamResponse:
        data = json.dumps(answer).encode()
        kind = fault.kind if fault else None
        if kind == "slow_first_token":
            await asyncio.sleep(_first_delay(fault))
        await asyncio.sleep(latency)
        if kind in ("truncated", "malformed"):
            data = data[: len(data) // 2] if kind == "truncated" else b'{"id": "echo-broken", '
        if kind in ("cut", "stall"):
            response = web.StreamResponse(headers={**headers, "content-type": "application/json"})
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            await (self._hang(request) if kind == "stall" else _close(request))
            return response
        return web.Response(body=data, content_type="application/json", headers=headers)

    async def _stream(
        self,
        request: web.Request,
        chunks: list[dict[str, Any]],
        fault: Fault | None,
        headers: dict[str, str],
        latency: float,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={**headers, "content-type": "text/event-stream"})
        await response.prepare(request)
        kind = fault.kind if fault else None
        if kind == "slow_first_token":
            await asyncio.sleep(_first_delay(fault))
        broken_at = min(fault.after_chunks, len(chunks)) if fault else -1
        delays = chunk_delays(latency, len(chunks))
        for index, (delay, chunk) in enumerate(zip(delays, chunks, strict=True)):
            if index == broken_at and kind in ("stall", "cut", "truncated"):
                if kind == "stall":
                    await self._hang(request)
                elif kind == "cut":
                    await _close(request)
                else:
                    await response.write_eof()
                return response
            if index == broken_at and kind == "malformed":
                await response.write(b'data: {"id": "echo-broken", "choices": [\n\n')
            await asyncio.sleep(delay)
            await response.write(sse_event(chunk))
        await response.write(DONE)
        await response.write_eof()
        return response


def _with_content(answer: Any, text: str) -> Any:
    """Echo's answer (a body or a list of chunks) with `text` as its content."""
    if isinstance(answer, dict):
        answer["choices"][0]["message"]["content"] = text
        return answer
    kept = [c for c in answer if not (c.get("choices") and c["choices"][0]["delta"].get("content"))]
    content = {**kept[0], "choices": [{"index": 0, "delta": {"content": text}}]}
    return [kept[0], content, *kept[1:]]


def _with_tool_calls(answer: Any, calls: Sequence[tuple[str, str]]) -> Any:
    """Echo's answer (a body or a list of chunks) replaced by these tool calls."""
    ids = [f"call_{i}" for i in range(len(calls))]
    if isinstance(answer, dict):
        message = {"role": "assistant", "content": None}
        message["tool_calls"] = [
            {"id": ids[i], "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ]
        answer["choices"][0].update(message=message, finish_reason="tool_calls")
        return answer
    head = {k: v for k, v in answer[0].items() if k != "choices"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    starts = [
        {"index": i, "id": ids[i], "type": "function", "function": {"name": n, "arguments": ""}}
        for i, (n, _) in enumerate(calls)
    ]
    chunks = [chunk({"role": "assistant", "content": None, "tool_calls": starts})]
    longest = max(len(a) for _, a in calls)
    for offset in range(0, longest, 5):
        pieces = [
            {"index": i, "function": {"arguments": a[offset : offset + 5]}}
            for i, (_, a) in enumerate(calls)
            if a[offset : offset + 5]
        ]
        chunks.append(chunk({"tool_calls": pieces}))
    chunks.append(chunk({}, "tool_calls"))
    usage = [c for c in answer if not c.get("choices")]
    return chunks + usage


def _first_delay(fault: Fault | None) -> float:
    return 1.0 if fault is None or fault.delay is None else fault.delay


def _status_response(fault: Fault, headers: dict[str, str]) -> web.Response:
    status, type_, code, message = _STATUS[fault.kind]
    headers = dict(headers)
    wait = fault.retry_after
    if wait is not None and fault.kind == "rate_limit":
        headers["retry-after"] = str(int(wait)) if wait == int(wait) else f"{wait:.3f}".rstrip("0")
    elif wait is not None and fault.kind == "rate_limit_date":
        when = math.ceil(time.time() + wait)  # whole seconds, never sooner than `wait`
        headers["retry-after"] = email.utils.formatdate(when, usegmt=True)
    elif wait is not None and fault.kind == "rate_limit_ms":
        headers["retry-after-ms"] = str(round(wait * 1000))
    if fault.kind == "bad_gateway":
        return web.Response(
            status=status, body=_BAD_GATEWAY_HTML, headers=headers, content_type="text/html"
        )
    return web.json_response(
        error_body(message, type_=type_, code=code), status=status, headers=headers
    )


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed peer or proxy would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _close(request: web.Request) -> None:
    """Close the connection after flushing what was written (a FIN mid-body)."""
    transport = request.transport
    if transport is not None:
        transport.close()
    await asyncio.sleep(0)
