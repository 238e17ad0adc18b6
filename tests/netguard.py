"""A guard that makes any connection off the loopback fail loudly in tests.

pydantic-ai's ``ALLOW_MODEL_REQUESTS`` idea, enforced lower down: httpx's real transports refuse
a non-loopback host before resolving it, and sockets refuse to resolve or connect to one, so no
client (httpx, aiohttp, urllib) can reach the network. In-process transports such as
`llmframe.providers.echo.EchoTransport` never get here and keep working.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest


class NetworkBlocked(RuntimeError):
    """A test tried to leave the loopback; not an `OSError`, so no retry loop swallows it."""


def is_loopback(host: str | bytes | None) -> bool:
    """Whether `host` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(host: Any) -> None:
    if not is_loopback(host):
        msg = f"tests may only connect to the loopback, not {host!r}"
        raise NetworkBlocked(msg)


@contextmanager
def guard_network() -> Iterator[None]:
    """Install the guard for the duration of the block."""
    async_send = httpx.AsyncHTTPTransport.handle_async_request
    sync_send = httpx.HTTPTransport.handle_request
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex
    getaddrinfo = socket.getaddrinfo

    async def guarded_async(self: Any, request: httpx.Request) -> httpx.Response:
        _refuse(request.url.host)
        return await async_send(self, request)

    def guarded_sync(self: Any, request: httpx.Request) -> httpx.Response:
        _refuse(request.url.host)
        return sync_send(self, request)

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(address[0])
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(address[0])
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse(host)
        return getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", guarded_async)
        patch.setattr(httpx.HTTPTransport, "handle_request", guarded_sync)
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        patch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
        yield
