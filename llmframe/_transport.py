"""The HTTP transport under httpx: aiohttp's, for speed (DESIGN.md section 3, "HTTP").

httpx stays the API the runner speaks; its default transport (httpcore) rescans its whole pool
on every request event, which costs the runner most of its CPU at high concurrency (measured in
BENCHMARKS.md). `httpx-aiohttp` hands the socket work to aiohttp instead.

Its exception mapping turns every `aiohttp.ClientConnectionError` (a reset, a server that
disconnects mid-body) into `httpx.ConnectTimeout`; `connection_failure` tells those apart from
real timeouts, so error rows say what happened.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["connection_failure", "network_transport"]


def network_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """The transport for real endpoints: aiohttp's, with `limits`' connection cap."""
    return AiohttpTransport(limits=limits)


def connection_failure(exc: BaseException) -> bool:
    """Whether an httpx timeout really is a connection failure that aiohttp reported."""
    cause = exc.__cause__
    timeouts = (aiohttp.ServerTimeoutError, aiohttp.SocketTimeoutError)
    return isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, timeouts)
