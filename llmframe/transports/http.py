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
from typing import Any

import aiohttp
import httpx
import yarl
from aiohttp.helpers import get_env_proxy_for_url
from httpx_aiohttp import AiohttpTransport

from llmframe import __version__, _json
from llmframe.errors import ProviderError
from llmframe.providers.base import HttpCall, Provider, SseEvent
from llmframe.providers.endpoints import ModelTarget
from llmframe.transports.base import Reply

__all__ = ["HttpTransport", "connection_failure"]

_LOG = logging.getLogger("llmframe.http")
_KNOWN_URLS = 1024
"""Parsed URLs kept per transport (one per model and route; a cap, should a path vary)."""
_HEADERS = {"user-agent": f"llmframe/{__version__}", "accept-encoding": "gzip, deflate"}


class HttpTransport:
    """One endpoint's connection pool; `send` adds the target's credentials last.

    Requests go straight to the aiohttp transport: the client layer of httpx (cookie jar,
    redirects, auth flows, URL merging) does nothing an API call needs, and cost a third of
    the runner's CPU per request (BENCHMARKS.md). Proxies come from the environment
    (``HTTPS_PROXY``, ``NO_PROXY``...) as they did with httpx's client.
    """

    def __init__(self, *, concurrency: int, timeout: float) -> None:
        self._concurrency = concurrency
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._pools: dict[str | None, AiohttpTransport] = {}
        self._routes: dict[str, AiohttpTransport] = {}
        self._urls: dict[str, httpx.URL] = {}

    def _pool(self, base_url: str) -> AiohttpTransport:
        """The pool for `base_url`: direct, or through the proxy the environment names for it.

        Looked up once per base URL: aiohttp's own ``trust_env`` looks up the proxy and
        ``.netrc`` in a thread for every request, two thread hops each.
        """
        if base_url not in self._routes:
            try:
                proxy_url, auth = get_env_proxy_for_url(yarl.URL(base_url))
                if auth is not None:
                    proxy_url = proxy_url.with_user(auth.login).with_password(auth.password)
                proxy: str | None = str(proxy_url)
            except LookupError:
                proxy = None
            if proxy not in self._pools:
                self._pools[proxy] = AiohttpTransport(
                    limits=httpx.Limits(max_connections=self._concurrency),
                    proxy=httpx.Proxy(proxy) if proxy else None,
                )
            self._routes[base_url] = self._pools[proxy]
        return self._routes[base_url]

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        """POST (or GET) `call` to `target`'s base URL; a stream's body stays open in `events`."""
        address = target.base_url + call.path
        url = self._urls.get(address)
        if url is None:  # parsing a URL costs more than the rest of the request object
            url = httpx.URL(address)
            if len(self._urls) < _KNOWN_URLS:
                self._urls[address] = url
        headers = {**_HEADERS, **call.headers, **target.auth_headers()}
        content = None
        if call.body is not None:  # encoded here: httpx's `json=` costs half the request object
            content = _body(call.body)
            headers["content-type"] = "application/json"
        request = httpx.Request(
            call.method, url, content=content, headers=headers, extensions=self._extensions
        )
        response = await self._pool(target.base_url).handle_async_request(request)
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
        for pool in self._pools.values():
            await pool.aclose()


def _body(body: Any) -> bytes:
    """The JSON request body; NaN or an infinity (``-o temperature=NaN``) is refused, not sent."""
    try:
        return _json.dumps(body).encode()
    except ValueError as exc:
        msg = f"the request cannot be sent as JSON: {exc}"
        raise ProviderError(msg) from exc


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
