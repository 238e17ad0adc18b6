"""`llmframe.testing.EchoServer`: echo's answers over real HTTP on the loopback, via httpx."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmframe.cli import main
from llmframe.providers.echo import echo_chunks, echo_completion, error_body
from llmframe.query import sql
from llmframe.testing import EchoServer

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}},
    },
}
BODIES = {
    "text": {"model": "gpt-test", "messages": [{"role": "user", "content": "hello there world"}]},
    "system and limit": {
        "model": "big-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "one two three four five six"},
        ],
        "max_tokens": 3,
    },
    "tool call": {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "find the blue mug"}],
        "tools": [TOOL],
    },
    "json schema": {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "Grüße 🎉 from Köln"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with EchoServer() as running:
        yield running


def chat(server: EchoServer, payload: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=payload, **kwargs)


def stream_events(server: EchoServer, payload: dict[str, Any]) -> tuple[httpx.Response, list[str]]:
    """The response and the data of each event of a streamed answer."""
    url = f"{server.base_url}/chat/completions"
    with httpx.stream("POST", url, json={**payload, "stream": True}) as response:
        lines = list(response.iter_lines())
    assert all(line == "" or line.startswith("data: ") for line in lines)
    return response, [line.removeprefix("data: ") for line in lines if line]


# -- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BODIES)
def test_whole_answers_are_echos(server: EchoServer, name: str) -> None:
    response = chat(server, BODIES[name])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == echo_completion(BODIES[name])


@pytest.mark.parametrize("name", BODIES)
@pytest.mark.parametrize("usage", [True, False])
def test_streamed_answers_are_echos_chunks(server: EchoServer, name: str, usage: bool) -> None:
    payload = {**BODIES[name], "stream_options": {"include_usage": usage}}
    response, events = stream_events(server, payload)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    assert events[-1] == "[DONE]"
    assert [json.loads(e) for e in events[:-1]] == echo_chunks({**payload, "stream": True})


def test_a_client_reuses_one_connection_for_many_answers(server: EchoServer) -> None:
    payload = BODIES["text"]
    with httpx.Client(base_url=server.base_url) as client:
        for _ in range(3):
            assert client.post("/chat/completions", json=payload).json() == echo_completion(payload)
            with client.stream("POST", "/chat/completions", json={**payload, "stream": True}) as r:
                assert list(r.iter_lines())[-2:] == ["data: [DONE]", ""]


def test_models_lists_echo(server: EchoServer) -> None:
    response = httpx.get(f"{server.base_url}/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["echo"]


def test_bad_requests_get_openai_shaped_errors(server: EchoServer) -> None:
    url = f"{server.base_url}/chat/completions"
    no_json = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert no_json.status_code == 400
    assert no_json.json() == error_body("the request body is not valid JSON")
    empty = chat(server, {"model": "m", "messages": []})
    assert empty.status_code == 400
    assert empty.json() == error_body("`messages` must be a non-empty list")
    assert chat(server, [1, 2]).status_code == 400
    assert chat(server, {**BODIES["text"], "latency_ms": -1}).status_code == 400
    assert httpx.get(url).status_code == 405
    assert httpx.delete(url).status_code == 405
    assert httpx.post(f"{server.base_url}/completions", json={}).status_code == 404
    assert httpx.get(f"http://127.0.0.1:{server.port}/models").status_code == 404


def test_requests_are_counted() -> None:
    with EchoServer() as server:
        assert server.requests == 0
        chat(server, BODIES["text"])
        stream_events(server, BODIES["text"])
        httpx.get(f"{server.base_url}/models")
        assert server.requests == 3
    assert server.requests == 3
    assert "stopped" in repr(server)


# -- latency and concurrency ------------------------------------------------------------------


def test_latency_is_the_servers_unless_the_body_sets_its_own() -> None:
    with EchoServer(latency_ms=300) as server:
        start = time.monotonic()
        chat(server, BODIES["text"])
        assert time.monotonic() - start >= 0.3
        start = time.monotonic()
        chat(server, {**BODIES["text"], "latency_ms": 0})
        assert time.monotonic() - start < 0.25


def test_a_stream_waits_half_its_latency_before_the_first_chunk() -> None:
    with EchoServer(latency_ms=400) as server:
        url = f"{server.base_url}/chat/completions"
        start = time.monotonic()
        with httpx.stream("POST", url, json={**BODIES["text"], "stream": True}) as response:
            lines = response.iter_lines()
            next(lines)
            first = time.monotonic() - start
            list(lines)
        total = time.monotonic() - start
    assert 0.2 <= first < 0.35
    assert total >= 0.4


def test_concurrent_requests_are_answered_concurrently() -> None:
    async def many(base_url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url) as client:
            calls = [
                client.post("/chat/completions", json={**BODIES["text"], "n": i}) for i in range(20)
            ]
            return await asyncio.gather(*calls)

    with EchoServer(latency_ms=300) as server:
        start = time.monotonic()
        responses = asyncio.run(many(server.base_url))
        elapsed = time.monotonic() - start
    assert [r.status_code for r in responses] == [200] * 20
    assert elapsed < 2.0  # serially it would take 6 s


# -- binding and lifecycle --------------------------------------------------------------------


def test_binds_the_loopback_only_on_an_ephemeral_port(server: EchoServer) -> None:
    url = httpx.URL(server.base_url)
    assert (url.scheme, url.host, url.path) == ("http", "127.0.0.1", "/v1")
    assert url.port == server.port
    assert server.port > 0
    assert server._httpd is not None
    assert server._httpd.socket.getsockname() == ("127.0.0.1", server.port)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_stop_frees_the_port_and_a_given_port_is_used() -> None:
    port = free_port()
    server = EchoServer(port).start()
    assert server.base_url == f"http://127.0.0.1:{port}/v1"
    assert chat(server, BODIES["text"]).status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODIES["text"])
    with socket.socket() as rebind:
        rebind.bind(("127.0.0.1", port))
    with EchoServer(port) as again:
        assert chat(again, BODIES["text"]).status_code == 200
    server.stop()  # stopping twice is harmless


def test_stop_cuts_a_slow_stream_short_and_closes_idle_connections() -> None:
    server = EchoServer(latency_ms=30_000).start()
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        assert client.get("/models").status_code == 200  # leaves an idle keep-alive connection
        with client.stream(
            "POST", "/chat/completions", json={**BODIES["text"], "stream": True}
        ) as response:
            assert response.status_code == 200
            start = time.monotonic()
            server.stop()
            with pytest.raises(httpx.RemoteProtocolError):
                list(response.iter_lines())
    assert time.monotonic() - start < 2


def test_not_running_is_an_error() -> None:
    server = EchoServer()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.base_url
    with server, pytest.raises(RuntimeError, match="already running"):
        server.start()
    with pytest.raises(ValueError, match="latency_ms"):
        EchoServer(latency_ms=-5)


# -- through llmframe -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_a_run_against_the_server_equals_the_in_process_echo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: EchoServer, stream: bool
) -> None:
    source = tmp_path / "prompts.csv"
    source.write_text("id,prompt\na,What is Arrow?\nb,Name three rivers in Spain.\n")
    flags = [] if stream else ["--no-stream"]
    runs = {
        "in-process": ["--model", "echo"],
        "server": ["--model", "openai/echo", "--base-url", server.base_url],
    }
    before = server.requests
    for name, model in runs.items():
        with pytest.raises(SystemExit) as done:
            main(["run", str(source), *model, "--out", str(tmp_path / name), "--quiet", *flags])
        capsys.readouterr()
        assert done.value.code in (0, None)
    query = "select prompt_id, status, text, input_tokens, output_tokens from outputs order by 1"
    rows = sql(tmp_path / "server", query).to_pylist()
    assert rows == sql(tmp_path / "in-process", query).to_pylist()
    assert [r["text"] for r in rows] == [
        "echo: What is Arrow?",
        "echo: Name three rivers in Spain.",
    ]
    assert server.requests == before + 2
