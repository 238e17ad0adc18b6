"""Journal segments -> the responses and parts tables (`llmframe.schema.RESPONSES`, ``PARTS``).

The lines are parsed by Arrow's JSON reader against a fixed schema, so compaction does not
visit records in Python (except to decode base64 ``data``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from llmframe.parts.arrow import storage_type
from llmframe.schema import PART_FIELDS, PARTS, RESPONSES
from llmframe.store.journal import VERSION, Segment, locate_corruption

__all__ = ["SEGMENT_COLUMNS", "Tables", "concat", "segment_tables", "with_origin"]

SEGMENT_COLUMNS = pa.schema([pa.field("_segment", pa.string()), pa.field("_row", pa.int64())])
"""Where a row comes from: its segment's name and its position there (`with_origin`)."""


def _journal_type(data_type: pa.DataType) -> pa.DataType:
    """How a column is spelled in a journal line: labels as text, timestamps as integers."""
    data_type = storage_type(data_type)
    if pa.types.is_dictionary(data_type):
        return data_type.value_type
    if pa.types.is_timestamp(data_type) or pa.types.is_binary(data_type):
        return pa.int64() if pa.types.is_timestamp(data_type) else pa.string()
    return data_type


_RESPONSE = pa.struct([pa.field(f.name, _journal_type(f.type)) for f in RESPONSES])
_PART = pa.struct([pa.field(f.name, _journal_type(f.type)) for f in PART_FIELDS])
_LINE = pa.schema([("v", pa.int64()), ("r", _RESPONSE), ("p", pa.list_(_PART))])
_MIN_BLOCK = 1 << 20


@dataclass(frozen=True)
class Tables:
    """The responses and parts of some records."""

    responses: pa.Table
    parts: pa.Table


def _empty(schema: pa.Schema) -> pa.Table:
    # `pa.nulls`, not `pa.array([])`: the latter imports pandas when it is installed (0.4 s
    # of every `llmframe sql`)
    arrays = [pa.nulls(0, storage_type(f.type)).cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _parse(segment: Segment) -> pa.Table:
    longest = max(map(len, segment.data.split(b"\n")))
    options = pj.ReadOptions(block_size=max(_MIN_BLOCK, 2 * longest + 2))
    parse = pj.ParseOptions(explicit_schema=_LINE, unexpected_field_behavior="error")
    try:
        lines = pj.read_json(
            pa.BufferReader(segment.data), read_options=options, parse_options=parse
        )
    except pa.ArrowInvalid:
        raise locate_corruption(segment.data, segment.path) from None
    if (
        lines.num_rows != segment.records
        or not pc.all(pc.equal(lines.column("v"), VERSION)).as_py()
    ):
        raise locate_corruption(segment.data, segment.path)
    return lines


def _decode_base64(column: pa.Array) -> pa.Array:
    if column.null_count == len(column):
        return column.cast(pa.binary())
    values = column.to_pylist()
    return pa.array([None if v is None else base64.b64decode(v) for v in values], pa.binary())


def _column(array: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_binary(target):
        return _decode_base64(array)
    return array.cast(storage_type(target)).cast(target)


def segment_tables(segment: Segment) -> Tables:
    """The responses of a segment's records, in order, and their parts, in order."""
    if not segment.records:
        return Tables(_empty(RESPONSES), _empty(PARTS))
    lines = _parse(segment)
    record = lines.column("r").combine_chunks()
    responses = [_column(record.field(f.name), f.type) for f in RESPONSES]
    parts = lines.column("p").combine_chunks()
    parents = pc.list_parent_indices(parts)
    starts = pc.subtract(parts.offsets.slice(0, len(parts)), parts.offsets[0])
    position = pa.array(range(len(parents)), pa.int64())
    part_index = pc.subtract(position, starts.take(parents)).cast(pa.int32())
    flat = pc.list_flatten(parts)
    ids = [
        _column(record.field(name), RESPONSES.field(name).type).take(parents)
        for name in ("response_id", "prompt_id", "model", "step")
    ]
    fields = [_column(flat.field(f.name), f.type) for f in PART_FIELDS]
    return Tables(
        pa.Table.from_arrays(responses, schema=RESPONSES),
        pa.Table.from_arrays([*ids, part_index, *fields], schema=PARTS),
    )


def with_origin(table: pa.Table, segment: str) -> pa.Table:
    """`table` with the `SEGMENT_COLUMNS` appended: `segment` and each row's position."""
    rows = table.num_rows
    table = table.append_column(SEGMENT_COLUMNS.field(0), pa.array([segment] * rows, pa.string()))
    return table.append_column(SEGMENT_COLUMNS.field(1), pa.array(range(rows), pa.int64()))


def concat(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    """Tables of one schema concatenated (an empty table when there are none)."""
    return pa.concat_tables(tables) if tables else _empty(schema)
