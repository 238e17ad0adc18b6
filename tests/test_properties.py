"""Property tests: round trips through Arrow, Parquet, the long form and OpenAI chat JSONL, and
templates that never evaluate anything."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, get_args

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    PART_STRATEGIES,
    conversations,
    openai_records,
    plain_templates,
    template_texts,
    texts,
    unique_ids,
)

import llmframe
from llmframe import _json
from llmframe.errors import TemplateError
from llmframe.io.templates import Template
from llmframe.parts.arrow import messages_from_arrow, messages_to_arrow, part_to_row
from llmframe.parts.longform import long_to_nested, nested_to_long
from llmframe.parts.types import Message, Part, PartType, Role
from llmframe.schema import LONG_PROMPTS, MESSAGES, PART_TYPES, ROLES

PROPERTY = settings(max_examples=500, deadline=None)


def typed(value: Any) -> Any:
    """A value with every scalar tagged by its type, so that 1, 1.0 and True compare unequal."""
    if isinstance(value, Message):
        return ("Message", typed(value.model_dump()))
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def assert_same_conversations(got: list[list[Message]], expected: list[list[Message]]) -> None:
    assert got == expected
    assert typed(got) == typed(expected)


# Closed sets agree ---------------------------------------------------------------------------


def test_part_type_literal_union_and_schema_agree() -> None:
    literal = get_args(PartType)
    union = tuple(cls.model_fields["type"].default for cls in get_args(get_args(Part)[0]))
    assert literal == PART_TYPES
    assert union == PART_TYPES
    assert tuple(PART_STRATEGIES) == PART_TYPES


def test_role_literal_and_schema_agree() -> None:
    assert get_args(Role) == ROLES


# 1. Part/Message -> Arrow -> Part ------------------------------------------------------------


@pytest.mark.parametrize("part_type", PART_TYPES)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_each_part_type_round_trips_through_arrow(part_type: str, data: st.DataObject) -> None:
    part = data.draw(PART_STRATEGIES[part_type])
    conversation = [Message(role=data.draw(st.sampled_from(ROLES)), parts=[part])]
    column = messages_to_arrow([conversation])
    assert column.type == MESSAGES
    assert_same_conversations(messages_from_arrow(column), [conversation])


@pytest.fixture(scope="module")
def parquet_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parquet") / "messages.parquet"


@PROPERTY
@given(st.lists(conversations, max_size=3))
def test_messages_round_trip_through_arrow_and_parquet(
    parquet_path: Path, conversation_list: list[list[Message]]
) -> None:
    column = messages_to_arrow(conversation_list)
    assert column.type == MESSAGES
    assert len(column) == len(conversation_list)
    assert_same_conversations(messages_from_arrow(column), conversation_list)

    pq.write_table(pa.table({"messages": column}), parquet_path)
    from_file = pq.read_table(parquet_path).column("messages")
    assert from_file.type == MESSAGES
    assert_same_conversations(messages_from_arrow(from_file), conversation_list)


# 2. nested -> long -> nested -----------------------------------------------------------------


@st.composite
def prompts_tables(draw: st.DrawFn) -> tuple[pa.Table, list[str], list[list[Message]]]:
    """A prompts table (``id``, ``messages``), sometimes chunked or sliced out of a larger one."""
    ids = draw(unique_ids)
    convs = [draw(conversations) for _ in ids]
    before, after = draw(st.integers(0, 1)), draw(st.integers(0, 1))
    padding_ids = [f"\x00pad{i}" for i in range(before + after)]
    padding = [draw(conversations) for _ in padding_ids]
    all_ids = padding_ids[:before] + ids + padding_ids[before:]
    all_convs = padding[:before] + convs + padding[before:]
    schema = pa.schema([LONG_PROMPTS.field("id"), pa.field("messages", MESSAGES, nullable=False)])
    full = pa.Table.from_arrays(
        [pa.array(all_ids, pa.string()), messages_to_arrow(all_convs)], schema=schema
    )
    table = full.slice(before, len(ids))
    if len(ids) > 1 and draw(st.booleans()):
        cut = draw(st.integers(1, len(ids) - 1))
        table = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    return table, ids, convs


def expected_long_rows(ids: list[str], convs: list[list[Message]]) -> list[dict[str, Any]]:
    return [
        {
            "id": conv_id,
            "message_index": m_index,
            "role": message.role,
            "part_index": p_index,
            **part_to_row(part),
        }
        for conv_id, conv in zip(ids, convs, strict=True)
        for m_index, message in enumerate(conv)
        for p_index, part in enumerate(message.parts)
    ]


def nested_by_id(table: pa.Table) -> dict[str, list[Message]]:
    ids = table.column("id").to_pylist()
    return dict(zip(ids, messages_from_arrow(table.column("messages")), strict=True))


@PROPERTY
@given(prompts_tables(), st.data())
def test_nested_long_nested_round_trip(
    prompts: tuple[pa.Table, list[str], list[list[Message]]], data: st.DataObject
) -> None:
    table, ids, convs = prompts
    long = nested_to_long(table)
    assert long.schema == LONG_PROMPTS
    assert long.to_pylist() == expected_long_rows(ids, convs)

    nested = long_to_nested(long)
    assert nested.column("id").to_pylist() == ids
    assert nested.column("messages").type == MESSAGES
    assert_same_conversations(messages_from_arrow(nested.column("messages")), convs)

    # Any order of the long rows, in any chunking, gives the same conversations; they come out
    # in the order their ids first appear.
    order = data.draw(st.permutations(range(long.num_rows)))
    shuffled = long.take(pa.array(order, pa.int64()))
    if shuffled.num_rows > 1 and data.draw(st.booleans()):
        cut = data.draw(st.integers(1, shuffled.num_rows - 1))
        shuffled = pa.concat_tables([shuffled.slice(0, cut), shuffled.slice(cut)])
    renested = long_to_nested(shuffled)
    first_seen = list(dict.fromkeys(shuffled.column("id").to_pylist()))
    assert renested.column("id").to_pylist() == first_seen
    got, expected = nested_by_id(renested), dict(zip(ids, convs, strict=True))
    assert got == expected
    assert typed(got) == typed(expected)


# 3. OpenAI chat JSONL -> prompts -> OpenAI chat JSONL -----------------------------------------


@pytest.fixture(scope="module")
def jsonl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openai")


@PROPERTY
@given(openai_records())
def test_openai_jsonl_round_trips_through_parquet(
    jsonl_dir: Path, records: list[dict[str, Any]]
) -> None:
    source, middle, back = (jsonl_dir / name for name in ("in.jsonl", "mid.parquet", "out.jsonl"))
    lines = [_json.dumps(record) for record in records]
    source.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    llmframe.convert(source, middle)
    llmframe.convert(middle, back)
    # Split on "\n" only: JSON text may hold U+0085 and U+2028, which `splitlines` splits at.
    back_lines = back.read_text(encoding="utf-8").split("\n")
    assert back_lines.pop() == ""
    assert [_json.loads(line) for line in back_lines] == records
    # Same text means the same keys in the same order, and 1 never turned into 1.0 or true.
    assert back_lines == lines


# 4. Templates never evaluate anything ---------------------------------------------------------

values_text = st.one_of(
    texts, st.sampled_from(["{x}", "{0.__class__}", "{a!r}", "{{", "}}", "{review}", "{}"])
)


def formatter_pieces(template: str) -> list[tuple[str, str | None, str | None, str | None]] | None:
    """`string.Formatter().parse`, or None when Python itself cannot parse the template."""
    try:
        return list(string.Formatter().parse(template))
    except ValueError:
        return None


def reference_render(template: str, values: dict[str, str]) -> str:
    """Literals and values concatenated, as `str.format` would with only plain fields."""
    pieces = formatter_pieces(template)
    assert pieces is not None
    return "".join(
        literal + ("" if field is None else values[field]) for literal, field, _, _ in pieces
    )


def must_refuse(template: str) -> bool:
    """Whether a template uses anything but plain named fields (or uses no field at all)."""
    pieces = formatter_pieces(template)
    if pieces is None:
        return True
    fields = [(field, spec, conv) for _, field, spec, conv in pieces if field is not None]
    if not fields:
        return True
    for field, spec, conversion in fields:
        if "." in field or "[" in field or "]" in field or conversion is not None or spec:
            return True
        if not field.strip() or field.isdigit():
            return True
    return False


@PROPERTY
@given(st.one_of(template_texts, plain_templates()), st.data())
def test_template_renders_by_concatenation_only(template: str, data: st.DataObject) -> None:
    try:
        parsed = Template.parse(template)
    except TemplateError:
        assert must_refuse(template)
        return
    assert not must_refuse(template)
    values = {field: data.draw(values_text, label=field) for field in parsed.fields}
    rendered = parsed.render(values)
    assert rendered == reference_render(template, values)
    # Values often hold `{x}` or `{0.__class__}`: equality with the one-pass reference shows they
    # are inserted as they are, never expanded again.
    assert rendered == template.format_map(values)  # plain fields only, so format agrees


class Spy:
    """A value that records every hook Python could use to turn it into text or look inside."""

    def __init__(self) -> None:
        object.__setattr__(self, "calls", [])

    def _record(self, name: str) -> None:
        object.__getattribute__(self, "calls").append(name)

    def __getattr__(self, name: str) -> Any:
        self._record(f"__getattr__({name})")
        raise AttributeError(name)

    def __format__(self, spec: str) -> str:
        self._record("__format__")
        return "formatted"

    def __str__(self) -> str:
        self._record("__str__")
        return "str"

    def __repr__(self) -> str:
        self._record("__repr__")
        return "repr"

    def __getitem__(self, key: Any) -> Any:
        self._record("__getitem__")
        return "item"

    def __iter__(self) -> Any:
        self._record("__iter__")
        return iter(())

    def __len__(self) -> int:
        self._record("__len__")
        return 0

    def __bool__(self) -> bool:
        self._record("__bool__")
        return True

    def __index__(self) -> int:
        self._record("__index__")
        return 0

    def __float__(self) -> float:
        self._record("__float__")
        return 0.0


class SpyStr(str):
    """Text whose hooks record calls: `_as_text` must use the characters as they are."""

    def __new__(cls, text: str) -> SpyStr:
        self = super().__new__(cls, text)
        self.calls = []
        return self

    def __format__(self, spec: str) -> str:
        self.calls.append("__format__")
        return "formatted"

    def __str__(self) -> str:
        self.calls.append("__str__")
        return "str"

    def __getattr__(self, name: str) -> Any:
        self.calls.append(f"__getattr__({name})")
        raise AttributeError(name)


class SpyInt(int):
    """A number whose hooks record calls: `_as_text` turns numbers into text with `str()`."""

    calls: list[str]

    def __format__(self, spec: str) -> str:
        self.calls.append("__format__")
        return "formatted"

    def __str__(self) -> str:
        self.calls.append("__str__")
        return "str"

    def __repr__(self) -> str:
        self.calls.append("__repr__")
        return "repr"

    def __getattr__(self, name: str) -> Any:
        self.calls.append(f"__getattr__({name})")
        raise AttributeError(name)


@PROPERTY
@given(plain_templates(), texts)
def test_template_never_looks_inside_values(template: str, text: str) -> None:
    parsed = Template.parse(template)

    spy = Spy()
    with pytest.raises(TemplateError, match="has no text form"):
        parsed.render(dict.fromkeys(parsed.fields, spy))
    assert object.__getattribute__(spy, "calls") == []

    # Text is inserted as its characters: no __str__, __format__ or attribute is ever used.
    spy_text = SpyStr(text)
    rendered = parsed.render(dict.fromkeys(parsed.fields, spy_text))
    assert rendered == reference_render(template, dict.fromkeys(parsed.fields, text))
    assert spy_text.calls == []

    # A number goes through str() once per use, and nothing else.
    spy_int = SpyInt(7)
    spy_int.calls = []
    rendered = parsed.render(dict.fromkeys(parsed.fields, spy_int))
    uses = sum(1 for _, field in parsed.pieces if field is not None)
    assert spy_int.calls == ["__str__"] * uses
    assert rendered == reference_render(template, dict.fromkeys(parsed.fields, "str"))


def test_values_with_braces_are_not_expanded() -> None:
    parsed = Template.parse("{a}|{b}")
    assert parsed.render({"a": "{b}", "b": "{0.__class__}"}) == "{b}|{0.__class__}"


def test_empty_long_table_gives_empty_prompts() -> None:
    # `Schema.empty_table()` raised ArrowNotImplementedError on the nested JSON extension type.
    nested = long_to_nested(LONG_PROMPTS.empty_table())
    assert nested.num_rows == 0
    assert nested.column("messages").type == MESSAGES
