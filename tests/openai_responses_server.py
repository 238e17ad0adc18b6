"""A loopback server that answers ``POST /v1/responses`` with recorded bytes.

`ReplayServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own loop, as
`openai_server.OpenAIServer` does. Each request gets ``answer(body)``: a status, a content type
and the bytes to send; a ``text/event-stream`` answer goes out in small chunks, so the runner's
incremental decoding is exercised. ``requests`` holds the (path, JSON body) of each request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from loopback import LoopbackServer, write_pieces

_CHUNK = 97  # bytes per write of a streamed answer: cuts events, lines and UTF-8 sequences


@dataclass(frozen=True)
class Answer:
    """What to send back."""

    status: int
    content_type: str
    body: bytes


class ReplayServer(LoopbackServer):
    """Use as a context manager; `base_url` ends in ``/v1`` like OpenAI's."""

    def __init__(self, answer: Callable[[dict[str, Any]], Answer]) -> None:
        super().__init__()
        self._answer = answer
        self._lock = threading.Lock()
        self._requests: list[tuple[str, dict[str, Any]]] = []
        self.base_url = f"{self.origin}/v1"

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """(path, body) of every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/responses", self._handle)

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
        return await write_pieces(request, response, answer.body, _CHUNK)
