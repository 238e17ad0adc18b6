"""Running the tools a model called: Python functions the user handed over, nothing else.

`run_tools` calls each requested function with its validated arguments, concurrently, each
within `timeout` seconds: async functions on the event loop, sync ones on worker threads (a
sync function that overruns its timeout is abandoned, not killed: Python cannot stop a thread).
Whatever happens becomes a `ToolResultPart` for the model, in the order of the calls: the return
value (text for a string, else a JSON value; pydantic models are dumped), or the error
(``ValueError: ...``, ``TimeoutError: ...``, an unknown tool, arguments that are not JSON or do
not fit). A tool's failure never fails the row. Each result's provider data records
``{"llmframe": {"duration_ms": ..., "error": true}}`` (``error`` only on failures), so SQL can
tell how long tools took and which failed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from llmframe.parts.types import ToolCallPart, ToolResultPart
from llmframe.tools.functions import validate_arguments
from llmframe.tools.spec import ToolSpec

__all__ = ["run_tools"]


class _ToolFailed(Exception):
    """A call that could not be made; its message goes to the model."""


def _as_result(value: Any) -> tuple[str | None, Any]:
    """A return value as (text, JSON value)."""
    if isinstance(value, str):
        return value, None
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value), None
    return None, value


async def _call(spec: ToolSpec | None, call: ToolCallPart, timeout: float) -> Any:
    if spec is None or spec.function is None:
        msg = f"there is no tool named `{call.name}`"
        raise _ToolFailed(msg)
    if call.raw_arguments is not None:
        msg = f"the arguments are not valid JSON: {call.raw_arguments!r}"
        raise _ToolFailed(msg)
    arguments = validate_arguments(spec, call.arguments)
    function = spec.function
    if inspect.iscoroutinefunction(function):
        return await asyncio.wait_for(function(**arguments), timeout)
    return await asyncio.wait_for(asyncio.to_thread(function, **arguments), timeout)


async def _run_one(
    call: ToolCallPart, index: int, tools: Mapping[str, ToolSpec], timeout: float
) -> ToolResultPart:
    started = time.perf_counter()
    error = True
    try:
        text, value = _as_result(await _call(tools.get(call.name), call, timeout))
        error = False
    except _ToolFailed as exc:
        text, value = str(exc), None
    except TimeoutError:
        text, value = f"TimeoutError: the tool did not return within {timeout:g} s", None
    except Exception as exc:  # any failure of the user's tool goes to the model
        text, value = f"{type(exc).__name__}: {exc}", None
    duration = round((time.perf_counter() - started) * 1000, 3)
    record: dict[str, Any] = {"duration_ms": duration}
    if error:
        record["error"] = True
    return ToolResultPart(
        tool_call_id=call.tool_call_id or f"{call.name}-{index}",
        name=call.name,
        text=text,
        value=value,
        provider_data={"llmframe": record},
    )


async def run_tools(
    calls: Sequence[ToolCallPart], tools: Mapping[str, ToolSpec], *, timeout: float
) -> list[ToolResultPart]:
    """The results of `calls`, in their order, run concurrently (see the module docstring)."""
    return list(
        await asyncio.gather(*(_run_one(c, i, tools, timeout) for i, c in enumerate(calls)))
    )
