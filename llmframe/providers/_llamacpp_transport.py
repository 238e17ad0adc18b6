"""`LlamaCppTransport`: OpenAI Chat Completions calls answered by llama-cpp-python in process.

Each GGUF file is loaded once per transport (so once per run), on first use, and runs on a
thread of its own: one generation at a time, in the order asked (llama.cpp already uses every
core for one answer, and a `Llama` is not thread-safe), while the event loop stays free. A
streamed answer's chunks come back through an `asyncio.Queue` fed with
`loop.call_soon_threadsafe`. Closing the reply's events (the runner always does, on timeouts and
cancellation too) or cancelling a whole answer stops its generation before the next token, and
a request cancelled while it waited never starts.

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
    check_model,
    load,
)
from llmframe.providers.base import SseEvent
from llmframe.providers.echo import error_body
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
    return Reply(status, _JSON, body=_dumps(error_body(message, type_=type_)).encode())


def _failure(exc: BaseException) -> Reply:
    """A 400 for what llama-cpp-python raised: the same request would fail again."""
    return _error(400, f"llama.cpp: {type(exc).__name__}: {exc}")


class _Model:
    """One GGUF file: its `Llama`, loaded on first use, and the one thread that runs it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"llmframe-llamacpp-{path.stem}"
        )
        self._llama: Llama | None = None
        self._meters: set[Meter] = set()

    async def loaded(self) -> None:
        """Load the model (once, on its thread); `UsageError` if llama.cpp cannot."""
        if self._llama is not None:
            return
        try:
            await asyncio.wrap_future(self._thread.submit(self._load))
        except Exception as exc:
            msg = f"llama.cpp cannot load `{self.path}`: {exc}"
            raise UsageError(msg) from exc

    def _load(self) -> None:
        if self._llama is None:
            self._llama = load(self.path)

    def start(self, work: Callable[[Llama], Any]) -> tuple[concurrent.futures.Future[Any], Meter]:
        """Queue ``work(llama)`` on the model's thread: one generation at a time, in order."""
        meter = Meter()

        def run() -> Any:
            if meter.stopped:  # closed or cancelled while it waited
                raise GenerationStopped
            assert self._llama is not None
            self._llama.meter = meter  # type: ignore[attr-defined]
            return work(self._llama)

        self._meters.add(meter)
        future = self._thread.submit(run)
        future.add_done_callback(lambda _: self._meters.discard(meter))
        return future, meter

    async def close(self) -> None:
        """Stop the generations, wait for the thread, free the model."""
        for meter in list(self._meters):
            meter.stop()
        try:
            await asyncio.wrap_future(self._thread.submit(self._free))
        finally:
            self._thread.shutdown(wait=False)

    def _free(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()


class LlamaCppTransport:
    """Answers ``POST /chat/completions`` with the GGUF model its target names (`check_model`)."""

    slots = 1
    """One generation at a time: the runner queues the rest before their attempts start."""

    def __init__(self) -> None:
        self._models: dict[Path, _Model] = {}
        self._named: dict[str, _Model] = {}

    def _model(self, name: str) -> _Model:
        """The model ``llamacpp/{name}`` runs (its file checked once, not per request)."""
        model = self._named.get(name)
        if model is None:
            path = check_model(name)
            model = self._models.get(path) or self._models.setdefault(path, _Model(path))
            self._named[name] = model
        return model

    async def prepare(self, target: ModelTarget) -> None:
        """Load `target`'s model before the run's first attempt, which then times only its work."""
        await self._model(target.model).loaded()

    async def send(self, call: HttpCall, target: ModelTarget, provider: Provider) -> Reply:
        """Generate the answer to `call` with the model `target.model` names."""
        del provider  # the events are framed already
        if call.method != "POST" or not call.path.rstrip("/").endswith("/chat/completions"):
            return _error(404, f"llamacpp serves POST /chat/completions, not {call.path}")
        model = self._model(target.model)
        body = call.body or {}
        try:
            arguments = chat_arguments(body)
        except ArgumentError as exc:
            return _error(400, str(exc))
        await model.loaded()  # at once after `prepare`
        if arguments["stream"]:
            options = body.get("stream_options")
            usage = isinstance(options, Mapping) and options.get("include_usage") is True
            return await self._stream(model, arguments, include_usage=usage)
        return await self._whole(model, arguments)

    async def _whole(self, model: _Model, arguments: dict[str, Any]) -> Reply:
        future, meter = model.start(lambda llama: llama.create_chat_completion(**arguments))
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
        self, model: _Model, arguments: dict[str, Any], *, include_usage: bool
    ) -> Reply:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def work(llama: Llama) -> None:
            try:
                for chunk in llama.create_chat_completion(**arguments):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                loop.call_soon_threadsafe(queue.put_nowait, _END)
            except GenerationStopped:
                pass
            except RuntimeError as exc:
                if not loop.is_closed():  # else nobody listens any more: just stop
                    loop.call_soon_threadsafe(queue.put_nowait, exc)
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        _, meter = model.start(work)
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
        """Stop any generation, free the models and their threads."""
        models, self._models = list(self._models.values()), {}
        for model in models:
            await model.close()


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
