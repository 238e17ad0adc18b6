"""A transport with ``slots`` gets no more calls at once than it has slots; the rest wait
before their attempt starts (so ``--timeout`` and latency count the model's work only)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

import llmframe
from llmframe.providers import endpoints
from llmframe.providers.base import HttpCall, Provider
from llmframe.providers.echo import EchoTransport
from llmframe.providers.endpoints import Endpoint, ModelTarget
from llmframe.transports.base import Reply


class OneAtATime(EchoTransport):
    """echo, taking 50 ms per answer, counting the calls it works on at once."""

    slots = 1
    busy = 0
    most = 0

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        type(self).busy += 1
        type(self).most = max(type(self).most, type(self).busy)
        try:
            await asyncio.sleep(0.05)
            return await super().send(call, target, provider)
        finally:
            type(self).busy -= 1


def test_calls_wait_for_a_slot_and_their_timeout_starts_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = Endpoint("slow", "openai", "in-process://slow", None, transport=OneAtATime)
    monkeypatch.setitem(endpoints.ENDPOINTS, "slow", endpoint)
    # 8 prompts at concurrency 8 take 0.4 s in all; each attempt's 0.3 s timeout holds
    # because it starts when the call gets the slot.
    run = llmframe.run(
        [f"prompt {i}" for i in range(8)],
        model="slow/m",
        concurrency=8,
        timeout=0.3,
        stream=False,
        out=tmp_path / "run",
        progress=False,
    )
    rows = run.outputs().to_dicts()
    assert [row["status"] for row in rows] == ["ok"] * 8
    assert OneAtATime.most == 1


class Prepared(EchoTransport):
    """echo that must be prepared (as llamacpp loads its model) before any call."""

    events: ClassVar[list[str]] = []

    async def prepare(self, target: ModelTarget) -> None:
        type(self).events.append(f"prepare {target.model}")

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        type(self).events.append("send")
        return await super().send(call, target, provider)


def test_a_transport_is_prepared_for_each_model_before_its_first_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = Endpoint("ready", "openai", "in-process://ready", None, transport=Prepared)
    monkeypatch.setitem(endpoints.ENDPOINTS, "ready", endpoint)
    run = llmframe.run(
        ["a", "b", "c"], models=["ready/m1", "ready/m2"], out=tmp_path / "run", progress=False
    )
    assert len(run.outputs()) == 6
    assert Prepared.events[:2] == ["prepare m1", "prepare m2"]
    assert Prepared.events[2:] == ["send"] * 6
    # A finished run has nothing to send: nothing is prepared (no model loaded for nothing).
    Prepared.events.clear()
    llmframe.run(
        ["a", "b", "c"], models=["ready/m1", "ready/m2"], out=tmp_path / "run", progress=False
    )
    assert Prepared.events == []
