"""Open an input file and tell its format by its content, the extension only breaking ties."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from llmframe.errors import InputError, raise_problems
from llmframe.io import csv, jsonl, parquet
from llmframe.io.source import Source

__all__ = ["FORMATS", "read_source", "sniff_format"]

FORMATS = ("parquet", "csv", "jsonl", "json")
_JSON_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
_CSV_SUFFIXES = {".csv", ".tsv"}


def _unreadable(path: Path, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError("file not found", file=str(path))
    if isinstance(exc, IsADirectoryError):
        return InputError("is a folder, not a file", file=str(path))
    return InputError(f"cannot read: {exc.strerror or exc}", file=str(path))


def _is_parquet(path: Path) -> bool:
    """Whether the file starts as Parquet does (then it is read lazily, not into memory)."""
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"PAR1"
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            msg = f"broken gzip data: {exc}"
            raise InputError(msg, file=str(path)) from None
    if not data.strip():
        msg = "file is empty"
        raise InputError(msg, file=str(path))
    return data


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def sniff_format(path: Path, data: bytes) -> str:
    """Name the format of `data`: ``parquet``, ``jsonl``, ``json`` or ``csv``."""
    if data[:4] == b"PAR1":
        return "parquet"
    suffix = _suffix(path)
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"[":
        return "json"
    if start == b"{":
        return "json" if suffix == ".json" and jsonl.is_single_document(data) else "jsonl"
    if suffix in _JSON_SUFFIXES:
        return _JSON_SUFFIXES[suffix]
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if b"\x00" not in data[:65536] and csv.looks_like_csv(data):
        return "csv"
    msg = "unknown format: not Parquet, JSON Lines, JSON or CSV"
    raise InputError(msg, file=str(path))


def read_source(path: str | os.PathLike[str]) -> Source:
    """Read an input file into a `Source`, whatever its format."""
    file = Path(path)
    if _is_parquet(file):
        source: Source = parquet.open_source(file)
        if source.num_rows == 0:
            msg = "no rows"
            raise InputError(msg, file=str(path))
        return source
    data = _read_bytes(file)
    fmt = sniff_format(file, data)
    if fmt == "parquet":  # compressed: read from memory
        source = parquet.read_source(file, data)
    elif fmt == "csv":
        source = csv.read_source(file, data, delimiter="\t" if _suffix(file) == ".tsv" else ",")
    elif fmt == "json":
        source = jsonl.read_json_source(file, data)
    else:
        source = jsonl.read_jsonl_source(file, data)
    if source.num_rows == 0:
        if source.problems:
            raise_problems(source.problems, str(path))
        msg = "no rows"
        raise InputError(msg, file=str(path))
    return source
