"""A loopback Anthropic Messages server for end-to-end tests: scripted replies, a request log.

`AnthropicServer` runs aiohttp on 127.0.0.1 (an ephemeral port) in a thread with its own event
loop and answers ``POST /v1/messages``. `respond` (given the parsed request body) chooses each
reply; ``script(*replies)`` puts replies ahead of it, in arrival order (a recorded 529, say).
A streamed reply's body is written in `Reply.chunk` byte pieces, so the runner's decoder sees
events cut across network reads. ``requests`` is what arrived, with the headers lower-cased.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import LoopbackServer, write_pieces

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


class AnthropicServer(LoopbackServer):
    """The server; use as a context manager."""

    def __init__(self, respond: Callable[[Any], Reply]) -> None:
        super().__init__(thread_name="anthropic-server")
        self.respond = respond
        self._lock = threading.Lock()
        self._script: list[Reply] = []
        self._log: list[Received] = []
        self.base_url = f"{self.origin}/v1"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, before `respond`."""
        with self._lock:
            self._script.extend(replies)

    @property
    def requests(self) -> list[Received]:
        """Every request received, in arrival order."""
        with self._lock:
            return list(self._log)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

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
        return await write_pieces(request, response, reply.body, reply.chunk, pause=True)
