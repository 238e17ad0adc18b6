"""`LlamaCppTransport`: OpenAI Chat Completions calls answered by llama-cpp-python in process.

Each GGUF file is loaded once per transport (so once per run), on first use. A model generates
one answer at a time (an `asyncio.Lock` per model: llama.cpp already uses every core for one
answer, and a `Llama` is not thread-safe), on a worker thread so the event loop stays free. A
streamed answer's chunks come back through an `asyncio.Queue` fed with
`loop.call_soon_threadsafe`; closing the reply's events (the runner always does, on timeouts and
cancellation too) stops the generation before its next token, and the model's lock is released
only when its thread has really finished.

Replies are what an OpenAI-compatible server sends: a ``chat.completion`` body, or
``chat.completion.chunk`` events ending with a usage chunk (when
``stream_options.include_usage``) and ``[DONE]``. A request llama.cpp cannot run (an unknown
option, ``tool_choice`` ``auto``, a prompt longer than the context) is a 400 with an OpenAI
error body, never retried; a model that cannot be found or loaded is a `UsageError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmframe.errors import UsageError
from llmframe.providers._llamacpp_chat import ArgumentError, LlamaChunks, chat_arguments, whole_body
from llmframe.providers._llamacpp_model import (
    GenerationStopped,
    Meter,
    gguf_path,
    load,
    require_llama_cpp,
)
from llmframe.providers.base import SseEvent
from llmframe.transports.base import Reply

if TYPE_CHECKING:
    from llama_cpp import Llama

    from llmframe.providers.base import HttpCall, Provider
    from llmframe.providers.endpoints import ModelTarget

__all__ = ["LlamaCppTransport"]

_END = object()
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _error(status: int, message: str, type_: str = "invalid_request_error") -> Reply:
    error = {"message": message, "type": type_, "param": None, "code": None}
    return Reply(status, _JSON, body=_dumps({"error": error}).encode())


def _failure(exc: BaseException) -> Reply:
    """A 400 for what llama-cpp-python raised: the same request would fail again."""
    return _error(400, f"llama.cpp: {type(exc).__name__}: {exc}")


class _Model:
    """One GGUF file: its `Llama` (loaded on first use) and the lock of its one generation."""

    def __init__(self, path: Path, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self.path = path
        self._executor = executor
        self._lock = asyncio.Lock()
        self._loading: concurrent.futures.Future[Llama] | None = None
        self.meter: Meter | None = None
        """The running (or last) generation's."""

    async def acquire(self) -> Llama:
        """Take the model's lock (release it with `start` or `release`) and its loaded `Llama`."""
        await self._lock.acquire()
        try:
            if self._loading is None or self._loading.cancelled():
                self._loading = self._executor.submit(load, self.path)
            return await asyncio.wrap_future(self._loading)
        except asyncio.CancelledError:
            self._lock.release()
            raise
        except Exception as exc:
            self._lock.release()
            self._loading = None
            msg = f"llama.cpp cannot load `{self.path}`: {exc}"
            raise UsageError(msg) from exc

    def release(self) -> None:
        """Give the lock back (when no generation was started)."""
        self._lock.release()

    def start(self, llama: Llama, work: Callable[[Llama], Any]) -> concurrent.futures.Future[Any]:
        """Run ``work(llama)`` on a worker thread, the lock held until the thread ends."""
        loop = asyncio.get_running_loop()
        self.meter = llama.meter = Meter()  # type: ignore[attr-defined]

        def release(_: concurrent.futures.Future[Any]) -> None:
            try:
                loop.call_soon_threadsafe(self._lock.release)
            except RuntimeError:  # the loop is closed: nobody waits for the model any more
                pass

        try:
            future = self._executor.submit(work, llama)
        except BaseException:
            self._lock.release()
            raise
        future.add_done_callback(release)
        return future

    async def close(self) -> None:
        """Stop a generation, wait for it, and free the model."""
        if self.meter is not None:
            self.meter.stop()
        async with self._lock:
            loading, self._loading = self._loading, None
            if loading is not None and loading.done() and not loading.cancelled():
                if loading.exception() is None:
                    loading.result().close()


class LlamaCppTransport:
    """Answers ``POST /chat/completions`` with the GGUF model its target names (`gguf_path`)."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            thread_name_prefix="llmframe-llamacpp"
        )
        self._models: dict[Path, _Model] = {}

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        """Generate the answer to `call` with the model `target.model` names."""
        del provider  # the events are framed already
        if call.method != "POST" or not call.path.rstrip("/").endswith("/chat/completions"):
            return _error(404, f"llamacpp serves POST /chat/completions, not {call.path}")
        require_llama_cpp()
        path = gguf_path(target.model)
        body = call.body or {}
        try:
            arguments = chat_arguments(body)
        except ArgumentError as exc:
            return _error(400, str(exc))
        model = self._models.get(path)
        if model is None:
            model = self._models[path] = _Model(path, self._executor)
        llama = await model.acquire()
        if arguments["stream"]:
            options = body.get("stream_options")
            usage = isinstance(options, Mapping) and options.get("include_usage") is True
            return await self._stream(model, llama, arguments, include_usage=usage)
        return await self._whole(model, llama, arguments)

    async def _whole(self, model: _Model, llama: Llama, arguments: dict[str, Any]) -> Reply:
        future = model.start(llama, lambda llama: llama.create_chat_completion(**arguments))
        meter = model.meter
        assert meter is not None
        try:
            completion = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            meter.stop()
            raise
        except Exception as exc:
            return _failure(exc)
        cut = _cut(meter, arguments)
        return Reply(200, _JSON, body=_dumps(whole_body(completion, meter.usage(), cut)).encode())

    async def _stream(
        self, model: _Model, llama: Llama, arguments: dict[str, Any], *, include_usage: bool
    ) -> Reply:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work(llama: Llama) -> None:
            try:
                for chunk in llama.create_chat_completion(**arguments):
                    put(chunk)
            except GenerationStopped:
                return
            except Exception as exc:
                put(exc)
                return
            put(_END)

        model.start(llama, work)
        meter = model.meter
        assert meter is not None
        try:
            first = await queue.get()
        except asyncio.CancelledError:
            meter.stop()
            raise
        if isinstance(first, Exception):
            return _failure(first)
        events = _events(first, queue, meter, arguments, include_usage=include_usage)
        return Reply(200, _SSE, events=events)

    async def aclose(self) -> None:
        """Stop any generation, free the models and the worker threads."""
        for model in self._models.values():
            await model.close()
        self._models.clear()
        self._executor.shutdown(wait=False)


def _cut(meter: Meter, arguments: Mapping[str, Any]) -> bool:
    """Whether the generation stopped at ``max_tokens`` rather than by itself."""
    limit = arguments.get("max_tokens")
    return limit is not None and not meter.last_was_end and meter.completion_tokens >= limit


async def _events(
    first: Any,
    queue: asyncio.Queue[Any],
    meter: Meter,
    arguments: Mapping[str, Any],
    *,
    include_usage: bool,
) -> AsyncGenerator[SseEvent, None]:
    """The stream's events; closing it stops the generation."""
    chunks = LlamaChunks()
    item = first
    try:
        while item is not _END:
            if isinstance(item, Exception):
                error = {"message": f"llama.cpp: {type(item).__name__}: {item}", "code": 500}
                yield SseEvent(data=_dumps({"error": {**error, "type": "server_error"}}))
                return
            last = item["choices"] and item["choices"][0].get("finish_reason") is not None
            cut = bool(last) and _cut(meter, arguments)
            yield SseEvent(data=_dumps(chunks.tidy(item, cut=cut)))
            item = await queue.get()
        if include_usage:
            yield SseEvent(data=_dumps(chunks.usage_chunk(meter.usage())))
        yield SseEvent(data="[DONE]")
    finally:
        meter.stop()
