"""Parquet: read an input table, write a prompts table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llmframe._atomic import atomic_path
from llmframe.errors import InputError
from llmframe.io.source import ArrowSource, ParquetSource, batches

__all__ = ["batches", "open_source", "read_source", "write_table"]


def open_source(path: Path) -> ParquetSource:
    """Open a Parquet file as a source that reads its rows a chunk at a time."""
    return ParquetSource(str(path))


def read_source(path: Path, data: bytes) -> ArrowSource:
    """Read a Parquet file already in memory (it was compressed) as a source."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        msg = f"not a readable Parquet file: {exc}"
        raise InputError(msg, file=str(path)) from None
    return ArrowSource(str(path), "parquet", table)


def write_table(table: pa.Table, path: Path) -> None:
    """Write a table as Parquet, whole or not at all."""
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")
