"""Fixtures shared by the suite: the network guard and the loopback OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netguard import guard_network
from openai_server import OpenAIServer


@pytest.fixture(scope="session", autouse=True)
def _no_network() -> Iterator[None]:
    """Every test runs with connections off the loopback refused (see `netguard`)."""
    with guard_network():
        yield


@pytest.fixture(scope="session")
def openai_server_session() -> Iterator[OpenAIServer]:
    """One loopback OpenAI server for the whole session; prefer `openai_server`."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def openai_server(openai_server_session: OpenAIServer) -> OpenAIServer:
    """The session's loopback OpenAI server, reset for this test (no rules, empty log)."""
    openai_server_session.reset()
    return openai_server_session
