"""The public Python functions; the CLI is a thin shell over these."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from llmframe._sync import run_sync
from llmframe.io import ReadOptions, output_format, write_prompts
from llmframe.io.detect import read_source
from llmframe.io.normalize import normalize
from llmframe.io.source import Source
from llmframe.io.summary import Summary, summarize

if TYPE_CHECKING:
    from llmframe.results import Run

__all__ = ["arun", "convert", "open", "read_prompts", "run", "validate"]

PathLike = str | os.PathLike[str]


def _options(
    template: str | None, system: str | None, id_column: str | None, media_root: PathLike | None
) -> ReadOptions:
    return ReadOptions(template=template, system=system, id_column=id_column, media_root=media_root)


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
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
) -> pa.Table:
    """Read any supported input file (Parquet, CSV, JSON Lines, JSON) as a prompts table.

    The shape is told from the columns: `template` over any columns, else ``messages`` (our
    schema or OpenAI chat format), else ShareGPT ``conversations``, else ``prompt`` (with an
    optional ``system`` column, or `system` for every row). Other columns are carried through.
    """
    return _read(path, _options(template, system, id_column, media_root))[0]


def validate(
    path: PathLike,
    *,
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
) -> Summary:
    """Read and normalise `path` without writing anything; raise listing every problem found."""
    return _read(path, _options(template, system, id_column, media_root))[1]


def convert(
    source: PathLike,
    target: PathLike,
    *,
    template: str | None = None,
    system: str | None = None,
    id_column: str | None = None,
    media_root: PathLike | None = None,
) -> Summary:
    """Convert an input file to a prompts Parquet file or OpenAI chat JSONL (by `target`'s suffix).

    Nothing is written unless the whole input is valid; the output appears whole or not at all.
    """
    output_format(target)
    options = _options(template, system, id_column, media_root)
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


async def arun(
    data: Any,
    model: str | None = None,
    *,
    models: Sequence[str] | None = None,
    out: PathLike | None = None,
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
    progress: bool | None = None,
) -> Run:
    """Run every prompt in `data` through `model` (or each of `models`); return the `Run`.

    `data` is a path (Parquet, CSV, JSON Lines, JSON), a list of prompts, of conversations
    (lists of message dicts or `Message` objects) or of row dicts, a pandas or polars DataFrame,
    a pyarrow Table or RecordBatchReader, or a DuckDB relation. `options` are model options
    (``{"temperature": 0}``). Without `out` the run goes to ``llmframe-runs/<name>-<hash>``,
    named by the data and options, so calling again with the same arguments resumes it.
    Example: ``run = await llmframe.arun(["hi"], model="echo")``.
    """
    from llmframe import _launch
    from llmframe.io.frames import source_from_data
    from llmframe.progress import choose_progress
    from llmframe.results import Run
    from llmframe.runner import RunOptions

    labels = [*([model] if model else []), *(models or [])]
    request = _launch.RunRequest(
        source=source_from_data(data),
        models=labels,
        out=Path(out) if out is not None else None,
        read=_options(template, system, id_column, media_root),
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
    )
    summary = await _launch.launch(request, progress=choose_progress(progress))
    return Run(summary.path, last=summary)


def run(
    data: Any,
    model: str | None = None,
    *,
    models: Sequence[str] | None = None,
    out: PathLike | None = None,
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
