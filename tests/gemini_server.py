"""A loopback Gemini server for runner tests: replays scripted (recorded) answers in order.

`GeminiServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own loop and
answers ``POST /v1beta/models/{model}:{method}`` with the next `Reply` of its script, streamed in
small chunks when the reply says so. It logs what it received (`requests`), secret headers
included, so a test can check the key went out; it never writes them anywhere.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    """One answer: its status, body and content type; `chunk` > 0 streams it in pieces."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    chunk: int = 0
    """Bytes per write (0: the whole body at once)."""


@dataclass(frozen=True)
class Received:
    """One request as received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    time: float


class GeminiServer:
    """The server; use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((_LOOPBACK, 0))
        self.base_url = f"http://{_LOOPBACK}:{self._sock.getsockname()[1]}/v1beta"
        self._script: list[Reply] = []
        self._log: list[Received] = []

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies in order; forget earlier ones and the log."""
        with self._lock:
            self._script = list(replies)
            self._log = []

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._log)

    def __enter__(self) -> GeminiServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._sock.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1beta/models/{call}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        with self._lock:
            self._log.append(
                Received(
                    request.path, dict(request.query), dict(request.headers), body, time.monotonic()
                )
            )
            reply = self._script.pop(0) if self._script else None
        if reply is None:
            error = {"error": {"code": 500, "message": "no reply scripted", "status": "INTERNAL"}}
            return web.json_response(error, status=500)
        headers = {"Content-Type": reply.content_type, **reply.headers}
        if not reply.chunk:
            return web.Response(body=reply.body, status=reply.status, headers=headers)
        response = web.StreamResponse(status=reply.status, headers=headers)
        await response.prepare(request)
        for start in range(0, len(reply.body), reply.chunk):
            await response.write(reply.body[start : start + reply.chunk])
            await asyncio.sleep(0)
        await response.write_eof()
        return response
