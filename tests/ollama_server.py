"""A loopback Ollama ``/api/chat`` server for end-to-end runs that replays recorded answers.

`OllamaServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own event loop,
as `openai_server.OpenAIServer` does. Each ``POST /api/chat`` gets the next `Reply` queued with
``queue(...)``; a streamed reply's body is written in `Reply.chunk`-byte pieces, so NDJSON lines
arrive split across network chunks. ``requests`` holds the parsed JSON bodies received.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    """One canned answer."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    chunk: int | None = None
    """Write the body in pieces of this many bytes (chunked transfer); None writes it at once."""
    headers: dict[str, str] = field(default_factory=dict)


class OllamaServer:
    """The server; use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._requests: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ollama-server", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((_LOOPBACK, 0))
        self.base_url = f"http://{_LOOPBACK}:{self._sock.getsockname()[1]}"

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[Any]:
        """The JSON bodies received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def __enter__(self) -> OllamaServer:
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
        app.router.add_post("/api/chat", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        with self._lock:
            self._requests.append(body)
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            return web.json_response({"error": "no reply queued"}, status=500)
        headers = {"Content-Type": reply.content_type, **reply.headers}
        if reply.chunk is None:
            return web.Response(body=reply.body, status=reply.status, headers=headers)
        response = web.StreamResponse(status=reply.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(reply.body), reply.chunk):
            await response.write(reply.body[start : start + reply.chunk])
        await response.write_eof()
        return response
