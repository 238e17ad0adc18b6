"""Nested <-> long: ``prompts.messages`` as one row per part, and back, losslessly.

The long form (`llmframe.schema.LONG_PROMPTS`) has the conversation ``id``, ``message_index``,
``role``, ``part_index`` and the Part's fields as top-level columns, which is how SQL wants to
read a conversation. Both directions are vectorised with pyarrow compute; no row is visited in
Python.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.errors import SchemaMismatch
from llmframe.parts.arrow import storage_type
from llmframe.schema import LABEL, LONG_PROMPTS, MESSAGE, MESSAGES, PART, PART_FIELDS

__all__ = ["long_to_nested", "nested_to_long"]

_NESTED = pa.schema(
    [pa.field("id", pa.string(), nullable=False), pa.field("messages", MESSAGES, nullable=False)]
)

_PART_NAMES = [f.name for f in PART_FIELDS]


def _empty_nested() -> pa.Table:
    """A prompts table with no rows (`Schema.empty_table` fails on nested extension types)."""
    messages = pa.array([], type=storage_type(MESSAGES)).cast(MESSAGES)
    return pa.Table.from_arrays([pa.array([], pa.string()), messages], schema=_NESTED)


def _positions(list_array: pa.ListArray) -> tuple[pa.Array, pa.Array]:
    """For each flattened value: the index of its parent list and its index within that list."""
    parents = pc.list_parent_indices(list_array)
    offsets = list_array.offsets
    starts = pc.subtract(offsets.slice(0, len(list_array)), offsets[0])
    position = pa.array(range(len(parents)), type=pa.int64())
    within = pc.subtract(position, starts.take(parents))
    return parents, within.cast(pa.int32())


def nested_to_long(table: pa.Table) -> pa.Table:
    """A prompts table (``id``, ``messages``) as one row per part (`LONG_PROMPTS`)."""
    messages = table.column("messages").combine_chunks()
    ids = table.column("id").combine_chunks()
    flat_messages = pc.list_flatten(messages)
    conversation_of_message, message_index = _positions(messages)
    parts = flat_messages.field("parts")
    flat_parts = pc.list_flatten(parts)
    message_of_part, part_index = _positions(parts)
    columns = [
        ids.take(conversation_of_message.take(message_of_part)),
        message_index.take(message_of_part),
        flat_messages.field("role").take(message_of_part),
        part_index,
        *(flat_parts.field(name) for name in _PART_NAMES),
    ]
    return pa.Table.from_arrays(columns, schema=LONG_PROMPTS)


def _changed(values: pa.Array) -> pa.Array:
    """True where a value differs from the one before it (the first is always True)."""
    if len(values) == 0:
        return pa.array([], type=pa.bool_())
    differs = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))
    return pa.concat_arrays([pa.array([True]), differs])


def _previous_plus_one(values: pa.Array) -> pa.Array:
    """Each value's predecessor plus one (the first compares with 0)."""
    return pa.concat_arrays(
        [
            pa.array([0], type=pa.int64()),
            pc.add(values.slice(0, len(values) - 1).cast(pa.int64()), 1),
        ]
    )


def _check_sequence(
    ids: pa.Array,
    message_index: pa.Array,
    part_index: pa.Array,
    roles: pa.Array,
    new_conversation: pa.Array,
    new_message: pa.Array,
) -> None:
    expected_message = pc.if_else(
        new_conversation,
        0,
        pc.if_else(new_message, _previous_plus_one(message_index), message_index.cast(pa.int64())),
    )
    expected_part = pc.if_else(new_message, 0, _previous_plus_one(part_index))
    same_message_role_changes = pc.and_(pc.invert(new_message), _changed(roles.cast(pa.string())))
    bad = pc.or_(
        pc.or_(
            pc.not_equal(message_index.cast(pa.int64()), expected_message),
            pc.not_equal(part_index.cast(pa.int64()), expected_part),
        ),
        same_message_role_changes,
    )
    found = pc.indices_nonzero(bad)
    if len(found):
        at = found[0].as_py()
        msg = (
            f"long form of conversation `{ids[at].as_py()}` is not contiguous at message_index "
            f"{message_index[at].as_py()}, part_index {part_index[at].as_py()}: indexes must count "
            "from 0 without gaps or repeats, and one message has one role"
        )
        raise SchemaMismatch(msg)


def long_to_nested(table: pa.Table) -> pa.Table:
    """One row per part back to a prompts table (``id``, ``messages``).

    Conversations come out in the order their ids first appear; messages and parts are ordered by
    their indexes, which must count from 0 without gaps or repeats.
    """
    missing = [name for name in LONG_PROMPTS.names if name not in table.column_names]
    if table.num_rows == 0 and not missing:
        return _empty_nested()
    if missing:
        msg = f"long form is missing column(s) {', '.join(f'`{m}`' for m in missing)}"
        raise SchemaMismatch(msg)
    encoded = pc.dictionary_encode(table.column("id").combine_chunks())
    order = pa.table(
        {"c": encoded.indices, "m": table.column("message_index"), "p": table.column("part_index")}
    )
    sorted_rows = pc.sort_indices(
        order, sort_keys=[("c", "ascending"), ("m", "ascending"), ("p", "ascending")]
    )
    rows = table.take(sorted_rows)
    conversation = encoded.indices.take(sorted_rows)
    message_index = rows.column("message_index").combine_chunks()
    part_index = rows.column("part_index").combine_chunks()
    roles = rows.column("role").combine_chunks()
    new_conversation = _changed(conversation)
    new_message = pc.or_(new_conversation, _changed(message_index))
    ids = rows.column("id").combine_chunks()
    _check_sequence(ids, message_index, part_index, roles, new_conversation, new_message)

    message_starts = pc.indices_nonzero(new_message)
    part_offsets = pa.concat_arrays(
        [message_starts.cast(pa.int32()), pa.array([len(rows)], type=pa.int32())]
    )
    part_values = pa.StructArray.from_arrays(
        [rows.column(name).combine_chunks().cast(PART.field(name).type) for name in _PART_NAMES],
        fields=list(PART_FIELDS),
    )
    parts = pa.ListArray.from_arrays(part_offsets, part_values, type=MESSAGE.field("parts").type)
    message_roles = roles.take(message_starts).cast(LABEL)
    messages = pa.StructArray.from_arrays([message_roles, parts], fields=list(MESSAGE))
    conversation_starts = pc.indices_nonzero(new_conversation.take(message_starts))
    message_offsets = pa.concat_arrays(
        [conversation_starts.cast(pa.int32()), pa.array([len(messages)], type=pa.int32())]
    )
    nested = pa.ListArray.from_arrays(message_offsets, messages, type=MESSAGES)
    return pa.table(
        {"id": encoded.dictionary, "messages": nested},
        schema=_NESTED,
    )
