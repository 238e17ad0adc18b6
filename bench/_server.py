"""A minimal loopback OpenAI-compatible server for the throughput benchmark (`bench/run.py`).

``POST /v1/chat/completions`` answers every request with the same precomputed body: a
``chat.completion`` JSON, or, when the request asks to stream, a whole SSE body of
``chat.completion.chunk`` events (made by `llmframe.providers.echo`, so every client parses
real OpenAI shapes). The request body is read but not parsed: a substring test picks the
mode, so the server spends almost nothing per request. An optional fixed latency is an
``asyncio.sleep`` before answering.

Run it in its own process so it does not share the GIL with the clients:

    python bench/_server.py [--latency-ms 0] [--port 0]

It prints ``PORT <n>`` once it listens, and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from llmframe.providers.echo import DONE, echo_chunks, echo_completion, sse_event

SAMPLE = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Say hello number 12345"}],
    "stream_options": {"include_usage": True},
}
STREAM_MARKERS = (b'"stream":true', b'"stream": true')


def bodies() -> tuple[bytes, bytes]:
    """The precomputed JSON body and SSE body every request is answered with."""
    import json

    completion = json.dumps(echo_completion(SAMPLE), separators=(",", ":")).encode()
    sse = b"".join(sse_event(chunk) for chunk in echo_chunks(SAMPLE)) + DONE
    return completion, sse


def make_app(latency: float) -> web.Application:
    """The aiohttp app: one route, no middleware, no parsing."""
    completion, sse = bodies()
    json_headers = {"Content-Type": "application/json"}
    sse_headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}

    async def chat(request: web.Request) -> web.Response:
        raw = await request.read()
        if latency > 0:
            await asyncio.sleep(latency)
        if any(marker in raw for marker in STREAM_MARKERS):
            return web.Response(body=sse, headers=sse_headers)
        return web.Response(body=completion, headers=json_headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def serve(port: int, latency: float) -> None:
    """Listen on 127.0.0.1:`port` (0 picks one), print it, and serve forever."""
    runner = web.AppRunner(make_app(latency), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main() -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.latency_ms / 1000))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
