"""CSV and TSV input: a header row, then one row per prompt; column types are inferred."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from llmframe.errors import InputError
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
        message = re.sub(r"^CSV parse error: ", "", str(exc)).split("\n")[0]
        if "Empty CSV file" in message:
            message = "file is empty"
        msg = f"cannot parse CSV: {message}"
        raise InputError(msg, file=str(path)) from None
    return ArrowSource(str(path), "csv", table)
