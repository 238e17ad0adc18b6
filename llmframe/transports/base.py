"""The transport contract: an `HttpCall` in, a `Reply` (status, headers, body or events) out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from llmframe.providers.base import HttpCall, Provider, SseEvent
    from llmframe.providers.endpoints import ModelTarget

__all__ = ["Reply", "Transport"]


@dataclass
class Reply:
    """A model's answer to one call: a whole body, or a stream of framed events.

    A streamed reply's `events` is an async generator: closing it (``aclose``) releases what it
    holds (the HTTP response, the thread generating tokens), and the runner always closes it.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    """The whole body: a non-streamed answer, or an error (any status >= 400)."""
    events: AsyncIterator[SseEvent] | None = None
    """The events of a streamed answer (status < 400 and ``call.stream``), already framed."""


class Transport(Protocol):
    """Sends calls to one endpoint's models; one instance per endpoint and run."""

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
