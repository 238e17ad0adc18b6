"""The Arrow types of llmframe: the one definition every table, reader and writer uses.

`llmframe/schema.arrow` is generated from this module (``python -m llmframe.schema``) and a test
checks that the two agree. It holds one Arrow schema whose fields are the three tables
(``prompts``, ``responses``, ``parts``), each a struct of that table's columns, so that
``pyarrow.ipc.read_schema`` shows the whole contract at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = [
    "JSON",
    "LABEL",
    "LONG_PROMPTS",
    "MESSAGE",
    "MESSAGES",
    "PART",
    "PARTS",
    "PART_TYPES",
    "PROMPTS",
    "PROMPT_OVERRIDES",
    "RESPONSES",
    "ROLES",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "STATUSES",
    "TABLES",
    "contract",
    "describe",
]

SCHEMA_VERSION = "1"
SCHEMA_PATH = Path(__file__).with_name("schema.arrow")

PART_TYPES: tuple[str, ...] = (
    "text",
    "image",
    "audio",
    "video",
    "document",
    "tool_call",
    "tool_result",
    "json",
    "reasoning",
    "refusal",
)
ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool")
STATUSES: tuple[str, ...] = ("ok", "error", "invalid")

JSON = pa.json_(pa.string())
"""JSON text, tagged with Arrow's canonical ``arrow.json`` extension (DuckDB reads it as JSON)."""

LABEL = pa.dictionary(pa.int8(), pa.string())
"""A value from a small closed set (part type, role, status), dictionary-encoded."""

PART_FIELDS: tuple[pa.Field, ...] = (
    pa.field("type", LABEL, nullable=False),
    pa.field("text", pa.string()),
    pa.field("json", JSON),
    pa.field("mime_type", pa.string()),
    pa.field("uri", pa.string()),
    pa.field("data", pa.binary()),
    pa.field("tool_call_id", pa.string()),
    pa.field("name", pa.string()),
    pa.field("provider_data", JSON),
)
PART = pa.struct(PART_FIELDS)
MESSAGE = pa.struct(
    [
        pa.field("role", LABEL, nullable=False),
        pa.field("parts", pa.list_(pa.field("item", PART, nullable=False)), nullable=False),
    ]
)
MESSAGES = pa.list_(pa.field("item", MESSAGE, nullable=False))

PROMPTS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("messages", MESSAGES, nullable=False),
    ]
)
"""The required columns of a prompts table; overrides and user columns follow them."""

PROMPT_OVERRIDES = pa.schema(
    [
        pa.field("model", pa.string()),
        pa.field("options", JSON),
        pa.field("schema", JSON),
        pa.field("tools", JSON),
    ]
)
"""Optional per-row overrides of a prompts table, present only when the input has them."""

LONG_PROMPTS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("message_index", pa.int32(), nullable=False),
        pa.field("role", LABEL, nullable=False),
        pa.field("part_index", pa.int32(), nullable=False),
        *PART_FIELDS,
    ]
)
"""The long form of ``prompts.messages``: one row per part."""

_TIMESTAMP = pa.timestamp("us", tz="UTC")
RESPONSES = pa.schema(
    [
        pa.field("response_id", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("step", pa.int32(), nullable=False),
        pa.field("final", pa.bool_(), nullable=False),
        pa.field("provider", pa.string(), nullable=False),
        pa.field("status", LABEL, nullable=False),
        pa.field("error_type", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("http_status", pa.int16()),
        pa.field("attempts", pa.int32(), nullable=False),
        pa.field("started_at", _TIMESTAMP),
        pa.field("finished_at", _TIMESTAMP),
        pa.field("latency_ms", pa.float64()),
        pa.field("ttft_ms", pa.float64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("reasoning_tokens", pa.int64()),
        pa.field("cached_tokens", pa.int64()),
        pa.field("finish_reason", pa.string()),
        pa.field("request_fingerprint", pa.string()),
        pa.field("options", JSON),
    ]
)
"""One row per (prompt, model, step).

A conversation with a model is a chain of steps, 0 first: a step whose tool calls llmframe ran
is followed by the next (``final`` false); the chain's last step has ``final`` true. Without
tools every response is one final step 0.
"""

PARTS = pa.schema(
    [
        pa.field("response_id", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("step", pa.int32(), nullable=False),
        pa.field("part_index", pa.int32(), nullable=False),
        *PART_FIELDS,
    ]
)
"""One row per response part, the Part's fields as top-level columns.

A step's parts are the model's answer, then the ``tool_result`` parts of the tools llmframe ran
for it (sent to the model as ``tool`` messages at the next step).
"""

TABLES: dict[str, pa.Schema] = {
    "prompts": pa.schema([*PROMPTS, *PROMPT_OVERRIDES]),
    "responses": RESPONSES,
    "parts": PARTS,
}

_CLOSED_SETS = {"part_types": PART_TYPES, "roles": ROLES, "statuses": STATUSES}


def contract() -> pa.Schema:
    """The schema stored in ``schema.arrow``: one struct field per table, plus the closed sets."""
    fields = [
        pa.field(name, pa.struct(list(schema)), nullable=False) for name, schema in TABLES.items()
    ]
    metadata = {"llmframe.schema_version": SCHEMA_VERSION}
    metadata.update({f"llmframe.{key}": json.dumps(values) for key, values in _CLOSED_SETS.items()})
    return pa.schema(fields, metadata=metadata)


def contract_bytes() -> bytes:
    """The serialized contract, exactly as ``schema.arrow`` holds it."""
    return contract().serialize().to_pybytes()


def _type_json(data_type: pa.DataType) -> dict[str, Any]:
    if isinstance(data_type, pa.BaseExtensionType):
        return {"type": data_type.extension_name, "storage": _type_json(data_type.storage_type)}
    if pa.types.is_dictionary(data_type):
        return {
            "type": "dictionary",
            "index": str(data_type.index_type),
            "value": str(data_type.value_type),
        }
    if pa.types.is_struct(data_type):
        return {"type": "struct", "fields": [_field_json(f) for f in data_type.fields]}
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return {"type": "list", "item": _type_json(data_type.value_type)}
    return {"type": str(data_type)}


def _field_json(field: pa.Field) -> dict[str, Any]:
    return {"name": field.name, "nullable": field.nullable, **_type_json(field.type)}


def describe(table: str | None = None) -> dict[str, Any]:
    """The tables' columns as plain JSON-ready data (`llmframe schema --json`)."""
    names = [table] if table else list(TABLES)
    return {
        "schema_version": SCHEMA_VERSION,
        **{key: list(values) for key, values in _CLOSED_SETS.items()},
        "tables": {name: [_field_json(f) for f in TABLES[name]] for name in names},
    }


def _type_text(data_type: pa.DataType) -> str:
    if isinstance(data_type, pa.BaseExtensionType):
        return "json"
    if pa.types.is_dictionary(data_type):
        return f"dictionary<{data_type.index_type}, {data_type.value_type}>"
    if pa.types.is_struct(data_type):
        return "struct"
    if pa.types.is_list(data_type):
        return f"list<{_type_text(data_type.value_type)}>"
    return str(data_type)


def _field_lines(field: pa.Field, depth: int) -> list[str]:
    required = "" if field.nullable else "  (required)"
    lines = [f"{'  ' * depth}{field.name}: {_type_text(field.type)}{required}"]
    inner = field.type
    while pa.types.is_list(inner):
        inner = inner.value_type
    if pa.types.is_struct(inner):
        for child in inner.fields:
            lines.extend(_field_lines(child, depth + 1))
    return lines


def render(table: str | None = None) -> str:
    """The tables' columns as an indented, readable tree (`llmframe schema`)."""
    names = [table] if table else list(TABLES)
    blocks = []
    for name in names:
        lines = [f"{name}:"]
        for field in TABLES[name]:
            lines.extend(_field_lines(field, 1))
        blocks.append("\n".join(lines))
    sets = "\n".join(f"{key}: {', '.join(values)}" for key, values in _CLOSED_SETS.items())
    return "\n\n".join([*blocks, sets])


def main() -> None:
    """Write ``schema.arrow`` next to this module (or to the path given as the only argument)."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    target.write_bytes(contract_bytes())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
