"""JSON Lines and JSON input; OpenAI chat JSONL output."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from llmframe import _json
from llmframe._atomic import atomic_path
from llmframe.errors import InputError, UnsupportedPart
from llmframe.io.openai_chat import message_to_openai
from llmframe.io.source import RecordSource
from llmframe.io.text import decode_utf8
from llmframe.parts.arrow import messages_from_arrow
from llmframe.schema import JSON

__all__ = ["is_single_document", "read_json_source", "read_jsonl_source", "write_openai_jsonl"]


def _record(value: Any, file: str, label: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"expected a JSON object, got {type(value).__name__}"
        raise InputError(msg, file=file, row=label)
    return value


def is_single_document(data: bytes) -> bool:
    """Whether `data` is one JSON value spread over several lines (not JSON Lines)."""
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        json.loads(first)
    except ValueError:
        try:
            json.loads(data)
        except ValueError:
            return False
        return True
    return False


def read_jsonl_source(path: Path, data: bytes) -> RecordSource:
    """Read JSON Lines: one object per line, blank lines skipped.

    A malformed line is kept aside as a problem, so the other lines are still checked and every
    problem in the file is reported together.
    """
    file = str(path)
    records, lines, problems = [], [], []
    for number, line in enumerate(decode_utf8(data, file).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(_record(_json.loads(line), file, f"line {number}"))
            lines.append(number)
        except InputError as exc:
            problems.append(exc)
        except json.JSONDecodeError as exc:  # its own "line 1 column N" would mislead
            msg = f"malformed JSON: {exc.msg} (column {exc.colno})"
            problems.append(InputError(msg, file=file, row=f"line {number}"))
        except ValueError as exc:
            msg = f"malformed JSON: {exc}"
            problems.append(InputError(msg, file=file, row=f"line {number}"))
    return RecordSource(file, "jsonl", records, lines, problems=problems)


def read_json_source(path: Path, data: bytes) -> RecordSource:
    """Read a JSON document: an array of objects, or one object (one row)."""
    file = str(path)
    try:
        document = _json.loads(decode_utf8(data, file))
    except json.JSONDecodeError as exc:
        msg = f"malformed JSON: {exc.msg} (column {exc.colno})"
        raise InputError(msg, file=file, row=f"line {exc.lineno}") from None
    except ValueError as exc:
        msg = f"malformed JSON: {exc}"
        raise InputError(msg, file=file) from None
    items = document if isinstance(document, list) else [document]
    records, problems = [], []
    for index, item in enumerate(items):
        try:
            records.append(_record(item, file, f"row {index + 1}"))
        except InputError as exc:
            problems.append(exc)
    return RecordSource(file, "json", records, problems=problems)


def _plain(value: Any) -> Any:
    """A user column value in a JSON-ready form."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, dt.timedelta)):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    if column.type == JSON:
        return [None if v is None else _json.loads(v) for v in column.cast(pa.string()).to_pylist()]
    return [_plain(v) for v in column.to_pylist()]


def write_openai_jsonl(table: pa.Table, path: Path) -> None:
    """Write a prompts table as OpenAI chat JSONL: ``id``, ``messages``, then the other columns.

    JSON columns (options, schema, tools, and user columns stored as JSON) are written as JSON
    values; bytes as base64; dates and times in ISO 8601.
    """
    conversations = messages_from_arrow(table.column("messages"))
    others = [name for name in table.column_names if name not in ("id", "messages")]
    columns = {name: _column_values(table.column(name)) for name in others}
    ids = table.column("id").to_pylist()
    with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as out:
        for index, conversation in enumerate(conversations):
            messages = []
            for m_index, message in enumerate(conversation):
                try:
                    messages.extend(message_to_openai(message))
                except UnsupportedPart as exc:
                    msg = f"{path}: id `{ids[index]}`: message {m_index + 1}: {exc}"
                    raise UnsupportedPart(msg, provider=exc.provider) from None
            record = {"id": ids[index], "messages": messages}
            record.update({name: values[index] for name, values in columns.items()})
            out.write(_json.dumps(record))
            out.write("\n")
