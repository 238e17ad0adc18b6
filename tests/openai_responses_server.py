"""A loopback server that answers ``POST /v1/responses`` with recorded bytes.

`ReplayServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own loop, as
`openai_server.OpenAIServer` does. Each request gets ``answer(body)``: a status, a content type
and the bytes to send; a ``text/event-stream`` answer goes out in small chunks, so the runner's
incremental decoding is exercised. ``requests`` holds the (path, JSON body) of each request.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_LOOPBACK = "127.0.0.1"
_CHUNK = 97  # bytes per write of a streamed answer: cuts events, lines and UTF-8 sequences


@dataclass(frozen=True)
class Answer:
    """What to send back."""

    status: int
    content_type: str
    body: bytes


class ReplayServer:
    """Use as a context manager; `base_url` ends in ``/v1`` like OpenAI's."""

    def __init__(self, answer: Callable[[dict[str, Any]], Answer]) -> None:
        self._answer = answer
        self._lock = threading.Lock()
        self._requests: list[tuple[str, dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((_LOOPBACK, 0))
        self.base_url = f"http://{_LOOPBACK}:{self._sock.getsockname()[1]}/v1"

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """(path, body) of every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def __enter__(self) -> ReplayServer:
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
        app.router.add_post("/v1/responses", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        with self._lock:
            self._requests.append((request.path, body))
        answer = self._answer(body)
        if answer.content_type != "text/event-stream":
            return web.Response(
                status=answer.status, body=answer.body, content_type=answer.content_type
            )
        response = web.StreamResponse(
            status=answer.status, headers={"content-type": "text/event-stream; charset=utf-8"}
        )
        await response.prepare(request)
        for start in range(0, len(answer.body), _CHUNK):
            await response.write(answer.body[start : start + _CHUNK])
        await response.write_eof()
        return response
