"""The public Python functions; the CLI is a thin shell over these."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pyarrow as pa

from llmframe.io import ReadOptions, output_format, write_prompts
from llmframe.io.detect import read_source
from llmframe.io.normalize import normalize
from llmframe.io.source import Source
from llmframe.io.summary import Summary, summarize

__all__ = ["convert", "read_prompts", "validate"]

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
