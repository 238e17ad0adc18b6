"""Readers and writers: any supported input file to a prompts table, and prompts back out."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from llmframe.errors import UsageError
from llmframe.io import jsonl, parquet
from llmframe.io.detect import read_source
from llmframe.io.media import is_local_path, map_media, rebase_path
from llmframe.io.normalize import ReadOptions, normalize
from llmframe.parts.arrow import messages_from_arrow, messages_to_arrow
from llmframe.parts.types import MediaPart

__all__ = ["OUTPUT_FORMATS", "ReadOptions", "output_format", "read_prompts", "write_prompts"]

OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def read_prompts(path: str | os.PathLike[str], options: ReadOptions | None = None) -> pa.Table:
    """Read and normalise an input file (Parquet, CSV, JSON Lines, JSON) into a prompts table."""
    return normalize(read_source(path), options or ReadOptions())


def output_format(path: str | os.PathLike[str]) -> str:
    """The output format an output path asks for, by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        known = ", ".join(OUTPUT_FORMATS)
        msg = f"cannot tell the output format of `{path}`; name it with one of: {known}"
        raise UsageError(msg)
    return OUTPUT_FORMATS[suffix]


def _rebase_media(table: pa.Table, old_root: Path, new_root: Path) -> tuple[pa.Table, int]:
    """Make local media paths relative to a new media root (the output's folder).

    Returns the table and how many paths had to become absolute (they are outside `new_root`).
    """
    absolute = 0

    def rebase(part: MediaPart) -> MediaPart:
        nonlocal absolute
        if part.uri is None or not is_local_path(part.uri):
            return part
        rebased = rebase_path(part.uri, old_root, new_root)
        absolute += Path(rebased).is_absolute()
        return part.model_copy(update={"uri": rebased})

    conversations = messages_from_arrow(table.column("messages"))
    rebased = [map_media(conversation, rebase) for conversation in conversations]
    if rebased == conversations:
        return table, 0
    index = table.column_names.index("messages")
    messages = messages_to_arrow(rebased)
    return table.set_column(index, table.field("messages"), messages), absolute


def write_prompts(
    table: pa.Table,
    path: str | os.PathLike[str],
    *,
    media_root: str | os.PathLike[str] | None = None,
) -> int:
    """Write a prompts table as Parquet or OpenAI chat JSONL, by the path's extension.

    Local media paths in the table are relative to `media_root`; when it is given they are
    rewritten relative to the output's folder, which is where a reader of the output looks.
    Media outside that folder is written with absolute paths; returns how many.
    """
    target = Path(path)
    absolute = 0
    if media_root is not None and Path(media_root).resolve() != target.parent.resolve():
        table, absolute = _rebase_media(table, Path(media_root), target.parent)
    if output_format(target) == "parquet":
        parquet.write_table(table, target)
    else:
        jsonl.write_openai_jsonl(table, target)
    return absolute
