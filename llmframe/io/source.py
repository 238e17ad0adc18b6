"""A table as read from a file, before it is normalised into prompts.

Three shapes share one interface: `ArrowSource` (CSV, a table in memory: typed columns, kept
exactly), `ParquetSource` (a Parquet file, read a slice at a time) and `RecordSource` (JSON Lines,
JSON: Python records, so nested values of mixed shapes survive). `Source.chunks` hands the rows
over in slices that label their rows as the whole source does, so a million rows are normalised
a slice at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from llmframe import _json
from llmframe.errors import InputError
from llmframe.schema import JSON

__all__ = ["ArrowSource", "ParquetSource", "RecordSource", "Source", "batches"]


class Source(Protocol):
    """A table read from one file."""

    path: str
    format: str
    problems: list[InputError]
    """Rows that could not be read at all (a malformed JSON line); the others are still checked."""

    @property
    def columns(self) -> list[str]:
        """Column names, in file order."""
        ...

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        ...

    def values(self, column: str) -> list[Any]:
        """One column as Python values."""
        ...

    def arrow_columns(self, columns: Sequence[str]) -> pa.Table:
        """Some columns as an Arrow table, types kept."""
        ...

    def row_label(self, index: int) -> str:
        """Where row `index` (0-based) is in the file, for error messages: ``line 4``, ``row 3``."""
        ...

    def chunks(self, rows: int) -> Iterator[Source]:
        """The rows, `rows` at a time (one empty chunk if there are none), labelled as here.

        Every chunk has the source's columns with the source's types.
        """
        ...


@dataclass
class ArrowSource:
    """A source whose columns are already typed Arrow data."""

    path: str
    format: str
    table: pa.Table
    problems: list[InputError] = field(default_factory=list)
    offset: int = 0
    """The position of the first row in the whole source (for row labels)."""

    @property
    def columns(self) -> list[str]:
        """Column names, in file order."""
        return list(self.table.column_names)

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return self.table.num_rows

    def values(self, column: str) -> list[Any]:
        """One column as Python values."""
        return self.table.column(column).to_pylist()

    def arrow_columns(self, columns: Sequence[str]) -> pa.Table:
        """Some columns as an Arrow table, types kept."""
        return self.table.select(list(columns))

    def row_label(self, index: int) -> str:
        """``row N``, counting data rows from 1."""
        return f"row {self.offset + index + 1}"

    def chunks(self, rows: int) -> Iterator[ArrowSource]:
        """Slices of the table (no copies)."""
        for start in range(0, max(self.num_rows, 1), rows):
            piece = self.table.slice(start, rows)
            yield ArrowSource(self.path, self.format, piece, offset=self.offset + start)


def batches(
    file: pq.ParquetFile, batch_size: int, *, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The file's rows in batches of up to `batch_size`, none spanning two row groups.

    pyarrow cannot make a batch of nested columns (``messages``) across a row group boundary
    ("Nested data conversions not implemented for chunked array outputs"), so each row group
    is read on its own; its last batch may be short.
    """
    for group in range(file.metadata.num_row_groups):
        yield from file.iter_batches(batch_size=batch_size, row_groups=[group], columns=columns)


def _unreadable(path: str, exc: Exception) -> InputError:
    msg = f"not a readable Parquet file: {exc}"
    return InputError(msg, file=path)


@dataclass
class ParquetSource:
    """A Parquet file, opened but not read: its rows are read a chunk at a time."""

    path: str
    format: str = "parquet"
    problems: list[InputError] = field(default_factory=list)

    def __post_init__(self) -> None:
        try:
            self._file = pq.ParquetFile(self.path)
            self._schema = self._file.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(self.path, exc) from None

    @property
    def columns(self) -> list[str]:
        """Column names, in file order."""
        return list(self._schema.names)

    @property
    def num_rows(self) -> int:
        """Number of rows (from the file's metadata)."""
        return int(self._file.metadata.num_rows)

    def values(self, column: str) -> list[Any]:
        """One column as Python values (reads the whole column)."""
        return self.arrow_columns([column]).column(0).to_pylist()

    def arrow_columns(self, columns: Sequence[str]) -> pa.Table:
        """Some columns as an Arrow table, types kept (reads them whole)."""
        try:
            return self._file.read(columns=list(columns))
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(self.path, exc) from None

    def row_label(self, index: int) -> str:
        """``row N``, counting data rows from 1."""
        return f"row {index + 1}"

    def chunks(self, rows: int) -> Iterator[ArrowSource]:
        """Tables of exactly `rows` rows (the last may be shorter), whatever the row groups."""
        start, pending, count = 0, [], 0
        try:
            for batch in batches(self._file, rows):
                pending.append(batch)
                count += batch.num_rows
                while count >= rows:
                    table = pa.Table.from_batches(pending, schema=self._schema)
                    yield ArrowSource(self.path, self.format, table.slice(0, rows), offset=start)
                    start += rows
                    count -= rows
                    pending = table.slice(rows).to_batches() if count else []
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(self.path, exc) from None
        if count or not start:
            table = pa.Table.from_batches(pending, schema=self._schema)
            yield ArrowSource(self.path, self.format, table, offset=start)


def _identical(left: Any, right: Any) -> bool:
    """Equal with the same types all the way down (``1`` is not ``1.0``; no keys added)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_identical(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_identical, left, right))
    return bool(left == right)


def _column_array(values: list[Any]) -> pa.Array:
    """Values of one JSON column as Arrow, typed where Arrow keeps them exactly.

    Where inference would change a value (objects with differing keys gain nulls, ints mixed
    with floats become floats, ints beyond 64 bits overflow) the column is kept as JSON text.
    """
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        array = None
    if array is not None and _identical(array.to_pylist(), values):
        return array
    texts = [None if v is None else _json.dumps(v) for v in values]
    return pa.array(texts, type=pa.string()).cast(JSON)


@dataclass
class RecordSource:
    """A source of JSON records, each with the line it came from (JSON Lines) or its position."""

    path: str
    format: str
    records: list[dict[str, Any]]
    lines: list[int] | None = None
    problems: list[InputError] = field(default_factory=list)
    offset: int = 0
    """The position of the first record in the whole source (for row labels)."""
    _columns: list[str] = field(default_factory=list, init=False)
    _whole: RecordSource | None = field(default=None, init=False, repr=False)
    _typed: dict[tuple[str, ...], pa.Table] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._columns = list(dict.fromkeys(key for record in self.records for key in record))

    @property
    def columns(self) -> list[str]:
        """Keys seen in any record, in order of first appearance."""
        return self._columns

    @property
    def num_rows(self) -> int:
        """Number of records."""
        return len(self.records)

    def values(self, column: str) -> list[Any]:
        """One key's values; a record without the key gives None."""
        return [record.get(column) for record in self.records]

    def arrow_columns(self, columns: Sequence[str]) -> pa.Table:
        """Some keys as Arrow columns, types inferred per column (over the whole source)."""
        if self._whole is not None:
            return self._whole.arrow_columns(columns).slice(self.offset, self.num_rows)
        key = tuple(columns)
        if key not in self._typed:
            self._typed = {key: pa.table({n: _column_array(self.values(n)) for n in columns})}
        return self._typed[key]

    def row_label(self, index: int) -> str:
        """``line N`` for JSON Lines, ``row N`` (counting from 1) for a JSON array."""
        if self.lines is not None:
            return f"line {self.lines[index]}"
        return f"row {self.offset + index + 1}"

    def chunks(self, rows: int) -> Iterator[RecordSource]:
        """Slices of the records with the whole source's columns and column types."""
        for start in range(0, max(self.num_rows, 1), rows):
            lines = None if self.lines is None else self.lines[start : start + rows]
            piece = RecordSource(
                self.path, self.format, self.records[start : start + rows], lines, offset=start
            )
            piece._columns = self._columns
            piece._whole = self
            yield piece
