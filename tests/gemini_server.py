"""A loopback Gemini server for runner tests: replays scripted (recorded) answers in order.

`GeminiServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own loop and
answers ``POST /v1beta/models/{model}:{method}`` with the next `Reply` of its script, streamed in
small chunks when the reply says so. It logs what it received (`requests`), secret headers
included, so a test can check the key went out; it never writes them anywhere.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import LoopbackServer, write_pieces


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


class GeminiServer(LoopbackServer):
    """The server; use as a context manager."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.base_url = f"{self.origin}/v1beta"
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

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{call}", self._handle)

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
        return await write_pieces(request, response, reply.body, reply.chunk, pause=True)
