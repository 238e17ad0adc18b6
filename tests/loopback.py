"""The scaffolding of the provider tests' loopback servers (tests/*_server.py).

`LoopbackServer` runs aiohttp on 127.0.0.1 (an ephemeral port, bound at construction so
`origin` is known before the server starts) in a thread with its own event loop, and is a
context manager. A subclass adds its routes in `routes` and answers them itself; `write_pieces`
sends a body in small writes, so the runner's decoder sees events cut across network reads.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Self

from aiohttp import web

LOOPBACK = "127.0.0.1"


class LoopbackServer:
    """aiohttp in a background thread on a loopback port; subclasses add `routes`."""

    def __init__(self, *, thread_name: str | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=thread_name, daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self.origin = f"http://{LOOPBACK}:{self._sock.getsockname()[1]}"

    def routes(self, app: web.Application) -> None:
        """Add this server's routes to `app`."""
        raise NotImplementedError

    def __enter__(self) -> Self:
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
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()


async def write_pieces(
    request: web.Request,
    response: web.StreamResponse,
    body: bytes,
    size: int,
    *,
    pause: bool = False,
) -> web.StreamResponse:
    """Send `body` through `response` in writes of `size` bytes (yielding between them if
    `pause`), then end it."""
    await response.prepare(request)
    for start in range(0, len(body), size):
        await response.write(body[start : start + size])
        if pause:
            await asyncio.sleep(0)
    await response.write_eof()
    return response
