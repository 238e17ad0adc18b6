"""Run the async engine from synchronous code, also where an event loop is already running.

Outside a loop this is `asyncio.run`. Inside one (Jupyter, IPython, an async app) the coroutine
runs on a worker thread with its own loop, as pydantic-ai's `run_sync` does; there is one
engine, never a sync copy of it. Ctrl-C (a kernel interrupt) cancels the run cleanly: the store
closes and flushes, so running the same call again resumes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `make()` to completion and return its result."""
    if not _loop_running():
        return asyncio.run(make())
    outcome: dict[str, Any] = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()

    def work() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(make())
        outcome["task"] = task
        started.set()
        try:
            outcome["value"] = loop.run_until_complete(task)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=work, name="llmframe-run", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        started.wait()
        if not loop.is_closed():
            loop.call_soon_threadsafe(outcome["task"].cancel)
        thread.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
