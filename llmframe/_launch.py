"""From a command to a running engine: resolve models, read the input, open the run directory.

Shared by the CLI and the Python API so both check the same things in the same order, and both
refuse bad input or usage before any request is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from llmframe import __version__
from llmframe._options import merge_options
from llmframe._preflight import check_media_support, check_system_first
from llmframe.errors import (
    InputError,
    InvalidInput,
    LlmframeError,
    StoreError,
    UsageError,
    raise_problems,
)
from llmframe.extraction.contract import OutputSchema, ask_for_json
from llmframe.extraction.load import load_schema
from llmframe.io import ReadOptions
from llmframe.io.detect import read_source
from llmframe.io.followup import append_user_message, is_run_directory, run_conversations
from llmframe.io.media import MediaRoot, inline_media
from llmframe.io.normalize import CHUNK_ROWS, PromptScan, fix_repeats
from llmframe.io.source import Source
from llmframe.io.spool import PromptSpool
from llmframe.parts.arrow import messages_from_arrow
from llmframe.providers import get_provider
from llmframe.providers.endpoints import ModelTarget, resolve_model
from llmframe.runner import Progress, Runner, RunOptions, RunSummary
from llmframe.store import Manifest, RunStore
from llmframe.store.manifest import secret_keys
from llmframe.tools.spec import TOOL_CHOICES, ToolConfig

__all__ = [
    "Prepared",
    "RunRequest",
    "default_run_dir",
    "describe",
    "dry_run",
    "launch",
    "parse_header",
    "parse_option",
    "prepare",
    "run_from_cli",
]


def parse_header(text: str) -> tuple[str, str]:
    """``Name=value`` (or ``Name: value``) from ``--header``."""
    name, sep, value = text.replace(":", "=", 1).partition("=")
    if not sep or not name.strip():
        msg = "header is not `Name=value`"  # the text may hold a credential: not echoed
        raise UsageError(msg)
    return name.strip(), value.strip()


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` from ``-o``: the value is JSON when it parses as JSON, else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        msg = f"model option `{text}` is not `key=value`"
        raise UsageError(msg)
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def default_run_dir(name: str, fingerprint: str, options: Mapping[str, Any]) -> Path:
    """``llmframe-runs/<input name>-<hash>``, the hash over the input and the model options.

    The same data and options always land in the same run, so running the same command or
    notebook cell again resumes it; adding a model reuses it too (models are not hashed).
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.split(".")[0]).strip("-") or "data"
    text = fingerprint + json.dumps(dict(options), sort_keys=True, default=str)
    return Path("llmframe-runs") / f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class RunRequest:
    """Everything a run needs, as the user gave it."""

    source: Path | Source
    """A file, or a table already read (`llmframe.io.frames.source_from_data`)."""
    models: Sequence[str]
    out: Path | None
    """The run directory; None picks `default_run_dir`."""
    read: ReadOptions
    model_options: Mapping[str, Any]
    options: RunOptions
    base_url: str | None = None
    api_key_env: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Extra request headers (``--header K=V``); never written to the run."""
    follow_up: str | None = None
    """A user message appended to every conversation (the next turn of a previous run)."""
    output: OutputSchema | None = None
    """A JSON Schema every answer must satisfy (validated, repaired, else status `invalid`)."""
    tools: ToolConfig = field(default_factory=ToolConfig)
    """Tools offered to every row (a row's ``tools`` column replaces them); run if functions."""


def _targets(request: RunRequest) -> list[ModelTarget]:
    labels = list(dict.fromkeys(request.models))
    return [_resolve(request, m) for m in labels]


def _resolve(request: RunRequest, label: str) -> ModelTarget:
    return resolve_model(
        label, base_url=request.base_url, api_key_env=request.api_key_env, headers=request.headers
    )


def _row_targets(
    request: RunRequest,
    prompts: pa.Table,
    flagged: int,
    source: Source,
    known: Mapping[str, ModelTarget],
) -> dict[str, ModelTarget]:
    """Targets named by a per-row ``model`` column; every row needs a model from somewhere."""
    if "model" not in prompts.column_names:
        row_models: list[str | None] = [None]
    else:
        row_models = prompts.column("model").to_pylist()
    if not flagged and None in row_models:
        msg = "no model: pass `--model`, e.g. `--model echo` or `--model openai/gpt-4o-mini`"
        raise UsageError(msg)
    names = sorted({m for m in row_models if m is not None} - set(known))
    targets = dict(known)
    for name in names:
        try:
            targets[name] = _resolve(request, name)
        except UsageError as exc:
            row = source.row_label(row_models.index(name))
            raise InputError(str(exc), file=source.path, row=row, column="model") from None
    return targets


@dataclass(frozen=True)
class Prepared:
    """A checked run: its models, its prompts (in a temporary file) and where media lives."""

    targets: list[ModelTarget]
    row_targets: dict[str, ModelTarget]
    prompts: PromptSpool
    """The normalised prompts; `discard` it once the run directory has them."""
    media_root: Path
    fingerprint: str
    out: Path

    def discard(self) -> None:
        """Remove the temporary prompts file."""
        self.prompts.discard()


_MEDIA_TYPES = ("image", "audio", "video", "document")


def _has_media(prompts: pa.Table) -> bool:
    """Whether any part of any message is media (else the media check has nothing to do)."""
    messages = prompts.column("messages").combine_chunks()
    types = pc.list_flatten(pc.list_flatten(messages).field("parts")).field("type")
    return bool(pc.any(pc.is_in(types.cast(pa.string()), pa.array(_MEDIA_TYPES))).as_py())


class _Checks:
    """The checks of a whole input made a chunk at a time; the first failing one raised at the end.

    In the order they would fail on the whole table: the models of a ``model`` column, media a
    model cannot take, misplaced system messages, tools, credentials in ``options``, and each
    ``schema``.
    """

    def __init__(self, request: RunRequest, targets: list[ModelTarget], file: str) -> None:
        self.request = request
        self.targets = targets
        self.file = file
        self.row_targets: dict[str, ModelTarget] = {}
        self.schemas: dict[str, OutputSchema] = {}
        self.row_tools = False
        self._models: LlmframeError | None = None
        self._media: list[InputError] = []
        self._system: list[InputError] = []
        self._options: InputError | None = None
        self._schema: InputError | None = None

    def add(self, prompts: pa.Table, source: Source) -> None:
        """Check one chunk (`source` labels its rows)."""
        if self._models is not None:
            return
        try:
            self.row_targets = _row_targets(
                self.request, prompts, len(self.targets), source, self.row_targets
            )
        except LlmframeError as exc:
            self._models = exc
            return
        if _has_media(prompts):
            self._media += _problems(
                check_media_support, prompts, self.targets, self.row_targets, file=source.path
            )
        self._system += _problems(
            check_system_first, prompts, self.targets, self.row_targets, source
        )
        if "tools" in prompts.column_names:
            self.row_tools = self.row_tools or any(prompts.column("tools").to_pylist())
        if self._options is None:
            self._options = _first(_check_row_options, prompts, source)
        if self._schema is None:
            self._schema = _first(_check_row_schemas, prompts, source, self.schemas)

    def finish(self) -> None:
        """Raise what the chunks showed, in order; then check the tools."""
        if self._models is not None:
            raise self._models
        raise_problems(self._media, self.file)
        raise_problems(self._system, self.file)
        targets = [*self.targets, *self.row_targets.values()]
        _check_tools(self.request.tools, self.row_tools, targets, self.request.model_options)
        for found in (self._options, self._schema):
            if found is not None:
                raise found


def _problems(check: Callable[..., None], *args: Any, **kwargs: Any) -> list[InputError]:
    """The problems a check raises, as a list."""
    try:
        check(*args, **kwargs)
    except InvalidInput as exc:
        return exc.problems
    except InputError as exc:
        return [exc]
    return []


def _first(check: Callable[..., Any], *args: Any) -> InputError | None:
    try:
        check(*args)
    except InputError as exc:
        return exc
    return None


def _open_source(request: RunRequest) -> tuple[Source, Path]:
    """The input as a source, and the default media root."""
    if isinstance(request.source, Path) and is_run_directory(request.source):
        source, previous_root = run_conversations(request.source)
        return source, previous_root or request.source
    if isinstance(request.source, Path):
        return read_source(request.source), request.source.parent
    return request.source, Path.cwd()


def prepare(request: RunRequest) -> Prepared:
    """Check options, models and the whole input before anything is sent or written.

    The input is read, checked and spooled to a temporary file a chunk at a time, so memory
    does not grow with it.
    """
    _check_options(request.options)
    targets = _targets(request)
    if request.follow_up is not None and not request.follow_up.strip():
        msg = "`--follow-up` is empty"
        raise UsageError(msg)
    source, default_root = _open_source(request)
    checks = _Checks(request, targets, source.path)
    spool = PromptSpool()
    try:
        scan = PromptScan(source, request.read)
        for rows, prompts in scan.chunks():
            if request.follow_up is not None:
                prompts = append_user_message(prompts, request.follow_up)
            checks.add(prompts, rows)
            spool.write(prompts)
        if scan.repeated:
            spool.rewrite(lambda tables: fix_repeats(tables, scan.repeated), CHUNK_ROWS)
        fingerprint = spool.close()
        checks.finish()
        output = request.output or next(iter(checks.schemas.values()), None)
        if output is not None:  # options the (first) schema sets are refused
            for target in [*targets, *checks.row_targets.values()]:
                asking = ask_for_json(get_provider(target.endpoint.wire), output)
                asking.apply([], request.model_options)
    except BaseException:
        spool.discard()
        raise
    media_root = Path(request.read.media_root or default_root).resolve()
    name = Path(source.path).name
    hashed = dict(request.model_options)
    if request.output is not None:  # another schema is another run
        hashed["__schema__"] = request.output.schema
    if request.tools.manifest() is not None:  # so are other tools
        hashed["__tools__"] = request.tools.manifest()
    out = request.out or default_run_dir(name, fingerprint, hashed)
    return Prepared(targets, checks.row_targets, spool, media_root, fingerprint, out)


def _check_tools(
    tools: ToolConfig,
    row_tools: bool,
    targets: Sequence[ModelTarget],
    model_options: Mapping[str, Any],
) -> None:
    """Refuse a tool choice naming no tool, a clashing option, and providers without tools.

    `row_tools`: whether any row has a ``tools`` cell (checked when the input was read, with
    file, line and column).
    """
    names = {spec.name for spec in tools.tools}
    if tools.choice not in (None, *TOOL_CHOICES) and tools.choice not in names:
        known = ", ".join(f"`{n}`" for n in sorted(names)) or "none"
        msg = f"`--tool-choice` `{tools.choice}` names no tool (the tools are: {known})"
        raise UsageError(msg)
    if tools.max_steps < 1 or tools.timeout <= 0:
        msg = "`max_steps` must be at least 1 and the tool timeout positive"
        raise UsageError(msg)
    if tools.tools or tools.choice is not None or row_tools:
        for target in targets:
            provider = get_provider(target.endpoint.wire)
            if getattr(provider, "tool_options", None) is None:
                msg = f"`{target.label}`: provider `{target.endpoint.name}` cannot take tools"
                raise UsageError(msg)
            offer = provider.tool_options(tools.tools, tools.choice)  # a bad choice fails
            merge_options(model_options, offer, set_by="the tools")


def _check_row_options(prompts: pa.Table, source: Source) -> None:
    """Refuse credentials in an ``options`` column: they would be stored in the run."""
    if "options" not in prompts.column_names:
        return
    for index, text in enumerate(prompts.column("options").to_pylist()):
        keys = secret_keys(json.loads(text)) if text else []
        if keys:
            names = ", ".join(f"`{k}`" for k in keys)
            msg = (
                f"refusing to store credentials in a run: option(s) {names}. "
                "Hint: pass keys through the environment, never as options"
            )
            raise InputError(msg, file=source.path, row=source.row_label(index), column="options")


def _check_row_schemas(prompts: pa.Table, source: Source, found: dict[str, OutputSchema]) -> None:
    """Add the distinct schemas of a ``schema`` column to `found`, each checked."""
    if "schema" not in prompts.column_names:
        return
    for index, text in enumerate(prompts.column("schema").to_pylist()):
        if text and text not in found:
            try:
                found[text] = OutputSchema(load_schema(json.loads(text)))
            except UsageError as exc:
                row = source.row_label(index)
                raise InputError(str(exc), file=source.path, row=row, column="schema") from None


def _check_options(options: RunOptions) -> None:
    for name, least in (("concurrency", 1), ("max_retries", 0), ("batch_size", 1)):
        value = getattr(options, name)
        if value < least:
            msg = f"`--{name.replace('_', '-')}` must be at least {least}, got {value}"
            raise UsageError(msg)
    if options.backoff_base < 0:
        msg = f"`--retry-wait` must not be negative, got {options.backoff_base}"
        raise UsageError(msg)
    for name in ("rpm", "tpm", "timeout", "limit"):
        value = getattr(options, name)
        if value is not None and value <= 0:
            msg = f"`--{name}` must be positive, got {value}"
            raise UsageError(msg)


def open_store(request: RunRequest, prepared: Prepared) -> RunStore:
    """Create or resume the run directory for a checked run."""
    manifest = Manifest(
        models=tuple(t.label for t in prepared.targets),
        options=dict(request.model_options),
        input_fingerprint=prepared.fingerprint,
        media_root=str(prepared.media_root),
        schema=dict(request.output.schema) if request.output is not None else None,
        tools=request.tools.manifest(),
        llmframe_version=__version__,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    return RunStore.create_or_resume(prepared.out, manifest, prepared.prompts.path)


async def launch(
    request: RunRequest, *, progress: Progress | None = None, handle_signals: bool = False
) -> RunSummary:
    """Check everything, then run; with `handle_signals`, Ctrl-C stops sending and flushes."""
    prepared = prepare(request)
    if request.out is None:
        print(f"llmframe: run directory {prepared.out}", file=sys.stderr)
    try:
        store = open_store(request, prepared)
    finally:
        prepared.discard()
    try:
        runner = Runner(
            store,
            prepared.targets,
            row_targets=prepared.row_targets,
            model_options=request.model_options,
            options=request.options,
            media_root=prepared.media_root,
            progress=progress,
            output=request.output,
            tools=request.tools,
        )
        if handle_signals:
            _on_interrupt(runner)
        summary = await runner.run()
    except BaseException:
        # closing may fail for the same reason (a full disk): the first error is the one to see
        with contextlib.suppress(StoreError):
            store.close()
        raise
    store.close()
    return summary


def _on_interrupt(runner: Runner) -> None:
    """First Ctrl-C: stop sending and let requests in flight finish; second: cancel them."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    presses = 0

    def interrupted() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            runner.stop()
        elif main is not None:
            main.cancel()

    if os.name == "posix":
        loop.add_signal_handler(signal.SIGINT, interrupted)


def _shorten(value: Any, limit: int = 120) -> Any:
    """Long strings (inline media) cut for display."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... ({len(value)} chars)"
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def dry_run(request: RunRequest, *, count: int = 3) -> list[dict[str, Any]]:
    """Check everything and build the first requests, sending nothing and writing nothing."""
    prepared = prepare(request)
    try:
        head = prepared.prompts.head(count)
    finally:
        prepared.discard()
    media = MediaRoot(prepared.media_root)
    models = (
        head.column("model").to_pylist() if "model" in head.column_names else [None] * len(head)
    )
    bodies = []
    rows = zip(head["id"].to_pylist(), messages_from_arrow(head["messages"]), models, strict=True)
    for prompt_id, messages, row_model in rows:
        targets = [prepared.row_targets[row_model]] if row_model else prepared.targets
        for target in targets:
            provider = get_provider(target.endpoint.wire)
            sent, options = inline_media(messages, media), request.model_options
            offer = getattr(provider, "tool_options", None)
            if offer is not None and (request.tools.tools or request.tools.choice):
                offered = offer(request.tools.tools, request.tools.choice)
                options = merge_options(options, offered, set_by="the tools")
            if request.output is not None:
                sent, options = ask_for_json(provider, request.output).apply(sent, options)
            call = provider.build_call(target.model, sent, options, stream=request.options.stream)
            body = _shorten(dict(call.body or {}))
            url = target.base_url + call.path
            bodies.append({"prompt_id": prompt_id, "model": target.label, "url": url, "body": body})
    return bodies


def _lean_memory_pool() -> None:
    """Give Arrow an allocator that returns freed memory, unless the user chose one.

    A run allocates and frees Arrow buffers a chunk at a time for as long as it runs; Arrow's
    default mimalloc pool kept freed pages, so the process grew with the input (peak RSS over
    100k echo prompts 246 MB with mimalloc, 193 MB with jemalloc; bench/bench_scale.py).
    Only the CLI does this: it owns its process, a library user's process keeps its pool.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)


def run_from_cli(request: RunRequest, *, progress: bool) -> RunSummary:
    """Run to completion on a fresh event loop, with a progress bar when asked."""
    _lean_memory_pool()
    bar = None
    if progress:
        from llmframe.progress import TerminalProgress

        bar = TerminalProgress()
    return asyncio.run(launch(request, progress=bar, handle_signals=True))


def describe(summary: RunSummary) -> str:
    """The final lines a run prints."""
    counts = f"{summary.ok} ok, {summary.errors} errors"
    if summary.invalid or summary.repairs:
        counts += f", {summary.invalid} invalid ({summary.repairs} repair turns)"
    if summary.tool_calls:
        counts += f", {summary.tool_calls} tool calls run"
    if summary.skipped:
        counts += f", {summary.skipped} already done"
    tokens = f"tokens in {summary.input_tokens:,}, out {summary.output_tokens:,}"
    if summary.uncounted:
        tokens += f" ({summary.uncounted} ok responses came with no token counts)"
    lines = [f"run {summary.path}: {counts}; {tokens}; {summary.retries} retries"]
    if summary.errors_by_type:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary.errors_by_type.items()))
        lines.append(f"  errors by type: {kinds} (rerun with --retry-errors to send them again)")
    if summary.earlier_errors:
        lines.append(
            f"  {summary.earlier_errors} error rows from before are kept "
            "(rerun with --retry-errors to send them again)"
        )
    lines.extend(f"  note: {note}" for note in summary.notes)
    if summary.interrupted:
        lines.append("  interrupted: run the same command again to resume")
    lines.append(f'  query it: llmframe sql "select * from outputs" --run {summary.path}')
    return "\n".join(lines)
