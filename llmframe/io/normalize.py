"""Turn whatever table a user has into a prompts table (DESIGN.md section 1).

The input shape is chosen from the columns: a ``--column`` whose text is the user message or a
``--template`` over any columns (both keep every column as a user column), else a
``messages`` column (llmframe's own schema or OpenAI chat format, told apart per message), else
ShareGPT ``conversations``, else a ``prompt`` column with an optional ``system`` column. Every
row is read even after a bad one, so that all problems are reported together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from llmframe import _json
from llmframe.errors import InputError, SchemaMismatch, TemplateError, UsageError, raise_problems
from llmframe.io.ids import hash_ids
from llmframe.io.media import MediaRoot, map_media
from llmframe.io.openai_chat import message_from_openai
from llmframe.io.sharegpt import message_from_sharegpt
from llmframe.io.source import ArrowSource, Source
from llmframe.io.templates import Template
from llmframe.parts.arrow import message_from_row, messages_to_arrow
from llmframe.parts.types import MediaPart, Message, TextPart
from llmframe.schema import JSON, PROMPT_OVERRIDES, PROMPTS, SCHEMA_VERSION
from llmframe.tools.load import tool_problems

__all__ = ["OVERRIDE_COLUMNS", "ReadOptions", "normalize"]

OVERRIDE_COLUMNS: tuple[str, ...] = tuple(PROMPT_OVERRIDES.names)
_OVERRIDE_KINDS: dict[str, type] = {"model": str, "options": dict, "schema": dict, "tools": list}
_NOT_JSON = object()


@dataclass(frozen=True)
class ReadOptions:
    """How to read an input table into prompts (the CLI's ``--template`` and friends)."""

    template: str | None = None
    column: str | None = None
    """A column whose text is each row's user message, kept among the user columns."""
    system: str | None = None
    id_column: str | None = None
    media_root: str | Path | None = None


Builder = Callable[[int], list[Message]]


def _text_value(value: Any, column: str) -> str:
    if value is None:
        msg = "null, expected text"
        raise SchemaMismatch(msg, column=column)
    if not isinstance(value, str):
        msg = f"expected text, got {type(value).__name__} `{value!r}`"
        raise SchemaMismatch(msg, column=column)
    if not value.strip():
        msg = "empty text"
        raise SchemaMismatch(msg, column=column)
    return value


def _system_messages(value: Any, fallback: str | None) -> list[Message]:
    if value is not None and not isinstance(value, str):
        msg = f"expected text, got {type(value).__name__} `{value!r}`"
        raise SchemaMismatch(msg, column="system")
    text = value if value else fallback
    return [Message(role="system", parts=[TextPart(text=text)])] if text else []


def _read_message(value: Any, *, json_is_text: bool) -> Message:
    if isinstance(value, Message):
        return value
    if isinstance(value, Mapping) and "parts" in value:
        return message_from_row(value, json_is_text=json_is_text)
    return message_from_openai(value)


def _message_list(value: Any, column: str, read: Callable[[Any], Message]) -> list[Message]:
    if value is None:
        msg = "null, expected a list of messages"
        raise SchemaMismatch(msg, column=column)
    if not isinstance(value, list):
        msg = f"expected a list of messages, got {type(value).__name__}"
        raise SchemaMismatch(msg, column=column)
    if not value:
        msg = "no messages"
        raise SchemaMismatch(msg, column=column)
    messages = []
    for index, item in enumerate(value):
        try:
            messages.append(read(item))
        except InputError as exc:
            exc.column = column
            exc.where.insert(0, f"message {index + 1}")
            raise
    return messages


def _with_system(messages: list[Message], system: str | None) -> list[Message]:
    if system and messages[0].role != "system":
        return [*_system_messages(None, system), *messages]
    return messages


def _column_builder(source: Source, column: str, system_text: str | None) -> Builder:
    """Each row's text in `column` as the user message (``--column``)."""
    if column not in source.columns:
        found = ", ".join(f"`{c}`" for c in source.columns)
        msg = f"no column `{column}`; columns are: {found}"
        raise SchemaMismatch(msg)
    texts = source.values(column)
    system = source.values("system") if "system" in source.columns else None

    def from_column(i: int) -> list[Message]:
        user = Message(role="user", parts=[TextPart(text=_text_value(texts[i], column))])
        return [*_system_messages(system[i] if system else None, system_text), user]

    return from_column


def _builder(source: Source, options: ReadOptions) -> tuple[Builder, set[str]]:
    """How to build each row's conversation, and which columns that consumes."""
    columns = source.columns
    if options.template is not None and options.column is not None:
        msg = "give `--column` or `--template`, not both"
        raise UsageError(msg)
    if options.column is not None:
        return _column_builder(source, options.column, options.system), {"system"} & set(columns)
    if options.template is not None:
        template = Template.parse(options.template)
        template.check_columns(columns)
        values = {field: source.values(field) for field in template.fields}
        system = source.values("system") if "system" in columns else None

        def from_template(i: int) -> list[Message]:
            text = template.render({field: values[field][i] for field in template.fields})
            prompt = Message(role="user", parts=[TextPart(text=text)])
            return [*_system_messages(system[i] if system else None, options.system), prompt]

        return from_template, set()
    if "messages" in columns:
        json_is_text = isinstance(source, ArrowSource)
        messages = source.values("messages")

        def read(item: Any) -> Message:
            return _read_message(item, json_is_text=json_is_text)

        def from_messages(i: int) -> list[Message]:
            return _with_system(_message_list(messages[i], "messages", read), options.system)

        return from_messages, {"messages"}
    if "conversations" in columns:
        turns = source.values("conversations")

        def read_turn(item: Any) -> Message:
            if isinstance(item, Mapping) and "role" in item:
                return message_from_openai(item)
            return message_from_sharegpt(item)

        def from_conversations(i: int) -> list[Message]:
            return _with_system(_message_list(turns[i], "conversations", read_turn), options.system)

        return from_conversations, {"conversations"}
    if "prompt" in columns:
        prompts = source.values("prompt")
        system = source.values("system") if "system" in columns else None

        def from_prompt(i: int) -> list[Message]:
            text = _text_value(prompts[i], "prompt")
            user = Message(role="user", parts=[TextPart(text=text)])
            return [*_system_messages(system[i] if system else None, options.system), user]

        return from_prompt, {"prompt", "system"} & set(columns)
    found = ", ".join(f"`{c}`" for c in columns)
    msg = (
        "no `messages`, `conversations` or `prompt` column and no `--column` or `--template`; "
        f"columns are: {found}. "
        "Hint: pass `--column NAME` to send a column's text, or "
        '`--template "... {column} ..."` to build prompts from any columns'
    )
    raise SchemaMismatch(msg)


def _check_media(messages: list[Message], media: MediaRoot, column: str | None) -> list[Message]:
    """Check every media reference against the media root, filling in implied media types."""

    def check(part: MediaPart) -> MediaPart:
        try:
            uri, mime_type = media.check(part.uri or "")
        except InputError as exc:
            exc.column = exc.column or column
            raise
        return part.model_copy(update={"uri": uri, "mime_type": part.mime_type or mime_type})

    return map_media(messages, check)


def _given_ids(source: Source, column: str) -> tuple[list[str], list[InputError]]:
    values = source.values(column)
    ids: list[str] = []
    problems: list[InputError] = []
    first_row: dict[str, int] = {}
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            got = "null" if value is None else f"{type(value).__name__} `{value!r}`"
            msg = f"expected text or a whole number as the id, got {got}"
            problems.append(InputError(msg, row=source.row_label(i), column=column))
            continue
        text = str(value)
        if text in first_row:
            msg = f"duplicate id `{text}` (first at {source.row_label(first_row[text])})"
            problems.append(InputError(msg, row=source.row_label(i), column=column))
        first_row.setdefault(text, i)
        ids.append(text)
    return ids, problems


def _override_array(source: Source, column: str) -> tuple[pa.Array, list[InputError]]:
    kind = _OVERRIDE_KINDS[column]
    expected = {str: "text", dict: "a JSON object", list: "a JSON array"}[kind]
    out: list[Any] = []
    problems: list[InputError] = []
    for i, value in enumerate(source.values(column)):
        if isinstance(value, str) and kind is not str:
            try:
                value = _json.loads(value)
            except ValueError:
                value = _NOT_JSON
        if value is not None and not isinstance(value, kind):
            msg = f"`{column}` must be {expected}"
            problems.append(InputError(msg, row=source.row_label(i), column=column))
            value = None
        if column == "tools" and value is not None:  # checked here so `validate` sees it too
            for problem in tool_problems(value)[1]:
                problems.append(InputError(problem, row=source.row_label(i), column=column))
        out.append(value if kind is str or value is None else _json.dumps(value))
    array = pa.array(out, type=pa.string())
    return (array if kind is str else array.cast(JSON)), problems


def _user_columns(source: Source, consumed: set[str], options: ReadOptions) -> list[str]:
    """Every column not consumed by the shape, the overrides or `id`: carried through untouched.

    A column chosen with ``--id-column`` stays a user column as well, with its own type.
    """
    if options.id_column not in (None, "id") and "id" in source.columns:
        msg = (
            f"the input has an `id` column and `--id-column {options.id_column}` was given; "
            "rename one"
        )
        raise UsageError(msg)
    if options.template is not None and "messages" in source.columns:
        msg = "the input has a `messages` column, which a template would replace; rename it"
        raise TemplateError(msg, file=source.path)
    skip = consumed | set(OVERRIDE_COLUMNS) | {"id"}
    return [c for c in source.columns if c not in skip]


def normalize(source: Source, options: ReadOptions) -> pa.Table:
    """Read every row of `source` into a prompts table; raise listing every problem found."""
    if options.id_column is not None and options.id_column not in source.columns:
        columns = ", ".join(f"`{c}`" for c in source.columns)
        msg = (
            f"`--id-column {options.id_column}` is not a column of {source.path}; "
            f"columns are: {columns}"
        )
        raise UsageError(msg)
    if options.media_root is not None and not Path(options.media_root).is_dir():
        msg = f"`--media-root {options.media_root}` is not a folder"
        raise UsageError(msg)
    try:
        build, consumed = _builder(source, options)
        users = _user_columns(source, consumed, options)
    except InputError as exc:
        raise exc.located(file=source.path) from None
    media = MediaRoot(Path(options.media_root) if options.media_root else Path(source.path).parent)
    shape_column = next((c for c in ("messages", "conversations") if c in consumed), None)
    conversations: list[list[Message]] = []
    problems: list[InputError] = list(source.problems)
    for i in range(source.num_rows):
        try:
            conversations.append(_check_media(build(i), media, shape_column))
        except InputError as exc:
            problems.append(exc.located(row=source.row_label(i)))
    id_column = options.id_column or ("id" if "id" in source.columns else None)
    if id_column is not None:
        ids, id_problems = _given_ids(source, id_column)
        problems.extend(id_problems)
    overrides = {}
    for column in OVERRIDE_COLUMNS:
        if column in source.columns:
            overrides[column], override_problems = _override_array(source, column)
            problems.extend(override_problems)
    raise_problems(problems, source.path)
    if id_column is None:
        ids = hash_ids(conversations)
    try:
        messages = messages_to_arrow(conversations)
    except InputError as exc:
        raise exc.located(file=source.path) from None
    user_table = source.arrow_columns(users)
    fields = [*PROMPTS, *(PROMPT_OVERRIDES.field(c) for c in overrides), *user_table.schema]
    arrays = [pa.array(ids, pa.string()), messages, *overrides.values(), *user_table.columns]
    metadata = {"llmframe.table": "prompts", "llmframe.schema_version": SCHEMA_VERSION}
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))
