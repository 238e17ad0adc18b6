"""Text conversations as Arrow columns at once: no pydantic object per row.

Inputs with a ``prompt`` column, ``--column`` or ``--template`` make conversations of at most a
system message and a user message, each one text part. `text_messages` builds their `MESSAGES`
column from the texts, and `text_digest` gives the digest `llmframe.io.ids` computes for the
same messages, so these rows get the same ids and the same table as the general path gives
(a test checks both). A million such prompts normalise in seconds and little memory.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.schema import MESSAGE, MESSAGES, PART, PART_FIELDS, PART_TYPES, ROLES

__all__ = ["blank_text", "text_digest", "text_messages"]

_SYSTEM = ROLES.index("system")
_USER = ROLES.index("user")
_TEXT = PART_TYPES.index("text")
_PARTS = pa.list_(pa.field("item", PART, nullable=False))

# Python's str.isspace() characters: a text of only these is empty to `str.strip()`.
_SPACE = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_BLANK = "^[" + "".join(f"\\x{{{ord(c):x}}}" if c != "-" else "-" for c in _SPACE) + "]*$"

_PART_JSON = (
    '{{"text":{},"json":null,"mime_type":null,"uri":null,"data":null,"tool_call_id":null,'
    '"name":null,"provider_data":null,"type":"text"}}'
)


def blank_text(texts: pa.Array) -> pa.Array:
    """True where a text is empty or whitespace only (as Python's ``str.strip`` sees it)."""
    return pc.fill_null(pc.match_substring_regex(texts, _BLANK), False)


@functools.cache
def _labels(values: tuple[str, ...]) -> pa.Array:
    """A dictionary of labels (made on first use: `pa.array` imports pandas when installed)."""
    return pa.array(values, pa.string())


def _int8(values: bytes) -> pa.Array:
    return pa.Array.from_buffers(pa.int8(), len(values), [None, pa.py_buffer(values)])


def _int32_range(count: int) -> pa.Array:
    return pa.array(range(count + 1), pa.int32())


def _nulls(count: int, data_type: pa.DataType) -> pa.Array:
    if isinstance(data_type, pa.BaseExtensionType):
        return pa.ExtensionArray.from_storage(data_type, pa.nulls(count, data_type.storage_type))
    return pa.nulls(count, data_type)


def text_messages(system: Sequence[str | None] | None, user: pa.Array) -> pa.Array:
    """A `MESSAGES` array: per row a system message where `system` has one, then `user`.

    `user` is a string array without nulls; `system` holds each row's system text or None.
    """
    rows = len(user)
    user = user.cast(pa.string())
    if system is None or all(text is None for text in system):
        texts, roles, offsets = user, bytes([_USER]) * rows, _int32_range(rows)
    else:
        order, role_codes, ends = [], bytearray(), [0]
        for row, text in enumerate(system):
            if text is not None:
                order.append(row)
                role_codes.append(_SYSTEM)
            order.append(rows + row)
            role_codes.append(_USER)
            ends.append(len(order))
        both = pa.concat_arrays([pa.array(system, pa.string()), user])
        texts = both.take(pa.array(order, pa.int64()))
        roles, offsets = bytes(role_codes), pa.array(ends, pa.int32())
    count = len(texts)
    types = pa.DictionaryArray.from_arrays(_int8(bytes([_TEXT]) * count), _labels(PART_TYPES))
    columns = [types, texts]
    columns += [_nulls(count, field.type) for field in PART_FIELDS[2:]]
    parts = pa.StructArray.from_arrays(columns, fields=list(PART_FIELDS))
    part_lists = pa.ListArray.from_arrays(_int32_range(count), parts, type=_PARTS)
    role = pa.DictionaryArray.from_arrays(_int8(roles), _labels(ROLES))
    messages = pa.StructArray.from_arrays([role, part_lists], fields=list(MESSAGE))
    return pa.ListArray.from_arrays(offsets, messages, type=MESSAGES)


def _message_json(role: str, text: str) -> str:
    part = _PART_JSON.format(json.dumps(text, ensure_ascii=False))
    return f'{{"role":"{role}","parts":[{part}]}}'


def text_digest(system: str | None, user: str) -> bytes:
    """The digest `llmframe.io.ids` gives a system message (if any) then a user message."""
    messages = [_message_json("system", system)] if system is not None else []
    messages.append(_message_json("user", user))
    return hashlib.sha256(f"[{','.join(messages)}]".encode()).digest()
