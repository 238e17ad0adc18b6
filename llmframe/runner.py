"""The async engine: prompts in, one response per (prompt, model) out, whatever goes wrong.

A producer reads the run's prompts in Arrow batches and feeds a bounded queue, so memory does
not grow with the input; `concurrency` workers take jobs from it, wait for the rate budgets,
make attempts with jittered exponential backoff (honouring ``Retry-After``), and hand every
finished response, ok or not, to the store. One bad row becomes an error row; it never stops
the run.

With an output schema (`llmframe.extraction.contract.OutputSchema`) each provider is asked for
JSON its own way, every answer is checked (`llmframe.extraction.answer`), and an invalid one gets
repair turns, the conversation sent again with the answer and the validation error; the response
row sums their tokens and attempts, and is ``invalid`` if the last answer still does not fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, get_args

import pyarrow as pa

from llmframe import _json
from llmframe._attempt import AttemptFailed, AttemptResult, attempt
from llmframe._options import merge_options
from llmframe._ratelimit import RateLimits
from llmframe.errors import LlmframeError, UsageError
from llmframe.extraction.answer import AnswerChecker, Verdict, repair_message
from llmframe.extraction.contract import JsonRequest, OutputSchema, ask_for_json
from llmframe.io.media import MediaRoot, inline_media
from llmframe.parts.arrow import messages_from_arrow
from llmframe.parts.types import (
    JsonPart,
    MediaPart,
    Message,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from llmframe.providers import get_provider
from llmframe.providers.base import ErrorVerdict, HttpCall, Provider
from llmframe.providers.endpoints import ModelTarget
from llmframe.store import RunStore
from llmframe.tools.execute import run_tools
from llmframe.tools.load import parse_tools
from llmframe.tools.spec import ToolConfig
from llmframe.transports.base import Transport
from llmframe.transports.http import HttpTransport

__all__ = ["Progress", "RunOptions", "RunSummary", "Runner"]

_NO_SLOTS = contextlib.nullcontext()
"""For transports that take every call at once (`Transport` ``slots``)."""


@dataclass(frozen=True)
class RunOptions:
    """How to run: the rare knobs in one place."""

    concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None
    max_retries: int = 6
    timeout: float = 300.0
    """Seconds per attempt, from sending to the last byte; a hung stream counts."""
    stream: bool = True
    limit: int | None = None
    retry_errors: bool = False
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    batch_size: int = 512
    stop_grace: float = 10.0
    """Seconds requests in flight may take to finish after a stop (the first Ctrl-C)."""


@dataclass
class RunSummary:
    """What a run did, for the final line and the exit code."""

    path: Path
    total: int = 0
    skipped: int = 0
    ok: int = 0
    errors: int = 0
    invalid: int = 0
    """Answers still not valid against the output schema after their repair turns."""
    retries: int = 0
    tool_calls: int = 0
    """Tool calls llmframe ran (Python functions)."""
    repairs: int = 0
    """Repair turns sent (an answer that failed validation, sent back with the error)."""
    input_tokens: int = 0
    output_tokens: int = 0
    uncounted: int = 0
    """Ok responses whose server reported no token counts (some servers' streams)."""
    earlier_errors: int = 0
    """Error rows from an earlier invocation, kept because `retry_errors` was off."""
    interrupted: bool = False
    errors_by_type: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What the user should know although no row failed (a server refusing a JSON form)."""

    @property
    def done(self) -> int:
        """Responses finished in this invocation, whatever their status."""
        return self.ok + self.errors + self.invalid


class Progress(Protocol):
    """What the runner reports as it goes (a rich bar, a notebook widget, or nothing)."""

    def start(self, total: int) -> None:
        """The number of responses this run will produce."""

    def update(self, summary: RunSummary) -> None:
        """Called after each finished response or retry."""

    def stop(self) -> None:
        """The run is over."""


class NoProgress:
    """Reports nothing."""

    def start(self, total: int) -> None:
        """Nothing to show."""

    def update(self, summary: RunSummary) -> None:
        """Nothing to show."""

    def stop(self) -> None:
        """Nothing to show."""


@dataclass(frozen=True)
class Job:
    """One (prompt, model) to answer, from `step` on (a resumed chain has done earlier steps)."""

    prompt_id: str
    target: ModelTarget
    messages: Sequence[Message]
    """The conversation so far: the prompt's messages, then the messages of earlier steps."""
    options: Mapping[str, Any]
    tools: ToolConfig = field(default_factory=ToolConfig)
    step: int = 0
    output: OutputSchema | None = None
    """The schema its answers must satisfy: the row's ``schema`` column, else the run's."""


_MEDIA_CLASSES = get_args(MediaPart)


def _estimate_tokens(messages: Sequence[Message], options: Mapping[str, Any]) -> int:
    """A cheap guess of a request's tokens (about 4 characters a token), corrected from usage."""
    characters = sum(len(getattr(part, "text", None) or "") for m in messages for part in m.parts)
    media = sum(1 for m in messages for part in m.parts if isinstance(part, _MEDIA_CLASSES))
    completion = (
        options.get("max_tokens")
        or options.get("max_completion_tokens")
        or options.get("max_output_tokens")
        or 256
    )
    return characters // 4 + 256 * media + int(completion)


def _fingerprint(body: Mapping[str, Any] | None) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _add(total: int | None, more: int | None) -> int | None:
    return more if total is None else total + (more or 0)


@dataclass
class _Turns:
    """One response in the making: its row, and the exchanges (the ask and any repairs)."""

    row: dict[str, Any]
    result: AttemptResult | None = None
    failure: AttemptFailed | None = None
    verdict: Verdict | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None

    stopped: tuple[str, str] | None = None
    """Why the chain stopped although the answer came (error type and message)."""

    @property
    def ok(self) -> bool:
        """Whether the step has an answer that counts (not failed, invalid or stopped)."""
        valid = self.verdict is None or self.verdict.ok
        return self.result is not None and valid and self.stopped is None

    def stop(self, kind: str, message: str) -> None:
        """Mark the step as the end of its chain, as an error of `kind`."""
        self.stopped = (kind, message)

    def parts(self) -> list[Part]:
        """The step's answer: the last exchange's parts (a valid JSON answer as a json part)."""
        if self.result is None:
            return []
        parts = list(self.result.completion.parts)
        if self.verdict is not None and self.verdict.ok:
            return _with_json(parts, self.verdict.value)
        return parts

    def add(
        self, result: AttemptResult | None, failure: AttemptFailed | None, attempts: int
    ) -> None:
        """Count one exchange: tokens and latency add up over the turns, the last one answers."""
        self.attempts += attempts
        self.result, self.failure = result, failure
        if result is None:
            return
        usage = result.completion.usage
        self.latency_ms += result.latency_ms
        if self.ttft_ms is None:
            self.ttft_ms = result.ttft_ms
        self.input_tokens = _add(self.input_tokens, usage.input_tokens)
        self.output_tokens = _add(self.output_tokens, usage.output_tokens)
        self.reasoning_tokens = _add(self.reasoning_tokens, usage.reasoning_tokens)
        self.cached_tokens = _add(self.cached_tokens, usage.cached_tokens)


def _with_json(parts: Sequence[Part], value: Any) -> list[Part]:
    """A valid structured answer: its text replaced by one ``json`` part holding the value."""
    kept = [p for p in parts if not isinstance(p, (TextPart, JsonPart))]
    return [*kept, JsonPart(value=value)]


class Runner:
    """Runs every pending (prompt, model) of a run directory to completion."""

    def __init__(
        self,
        store: RunStore,
        targets: Sequence[ModelTarget],
        *,
        row_targets: Mapping[str, ModelTarget] | None = None,
        model_options: Mapping[str, Any],
        options: RunOptions,
        media_root: Path | None,
        progress: Progress | None = None,
        output: OutputSchema | None = None,
        tools: ToolConfig | None = None,
    ) -> None:
        self.store = store
        self.targets = list(targets)
        self.row_targets = dict(row_targets or {})
        self.model_options = dict(model_options)
        self.options = options
        self.media = MediaRoot(media_root) if media_root is not None else None
        self.progress = progress or NoProgress()
        self.limits = RateLimits(rpm=options.rpm, tpm=options.tpm)
        self.summary = RunSummary(path=store.path)
        self._stopping = asyncio.Event()
        self._in_flight = 0
        self._in_flight_tokens = 0
        self._providers: dict[str, Provider] = {}
        self.output = output
        self._checkers: dict[int, AnswerChecker] = {}
        self._json_requests: dict[tuple[str, int], JsonRequest] = {}
        self._row_outputs: dict[str, OutputSchema] = {}
        self.tools = tools or ToolConfig()
        self._parsed_tools: dict[str, ToolConfig] = {}
        self._tool_offers: dict[tuple[str, int], Mapping[str, Any]] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    def stop(self) -> None:
        """Stop sending new requests; those in flight finish (the caller may cancel them)."""
        self._stopping.set()

    # -- planning -----------------------------------------------------------------------------

    def _provider(self, target: ModelTarget) -> Provider:
        wire = target.endpoint.wire
        if wire not in self._providers:
            self._providers[wire] = get_provider(wire)
        return self._providers[wire]

    def _walk(
        self, columns: Sequence[str] | None = None
    ) -> Iterator[tuple[pa.RecordBatch, int, str, list[ModelTarget]]]:
        """Each prompt (up to `limit`) with its batch, row and the models it goes to.

        A non-null per-row ``model`` sends that row to that model only. `columns` limits what
        is read from the prompts file.
        """
        seen = 0
        for batch in self.store.prompt_batches(self.options.batch_size, columns=columns):
            ids = batch.column("id").to_pylist()
            names = batch.schema.names
            models = batch.column("model").to_pylist() if "model" in names else [None] * len(ids)
            for index, prompt_id in enumerate(ids):
                if self.options.limit is not None and seen >= self.options.limit:
                    return
                seen += 1
                row_model = models[index]
                yield (
                    batch,
                    index,
                    prompt_id,
                    [self.row_targets[row_model]] if row_model else self.targets,
                )

    def _pending_count(self, done: set[tuple[str, str]]) -> tuple[int, int]:
        """How many responses are still to make, and how many are already done."""
        total = skipped = 0
        for _, _, prompt_id, targets in self._walk(columns=("id", "model")):
            for target in targets:
                if (prompt_id, target.label) in done:
                    skipped += 1
                else:
                    total += 1
        return total, skipped

    def _row_tools(self, text: str | None) -> ToolConfig:
        """The tools of a row: its ``tools`` column (definitions only) or the run's."""
        if not text:
            return self.tools
        if text not in self._parsed_tools:
            specs = parse_tools(_json.loads(text), where="the `tools` column")
            self._parsed_tools[text] = dataclasses.replace(self.tools, tools=tuple(specs))
        return self._parsed_tools[text]

    async def _produce(
        self,
        queue: asyncio.Queue[Job | None],
        done: set[tuple[str, str]],
        resume: Mapping[tuple[str, str], tuple[int, list[Message]]],
    ) -> None:
        decoded: pa.RecordBatch | None = None
        for batch, index, prompt_id, targets in self._walk():
            pending = [t for t in targets if (prompt_id, t.label) not in done]
            if not pending:
                continue
            if batch is not decoded:  # only batches with work are decoded (resumes stay cheap)
                decoded = batch
                conversations = messages_from_arrow(batch.column("messages"))
                names = batch.schema.names
                row_options = batch.column("options").to_pylist() if "options" in names else None
                row_tools = batch.column("tools").to_pylist() if "tools" in names else None
                row_schemas = batch.column("schema").to_pylist() if "schema" in names else None
            options = dict(self.model_options)
            if row_options and row_options[index]:
                options.update(_json.loads(row_options[index]))
            tools = self._row_tools(row_tools[index] if row_tools else None)
            output = self._row_output(row_schemas[index] if row_schemas else None)
            for target in pending:
                if self._stopping.is_set():
                    return
                step, history = resume.get((prompt_id, target.label), (0, []))
                messages = [*conversations[index], *history]
                await queue.put(Job(prompt_id, target, messages, options, tools, step, output))

    def _resume_points(self) -> dict[tuple[str, str], tuple[int, list[Message]]]:
        """Chains to continue: (prompt_id, model) -> the step to start at and the steps before.

        A chain whose last step went on to tools continues at the next step; one whose last step
        failed (an error sent again by `retry_errors`) does that step again.
        """
        starts = self.store.continuing(retry_errors=self.options.retry_errors)
        histories = self.store.histories(starts)
        return {key: (start, histories[key]) for key, start in starts.items()}

    # -- one job ------------------------------------------------------------------------------

    def _backoff(self, attempt_number: int, verdict: ErrorVerdict) -> float:
        if verdict.retry_after is not None:
            return min(verdict.retry_after, self.options.backoff_cap * 5)
        ceiling = min(
            self.options.backoff_cap, self.options.backoff_base * 2 ** (attempt_number - 1)
        )
        return random.uniform(ceiling / 2, ceiling)

    def _json_request(self, job: Job, provider: Provider, output: OutputSchema) -> JsonRequest:
        """How to ask `provider` for JSON fitting `output` (cached per model and schema)."""
        key = (job.target.label, id(output))
        if key not in self._json_requests:
            self._json_requests[key] = ask_for_json(provider, output)
        return self._json_requests[key]

    def _step_down(
        self, job: Job, asking: JsonRequest | None, failure: AttemptFailed | None
    ) -> JsonRequest | None:
        """The next way to ask for JSON if `failure` is the server refusing `asking`, else None.

        The model is asked that way from then on, and the run notes why (once).
        """
        if asking is None or failure is None or asking.fallback is None or job.output is None:
            return None
        status, message = failure.http_status, failure.verdict.message
        if not asking.refused(status, message):
            return None
        key = (job.target.label, id(job.output))
        if self._json_requests.get(key) is asking:
            self._json_requests[key] = asking.fallback
            self.summary.notes.append(asking.refusal_note(job.target.label, status, message))
        return asking.fallback

    def _checker(self, output: OutputSchema) -> AnswerChecker:
        if id(output) not in self._checkers:
            self._checkers[id(output)] = AnswerChecker(output.schema)
        return self._checkers[id(output)]

    def _row_output(self, text: str | None) -> OutputSchema | None:
        """The output schema of a row: its ``schema`` column, else the run's."""
        if not text:
            return self.output
        if text not in self._row_outputs:
            repair = self.output.repair if self.output is not None else 1
            self._row_outputs[text] = OutputSchema(_json.loads(text), repair=repair)
        return self._row_outputs[text]

    async def _exchange(
        self,
        transport: Transport,
        job: Job,
        provider: Provider,
        call: HttpCall,
        estimate: int,
    ) -> tuple[AttemptResult | None, AttemptFailed | None, int]:
        """One request, retried while retryable: the result or the last failure, and attempts.

        `estimate` is the request's tokens guessed from what is sent (tool steps and repair
        turns included). A call waiting for a transport's slot holds no rate budget yet.
        """
        attempts = 0
        while True:
            attempts += 1
            result: AttemptResult | None = None
            async with self._slots.get(job.target.endpoint.name, _NO_SLOTS):
                await self.limits.acquire(estimate)
                self._in_flight += 1
                self._in_flight_tokens += estimate
                try:
                    result = await attempt(
                        transport, job.target, provider, call, timeout=self.options.timeout
                    )
                    failure = None
                except AttemptFailed as exc:
                    failure = exc
                finally:
                    self._in_flight -= 1
                    self._in_flight_tokens -= estimate
            headers = result.headers if result is not None else failure.headers if failure else {}
            # A provider with its own rate-limit headers (Anthropic) translates them into the
            # x-ratelimit-* words the budgets read; optional, so plugins need not.
            translate = getattr(provider, "rate_limit_headers", None)
            if translate is not None:
                headers = {**headers, **translate(headers)}
            self.limits.observe(
                headers, in_flight=self._in_flight, in_flight_tokens=self._in_flight_tokens
            )
            if result is not None:
                usage = result.completion.usage
                actual = None
                if usage.input_tokens is not None or usage.output_tokens is not None:
                    actual = (usage.input_tokens or 0) + (usage.output_tokens or 0)
                self.limits.settle(estimate, actual)
                return result, None, attempts
            assert failure is not None
            if not failure.verdict.retryable or attempts > self.options.max_retries:
                return None, failure, attempts
            self.summary.retries += 1
            self.progress.update(self.summary)
            await asyncio.sleep(self._backoff(attempts, failure.verdict))

    def _offer_tools(self, provider: Provider, tools: ToolConfig) -> Mapping[str, Any]:
        """The request options that offer `tools` to `provider` (none without tools).

        Built once per wire and tool set, not per request; `prepare` has refused providers
        without tools already.
        """
        if not tools.tools and tools.choice is None:
            return {}
        key = (provider.api, id(tools))
        if key not in self._tool_offers:
            offer = getattr(provider, "tool_options", None)
            if offer is None:
                msg = f"provider `{provider.name}` cannot take tools"
                raise UsageError(msg)
            self._tool_offers[key] = offer(tools.tools, tools.choice)
        return self._tool_offers[key]

    async def _answer(self, transport: Transport, job: Job) -> None:
        """Answer `job`'s chain: ask, run the tools it called (Python functions), ask again."""
        provider = self._provider(job.target)
        messages = list(job.messages)
        step = job.step
        runnable = {spec.name: spec for spec in job.tools.tools if spec.function is not None}
        while True:
            turns = await self._ask(transport, job, provider, messages, step)
            calls = [p for p in turns.parts() if isinstance(p, ToolCallPart)]
            if not (runnable and calls and turns.ok):
                self._record(turns, step=step, final=True)
                return
            if step + 1 >= job.tools.max_steps:
                turns.stop(
                    "MaxSteps",
                    f"the model still called tools at step {step + 1} of `max_steps` "
                    f"{job.tools.max_steps}; its calls were not run",
                )
                self._record(turns, step=step, final=True)
                return
            results = await run_tools(calls, runnable, timeout=job.tools.timeout)
            self.summary.tool_calls += len(results)
            self._record(turns, step=step, final=False, results=results)
            messages += [
                Message(role="assistant", parts=turns.parts()),
                Message(role="tool", parts=list(results)),
            ]
            step += 1

    async def _ask(
        self,
        transport: Transport,
        job: Job,
        provider: Provider,
        conversation: Sequence[Message],
        step: int,
    ) -> _Turns:
        """One step: ask, and with an output schema check the answer and ask for repairs."""
        turns = _Turns(
            {
                "response_id": uuid.uuid4().hex,
                "prompt_id": job.prompt_id,
                "model": job.target.label,
                "step": step,
                "provider": job.target.endpoint.name,
                "started_at": _now(),
                "options": _json.dumps(dict(job.options)) if job.options else None,
            }
        )
        output = job.output
        asking = self._json_request(job, provider, output) if output is not None else None
        try:
            messages = inline_media(conversation, self.media)
            offer = self._offer_tools(provider, job.tools)
            options = merge_options(job.options, offer, set_by="the tools")
            plain = messages, options
            if asking is not None:
                messages, options = asking.apply(messages, options)
        except LlmframeError as exc:
            turns.failure = AttemptFailed(ErrorVerdict(False, type(exc).__name__, str(exc)))
            return turns
        repairs = output.repair if output is not None else 0
        turn = 0
        while turn <= repairs:
            try:
                call = provider.build_call(
                    job.target.model, messages, options, stream=self.options.stream
                )
            except LlmframeError as exc:
                turns.failure = AttemptFailed(ErrorVerdict(False, type(exc).__name__, str(exc)))
                break
            turns.row.setdefault("request_fingerprint", _fingerprint(call.body))
            estimate = _estimate_tokens(messages, options)
            result, failure, attempts = await self._exchange(
                transport, job, provider, call, estimate
            )
            turns.add(result, failure, attempts)
            lower = self._step_down(job, asking, failure) if turn == 0 else None
            if lower is not None:  # the server refused this way of asking for JSON: the next
                try:
                    messages, options = lower.apply(*plain)
                except LlmframeError:  # it clashes with the user's options: the refusal stands
                    break
                asking = lower
                continue
            if result is None or output is None:
                break
            verdict = self._checker(output).check(result.completion.parts)
            turns.verdict = verdict
            if verdict.ok or turn == repairs:
                break
            turn += 1
            self.summary.repairs += 1
            answer = Message(role="assistant", parts=list(result.completion.parts))
            again = Message(role="user", parts=[TextPart(text=repair_message(verdict.error or ""))])
            messages = [*messages, answer, again]
        return turns

    def _record(
        self,
        turns: _Turns,
        *,
        step: int,
        final: bool,
        results: Sequence[ToolResultPart] = (),
    ) -> None:
        """Journal one step; a chain's final step counts in the summary by its status."""
        row = turns.row
        row.update(step=step, final=final, finished_at=_now(), attempts=turns.attempts)
        result, failure = turns.result, turns.failure
        if result is not None:
            completion = result.completion
            row.update(
                status="ok",
                http_status=result.http_status,
                latency_ms=turns.latency_ms,
                ttft_ms=turns.ttft_ms,
                input_tokens=turns.input_tokens,
                output_tokens=turns.output_tokens,
                reasoning_tokens=turns.reasoning_tokens,
                cached_tokens=turns.cached_tokens,
                finish_reason=completion.finish_reason,
            )
            self.summary.input_tokens += turns.input_tokens or 0
            self.summary.output_tokens += turns.output_tokens or 0
            if turns.input_tokens is None and turns.output_tokens is None:
                self.summary.uncounted += 1
        if turns.stopped is not None:
            kind, message = turns.stopped
            row.update(status="error", error_type=kind, error_message=message)
        elif result is None:
            assert failure is not None
            verdict = failure.verdict
            row.update(
                status="error",
                error_type=verdict.error_type,
                error_message=verdict.message,
                http_status=failure.http_status,
            )
        elif turns.verdict is not None and not turns.verdict.ok:
            row.update(
                status="invalid", error_type="InvalidAnswer", error_message=turns.verdict.error
            )
        self.store.record(row, [*turns.parts(), *results])
        if final:
            self._count(row)
        self.progress.update(self.summary)

    def _count(self, row: Mapping[str, Any]) -> None:
        status = row["status"]
        if status == "ok":
            self.summary.ok += 1
        elif status == "invalid":
            self.summary.invalid += 1
        else:
            self.summary.errors += 1
            kind = row["error_type"]
            self.summary.errors_by_type[kind] = self.summary.errors_by_type.get(kind, 0) + 1

    # -- the whole run ------------------------------------------------------------------------

    async def _work(
        self, queue: asyncio.Queue[Job | None], transports: Mapping[str, Transport]
    ) -> None:
        while True:
            job = await queue.get()
            if job is None:
                return
            await self._answer(transports[job.target.endpoint.name], job)

    def _transports(self) -> dict[str, Transport]:
        """One transport per endpoint: its in-process model, else an HTTP connection pool."""
        transports: dict[str, Transport] = {}
        for target in [*self.targets, *self.row_targets.values()]:
            name = target.endpoint.name
            if name not in transports:
                factory = target.endpoint.transport
                transports[name] = (
                    factory()
                    if factory is not None
                    else HttpTransport(
                        concurrency=self.options.concurrency, timeout=self.options.timeout
                    )
                )
                slots = getattr(transports[name], "slots", None)
                if slots is not None:
                    self._slots[name] = asyncio.Semaphore(slots)
        return transports

    async def _prepare(self, transports: Mapping[str, Transport]) -> None:
        """Let transports with a `prepare` (in-process models) load before anything is timed."""
        if not self.summary.total:
            return
        for target in [*self.targets, *self.row_targets.values()]:
            prepare = getattr(transports[target.endpoint.name], "prepare", None)
            if prepare is not None:
                await prepare(target)

    async def run(self) -> RunSummary:
        """Answer every pending (prompt, model); return the summary."""
        done = self.store.done(include_errors=not self.options.retry_errors)
        if not self.options.retry_errors:
            labels = {t.label for t in [*self.targets, *self.row_targets.values()]}
            earlier = done - self.store.done(include_errors=False)
            self.summary.earlier_errors = sum(1 for _, model in earlier if model in labels)
        self.summary.total, self.summary.skipped = self._pending_count(done)
        resume = self._resume_points()
        self.progress.start(self.summary.total)
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.options.concurrency * 2)
        transports = self._transports()
        try:
            await self._prepare(transports)
        except BaseException:
            for transport in transports.values():
                await transport.aclose()
            self.progress.stop()
            raise
        workers = [
            asyncio.create_task(self._work(queue, transports))
            for _ in range(self.options.concurrency)
        ]
        producer = asyncio.create_task(self._produce(queue, done, resume))
        stopper = asyncio.create_task(self._stopping.wait())
        tasks = [*workers, producer, stopper]
        try:
            while not (producer.done() or stopper.done()):
                await asyncio.wait({producer, stopper, *workers}, return_when="FIRST_COMPLETED")
                for worker in workers:  # a worker ends early only on a failure (a full disk)
                    if worker.done():
                        worker.result()
            if producer.done():
                producer.result()
            else:
                self.summary.interrupted = True
                producer.cancel()
                while not queue.empty():
                    queue.get_nowait()
            for _ in workers:
                await queue.put(None)
            if self.summary.interrupted:
                # Requests in flight get a short grace; any still running after it are
                # cancelled, unrecorded, and sent again on resume.
                await asyncio.wait(workers, timeout=self.options.stop_grace)
            else:
                await asyncio.gather(*workers)
        finally:
            for task in tasks:
                task.cancel()
            # Let cancelled tasks unwind here, even when this coroutine is itself cancelled.
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
            for transport in transports.values():
                await transport.aclose()
            self.progress.stop()
        return self.summary
