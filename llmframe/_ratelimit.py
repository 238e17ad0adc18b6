"""Request and token budgets per minute, and the provider's rate-limit headers read as advice."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping

__all__ = ["MinuteBudget", "RateLimits", "parse_reset"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None) -> float | None:
    """Seconds from an ``x-ratelimit-reset-*`` value such as ``"20ms"``, ``"1.5s"``, ``"6m0s"``."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


class MinuteBudget:
    """A token bucket refilled at `per_minute`, holding at most `burst_seconds` worth.

    A small bucket keeps every window within the budget, not just whole minutes: with rpm=600 and
    the default burst of one request, requests are paced 0.1 s apart. `acquire(n)` waits until `n`
    fits; `adjust(delta)` corrects an estimate once the real count is known (a negative balance
    makes later callers wait longer).
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        seconds = burst_seconds if burst_seconds is not None else 60 / per_minute
        self.capacity = max(1.0, per_minute * seconds / 60)
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.per_minute / 60)
        self._stamp = now

    async def acquire(self, amount: float) -> None:
        """Wait until `amount` fits (or the bucket is full), then take it all; debt is allowed."""
        needed = min(amount, self.capacity)
        async with self._lock:
            while True:
                self._refill()
                if self._level >= needed:
                    self._level -= amount
                    return
                await asyncio.sleep((needed - self._level) * 60 / self.per_minute)

    def adjust(self, delta: float) -> None:
        """Take `delta` more (or give back, when negative) after the fact."""
        self._refill()
        self._level = min(self.capacity, self._level - delta)


class RateLimits:
    """The run's request and token budgets, plus pauses the provider asked for in its headers."""

    def __init__(self, *, rpm: float | None, tpm: float | None) -> None:
        self.requests = MinuteBudget(rpm) if rpm else None
        self.tokens = MinuteBudget(tpm, burst_seconds=1.0) if tpm else None
        self._resume_at = 0.0

    async def acquire(self, estimated_tokens: int) -> None:
        """Wait for a request slot, the estimated tokens, and any pause the provider asked for."""
        delay = self._resume_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(estimated_tokens)

    def settle(self, estimated_tokens: int, actual_tokens: int | None) -> None:
        """Correct the token budget once usage is known."""
        if self.tokens is not None and actual_tokens is not None:
            self.tokens.adjust(actual_tokens - estimated_tokens)

    def observe(
        self, headers: Mapping[str, str], *, in_flight: int, in_flight_tokens: int = 0
    ) -> None:
        """Read ``x-ratelimit-remaining-*``: pause until reset when the budget is nearly spent.

        Nearly spent: no more left than the requests (or estimated tokens) still in flight
        would take.
        """
        for kind in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
            try:
                left = int(remaining) if remaining is not None else None
            except ValueError:
                left = None
            threshold = in_flight if kind == "requests" else in_flight_tokens
            if left is not None and reset is not None and left <= threshold:
                self._resume_at = max(self._resume_at, time.monotonic() + min(reset, 60.0))
