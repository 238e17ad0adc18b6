"""Small synthetic prompts, manifests and responses for the run-store and query tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pyarrow as pa

from llmframe.parts import Message, TextPart
from llmframe.parts.arrow import messages_to_arrow
from llmframe.store import Manifest

T0 = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
_ids = itertools.count()


def prompts(n: int, **columns: list[Any]) -> pa.Table:
    """`n` one-turn prompts ``p0``..., asking ``q0``..., plus the given user columns."""
    conversations = [[Message(role="user", parts=[TextPart(text=f"q{i}")])] for i in range(n)]
    table = pa.table(
        {"id": [f"p{i}" for i in range(n)], "messages": messages_to_arrow(conversations)}
    )
    for name, values in columns.items():
        table = table.append_column(name, pa.array(values))
    return table


def manifest(**changes: Any) -> Manifest:
    """A manifest for `prompts`, with `changes` applied."""
    values: dict[str, Any] = {
        "models": ("m1",),
        "options": {"temperature": 0.2, "max_tokens": 50},
        "input_fingerprint": "fp-1",
        "created_at": "2025-01-01T00:00:00+00:00",
    }
    values.update(changes)
    return Manifest(**values)


def response(
    prompt_id: str,
    model: str = "m1",
    status: str = "ok",
    *,
    seconds: float = 0,
    response_id: str | None = None,
    **columns: Any,
) -> dict[str, Any]:
    """A finished response; `seconds` after `T0` is its finished_at."""
    finished = T0 + dt.timedelta(seconds=seconds)
    row: dict[str, Any] = {
        "response_id": response_id or f"r{next(_ids)}",
        "prompt_id": prompt_id,
        "model": model,
        "provider": "echo",
        "status": status,
        "attempts": 1,
        "started_at": finished - dt.timedelta(milliseconds=250),
        "finished_at": finished,
        "latency_ms": 250.0,
        "input_tokens": 3,
        "output_tokens": 5,
    }
    if status == "error":
        row.update(error_type="RateLimited", error_message="slow down", http_status=429)
    row.update(columns)
    return row
