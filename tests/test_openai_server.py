"""The loopback OpenAI test server: answers, every fault kind, the log, and the network guard."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
from typing import Any

import httpx
import pytest
from netguard import NetworkBlocked, is_loopback
from openai_server import Fault, OpenAIServer, RateLimits

from llmframe.providers.echo import echo_chunks, echo_completion

KEY = "Bearer sk-test-sentinel-0123456789"


def body(prompt: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": prompt}], **extra}


def client(server: OpenAIServer, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": KEY}, **kwargs)


async def post(server: OpenAIServer, payload: Any, **kwargs: Any) -> httpx.Response:
    async with client(server) as http:
        return await http.post("/chat/completions", json=payload, **kwargs)


def send(server: OpenAIServer, payload: Any, **kwargs: Any) -> httpx.Response:
    return asyncio.run(post(server, payload, **kwargs))


async def read_stream(
    server: OpenAIServer, payload: dict[str, Any], **kwargs: Any
) -> tuple[list[str], list[float], Exception | None]:
    """Data lines of a stream, when each arrived after the headers, and the error that ended it."""
    lines: list[str] = []
    times: list[float] = []
    async with client(server) as http:
        try:
            async with http.stream("POST", "/chat/completions", json=payload, **kwargs) as resp:
                assert resp.status_code == 200
                assert resp.headers["content-type"] == "text/event-stream"
                start = time.monotonic()
                async for line in resp.aiter_lines():
                    if line:
                        lines.append(line.removeprefix("data: "))
                        times.append(time.monotonic() - start)
        except httpx.TransportError as exc:
            return lines, times, exc
    return lines, times, None


def stream(server: OpenAIServer, payload: dict[str, Any], **kwargs: Any) -> Any:
    return asyncio.run(read_stream(server, {**payload, "stream": True}, **kwargs))


# -- happy path --------------------------------------------------------------------------------


def test_binds_loopback_on_an_ephemeral_port(openai_server: OpenAIServer) -> None:
    url = httpx.URL(openai_server.base_url)
    assert url.host == "127.0.0.1"
    assert url.port not in (None, 80)
    assert url.path == "/v1"


def test_whole_answer_is_echos(openai_server: OpenAIServer) -> None:
    payload = body(max_tokens=50)
    response = send(openai_server, payload)
    assert response.status_code == 200
    assert response.json() == echo_completion(payload)


def test_stream_is_echos(openai_server: OpenAIServer) -> None:
    payload = body(stream_options={"include_usage": True})
    lines, _, error = stream(openai_server, payload)
    assert error is None
    assert lines[-1] == "[DONE]"
    assert [json.loads(x) for x in lines[:-1]] == echo_chunks({**payload, "stream": True})


def test_bad_body_and_unknown_route(openai_server: OpenAIServer) -> None:
    bad = send(openai_server, {"model": "m"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "`messages` must be a non-empty list"

    async def other() -> httpx.Response:
        async with client(openai_server) as http:
            return await http.get("/models")

    assert asyncio.run(other()).status_code == 404
    assert [(r.method, r.path) for r in openai_server.requests] == [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
    ]


def test_server_latency_and_body_latency(openai_server: OpenAIServer) -> None:
    openai_server.latency_ms = 250
    start = time.monotonic()
    assert send(openai_server, body()).status_code == 200
    assert time.monotonic() - start >= 0.24
    openai_server.latency_ms = 60_000  # the body's own latency_ms wins
    fast = send(openai_server, body(latency_ms=0), timeout=httpx.Timeout(10, read=5))
    assert fast.status_code == 200


def test_stream_latency_delays_first_chunk(openai_server: OpenAIServer) -> None:
    openai_server.latency_ms = 300
    start = time.monotonic()
    lines, _, _ = stream(openai_server, body())
    assert lines[-1] == "[DONE]"
    assert time.monotonic() - start >= 0.29


# -- log and counters ---------------------------------------------------------------------------


def test_log_records_requests_without_the_key(openai_server: OpenAIServer) -> None:
    before = time.monotonic()
    send(openai_server, body("first"))
    send(openai_server, body("second"))
    send(openai_server, body("first"))
    log = openai_server.requests
    assert [r.number for r in log] == [1, 2, 3]
    assert [r.prompt for r in log] == ["first", "second", "first"]
    assert log[0].method == "POST"
    assert log[0].path == "/v1/chat/completions"
    assert log[0].body == body("first")
    assert log[0].prompt_tokens == 2
    assert log[0].fault is None
    assert before <= log[0].time <= log[1].time <= log[2].time <= time.monotonic()
    assert "authorization" not in log[0].headers
    assert log[0].headers["content-type"] == "application/json"
    assert KEY not in repr(log)
    assert openai_server.authorization == [KEY, KEY, KEY]
    assert openai_server.count == 3
    assert openai_server.count_for("first") == 2
    assert openai_server.count_for("third") == 0


def test_reset_forgets(openai_server: OpenAIServer) -> None:
    openai_server.plan("server_error", times=None)
    openai_server.latency_ms = 10
    send(openai_server, body())
    openai_server.reset()
    assert openai_server.count == 0
    assert openai_server.authorization == []
    assert openai_server.latency_ms == 0
    assert send(openai_server, body()).status_code == 200


def test_sliding_window_and_concurrency(openai_server: OpenAIServer) -> None:
    for _ in range(3):
        send(openai_server, body())
    assert openai_server.max_in_window(60) == 3
    assert openai_server.max_in_window(1e-9) == 1
    assert openai_server.max_concurrent == 1

    async def together() -> list[int]:
        async with client(openai_server) as http:
            calls = [http.post("/chat/completions", json=body(latency_ms=500)) for _ in range(5)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert asyncio.run(together()) == [200] * 5
    assert openai_server.max_concurrent == 5


def test_rate_limit_headers_count_down(openai_server: OpenAIServer) -> None:
    first = send(openai_server, body("a b c"))  # 1 + 3 prompt tokens
    second = send(openai_server, body("a b c"))
    assert first.headers["x-ratelimit-limit-requests"] == "10000"
    assert first.headers["x-ratelimit-remaining-requests"] == "9999"
    assert second.headers["x-ratelimit-remaining-requests"] == "9998"
    assert first.headers["x-ratelimit-remaining-tokens"] == str(1_000_000 - 4)
    assert second.headers["x-ratelimit-remaining-tokens"] == str(1_000_000 - 8)
    assert first.headers["x-ratelimit-reset-requests"] == "1s"


def test_rate_limit_headers_configured(openai_server: OpenAIServer) -> None:
    openai_server.rate_limits = RateLimits(
        limit_requests=60, remaining_requests=1, remaining_tokens=12, reset_tokens="250ms"
    )
    headers = send(openai_server, body()).headers
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-remaining-requests"] == "1"
    assert headers["x-ratelimit-remaining-tokens"] == "12"
    assert headers["x-ratelimit-reset-tokens"] == "250ms"
    openai_server.rate_limits = None
    assert "x-ratelimit-remaining-requests" not in send(openai_server, body()).headers


# -- status faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "error_type", "code"),
    [
        ("rate_limit", 429, "requests", "rate_limit_exceeded"),
        ("quota", 429, "insufficient_quota", "insufficient_quota"),
        ("bad_request", 400, "invalid_request_error", None),
        ("unauthorized", 401, "invalid_request_error", "invalid_api_key"),
        ("server_error", 500, "server_error", None),
        ("unavailable", 503, "server_error", None),
        ("overloaded", 529, "overloaded_error", None),
    ],
)
def test_status_faults(
    openai_server: OpenAIServer, kind: Any, status: int, error_type: str, code: str | None
) -> None:
    openai_server.plan(kind, times=2)
    for streamed in (False, True):  # errors come before any stream starts
        response = send(openai_server, body(stream=streamed))
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["type"] == error_type
        assert response.json()["error"]["code"] == code
        assert "x-ratelimit-remaining-requests" in response.headers
    assert [r.fault for r in openai_server.requests] == [kind, kind]
    assert send(openai_server, body()).status_code == 200


def test_bad_gateway_is_html(openai_server: OpenAIServer) -> None:
    openai_server.plan("bad_gateway")
    response = send(openai_server, body())
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content


@pytest.mark.parametrize(("wait", "header"), [(2, "2"), (0.25, "0.25"), (0, "0")])
def test_retry_after_seconds(openai_server: OpenAIServer, wait: float, header: str) -> None:
    openai_server.plan(Fault("rate_limit", retry_after=wait))
    assert send(openai_server, body()).headers["retry-after"] == header


def test_rate_limit_without_retry_header(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("rate_limit", retry_after=None))
    response = send(openai_server, body())
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert "retry-after-ms" not in response.headers


def test_retry_after_http_date(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("rate_limit_date", retry_after=3))
    before = time.time()
    response = send(openai_server, body())
    after = time.time()
    assert response.status_code == 429
    when = email.utils.parsedate_to_datetime(response.headers["retry-after"]).timestamp()
    assert before + 3 <= when <= after + 4


def test_retry_after_ms(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("rate_limit_ms", retry_after=1.5))
    response = send(openai_server, body())
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "1500"
    assert "retry-after" not in response.headers


def test_fault_extra_headers_and_delay(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("unavailable", headers={"retry-after": "7"}, delay=0.2))
    start = time.monotonic()
    response = send(openai_server, body())
    assert time.monotonic() - start >= 0.19
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"


# -- connection and stream faults ---------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
def test_reset(openai_server: OpenAIServer, streamed: bool) -> None:
    openai_server.plan("reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        send(openai_server, body(stream=streamed))
    assert send(openai_server, body()).status_code == 200


@pytest.mark.parametrize("streamed", [False, True])
def test_hang_trips_the_client_timeout(openai_server: OpenAIServer, streamed: bool) -> None:
    openai_server.plan("hang")
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        send(openai_server, body(stream=streamed), timeout=httpx.Timeout(5, read=0.2))
    assert time.monotonic() - start >= 0.19


def test_stall_mid_stream(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("stall", after_chunks=3))
    lines, _, error = stream(openai_server, body(), timeout=httpx.Timeout(5, read=0.2))
    assert isinstance(error, httpx.ReadTimeout)
    assert len(lines) == 3


def test_stall_whole_body(openai_server: OpenAIServer) -> None:
    openai_server.plan("stall")
    with pytest.raises(httpx.ReadTimeout):
        send(openai_server, body(), timeout=httpx.Timeout(5, read=0.2))


def test_cut_stream(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("cut", after_chunks=2))
    lines, _, error = stream(openai_server, body("one two three four"))
    assert isinstance(error, httpx.RemoteProtocolError)
    assert [json.loads(x)["choices"][0]["delta"] for x in lines] == [
        {"role": "assistant", "content": ""},
        {"content": "echo:"},
    ]


def test_cut_whole_body(openai_server: OpenAIServer) -> None:
    openai_server.plan("cut")
    with pytest.raises(httpx.RemoteProtocolError):
        send(openai_server, body())


def test_truncated_stream_ends_cleanly_but_early(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("truncated", after_chunks=3))
    lines, _, error = stream(openai_server, body("one two three four"))
    assert error is None
    assert len(lines) == 3
    assert "[DONE]" not in lines
    assert all(json.loads(x)["choices"][0]["finish_reason"] is None for x in lines)


def test_truncated_whole_body(openai_server: OpenAIServer) -> None:
    openai_server.plan("truncated")
    response = send(openai_server, body())
    assert response.status_code == 200
    whole = json.dumps(echo_completion(body())).encode()
    assert response.content == whole[: len(whole) // 2]


def test_malformed_stream(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("malformed", after_chunks=1))
    lines, _, error = stream(openai_server, body())
    assert error is None
    assert lines[-1] == "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[1])
    rest = [json.loads(x) for i, x in enumerate(lines[:-1]) if i != 1]
    assert rest == echo_chunks(body(stream=True))


def test_malformed_whole_body(openai_server: OpenAIServer) -> None:
    openai_server.plan("malformed")
    response = send(openai_server, body())
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slow_first_token(openai_server: OpenAIServer) -> None:
    openai_server.plan(Fault("slow_first_token", delay=0.3))
    lines, times, error = stream(openai_server, body())
    assert error is None
    assert lines[-1] == "[DONE]"
    assert times[0] >= 0.29  # measured from the response headers


# -- choosing faults ----------------------------------------------------------------------------


def statuses(server: OpenAIServer, prompts: list[str]) -> list[int]:
    async def run() -> list[int]:
        async with client(server) as http:
            out = []
            for prompt in prompts:
                response = await http.post("/chat/completions", json=body(prompt))
                out.append(response.status_code)
            return out

    return asyncio.run(run())


def test_plan_by_prompt_with_times(openai_server: OpenAIServer) -> None:
    openai_server.plan("unavailable", prompt="b", times=2)
    assert statuses(openai_server, ["a", "b", "b", "a", "b"]) == [200, 503, 503, 200, 200]
    assert openai_server.count_for("b") == 3


def test_plan_by_request_number_and_forever(openai_server: OpenAIServer) -> None:
    openai_server.plan("server_error", request=2)
    openai_server.plan("bad_request", prompt="never", times=None)
    got = statuses(openai_server, ["x", "x", "never", "x", "never"])
    assert got == [200, 500, 400, 200, 400]


def test_script(openai_server: OpenAIServer) -> None:
    send(openai_server, body())
    openai_server.script("rate_limit", None, "overloaded")
    assert statuses(openai_server, ["a", "b", "c", "d"]) == [429, 200, 529, 200]


def test_rules_go_in_order_and_none_shields(openai_server: OpenAIServer) -> None:
    openai_server.plan(None, prompt="safe", times=None)
    openai_server.plan("server_error", times=None)
    assert statuses(openai_server, ["safe", "other", "safe"]) == [200, 500, 200]


def test_random_faults_are_per_prompt_and_order_free(openai_server: OpenAIServer) -> None:
    prompts = [f"p{i}" for i in range(30)]
    openai_server.faults(0.5, seed=7, kinds=["server_error"])
    forward = dict(zip(prompts, statuses(openai_server, prompts), strict=True))
    openai_server.reset()
    openai_server.faults(0.5, seed=7, kinds=["server_error"])
    backward = dict(zip(prompts[::-1], statuses(openai_server, prompts[::-1]), strict=True))
    assert forward == backward
    assert set(forward.values()) == {200, 500}
    openai_server.reset()
    openai_server.faults(0.5, seed=8, kinds=["server_error"])
    assert dict(zip(prompts, statuses(openai_server, prompts), strict=True)) != forward


def test_random_faults_rate_bounds_and_kinds(openai_server: OpenAIServer) -> None:
    openai_server.faults(1.0, kinds=[Fault("rate_limit", retry_after=0), "overloaded"])
    got = statuses(openai_server, [f"q{i}" for i in range(20)])
    assert set(got) == {429, 529}
    openai_server.faults(0)
    assert statuses(openai_server, ["q0", "q1"]) == [200, 200]


def test_retries_of_a_prompt_get_fresh_draws(openai_server: OpenAIServer) -> None:
    openai_server.faults(0.5, seed=1, kinds=["server_error"])
    got = statuses(openai_server, ["same"] * 12)
    assert set(got) == {200, 500}


def test_unknown_fault_kind() -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'teapot'"):
        Fault("teapot")  # type: ignore[arg-type]


# -- network guard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


# 0.0.0.0 is refused by the guard, yet would stay on this machine if the guard were missing.


def test_guard_refuses_httpx_off_loopback(openai_server: OpenAIServer) -> None:
    port = httpx.URL(openai_server.base_url).port
    with pytest.raises(NetworkBlocked):
        asyncio.run(post_to(f"http://0.0.0.0:{port}/v1/chat/completions"))
    with pytest.raises(NetworkBlocked), httpx.Client() as sync:
        sync.post(f"http://0.0.0.0:{port}/v1/chat/completions", json=body())
    assert openai_server.count == 0


async def post_to(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(url, json=body())


def test_guard_refuses_sockets_off_loopback(openai_server: OpenAIServer) -> None:
    port = httpx.URL(openai_server.base_url).port
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("0.0.0.0", port), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("0.0.0.0", port)
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
