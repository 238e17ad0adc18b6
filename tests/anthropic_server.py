"""A loopback Anthropic Messages server for end-to-end tests: scripted replies, a request log.

`AnthropicServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own event
loop and answers ``POST /v1/messages``. `respond` (given the parsed request body) chooses each
reply; ``script(*replies)`` puts replies ahead of it, in arrival order (a recorded 529, say).
A streamed reply's body is written in `Reply.chunk` byte pieces, so the runner's decoder sees
events cut across network reads. ``requests`` is what arrived, with the headers lower-cased.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_LOOPBACK = "127.0.0.1"
_PATH = "/v1/messages"


@dataclass(frozen=True)
class Reply:
    """One HTTP answer."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    chunk: int | None = None
    """Write the body in pieces of this many bytes (a stream); None writes it whole."""


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: Any


class AnthropicServer:
    """The server; use as a context manager."""

    def __init__(self, respond: Callable[[Any], Reply]) -> None:
        self.respond = respond
        self._lock = threading.Lock()
        self._script: list[Reply] = []
        self._log: list[Received] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="anthropic-server", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((_LOOPBACK, 0))
        self.base_url = f"http://{_LOOPBACK}:{self._sock.getsockname()[1]}/v1"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, before `respond`."""
        with self._lock:
            self._script.extend(replies)

    @property
    def requests(self) -> list[Received]:
        """Every request received, in arrival order."""
        with self._lock:
            return list(self._log)

    def __enter__(self) -> AnthropicServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._sock.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self._log.append(Received(request.path, headers, body))
            scripted = self._script.pop(0) if self._script else None
        if request.path != _PATH or request.method != "POST":
            return web.json_response(
                {"type": "error", "error": {"type": "not_found_error"}}, status=404
            )
        reply = scripted or self.respond(body)
        if reply.chunk is None:
            return web.Response(
                status=reply.status,
                body=reply.body,
                content_type=reply.content_type,
                headers=dict(reply.headers),
            )
        response = web.StreamResponse(
            status=reply.status, headers={**reply.headers, "content-type": reply.content_type}
        )
        await response.prepare(request)
        for start in range(0, len(reply.body), reply.chunk):
            await response.write(reply.body[start : start + reply.chunk])
            await asyncio.sleep(0)
        await response.write_eof()
        return response
