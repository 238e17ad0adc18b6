"""The reference clients of the throughput benchmark, each run in its own process.

    python bench/_clients.py {raw,openai} --url URL --n N --concurrency C [--stream]

``raw`` is the ceiling: one aiohttp session, `C` workers posting the request body and reading
the whole response, nothing else. ``openai`` is what a user would write instead of llmframe:
``openai.AsyncOpenAI`` and ``chat.completions.create`` under an ``asyncio.Semaphore``,
iterating the stream when streaming. Both send the body llmframe sends for the same prompt.
Prints one JSON line: ``{"seconds": ..., "ok": ...}``, timed from the first request to the
last response (interpreter start-up and imports excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any


def request_body(i: int, *, stream: bool) -> dict[str, Any]:
    """What llmframe sends for prompt `i` (see `llmframe run --dry-run`)."""
    body: dict[str, Any] = {
        "model": "bench",
        "messages": [{"role": "user", "content": f"Say hello number {i}"}],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


async def raw(url: str, n: int, concurrency: int, *, stream: bool) -> int:
    """The ceiling: post, read the body, repeat; `concurrency` at once."""
    import aiohttp

    endpoint = url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
    counter = iter(range(n))
    ok = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok
        for i in counter:
            data = json.dumps(request_body(i, stream=stream)).encode()
            async with session.post(endpoint, data=data, headers=headers) as response:
                await response.read()
                ok += response.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return ok


async def openai_loop(url: str, n: int, concurrency: int, *, stream: bool) -> int:
    """The usual alternative: AsyncOpenAI under a semaphore, one task per prompt."""
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(i: int) -> None:
        nonlocal ok
        body = request_body(i, stream=stream)
        async with semaphore:
            if stream:
                response = await client.chat.completions.create(
                    model=body["model"],
                    messages=body["messages"],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async for _chunk in response:
                    pass
            else:
                await client.chat.completions.create(model=body["model"], messages=body["messages"])
            ok += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()
    return ok


CLIENTS = {"raw": raw, "openai": openai_loop}


def main() -> None:
    """Run one client once and print its timing as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    run = CLIENTS[args.client]
    start = time.perf_counter()
    ok = asyncio.run(run(args.url, args.n, args.concurrency, stream=args.stream))
    print(json.dumps({"seconds": time.perf_counter() - start, "ok": ok}))


if __name__ == "__main__":
    main()
