"""Suite 6 (issue #8): `rpm` and `tpm` hold in every window, and rate-limit headers are obeyed.

What `llmframe._ratelimit.MinuteBudget` promises is a token bucket's promise: refilled at
``per_minute / 60`` a second and holding at most `capacity` (``burst_seconds`` worth: one request
for `rpm`, one second of tokens for `tpm`), it grants at most ``capacity + rate * T`` in any
window of T seconds, not merely per minute. A request larger than the whole bucket still goes
when the bucket is full, and its debt delays the next ones.

The first test checks that promise exactly, on a simulated clock. The others check what the
loopback server receives from a real run, in windows of a second or a few. A request reaches
the server a moment after the budget lets it go, so their bounds allow one request more than the
bucket: the jitter between the two clocks, never more. The last two give the server a budget that
renews every second and tell llmframe about it only through ``x-ratelimit-*`` headers: the server
then never sees more than that budget in one of its windows.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from openai_server import Fault, OpenAIServer, RateLimits, Received

from llmframe import _ratelimit, runner
from llmframe._launch import RunRequest, launch
from llmframe._ratelimit import MinuteBudget
from llmframe.io import ReadOptions
from llmframe.query import sql
from llmframe.runner import RunOptions, RunSummary

PROMPT_TOKENS = 20
"""Echo's count for each prompt `_write_prompts` writes: 1 plus its 19 words."""
MAX_TOKENS = 20
"""The answer's length: echo keeps this many words of its 20."""
REQUEST_TOKENS = PROMPT_TOKENS + MAX_TOKENS
"""What a request costs, and what the runner reserves for it: its characters / 4 (80 / 4) plus
``max_tokens``, so the estimate is exact and the token budget is tested without slack."""


def _write_prompts(path: Path, count: int) -> dict[str, str]:
    """`count` prompts of 19 words and 80 characters; returns prompt text -> id."""
    ids = {}
    for i in range(count):
        text = " ".join([f"q{i:03d}", *["abcd"] * 4, *["abc"] * 14])
        assert (len(text), len(text.split())) == (4 * PROMPT_TOKENS, PROMPT_TOKENS - 1)
        ids[text] = f"p{i:03d}"
    path.write_text("".join(json.dumps({"id": i, "prompt": t}) + "\n" for t, i in ids.items()))
    return ids


def _run(server: OpenAIServer, tmp_path: Path, count: int, **options: Any) -> RunSummary:
    source = tmp_path / "prompts.jsonl"
    _write_prompts(source, count)
    options.setdefault("backoff_base", 0.01)
    request = RunRequest(
        source=source,
        models=["openai/test-model"],
        out=tmp_path / "run",
        read=ReadOptions(),
        model_options={"max_tokens": MAX_TOKENS},
        options=RunOptions(**options),
        base_url=server.base_url,
    )
    return asyncio.run(launch(request))


def _most_in_window(events: Sequence[tuple[float, float]], seconds: float) -> float:
    """The largest sum of amounts of (time, amount) `events` within `seconds` of each other."""
    events = sorted(events)
    start, total, best = 0, 0.0, 0.0
    for at, amount in events:
        total += amount
        while at - events[start][0] > seconds + 1e-9:
            total -= events[start][1]
            start += 1
        best = max(best, total)
    return best


def _windows(received: Sequence[Received], seconds: float) -> Iterator[list[Received]]:
    """The requests in each of the server's fixed windows (`RateLimits.window`)."""
    origin = received[0].time
    key = lambda r: (r.time - origin) // seconds  # noqa: E731
    for _, group in itertools.groupby(received, key):
        yield list(group)


# -- the bucket, on a simulated clock -------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_minute", "burst_seconds", "amounts"),
    [
        (600, None, [1]),  # --rpm 600: one request at a time, 0.1 s apart
        (600, 2.0, [1]),  # a burst of 20, then 0.1 s apart
        (12_000, 1.0, [1, 7, 40, 150, 200]),  # --tpm 12000: up to 200 tokens at once
        (12_000, 1.0, [40, 500]),  # requests larger than the bucket go into debt
    ],
)
def test_the_bucket_grants_at_most_capacity_plus_rate_in_any_window(
    monkeypatch: pytest.MonkeyPatch,
    per_minute: float,
    burst_seconds: float | None,
    amounts: list[int],
) -> None:
    now = [0.0]
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:  # time passes only when someone waits
        now[0] += max(seconds, 1e-9)  # as a real clock would, however short the sleep
        await real_sleep(0)

    monkeypatch.setattr(_ratelimit.asyncio, "sleep", sleep)
    budget = MinuteBudget(per_minute, burst_seconds=burst_seconds, clock=lambda: now[0])
    pick = random.Random(6)
    wanted = [pick.choice(amounts) for _ in range(300)]
    granted: list[tuple[float, float]] = []

    async def take(amount: int) -> None:
        await budget.acquire(amount)
        granted.append((now[0], amount))

    async def main() -> None:
        await asyncio.gather(*(take(amount) for amount in wanted))

    asyncio.run(main())
    rate = per_minute / 60
    overdraw = max(0.0, max(amounts) - budget.capacity)
    for seconds in (0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 30.0):
        allowed = budget.capacity + rate * seconds + overdraw
        assert _most_in_window(granted, seconds) <= allowed + 1e-6, seconds
    # And the budget is used, not just respected: the grants take no longer than it requires.
    assert now[0] <= (sum(wanted) - budget.capacity) / rate + 1e-6


# -- runs against the loopback server --------------------------------------------------------------


@pytest.fixture
def granted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """When the runner let each attempt go (the moment its budgets granted it) and its prompt."""
    grants: list[tuple[float, str]] = []
    real = runner.attempt

    async def spy(*args: Any, **kwargs: Any) -> Any:
        grants.append((time.monotonic(), args[3].body["messages"][-1]["content"]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(runner, "attempt", spy)
    return grants


def _lag(grants: Sequence[tuple[float, str]], received: Sequence[Received]) -> float:
    """The longest a request took from its grant to the server, each attempt matched to its
    request; there must be as many requests as grants (no resend the budgets did not see)."""
    by_prompt: dict[str | None, list[float]] = defaultdict(list)
    for request in received:
        by_prompt[request.prompt].append(request.time)
    sent: dict[str | None, list[float]] = defaultdict(list)
    for time_, prompt in grants:
        sent[prompt].append(time_)
    assert {p: len(t) for p, t in sent.items()} == {p: len(t) for p, t in by_prompt.items()}
    return max(b - a for p in sent for a, b in zip(sent[p], by_prompt[p], strict=True))


WINDOWS = (0.5, 1.0, 2.5, 5.0)


def test_rpm_holds_in_every_window_retries_included(
    tmp_path: Path, openai_server: OpenAIServer, granted: list[tuple[float, str]]
) -> None:
    rpm, count = 600, 60
    openai_server.rate_limits = None
    openai_server.faults(0.1, seed=6, kinds=[Fault("server_error")])
    summary = _run(openai_server, tmp_path, count, rpm=rpm, concurrency=16)
    assert (summary.ok, summary.errors) == (count, 0)
    assert summary.retries > 0
    received = openai_server.requests
    assert len(received) == count + summary.retries
    rate, capacity = rpm / 60, 1  # the default burst: one request
    lag = _lag(granted, received)
    measured = []
    for seconds in WINDOWS:
        # The budget's promise, exactly: 6, 11, 26 and 51 requests.
        allowed = capacity + rate * seconds
        assert _most_in_window([(t, 1) for t, _ in granted], seconds) <= allowed, seconds
        # What the server saw: the same, but for requests a grant and its arrival apart.
        measured.append(openai_server.max_in_window(seconds))
        assert measured[-1] <= math.floor(capacity + rate * (seconds + lag)), (seconds, lag)
    span = received[-1].time - received[0].time
    print(
        f"\nrpm {rpm}: {len(received)} requests ({summary.retries} retries) over {span:.1f} s; "
        f"most the server saw in any {'/'.join(f'{s:g}' for s in WINDOWS)} s: "
        f"{'/'.join(map(str, measured))} (budget 6/11/26/51); lag {lag * 1000:.0f} ms at most"
    )


def test_tpm_holds_in_every_window(
    tmp_path: Path, openai_server: OpenAIServer, granted: list[tuple[float, str]]
) -> None:
    tpm, count = 12_000, 40
    openai_server.rate_limits = None
    summary = _run(openai_server, tmp_path, count, tpm=tpm, concurrency=8)
    assert (summary.ok, summary.errors) == (count, 0)
    rows = sql(tmp_path / "run", "select input_tokens, output_tokens from responses").to_pylist()
    assert {(r["input_tokens"], r["output_tokens"]) for r in rows} == {(PROMPT_TOKENS, MAX_TOKENS)}
    received = openai_server.requests
    assert {r.prompt_tokens for r in received} == {PROMPT_TOKENS}
    rate = capacity = tpm / 60  # the token bucket holds one second
    lag = _lag(granted, received)
    served = [(r.time, REQUEST_TOKENS) for r in received]  # prompt and answer, at arrival
    prompts = [(r.time, r.prompt_tokens) for r in received]  # what the server counts
    measured = []
    for seconds in WINDOWS:
        # The budget's promise, exactly: 300, 400, 700 and 1200 tokens.
        allowed = capacity + rate * seconds
        grants = [(t, REQUEST_TOKENS) for t, _ in granted]
        assert _most_in_window(grants, seconds) <= allowed, seconds
        # What the server saw: the same, but for requests a grant and its arrival apart.
        measured.append(_most_in_window(served, seconds))
        assert measured[-1] <= capacity + rate * (seconds + lag), (seconds, lag)
        assert _most_in_window(prompts, seconds) <= measured[-1] * PROMPT_TOKENS / REQUEST_TOKENS
    span = received[-1].time - received[0].time
    print(
        f"\ntpm {tpm}: {count} requests of {REQUEST_TOKENS} tokens over {span:.1f} s; most "
        f"tokens the server saw in any {'/'.join(f'{s:g}' for s in WINDOWS)} s: "
        f"{'/'.join(f'{v:g}' for v in measured)} (budget 300/400/700/1200); "
        f"lag {lag * 1000:.0f} ms at most"
    )


@pytest.mark.parametrize("kind", ["requests", "tokens"])
def test_headers_saying_the_budget_is_nearly_spent_pause_until_it_renews(
    tmp_path: Path, openai_server: OpenAIServer, kind: str
) -> None:
    window, count = 1.0, 50
    if kind == "requests":
        openai_server.rate_limits = RateLimits(limit_requests=10, window=window)
        cost, limit = (lambda r: 1), 10
    else:
        openai_server.rate_limits = RateLimits(limit_tokens=200, window=window)
        cost, limit = (lambda r: r.prompt_tokens), 200
    summary = _run(openai_server, tmp_path, count, concurrency=8)
    assert (summary.ok, summary.errors) == (count, 0)
    received = openai_server.requests
    used = [sum(cost(r) for r in group) for group in _windows(received, window)]
    assert max(used) <= limit, used
    assert len(used) >= math.ceil(count * cost(received[0]) / limit)
    print(f"\n{kind} budget {limit} a second, from headers only: used per second {used}")
