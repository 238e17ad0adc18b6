"""`HttpTransport`: proxies from the environment, looked up once per base URL; bodies."""

from __future__ import annotations

import asyncio

import pytest
from openai_server import OpenAIServer

from llmframe._attempt import AttemptFailed, attempt
from llmframe.providers.base import HttpCall
from llmframe.providers.endpoints import resolve_model
from llmframe.providers.openai import OpenAIChat
from llmframe.transports.http import HttpTransport


def _proxy_of(transport: HttpTransport, base_url: str) -> str | None:
    proxy = transport._pool(base_url).proxy
    return None if proxy is None else str(proxy.url)


def test_the_environment_names_the_proxy_and_no_proxy_bypasses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    transport = HttpTransport(concurrency=4, timeout=5)
    try:
        assert _proxy_of(transport, "https://api.example.com/v1") == "http://127.0.0.1:3128"
        pool = transport._pool("https://api.example.com/v1")
        assert pool.proxy is not None
        assert pool.proxy.auth == ("user", "secret")
        assert _proxy_of(transport, "https://internal.example/v1") is None
        assert _proxy_of(transport, "http://127.0.0.1:8000/v1") is None  # no http proxy set
        # One pool per proxy, whatever the number of base URLs behind it.
        assert transport._pool("https://other.example.com") is pool
    finally:
        asyncio.run(transport.aclose())


def test_a_body_json_cannot_carry_fails_the_attempt_without_sending(
    openai_server: OpenAIServer,
) -> None:
    """The manifest refuses NaN options first; a NaN from anywhere else is an error, not sent."""
    target = resolve_model("openai/test-model", base_url=openai_server.base_url)
    call = HttpCall("POST", "/chat/completions", {"temperature": float("nan")}, stream=False)
    transport = HttpTransport(concurrency=1, timeout=5)

    async def send() -> None:
        try:
            await attempt(transport, target, OpenAIChat(), call, timeout=5)
        finally:
            await transport.aclose()

    with pytest.raises(AttemptFailed, match="cannot be sent as JSON") as failed:
        asyncio.run(send())
    assert not failed.value.verdict.retryable
    assert openai_server.requests == []
