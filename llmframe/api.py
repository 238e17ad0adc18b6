"""The public Python functions; the CLI is a thin shell over these."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from llmframe._sync import run_sync
from llmframe.errors import UsageError
from llmframe.io import ReadOptions, output_format, write_prompts
from llmframe.io.detect import read_source
from llmframe.io.normalize import normalize
from llmframe.io.source import Source
from llmframe.io.summary import Summary, summarize

if TYPE_CHECKING:
    import polars as pl

    from llmframe import _launch
    from llmframe.extraction.contract import OutputSchema
    from llmframe.results import Run

__all__ = [
    "aextract",
    "arun",
    "convert",
    "extract",
    "open",
    "read_prompts",
    "run",
    "to_models",
    "validate",
]

PathLike = str | os.PathLike[str]
M = TypeVar("M")


def _options(
    template: str | None,
    system: str | None,
    id_column: str | None,
    media_root: PathLike | None,
    column: str | None = None,
) -> ReadOptions:
    return ReadOptions(
        template=template, column=column, system=system, id_column=id_column, media_root=media_root
    )


def _id_source(source: Source, options: ReadOptions) -> str:
    column = options.id_column or ("id" if "id" in source.columns else None)
    return f"column `{column}`" if column else "a hash of the messages"


def _read(path: PathLike, options: ReadOptions) -> tuple[pa.Table, Summary]:
    source = read_source(path)
    table = normalize(source, options)
    summary = summarize(
        table, path=str(path), format=source.format, id_source=_id_source(source, options)
    )
    return table, summary


def read_prompts(
    path: PathLike,
    *,
    column: str | None = None,
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
) -> pa.Table:
    """Read any supported input file (Parquet, CSV, JSON Lines, JSON) as a prompts table.

    The shape is told from the columns: `column` (its text is the prompt) or `template` over
    any columns, else ``messages`` (our
    schema or OpenAI chat format), else ShareGPT ``conversations``, else ``prompt`` (with an
    optional ``system`` column, or `system` for every row). Other columns are carried through.
    """
    return _read(path, _options(template, system, id_column, media_root, column))[0]


def validate(
    path: PathLike,
    *,
    column: str | None = None,
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
) -> Summary:
    """Read and normalise `path` without writing anything; raise listing every problem found."""
    return _read(path, _options(template, system, id_column, media_root, column))[1]


def convert(
    source: PathLike,
    target: PathLike,
    *,
    column: str | None = None,
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
) -> Summary:
    """Convert an input file to a prompts Parquet file or OpenAI chat JSONL (by `target`'s suffix).

    Nothing is written unless the whole input is valid; the output appears whole or not at all.
    """
    output_format(target)
    if Path(source).resolve() == Path(target).resolve():
        msg = f"`{target}` is the input file: converting it in place would lose it"
        raise UsageError(msg)
    options = _options(template, system, id_column, media_root, column)
    table, summary = _read(source, options)
    old_root = Path(media_root) if media_root is not None else Path(source).parent
    absolute = write_prompts(table, target, media_root=old_root)
    if absolute:
        note = (
            f"{absolute} media path(s) lie outside `{Path(target).parent}` and were written as "
            f"absolute paths; read the output with `--media-root {old_root}`"
        )
        summary = dataclasses.replace(summary, notes=[*summary.notes, note])
    return summary


def _request(
    data: Any,
    model: str | None,
    *,
    models: Sequence[str] | None,
    out: PathLike | None,
    template: str | None,
    system: str | None,
    id_column: str | None,
    media_root: PathLike | None,
    base_url: str | None,
    api_key_env: str | None,
    headers: Mapping[str, str] | None,
    follow_up: str | None,
    options: Mapping[str, Any] | None,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    max_retries: int,
    timeout: float,
    stream: bool,
    limit: int | None,
    retry_errors: bool,
    progress: bool | None = None,
    column: str | None = None,
    output: OutputSchema | None = None,
    tools: Any = None,
    tool_choice: str | None = None,
    max_steps: int = 8,
    tool_timeout: float = 60.0,
) -> _launch.RunRequest:
    """The run request the keyword arguments of `arun` and `aextract` describe."""
    from llmframe import _launch
    from llmframe.io.frames import source_from_data
    from llmframe.runner import RunOptions
    from llmframe.tools.config import tool_config

    read = _options(template, system, id_column, media_root, column)
    if options is not None and not isinstance(options, Mapping):
        msg = (
            f'`options` must be a dict of model options, e.g. {{"temperature": 0}}; got {options!r}'
        )
        raise UsageError(msg)
    return _launch.RunRequest(
        source=source_from_data(data),
        models=[*([model] if model else []), *(models or [])],
        out=Path(out) if out is not None else None,
        read=read,
        model_options=dict(options or {}),
        options=RunOptions(
            concurrency=concurrency,
            rpm=rpm,
            tpm=tpm,
            max_retries=max_retries,
            timeout=timeout,
            stream=stream,
            limit=limit,
            retry_errors=retry_errors,
        ),
        base_url=base_url,
        api_key_env=api_key_env,
        headers=dict(headers or {}),
        follow_up=follow_up,
        output=output,
        tools=tool_config(tools, tool_choice, max_steps=max_steps, timeout=tool_timeout),
    )


async def arun(
    data: Any,
    model: str | None = None,
    *,
    models: Sequence[str] | None = None,
    out: PathLike | None = None,
    column: str | None = None,
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    follow_up: str | None = None,
    options: Mapping[str, Any] | None = None,
    concurrency: int = 16,
    rpm: float | None = None,
    tpm: float | None = None,
    max_retries: int = 6,
    timeout: float = 300.0,
    stream: bool = True,
    limit: int | None = None,
    retry_errors: bool = False,
    tools: Any = None,
    tool_choice: str | None = None,
    max_steps: int = 8,
    tool_timeout: float = 60.0,
    progress: bool | None = None,
) -> Run:
    """Run every prompt in `data` through `model` (or each of `models`); return the `Run`.

    `data` is a path (Parquet, CSV, JSON Lines, JSON), a list of prompts, of conversations
    (lists of message dicts or `Message` objects) or of row dicts, a pandas or polars DataFrame,
    a pyarrow Table or RecordBatchReader, or a DuckDB relation. `options` are model options
    (``{"temperature": 0}``). `tools` offers tools to the model: a JSON/YAML file of definitions,
    or a list of definitions (dicts) and Python functions; functions are *run*: their results go
    back to the model until it answers without tool calls or `max_steps` model calls were made
    (each call of a tool within `tool_timeout` seconds). Every step is a row of the run.
    Without `out` the run goes to ``llmframe-runs/<name>-<hash>``,
    named by the data and options, so calling again with the same arguments resumes it.
    Example: ``run = await llmframe.arun(["hi"], model="echo")``.
    """
    arguments = dict(locals())
    from llmframe import _launch
    from llmframe.progress import choose_progress
    from llmframe.results import Run

    request = _request(**arguments)
    summary = await _launch.launch(request, progress=choose_progress(progress))
    return Run(summary.path, last=summary)


def run(
    data: Any,
    model: str | None = None,
    *,
    models: Sequence[str] | None = None,
    out: PathLike | None = None,
    column: str | None = None,
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    follow_up: str | None = None,
    options: Mapping[str, Any] | None = None,
    concurrency: int = 16,
    rpm: float | None = None,
    tpm: float | None = None,
    max_retries: int = 6,
    timeout: float = 300.0,
    stream: bool = True,
    limit: int | None = None,
    retry_errors: bool = False,
    tools: Any = None,
    tool_choice: str | None = None,
    max_steps: int = 8,
    tool_timeout: float = 60.0,
    progress: bool | None = None,
) -> Run:
    """The synchronous `arun`; it also works inside Jupyter or any running event loop.

    Example: ``llmframe.run(["hi", "ünïcödé 🚀"], model="echo").outputs()``.
    """
    arguments = {k: v for k, v in locals().items() if k not in ("data", "model")}
    return run_sync(lambda: arun(data, model, **arguments))


def open(path: PathLike) -> Run:
    """An existing run directory (finished, running or killed) as a `Run`."""
    from llmframe.results import Run

    return Run(Path(path))


async def aextract(
    data: Any,
    schema: str | dict[str, Any] | type,
    model: str | None = None,
    *,
    models: Sequence[str] | None = None,
    column: str | None = None,
    template: str | None = None,
    instructions: str | None = None,
    multi: bool = False,
    repair: int = 1,
    out: PathLike | None = None,
    run_dir: PathLike | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    concurrency: int = 16,
    rpm: float | None = None,
    tpm: float | None = None,
    max_retries: int = 6,
    timeout: float = 300.0,
    stream: bool = True,
    limit: int | None = None,
    retry_errors: bool = False,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Extract `schema`'s fields from each row of `data`: a typed polars DataFrame.

    `schema` is a JSON Schema dict, a pydantic model class, or text: inline JSON, a ``.json``
    file, ``package.module:ClassName`` or the field DSL (``"name, age int, tags list[str]"``).
    Each row's text comes from `column` (or a `template`, or a ``prompt``/``messages`` column);
    `instructions` replaces the default system prompt. Each answer is validated against the
    schema and gets up to `repair` repair turns. The frame has the input's columns, one typed
    column per field, then ``_status`` (``ok``/``invalid``/``error``), ``_error``, ``_model``
    and ``_id``; with `multi`, the schema is one item and each row yields a row per item (plus
    ``_item``). The run goes to `run_dir` (default: beside `out`, else
    ``llmframe-runs/<name>-<hash>``), so calling again resumes; `out` also writes Parquet.
    Example: ``llmframe.extract(["I loved it"], "sentiment enum(pos|neg), score int",
    model="echo")``. With a pydantic `schema`, `llmframe.to_models` gives the instances.
    """
    from llmframe import _launch
    from llmframe._frames import to_frame
    from llmframe.extraction.job import Extraction, check_out, default_run_dir, write_output
    from llmframe.progress import choose_progress

    extraction = Extraction.load(schema, multi=multi, repair=repair)
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_out(out_path)
    if run_dir is None and out_path is not None:
        run_dir = default_run_dir(out_path)
    request = _request(
        data,
        model,
        models=models,
        out=run_dir,
        template=template,
        system=instructions or extraction.instructions,
        id_column=id_column,
        media_root=media_root,
        base_url=base_url,
        api_key_env=api_key_env,
        headers=headers,
        follow_up=None,
        options=options,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        max_retries=max_retries,
        timeout=timeout,
        stream=stream,
        limit=limit,
        retry_errors=retry_errors,
        column=column,
        output=extraction.output(),
    )
    summary = await _launch.launch(request, progress=choose_progress(progress))
    table = extraction.table(summary.path, request.models)
    if out_path is not None:
        write_output(table, out_path)
    return to_frame(table, "polars")


def extract(
    data: Any,
    schema: str | dict[str, Any] | type,
    model: str | None = None,
    *,
    models: Sequence[str] | None = None,
    column: str | None = None,
    template: str | None = None,
    instructions: str | None = None,
    multi: bool = False,
    repair: int = 1,
    out: PathLike | None = None,
    run_dir: PathLike | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    concurrency: int = 16,
    rpm: float | None = None,
    tpm: float | None = None,
    max_retries: int = 6,
    timeout: float = 300.0,
    stream: bool = True,
    limit: int | None = None,
    retry_errors: bool = False,
    progress: bool | None = None,
) -> pl.DataFrame:
    """The synchronous `aextract`; it also works inside Jupyter or any running event loop.

    Example: ``llmframe.extract("reviews.csv", "sentiment enum(pos|neg), score int",
    model="echo", column="review")``.
    """
    arguments = {k: v for k, v in locals().items() if k not in ("data", "schema", "model")}
    return run_sync(lambda: aextract(data, schema, model, **arguments))


def to_models(frame: Any, model: type[M]) -> list[M | None]:
    """The rows of an extraction frame as `model` instances; None where ``_status`` is not ok.

    `frame` is what `extract` returned (or the same table as pandas or pyarrow), `model` the
    pydantic model it was extracted with. Example: ``llmframe.to_models(frame, Review)``.
    """
    from llmframe.extraction.answer import drop_optional_nulls
    from llmframe.extraction.arrow import FALLBACK_KEY, arrow_fields
    from llmframe.extraction.load import load_schema

    table = _arrow_table(frame)
    schema = load_schema(model)
    fields = arrow_fields(schema)
    missing = [f.name for f in fields if f.name not in table.column_names]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        msg = f"the frame has no column {names} of `{model.__name__}`"
        raise UsageError(msg)
    statuses = table.column("_status").to_pylist() if "_status" in table.column_names else None
    as_json = [f.name for f in fields if f.metadata and FALLBACK_KEY in f.metadata]
    instances: list[M | None] = []
    for index, row in enumerate(table.select([f.name for f in fields]).to_pylist()):
        if statuses is not None and statuses[index] != "ok":
            instances.append(None)
            continue
        for name in as_json:
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        instances.append(model.model_validate(drop_optional_nulls(row, schema)))
    return instances


def _arrow_table(frame: Any) -> pa.Table:
    """A polars, pandas or pyarrow table as pyarrow."""
    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # polars
        return frame.to_arrow()
    if hasattr(frame, "to_dict") and hasattr(frame, "columns"):  # pandas
        return pa.Table.from_pandas(frame, preserve_index=False)
    msg = f"expected a polars, pandas or pyarrow table, got {type(frame).__name__}"
    raise UsageError(msg)
