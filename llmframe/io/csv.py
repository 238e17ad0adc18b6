"""CSV and TSV input: a header row, then one row per prompt; column types are inferred."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from llmframe.errors import InputError, raise_problems
from llmframe.io.source import ArrowSource
from llmframe.io.text import decode_utf8

__all__ = ["TEXT_COLUMNS", "looks_like_csv", "read_source"]

TEXT_COLUMNS = ("id", "prompt", "system", "model")
"""Columns always read as text, whatever they look like (an id of ``007`` stays ``007``)."""


def looks_like_csv(data: bytes) -> bool:
    """Whether the first line reads as a CSV header (UTF-8 text with a comma or tab)."""
    first = data.split(b"\n", 1)[0]
    try:
        first.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return b"," in first or b"\t" in first


def _header(text: str, delimiter: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    return [name.strip('"') for name in first.split(delimiter)]


def _ragged_rows(data: bytes, delimiter: str, file: str) -> list[InputError]:
    """Every row with the wrong number of fields, named by data row (a single-threaded pass).

    Arrow only numbers an invalid row when it parses on one thread, so this runs only after a
    fast read has failed.
    """
    problems: list[InputError] = []

    def note(row: pacsv.InvalidRow) -> str:
        text = row.text if len(row.text) <= 60 else f"{row.text[:57]}..."
        msg = f"expected {row.expected_columns} fields, got {row.actual_columns}: `{text}`"
        label = None if row.number is None else f"row {row.number - 1}"
        problems.append(InputError(msg, file=file, row=label))
        return "skip"

    options = pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True, invalid_row_handler=note
    )
    try:
        pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=options,
        )
    except pa.ArrowInvalid:
        pass
    return problems


def read_source(path: Path, data: bytes, *, delimiter: str = ",") -> ArrowSource:
    """Read CSV bytes as a source; the columns in `TEXT_COLUMNS` stay text."""
    text = decode_utf8(data, str(path))
    header = _header(text, delimiter)
    column_types = {name: pa.string() for name in TEXT_COLUMNS if name in header}
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode()),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=column_types),
        )
    except pa.ArrowInvalid as exc:
        raise_problems(_ragged_rows(text.encode(), delimiter, str(path)), str(path))
        message = re.sub(r"^CSV parse error: ", "", str(exc)).split("\n")[0]
        if "Empty CSV file" in message:
            message = "file is empty"
        msg = f"cannot parse CSV: {message}"
        raise InputError(msg, file=str(path)) from None
    return ArrowSource(str(path), "csv", table)
