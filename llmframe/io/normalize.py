"""Turn whatever table a user has into a prompts table (DESIGN.md section 1).

The input shape is chosen from the columns: a ``--column`` whose text is the user message or a
``--template`` over any columns (both keep every column as a user column), else a
``messages`` column (llmframe's own schema or OpenAI chat format, told apart per message), else
ShareGPT ``conversations``, else a ``prompt`` column with an optional ``system`` column. Every
row is read even after a bad one, so that all problems are reported together.

`PromptScan` reads the source `CHUNK_ROWS` rows at a time and yields each chunk's prompts, so
memory does not grow with the input (text shapes are built as Arrow columns directly,
`llmframe.io.textprompts`); `normalize` is the whole table at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from llmframe import _json
from llmframe.errors import InputError, SchemaMismatch, TemplateError, UsageError, raise_problems
from llmframe.io.ids import digest as conversation_digest
from llmframe.io.ids import id_of
from llmframe.io.media import MediaRoot, map_media
from llmframe.io.openai_chat import message_from_openai
from llmframe.io.sharegpt import message_from_sharegpt
from llmframe.io.source import ArrowSource, Source
from llmframe.io.templates import Template
from llmframe.io.textprompts import blank_text, text_digest, text_messages
from llmframe.parts.arrow import message_from_row, messages_from_arrow, messages_to_arrow
from llmframe.parts.types import MediaPart, Message, TextPart
from llmframe.schema import JSON, PROMPT_OVERRIDES, PROMPTS, SCHEMA_VERSION
from llmframe.tools.load import tool_problems

__all__ = [
    "CHUNK_ROWS",
    "OVERRIDE_COLUMNS",
    "PromptScan",
    "ReadOptions",
    "fix_repeats",
    "normalize",
]

OVERRIDE_COLUMNS: tuple[str, ...] = tuple(PROMPT_OVERRIDES.names)
_OVERRIDE_KINDS: dict[str, type] = {"model": str, "options": dict, "schema": dict, "tools": list}
_NOT_JSON = object()
_TEXT_SHAPES = frozenset({"column", "template", "prompt"})

CHUNK_ROWS = 16_384
"""Rows normalised at a time. The input fingerprint hashes chunks of this many rows, so
changing it changes every fingerprint (and runs made before could not be resumed)."""


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


@dataclass(frozen=True)
class _Shape:
    """How rows become conversations: the shape's name, the columns it consumes, a template."""

    kind: str
    consumed: frozenset[str]
    template: Template | None = None

    @property
    def text_column(self) -> str | None:
        """The column whose text is the user message (``prompt`` or ``--column``)."""
        return {"prompt": "prompt", "column": self.column}.get(self.kind)

    column: str | None = None


def _shape(columns: list[str], options: ReadOptions) -> _Shape:
    """The input shape, from the column names alone (every check that needs no values)."""
    present = set(columns)
    if options.template is not None and options.column is not None:
        msg = "give `--column` or `--template`, not both"
        raise UsageError(msg)
    if options.column is not None:
        if options.column not in present:
            found = ", ".join(f"`{c}`" for c in columns)
            msg = f"no column `{options.column}`; columns are: {found}"
            raise SchemaMismatch(msg)
        return _Shape("column", frozenset({"system"} & present), column=options.column)
    if options.template is not None:
        template = Template.parse(options.template)
        template.check_columns(columns)
        return _Shape("template", frozenset(), template)
    for kind in ("messages", "conversations"):
        if kind in present:
            return _Shape(kind, frozenset({kind}))
    if "prompt" in present:
        return _Shape("prompt", frozenset({"prompt", "system"} & present))
    found = ", ".join(f"`{c}`" for c in columns)
    msg = (
        "no `messages`, `conversations` or `prompt` column and no `--column` or `--template`; "
        f"columns are: {found}. "
        "Hint: pass `--column NAME` to send a column's text, or "
        '`--template "... {column} ..."` to build prompts from any columns'
    )
    raise SchemaMismatch(msg)


def _builder(source: Source, shape: _Shape, options: ReadOptions) -> Builder:
    """How to build each row's conversation (row numbers are `source`'s own)."""
    columns = source.columns
    system = source.values("system") if "system" in columns else None
    if shape.template is not None:
        template = shape.template
        values = {field: source.values(field) for field in template.fields}

        def from_template(i: int) -> list[Message]:
            text = template.render({field: values[field][i] for field in template.fields})
            prompt = Message(role="user", parts=[TextPart(text=text)])
            return [*_system_messages(system[i] if system else None, options.system), prompt]

        return from_template
    if shape.kind in ("messages", "conversations"):
        items = source.values(shape.kind)
        json_is_text = isinstance(source, ArrowSource)

        def read(item: Any) -> Message:
            if shape.kind == "messages":
                return _read_message(item, json_is_text=json_is_text)
            if isinstance(item, Mapping) and "role" in item:
                return message_from_openai(item)
            return message_from_sharegpt(item)

        def from_messages(i: int) -> list[Message]:
            return _with_system(_message_list(items[i], shape.kind, read), options.system)

        return from_messages
    column = shape.text_column
    assert column is not None
    texts = source.values(column)

    def from_text(i: int) -> list[Message]:
        user = Message(role="user", parts=[TextPart(text=_text_value(texts[i], column))])
        return [*_system_messages(system[i] if system else None, options.system), user]

    return from_text


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


def _check_usage(source: Source, options: ReadOptions) -> None:
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


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


class PromptScan:
    """The prompts of a source, normalised `rows` at a time.

    Iterate to get each chunk's prompts table (all with one schema). Problems are collected from
    every row and raised together once the last chunk is read; after the first problem no more
    tables are yielded. Hashed ids (no id column) that repeat are listed in `repeated` once the
    scan is over: pass the tables through `fix_repeats` to give each repeat its own id.
    """

    def __init__(self, source: Source, options: ReadOptions, *, rows: int = CHUNK_ROWS) -> None:
        _check_usage(source, options)
        try:
            self.shape = _shape(source.columns, options)
            self.users = _user_columns(source, set(self.shape.consumed), options)
        except InputError as exc:
            raise exc.located(file=source.path) from None
        self.source = source
        self.options = options
        self.rows = rows
        root = Path(options.media_root) if options.media_root else Path(source.path).parent
        self.media = MediaRoot(root)
        self.id_column = options.id_column or ("id" if "id" in source.columns else None)
        self.overrides = [c for c in OVERRIDE_COLUMNS if c in source.columns]
        self.repeated: set[str] = set()
        self._build_problems: list[InputError] = []
        self._id_problems: list[tuple[int, InputError]] = []
        self._override_problems: dict[str, list[InputError]] = {c: [] for c in self.overrides}
        self._ids: list[pa.Array] = []

    @property
    def failed(self) -> bool:
        """Whether a problem has been found so far."""
        return bool(
            self.source.problems
            or self._build_problems
            or self._id_problems
            or any(self._override_problems.values())
        )

    def __iter__(self) -> Iterator[pa.Table]:
        return (table for _, table in self.chunks())

    def chunks(self) -> Iterator[tuple[Source, pa.Table]]:
        """Each chunk's rows (a source that labels them as the whole does) and prompts."""
        for chunk in self.source.chunks(self.rows):
            table = self._chunk(chunk)
            if table is not None and not self.failed:
                yield chunk, table
        self._check_ids()
        problems = [
            *self.source.problems,
            *self._build_problems,
            *(problem for _, problem in sorted(self._id_problems, key=lambda item: item[0])),
            *(problem for column in self.overrides for problem in self._override_problems[column]),
        ]
        raise_problems(problems, self.source.path)

    # -- one chunk ----------------------------------------------------------------------------

    def _chunk(self, chunk: Source) -> pa.Table | None:
        start = getattr(chunk, "offset", 0)
        if self.shape.kind in _TEXT_SHAPES:
            built = self._text_conversations(chunk)
        else:
            built = self._conversations(chunk)
        messages, digests = built if built is not None else (None, None)
        ids = self._chunk_ids(chunk, start, digests)
        overrides = {}
        for column in self.overrides:
            overrides[column], found = _override_array(chunk, column)
            self._override_problems[column].extend(found)
        if messages is None or ids is None or self.failed:
            return None
        user_table = chunk.arrow_columns(self.users)
        fields = [*PROMPTS, *(PROMPT_OVERRIDES.field(c) for c in overrides), *user_table.schema]
        arrays = [ids, messages, *overrides.values(), *user_table.columns]
        metadata = {"llmframe.table": "prompts", "llmframe.schema_version": SCHEMA_VERSION}
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))

    def _conversations(self, chunk: Source) -> tuple[pa.Array, list[bytes]] | None:
        """The general path: pydantic messages per row, checked, then one Arrow column."""
        build = _builder(chunk, self.shape, self.options)
        shape_column = self.shape.kind if self.shape.kind in self.shape.consumed else None
        conversations: list[list[Message]] = []
        for i in range(chunk.num_rows):
            try:
                conversations.append(_check_media(build(i), self.media, shape_column))
            except InputError as exc:
                self._build_problems.append(exc.located(row=chunk.row_label(i)))
        if len(conversations) < chunk.num_rows or self.failed:
            return None
        digests = [] if self.id_column else [conversation_digest(c) for c in conversations]
        try:
            return messages_to_arrow(conversations), digests
        except InputError as exc:
            raise exc.located(file=self.source.path) from None

    def _text_conversations(self, chunk: Source) -> tuple[pa.Array, list[bytes]] | None:
        """Text shapes: the user texts as one Arrow column, no pydantic object per row.

        Rows that look wrong are built the general way to get their exact problem; if one of
        them turns out fine, the whole chunk goes the general way (a row is never dropped).
        """
        bad: set[int] = set()
        systems = self._systems(chunk, bad)
        texts = self._texts(chunk, bad)
        if bad:
            found = len(self._build_problems)
            build = _builder(chunk, self.shape, self.options)
            fine = False
            for i in sorted(bad):
                try:
                    build(i)
                    fine = True
                except InputError as exc:
                    self._build_problems.append(exc.located(row=chunk.row_label(i)))
            if fine:
                del self._build_problems[found:]
                return self._conversations(chunk)
            return None
        if self.failed:
            return None
        digests = []
        if not self.id_column:
            users = texts.to_pylist()
            digests = [text_digest(s, u) for s, u in zip(systems, users, strict=True)]
        return text_messages(systems, texts), digests

    def _systems(self, chunk: Source, bad: set[int]) -> list[str | None]:
        """Each row's system text (its ``system`` value, else ``--system``), or None."""
        fallback = self.options.system
        if "system" not in chunk.columns:
            return [fallback or None] * chunk.num_rows
        systems: list[str | None] = []
        for i, value in enumerate(chunk.values("system")):
            if value is not None and not isinstance(value, str):
                bad.add(i)
                value = None
            systems.append((value or fallback) or None)
        return systems

    def _texts(self, chunk: Source, bad: set[int]) -> pa.Array:
        """Each row's user text; rows without a usable one go to `bad`."""
        column = self.shape.text_column
        if column is None:
            return self._rendered(chunk, bad)
        texts = chunk.arrow_columns([column]).column(0).combine_chunks()
        if _is_text(texts.type):
            flagged = pc.or_(pc.is_null(texts), blank_text(texts))
            bad.update(pc.indices_nonzero(flagged).to_pylist())
            return texts
        values = []
        for i, value in enumerate(chunk.values(column)):
            usable = isinstance(value, str) and value.strip()
            if not usable:
                bad.add(i)
            values.append(value if usable else None)
        return pa.array(values, pa.string())

    def _rendered(self, chunk: Source, bad: set[int]) -> pa.Array:
        """A template's text for each row; rows it cannot render go to `bad`."""
        template = self.shape.template
        assert template is not None
        values = {field: chunk.values(field) for field in template.fields}
        texts: list[str | None] = []
        for i in range(chunk.num_rows):
            try:
                texts.append(template.render({f: values[f][i] for f in template.fields}))
            except InputError:
                bad.add(i)
                texts.append(None)
        return pa.array(texts, pa.string())

    def _chunk_ids(self, chunk: Source, start: int, digests: list[bytes] | None) -> pa.Array | None:
        """The chunk's ids: given (checked), or the first 16 hex digits of each digest."""
        if self.id_column is None:
            if digests is None:
                return None
            ids = pa.array([d.hex()[:16] for d in digests], pa.string())
            self._ids.append(ids)
            return ids
        column = chunk.arrow_columns([self.id_column]).column(0).combine_chunks()
        if _is_text(column.type) or pa.types.is_integer(column.type):
            ids = column.cast(pa.string())
            flagged = pc.fill_null(pc.equal(ids, ""), True)
            bad = pc.indices_nonzero(flagged).to_pylist() if flagged.true_count else []
        else:
            ids, bad = None, list(range(chunk.num_rows))
        if bad:
            values = chunk.values(self.id_column)
            for i in bad:
                problem = _id_problem(values[i])
                if problem is not None:
                    located = InputError(problem, row=chunk.row_label(i), column=self.id_column)
                    self._id_problems.append((start + i, located))
        if ids is None:
            return None
        self._ids.append(ids)
        return ids

    # -- across chunks ------------------------------------------------------------------------

    def _check_ids(self) -> None:
        """Given ids must be unique (each repeat is a problem); repeated hashed ones are noted."""
        if not self._ids:
            return
        ids = pa.chunked_array(self._ids, pa.string())
        self._ids = []
        repeated = _repeated(ids)
        if not len(repeated):
            return
        if self.id_column is None:
            self.repeated = set(repeated.to_pylist())
            return
        rows = pc.indices_nonzero(pc.is_in(ids, value_set=repeated)).to_pylist()
        first: dict[str, int] = {}
        for row, value in zip(rows, ids.take(pa.array(rows, pa.int64())).to_pylist(), strict=True):
            if value in first:
                msg = f"duplicate id `{value}` (first at {self.source.row_label(first[value])})"
                located = InputError(msg, row=self.source.row_label(row), column=self.id_column)
                self._id_problems.append((row, located))
            first.setdefault(value, row)


def _repeated(values: pa.ChunkedArray, window: int = 1 << 16) -> pa.Array:
    """The values that occur more than once, each once.

    The sorted order is compared a window at a time: a million ids cost their sort indices
    (8 MB) and one window, not a sorted copy and a hash table (about 80 MB with
    `pc.value_counts`).
    """
    order = pc.sort_indices(values)
    found: list[pa.Array] = []
    previous: pa.Scalar | None = None
    for start in range(0, len(order), window):
        part = values.take(order.slice(start, window)).combine_chunks()
        if previous is not None and previous.is_valid and previous == part[0]:
            found.append(part.slice(0, 1))
        same = pc.equal(part.slice(1), part.slice(0, len(part) - 1))
        if same.true_count:
            found.append(part.slice(1).filter(same))
        previous = part[len(part) - 1]
    return pc.unique(pa.chunked_array(found, values.type))


def _id_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        got = "null" if value is None else f"{type(value).__name__} `{value!r}`"
        return f"expected text or a whole number as the id, got {got}"
    return None


def fix_repeats(tables: Iterable[pa.Table], repeated: set[str]) -> Iterator[pa.Table]:
    """`tables` (a scan's, in order) with the n-th repeat of a hashed id given its own id.

    As `llmframe.io.ids.hash_ids` does: the digest of the messages, hashed again with ``#n``.
    """
    if not repeated:
        yield from tables
        return
    seen: Counter[bytes] = Counter()
    for table in tables:
        ids = table.column("id").to_pylist()
        rows = [i for i, value in enumerate(ids) if value in repeated]
        if rows:
            picked = table.column("messages").take(pa.array(rows, pa.int64()))
            for row, conversation in zip(rows, messages_from_arrow(picked), strict=True):
                found = conversation_digest(conversation)
                if found.hex()[:16] == ids[row]:
                    ids[row] = id_of(found, seen[found])
                    seen[found] += 1
            table = table.set_column(0, table.field("id"), pa.array(ids, pa.string()))
        yield table


def normalize(source: Source, options: ReadOptions) -> pa.Table:
    """Read every row of `source` into a prompts table; raise listing every problem found."""
    scan = PromptScan(source, options)
    tables = list(scan)
    tables = list(fix_repeats(tables, scan.repeated))
    return pa.concat_tables(tables).combine_chunks()
