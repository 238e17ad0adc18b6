"""`HttpTransport`: calls to a server, over httpx with aiohttp's sockets (DESIGN.md "HTTP").

httpx stays the API; its default transport (httpcore) rescans its whole pool on every request
event, which cost the runner most of its CPU at high concurrency (measured in BENCHMARKS.md), so
`httpx-aiohttp` hands the socket work to aiohttp instead.

Its exception mapping turns every `aiohttp.ClientConnectionError` (a reset, a server that
disconnects mid-body) into `httpx.ConnectTimeout`; `connection_failure` tells those apart from
real timeouts, so error rows say what happened.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from llmframe.providers.base import HttpCall, Provider, SseEvent
from llmframe.providers.endpoints import ModelTarget
from llmframe.transports.base import Reply

__all__ = ["HttpTransport", "connection_failure"]


class HttpTransport:
    """One endpoint's connection pool; `send` adds the target's credentials last."""

    def __init__(self, *, concurrency: int, timeout: float) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits),
            limits=limits,
            timeout=httpx.Timeout(timeout),
        )

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        """POST (or GET) `call` to `target`'s base URL; a stream's body stays open in `events`."""
        request = self._client.build_request(
            call.method,
            target.base_url + call.path,
            json=call.body,
            headers={**call.headers, **target.auth_headers()},
        )
        response = await self._client.send(request, stream=True)
        streamed = call.stream and response.status_code < 400
        return Reply(
            response.status_code,
            dict(response.headers),
            events=_events(response, provider) if streamed else None,
            reader=response.aread,
            closer=response.aclose,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._client.aclose()


async def _events(response: httpx.Response, provider: Provider) -> AsyncGenerator[SseEvent, None]:
    """The stream's events, framed by the provider's decoder."""
    decoder = provider.stream_decoder()
    async for chunk in response.aiter_bytes():
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.finish():
        yield event


def connection_failure(exc: BaseException) -> bool:
    """Whether an httpx timeout really is a connection failure that aiohttp reported."""
    cause = exc.__cause__
    timeouts = (aiohttp.ServerTimeoutError, aiohttp.SocketTimeoutError)
    return isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, timeouts)
