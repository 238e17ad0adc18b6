"""A table as read from a file, before it is normalised into prompts.

Two shapes share one interface: `ArrowSource` (Parquet, CSV: typed columns, kept exactly) and
`RecordSource` (JSON Lines, JSON: Python records, so nested values of mixed shapes survive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from llmframe import _json
from llmframe.errors import InputError
from llmframe.schema import JSON

__all__ = ["ArrowSource", "RecordSource", "Source"]


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


@dataclass
class ArrowSource:
    """A source whose columns are already typed Arrow data."""

    path: str
    format: str
    table: pa.Table
    problems: list[InputError] = field(default_factory=list)

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
        return f"row {index + 1}"


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
    _columns: list[str] = field(default_factory=list, init=False)

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
        """Some keys as Arrow columns, types inferred per column."""
        return pa.table({name: _column_array(self.values(name)) for name in columns})

    def row_label(self, index: int) -> str:
        """``line N`` for JSON Lines, ``row N`` (counting from 1) for a JSON array."""
        if self.lines is not None:
            return f"line {self.lines[index]}"
        return f"row {index + 1}"
