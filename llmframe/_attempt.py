"""One attempt: send a provider's call through a transport, read the answer, translate failures.

Every transport and parser failure leaves here as `AttemptFailed` carrying an `ErrorVerdict`, so
the runner's retry loop has one thing to look at. The transport adds credentials last; they
never appear in anything this module raises.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from llmframe.errors import ProviderError, UnexpectedResponse
from llmframe.providers.base import Completion, ErrorVerdict, HttpCall, Provider, SseEvent
from llmframe.providers.endpoints import ModelTarget
from llmframe.transports.base import Transport
from llmframe.transports.http import connection_failure

__all__ = ["AttemptFailed", "AttemptResult", "attempt"]


@dataclass(frozen=True)
class AttemptResult:
    """A successful attempt."""

    completion: Completion
    http_status: int
    latency_ms: float
    ttft_ms: float | None
    headers: Mapping[str, str]


class AttemptFailed(Exception):
    """A failed attempt and how to treat it."""

    def __init__(
        self,
        verdict: ErrorVerdict,
        *,
        http_status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict
        self.http_status = http_status
        self.headers = headers or {}


_TIMED_OUT = "timed out"
_SHORTEST_SECRET = 4
"""Shorter header values (``1``, ``no``) are not masked: they would garble every message."""
_CONNECTION_FAILED = "connection failed"


def _detail(exc: BaseException) -> str:
    """`exc`'s text, else its class and the first text down its causes.

    httpx's ``ReadError`` on a reset has no text: ``ReadError: [Errno 104] Connection reset by
    peer`` says what happened.
    """
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if str(cause):
            return str(cause) if cause is exc else f"{type(exc).__name__}: {cause}"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def _without_credentials(verdict: ErrorVerdict, target: ModelTarget) -> ErrorVerdict:
    """`verdict` with the target's key and header values masked: a server may say them back."""
    secrets = [target.api_key or "", *(target.headers or {}).values()]
    message = verdict.message
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _SHORTEST_SECRET:
            message = message.replace(secret, "***")
    return dataclasses.replace(verdict, message=message) if message != verdict.message else verdict


def _transport_failure(kind: str, exc: BaseException) -> AttemptFailed:
    verdict = ErrorVerdict(
        retryable=True, error_type="ProviderTransportError", message=f"{kind}: {_detail(exc)}"
    )
    return AttemptFailed(verdict)


@contextmanager
def _translated() -> Iterator[None]:
    """Turn httpx and parser exceptions into `AttemptFailed` (the one place that does)."""
    try:
        yield
    except AttemptFailed:
        raise
    except httpx.TimeoutException as exc:
        kind = _CONNECTION_FAILED if connection_failure(exc) else _TIMED_OUT
        raise _transport_failure(kind, exc) from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise _transport_failure(_CONNECTION_FAILED, exc) from exc
    except UnexpectedResponse as exc:
        verdict = ErrorVerdict(retryable=True, error_type="UnexpectedResponse", message=str(exc))
        raise AttemptFailed(verdict) from exc
    except ProviderError as exc:
        verdict = getattr(exc, "verdict", None) or ErrorVerdict(
            retryable=False, error_type=type(exc).__name__, message=str(exc)
        )
        raise AttemptFailed(verdict) from exc


async def _read_stream(
    events: AsyncIterator[SseEvent], provider: Provider, started: float
) -> tuple[Completion, float | None]:
    parser = provider.stream_parser()
    ttft: float | None = None
    async for event in events:
        for _delta in parser.feed(event):
            if ttft is None:
                ttft = (time.perf_counter() - started) * 1000
    return parser.finish(), ttft


async def attempt(
    transport: Transport,
    target: ModelTarget,
    provider: Provider,
    call: HttpCall,
    *,
    timeout: float,
) -> AttemptResult:
    """Make one attempt of `call`, bounded by `timeout` seconds from start to the last byte."""
    seen: dict[str, int] = {}
    try:
        return await asyncio.wait_for(_attempt(transport, target, provider, call, seen), timeout)
    except AttemptFailed as failure:
        failure.verdict = _without_credentials(failure.verdict, target)
        raise
    except asyncio.TimeoutError as exc:
        late = TimeoutError(f"no complete answer within {timeout:g}s")
        failure = _transport_failure(_TIMED_OUT, late)
        failure.http_status = seen.get("status")  # a stream that stalled after its headers
        raise failure from exc


async def _attempt(
    transport: Transport,
    target: ModelTarget,
    provider: Provider,
    call: HttpCall,
    seen: dict[str, int],
) -> AttemptResult:
    started = time.perf_counter()
    status: int | None = None
    try:
        with _translated():
            reply = await transport.send(call, target, provider)
            try:
                status = seen["status"] = reply.status
                if status >= 400:
                    verdict = provider.classify_error(status, reply.headers, await reply.read())
                    raise AttemptFailed(verdict, http_status=status, headers=reply.headers)
                if reply.events is not None:
                    completion, ttft = await _read_stream(reply.events, provider, started)
                else:
                    completion, ttft = provider.parse_body(await reply.read()), None
            finally:
                await reply.aclose()
    except AttemptFailed as exc:
        exc.http_status = exc.http_status or status
        raise
    latency = (time.perf_counter() - started) * 1000
    return AttemptResult(completion, status, latency, ttft, reply.headers)
