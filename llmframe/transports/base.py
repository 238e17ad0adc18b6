"""The transport contract: an `HttpCall` in, a `Reply` (status, headers, body or events) out."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from llmframe.providers.base import HttpCall, Provider, SseEvent
    from llmframe.providers.endpoints import ModelTarget

__all__ = ["Reply", "Transport"]


@dataclass
class Reply:
    """A model's answer to one call: its status and headers, then a body or a stream of events.

    The body is read (`read`) or the events iterated only after the status is known, so a body
    cut off mid-way is a failure of a call whose status was seen. `aclose` releases what the
    reply holds (an HTTP response, the thread generating tokens); the runner always calls it.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    """The whole body when it is already at hand (in-process models)."""
    events: AsyncGenerator[SseEvent, None] | None = None
    """The events of a streamed answer (status < 400 and ``call.stream``), already framed."""
    reader: Callable[[], Awaitable[bytes]] | None = None
    """Reads the whole body when it is not at hand yet (HTTP)."""
    closer: Callable[[], Awaitable[None]] | None = None
    """Releases the reply's resources (HTTP: the response)."""

    async def read(self) -> bytes:
        """The whole body (a non-streamed answer, or an error's)."""
        if self.body is None and self.reader is not None:
            self.body = await self.reader()
        return self.body or b""

    async def aclose(self) -> None:
        """Stop the stream, if any, and release the reply; safe to call twice."""
        try:
            if self.events is not None:
                await self.events.aclose()
        finally:
            if self.closer is not None:
                await self.closer()


class Transport(Protocol):
    """Sends calls to one endpoint's models; one instance per endpoint and run.

    An optional attribute ``slots: int`` says how many calls it can work on at once (an
    in-process model on the CPU: 1). The runner then keeps the others waiting before their
    attempt starts, so latency, time to first token and ``--timeout`` count the model's work,
    not the queue. Without it, a transport takes as many calls as the run's concurrency.
    An optional ``async prepare(target)`` is awaited once per model before the run's first
    request (an in-process model loads its weights there, outside any attempt's timing).
    """

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        """Send `call` for `target`, adding its credentials last.

        Raise `httpx.TransportError`/`httpx.TimeoutException` (or an `llmframe.errors`
        ``ProviderError``) for a failure with no reply; the runner times the whole attempt.
        `provider` frames a streamed body (`Provider.stream_decoder`).
        """
        ...

    async def aclose(self) -> None:
        """Release connections, threads or models; called once, at the end of the run."""
        ...
