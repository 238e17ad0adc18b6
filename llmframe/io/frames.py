"""In-memory data as a source: lists, DataFrames, Arrow tables, DuckDB relations.

Whatever the shape, the result is read by the same normaliser as a file, so a list of prompts
and a CSV of prompts give the same table. Nothing here imports pandas, polars or DuckDB: objects
are recognised by the interfaces they offer (``to_arrow``, ``__arrow_c_stream__``...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from llmframe.errors import UsageError
from llmframe.io.source import ArrowSource, RecordSource, Source
from llmframe.parts.types import Message

__all__ = ["source_from_data"]

_LABELS = {"list": "<list>", "table": "<table>"}


def _is_conversation(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and all(isinstance(m, (Mapping, Message)) for m in item)


def _records(items: Sequence[Any]) -> list[dict[str, Any]]:
    if all(isinstance(item, str) for item in items):
        return [{"prompt": item} for item in items]
    if all(_is_conversation(item) for item in items):
        return [{"messages": list(item)} for item in items]
    if all(isinstance(item, Mapping) for item in items):
        return [dict(item) for item in items]
    kinds = sorted({type(item).__name__ for item in items})
    msg = (
        "a list of data must hold only prompts (str), only conversations (lists of messages) "
        f"or only rows (dicts); got {', '.join(kinds)}"
    )
    raise UsageError(msg)


def _arrow_table(data: Any) -> pa.Table | None:
    """An Arrow table from anything that offers one, else None."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    for method in ("to_arrow_table", "to_arrow", "arrow"):  # DuckDB relation, polars
        convert = getattr(data, method, None)
        if callable(convert):
            result = convert()
            return result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all()
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    return None


def source_from_data(data: Any) -> Path | Source:
    """A path stays a path (its folder is the media root); in-memory data becomes a source."""
    if isinstance(data, (str, os.PathLike)):
        return Path(data)
    if isinstance(data, (list, tuple)):
        if not data:
            msg = "no rows: the list is empty"
            raise UsageError(msg)
        return RecordSource(_LABELS["list"], "list", _records(data))
    table = _arrow_table(data)
    if table is not None:
        if table.num_rows == 0:
            msg = "no rows: the table is empty"
            raise UsageError(msg)
        return ArrowSource(_LABELS["table"], "arrow", table)
    msg = (
        f"cannot read a {type(data).__name__}; pass a path, a list of prompts, conversations or "
        "dicts, a pandas or polars DataFrame, a pyarrow Table or a DuckDB relation"
    )
    raise UsageError(msg)
