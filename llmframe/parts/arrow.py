"""Parts and messages <-> Arrow: the only module that knows both the pydantic and the Arrow side.

A part becomes one flat `llmframe.schema.PART` row. Each part type uses only some of the row's
fields; reading a row back refuses a value in a field its type does not use, so nothing is
dropped silently.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from pydantic import ValidationError
from typing_extensions import assert_never

from llmframe import _json
from llmframe.errors import SchemaMismatch
from llmframe.parts.types import (
    AudioPart,
    DocumentPart,
    ImagePart,
    JsonPart,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)
from llmframe.schema import MESSAGES, PART_TYPES, ROLES

__all__ = [
    "messages_from_arrow",
    "messages_to_arrow",
    "part_from_row",
    "part_to_row",
    "storage_type",
]

_EMPTY_ROW: dict[str, Any] = dict.fromkeys(
    ("text", "json", "mime_type", "uri", "data", "tool_call_id", "name", "provider_data")
)

# The row fields each part type uses, besides `type` and `provider_data`.
_FIELDS_USED: dict[str, frozenset[str]] = {
    "text": frozenset({"text"}),
    "reasoning": frozenset({"text"}),
    "refusal": frozenset({"text"}),
    "image": frozenset({"uri", "data", "mime_type"}),
    "audio": frozenset({"uri", "data", "mime_type"}),
    "video": frozenset({"uri", "data", "mime_type"}),
    "document": frozenset({"uri", "data", "mime_type", "name"}),
    "tool_call": frozenset({"name", "tool_call_id", "json", "text"}),
    "tool_result": frozenset({"tool_call_id", "name", "text", "json"}),
    "json": frozenset({"json"}),
}


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _json.dumps(value)


def part_to_row(part: Part) -> dict[str, Any]:
    """One part as a flat `PART` row; JSON values become canonical JSON text."""
    row = {**_EMPTY_ROW, "type": part.type, "provider_data": _json_or_none(part.provider_data)}
    if isinstance(part, (TextPart, ReasoningPart, RefusalPart)):
        row["text"] = part.text
    elif isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)):
        row.update(uri=part.uri, data=part.data, mime_type=part.mime_type)
        if isinstance(part, DocumentPart):
            row["name"] = part.name
    elif isinstance(part, ToolCallPart):
        row.update(name=part.name, tool_call_id=part.tool_call_id, text=part.raw_arguments)
        if part.raw_arguments is None:
            row["json"] = _json.dumps(part.arguments)
    elif isinstance(part, ToolResultPart):
        row.update(
            tool_call_id=part.tool_call_id,
            name=part.name,
            text=part.text,
            json=_json_or_none(part.value),
        )
    elif isinstance(part, JsonPart):
        row["json"] = _json.dumps(part.value)
    else:
        assert_never(part)
    return row


def _decode_json(value: Any, *, json_is_text: bool, field: str) -> Any:
    if value is None or not json_is_text:
        return value
    if not isinstance(value, str):
        msg = f"`{field}` must be JSON text, got {type(value).__name__}"
        raise SchemaMismatch(msg)
    try:
        return _json.loads(value)
    except ValueError as exc:
        msg = f"`{field}` is not valid JSON: {exc}"
        raise SchemaMismatch(msg) from None


def _decode_data(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            msg = "`data` is not valid base64"
            raise SchemaMismatch(msg) from None
    msg = f"`data` must be bytes or base64 text, got {type(value).__name__}"
    raise SchemaMismatch(msg)


def _part_fields(part_type: str, row: Mapping[str, Any], json_is_text: bool) -> dict[str, Any]:
    value = _decode_json(row.get("json"), json_is_text=json_is_text, field="json")
    if part_type in ("text", "reasoning", "refusal"):
        return {"text": row.get("text")}
    if part_type in ("image", "audio", "video", "document"):
        fields = {
            "uri": row.get("uri"),
            "data": _decode_data(row.get("data")),
            "mime_type": row.get("mime_type"),
        }
        if part_type == "document":
            fields["name"] = row.get("name")
        return fields
    if part_type == "tool_call":
        raw = row.get("text")
        return {
            "name": row.get("name"),
            "tool_call_id": row.get("tool_call_id"),
            "raw_arguments": raw,
            "arguments": None if raw is not None else value,
        }
    if part_type == "tool_result":
        return {
            "tool_call_id": row.get("tool_call_id"),
            "name": row.get("name"),
            "text": row.get("text"),
            "value": value,
        }
    return {"value": value}


def part_from_row(row: Mapping[str, Any], *, json_is_text: bool = True) -> Part:
    """Read a flat part row (from Arrow, or a JSON object with the same field names).

    With ``json_is_text`` (Arrow rows) the ``json`` and ``provider_data`` fields hold JSON text;
    without it (a JSON document) they hold the values themselves, and ``data`` may be base64.
    """
    part_type = row.get("type")
    if part_type not in PART_TYPES:
        msg = f"unknown part type `{part_type}`; expected one of: {', '.join(PART_TYPES)}"
        raise SchemaMismatch(msg)
    unknown = set(row) - set(_EMPTY_ROW) - {"type"}
    if unknown:
        msg = f"unknown part field(s) {', '.join(f'`{k}`' for k in sorted(unknown))}"
        raise SchemaMismatch(msg)
    unused = [k for k, v in row.items() if v is not None and k in _EMPTY_ROW]
    unused = [k for k in unused if k != "provider_data" and k not in _FIELDS_USED[part_type]]
    if unused:
        msg = f"{part_type} part does not use field(s) {', '.join(f'`{k}`' for k in unused)}"
        raise SchemaMismatch(msg)
    fields = _part_fields(part_type, row, json_is_text)
    provider_data = _decode_json(
        row.get("provider_data"), json_is_text=json_is_text, field="provider_data"
    )
    if part_type == "json" and fields["value"] is None and row.get("json") is None:
        msg = "json part has no `json` value"
        raise SchemaMismatch(msg)
    try:
        return _validate_part({"type": part_type, **fields, "provider_data": provider_data})
    except ValidationError as exc:
        raise SchemaMismatch(_validation_message(exc)) from None


def _validate_part(values: dict[str, Any]) -> Part:
    from llmframe.parts.types import PART_CLASSES

    return PART_CLASSES[values["type"]].model_validate(values)  # type: ignore[return-value]


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    text = first["msg"].removeprefix("Value error, ")
    return f"`{where}`: {text}" if where else text


def message_from_row(row: Mapping[str, Any], *, json_is_text: bool = True) -> Message:
    """Read a message row (``role`` and ``parts``) from Arrow or a JSON document."""
    role = row.get("role")
    if role not in ROLES:
        msg = f"unknown role `{role}`; expected one of: {', '.join(ROLES)}"
        raise SchemaMismatch(msg)
    parts = row.get("parts")
    if not parts:
        msg = f"{role} message has no content"
        raise SchemaMismatch(msg)
    decoded = []
    for index, part in enumerate(parts):
        try:
            decoded.append(part_from_row(part, json_is_text=json_is_text))
        except SchemaMismatch as exc:
            exc.where.insert(0, f"part {index + 1}")
            raise
    return Message(role=role, parts=decoded)


def storage_type(data_type: pa.DataType) -> pa.DataType:
    """The same type with every extension type replaced by its storage type."""
    if isinstance(data_type, pa.BaseExtensionType):
        return storage_type(data_type.storage_type)
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(storage_type(f.type)) for f in data_type.fields])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(storage_type(data_type.value_type)))
    return data_type


_MESSAGES_STORAGE = storage_type(MESSAGES)


def message_to_row(message: Message) -> dict[str, Any]:
    """One message as a `MESSAGE` row."""
    return {"role": message.role, "parts": [part_to_row(p) for p in message.parts]}


def messages_to_arrow(conversations: Sequence[Sequence[Message]]) -> pa.Array:
    """A column of conversations as a `MESSAGES` array (JSON fields tagged ``arrow.json``)."""
    rows = [[message_to_row(m) for m in conversation] for conversation in conversations]
    try:
        storage = pa.array(rows, type=_MESSAGES_STORAGE)
    except UnicodeEncodeError as exc:
        msg = f"text that is not valid Unicode (lone surrogate at position {exc.start})"
        raise SchemaMismatch(msg) from None
    return storage.cast(MESSAGES)


def messages_from_arrow(column: pa.Array | pa.ChunkedArray) -> list[list[Message]]:
    """A `MESSAGES` column back as conversations of pydantic messages."""
    conversations = []
    for row_index, messages in enumerate(column.to_pylist()):
        conversation = []
        for message_index, message in enumerate(messages or ()):
            try:
                conversation.append(message_from_row(message))
            except SchemaMismatch as exc:
                exc.where.insert(0, f"message {message_index + 1}")
                exc.row = exc.row or f"row {row_index + 1}"
                raise
        conversations.append(conversation)
    return conversations
