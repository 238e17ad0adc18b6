"""A run with an output schema -> the wide typed extraction table.

One row per (prompt, model) that has a response, in the prompts' order then the run's model
order: the prompt's user columns (one named like a schema field or a ``_`` column is renamed
``input_<name>``), one typed column per schema field (`llmframe.extraction.arrow`), then
``_status`` (``ok``, ``invalid``, ``error``), ``_error``, ``_model`` and ``_id`` (the prompt's
id). Fields are null where the status is not ``ok``.

With `multi`, the answers are ``{"items": [...]}`` (`multi_schema`) and each item becomes a row,
with ``_item`` (its index); an ok answer with no items gives no row, an invalid or failed one
gives one row of nulls so that it stays visible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.extraction.arrow import to_columns
from llmframe.schema import PROMPT_OVERRIDES
from llmframe.store import RunView

__all__ = ["ITEMS", "STATUS_COLUMNS", "extraction_table", "multi_schema"]

ITEMS = "items"
STATUS_COLUMNS = ("_status", "_error", "_model", "_id")
_NOT_USER = frozenset({"id", "messages", *PROMPT_OVERRIDES.names})


def multi_schema(item: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of an answer that lists any number of `item`s."""
    return {
        "type": "object",
        "properties": {ITEMS: {"type": "array", "items": dict(item)}},
        "required": [ITEMS],
        "additionalProperties": False,
    }


def _answers(view: RunView, prompts: pa.Table, models: Sequence[str]) -> pa.Table:
    """Prompt row, model, status, error and JSON text of every response, in output order."""
    rows = pa.table(
        {"prompt_id": prompts.column("id"), "_row": pa.array(range(len(prompts)), pa.int64())}
    )
    responses = view.responses().select(
        ["response_id", "prompt_id", "model", "status", "error_message"]
    )
    responses = responses.set_column(
        responses.schema.get_field_index("status"),
        "status",
        responses.column("status").cast(pa.string()),
    )
    parts = view.parts()
    json_parts = parts.filter(pc.equal(parts.column("type").cast(pa.string()), "json"))
    json_parts = pa.table(
        {
            "response_id": json_parts.column("response_id"),
            "json": json_parts.column("json").cast(pa.string()),
        }
    )
    rank = {model: index for index, model in enumerate(models)}
    joined = responses.join(json_parts, "response_id", join_type="left outer").join(
        rows, "prompt_id", join_type="inner"
    )
    model_rank = [rank.get(m, len(rank)) for m in joined.column("model").to_pylist()]
    joined = joined.append_column("_rank", pa.array(model_rank, pa.int64()))
    return joined.sort_by([("_row", "ascending"), ("_rank", "ascending"), ("model", "ascending")])


def extraction_table(
    view: RunView, schema: Mapping[str, Any], *, multi: bool = False, models: Sequence[str] = ()
) -> pa.Table:
    """The wide typed table of a run whose answers were checked against `schema`."""
    prompts = view.prompts()
    answers = _answers(view, prompts, models or view.manifest.models)
    statuses = answers.column("status").to_pylist()
    texts = answers.column("json").to_pylist()
    values = [
        json.loads(text) if text is not None and status == "ok" else None
        for status, text in zip(statuses, texts, strict=True)
    ]
    source_rows = list(range(len(values)))
    items: list[int | None] = [None] * len(values)
    if multi:
        source_rows, items, values = _explode(statuses, values)
    fields = to_columns(dict(schema), values)
    take = pa.array(source_rows, pa.int64())
    user = [name for name in prompts.column_names if name not in _NOT_USER]
    taken = {*fields.column_names, *STATUS_COLUMNS, "_item"}
    prompt_rows = answers.column("_row").take(take)
    arrays: list[pa.ChunkedArray | pa.Array] = []
    schema_fields: list[pa.Field] = []
    for name in user:
        field = prompts.schema.field(name)
        schema_fields.append(field.with_name(f"input_{name}" if name in taken else name))
        arrays.append(prompts.column(name).take(prompt_rows))
    schema_fields.extend(fields.schema)  # keeps the JSON-fallback metadata
    arrays.extend(fields.columns)
    status = [
        ("_status", pa.array(statuses, pa.string()).take(take)),
        ("_error", answers.column("error_message").take(take)),
        ("_model", answers.column("model").take(take)),
        ("_id", answers.column("prompt_id").take(take)),
    ]
    if multi:
        status.append(("_item", pa.array(items, pa.int64())))
    for name, array in status:
        schema_fields.append(pa.field(name, array.type, nullable=name in ("_error", "_item")))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema_fields))


def _explode(
    statuses: Sequence[str], values: Sequence[Any]
) -> tuple[list[int], list[int | None], list[Any]]:
    """One entry per item of each ok answer; one empty entry per answer that is not ok."""
    rows: list[int] = []
    items: list[int | None] = []
    out: list[Any] = []
    for row, (status, value) in enumerate(zip(statuses, values, strict=True)):
        if status != "ok" or not isinstance(value, Mapping):
            rows.append(row)
            items.append(None)
            out.append(None)
            continue
        for index, item in enumerate(value.get(ITEMS) or []):
            rows.append(row)
            items.append(index)
            out.append(item)
    return rows, items, out
