"""A loopback Ollama ``/api/chat`` server for end-to-end runs that replays recorded answers.

`OllamaServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own event loop,
as `openai_server.OpenAIServer` does. Each ``POST /api/chat`` gets the next `Reply` queued with
``queue(...)``; a streamed reply's body is written in `Reply.chunk`-byte pieces, so NDJSON lines
arrive split across network chunks. ``requests`` holds the parsed JSON bodies received.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import LoopbackServer, write_pieces


@dataclass(frozen=True)
class Reply:
    """One canned answer."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    chunk: int | None = None
    """Write the body in pieces of this many bytes (chunked transfer); None writes it at once."""
    headers: dict[str, str] = field(default_factory=dict)


class OllamaServer(LoopbackServer):
    """The server; use as a context manager."""

    def __init__(self) -> None:
        super().__init__(thread_name="ollama-server")
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._requests: list[Any] = []
        self.base_url = self.origin

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[Any]:
        """The JSON bodies received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._chat)

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
        return await write_pieces(request, response, reply.body, reply.chunk)
