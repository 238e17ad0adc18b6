"""`HttpTransport`: calls to a server, over httpx with aiohttp's sockets (DESIGN.md "HTTP").

httpx stays the API; its default transport (httpcore) rescans its whole pool on every request
event, which cost the runner most of its CPU at high concurrency (measured in BENCHMARKS.md), so
`httpx-aiohttp` hands the socket work to aiohttp instead.

Its exception mapping turns every `aiohttp.ClientConnectionError` (a reset, a server that
disconnects mid-body) into `httpx.ConnectTimeout`; `connection_failure` tells those apart from
real timeouts, so error rows say what happened.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from llmframe import __version__
from llmframe.providers.base import HttpCall, Provider, SseEvent
from llmframe.providers.endpoints import ModelTarget
from llmframe.transports.base import Reply

__all__ = ["HttpTransport", "connection_failure"]

_LOG = logging.getLogger("llmframe.http")
_HEADERS = {"user-agent": f"llmframe/{__version__}", "accept-encoding": "gzip, deflate"}


class HttpTransport:
    """One endpoint's connection pool; `send` adds the target's credentials last.

    Requests go straight to the aiohttp transport: the client layer of httpx (cookie jar,
    redirects, auth flows, URL merging) does nothing an API call needs, and cost a third of
    the runner's CPU per request (BENCHMARKS.md). aiohttp reads proxies from the environment
    (``HTTPS_PROXY``, ``NO_PROXY``) as httpx's client did.
    """

    def __init__(self, *, concurrency: int, timeout: float) -> None:
        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(limit=concurrency, ssl=httpx.create_ssl_context())
            return aiohttp.ClientSession(connector=connector, trust_env=True)

        self._transport = AiohttpTransport(client=session)
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        """POST (or GET) `call` to `target`'s base URL; a stream's body stays open in `events`."""
        request = httpx.Request(
            call.method,
            target.base_url + call.path,
            json=call.body,
            headers={**_HEADERS, **call.headers, **target.auth_headers()},
            extensions=self._extensions,
        )
        response = await self._transport.handle_async_request(request)
        if _LOG.isEnabledFor(logging.DEBUG):  # as httpx's client logged; never the headers
            _LOG.debug("HTTP %s %s: %d", call.method, request.url, response.status_code)
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
        await self._transport.aclose()


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
