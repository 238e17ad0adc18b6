"""The `--schema` input half of structured extraction: the field DSL and `load_schema`."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmframe.errors import UsageError
from llmframe.extraction import SchemaDslError, load_schema, parse_dsl, schema_to_dsl


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


S = {"type": "string"}

# -- llm's documented examples, unchanged


def test_llm_comma_example() -> None:
    assert parse_dsl("name, age int, one_sentence_bio") == obj(
        {"name": S, "age": {"type": "integer"}, "one_sentence_bio": S}
    )


def test_llm_descriptions_comma_form() -> None:
    assert parse_dsl("name, age int, bio: a short bio") == obj(
        {
            "name": S,
            "age": {"type": "integer"},
            "bio": {"type": "string", "description": "a short bio"},
        }
    )


def test_llm_newline_form_keeps_commas_in_descriptions() -> None:
    text = """
name: the person's name
age int: their age
bio: a short bio, no more than three sentences
"""
    assert parse_dsl(text) == obj(
        {
            "name": {"type": "string", "description": "the person's name"},
            "age": {"type": "integer", "description": "their age"},
            "bio": {"type": "string", "description": "a short bio, no more than three sentences"},
        }
    )


def test_issue_example_and_llm_short_types() -> None:
    assert parse_dsl("name, bio, age int: their age in years") == obj(
        {"name": S, "bio": S, "age": {"type": "integer", "description": "their age in years"}}
    )
    assert parse_dsl("a int, b float, c bool, d str") == obj(
        {"a": {"type": "integer"}, "b": {"type": "number"}, "c": {"type": "boolean"}, "d": S}
    )


def test_empty_fields_and_blank_lines_are_skipped_as_llm_does() -> None:
    assert parse_dsl("a, b,") == parse_dsl("a,,b") == obj({"a": S, "b": S})
    assert parse_dsl("\n\na\n\n  b int\n") == obj({"a": S, "b": {"type": "integer"}})


# -- extensions


def test_long_type_names() -> None:
    assert parse_dsl("a string, b integer, c number, d boolean") == obj(
        {"a": S, "b": {"type": "integer"}, "c": {"type": "number"}, "d": {"type": "boolean"}}
    )


def test_issue_extensions() -> None:
    text = (
        "score float, spam bool, tags list[str], sentiment enum(pos|neg|neutral), "
        "address {street str, city str}, nickname? str, born date, seen datetime"
    )
    assert parse_dsl(text) == obj(
        {
            "score": {"type": "number"},
            "spam": {"type": "boolean"},
            "tags": {"type": "array", "items": S},
            "sentiment": {"type": "string", "enum": ["pos", "neg", "neutral"]},
            "address": obj({"street": S, "city": S}),
            "nickname": S,
            "born": {"type": "string", "format": "date"},
            "seen": {"type": "string", "format": "date-time"},
        },
        required=["score", "spam", "tags", "sentiment", "address", "born", "seen"],
    )


def test_nested_lists_objects_and_descriptions() -> None:
    text = "grid list[list[int]]: rows, people list[{name, age? int: years}]: everyone"
    assert parse_dsl(text) == obj(
        {
            "grid": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "integer"}},
                "description": "rows",
            },
            "people": {
                "type": "array",
                "items": obj(
                    {"name": S, "age": {"type": "integer", "description": "years"}},
                    required=["name"],
                ),
                "description": "everyone",
            },
        }
    )


def test_multiline_object_and_description_on_object() -> None:
    text = "address {\n  street: the street\n  city\n}: where they live\nnote?: free, text"
    assert parse_dsl(text) == obj(
        {
            "address": {
                **obj({"street": {"type": "string", "description": "the street"}, "city": S}),
                "description": "where they live",
            },
            "note": {"type": "string", "description": "free, text"},
        },
        required=["address"],
    )


def test_enum_values_are_trimmed_and_may_hold_spaces_and_commas() -> None:
    assert parse_dsl("mood enum( very good | bad, sadly )") == obj(
        {"mood": {"type": "string", "enum": ["very good", "bad, sadly"]}}
    )


def test_optional_field_without_type_takes_description() -> None:
    assert parse_dsl("nick?: what friends call them") == obj(
        {"nick": {"type": "string", "description": "what friends call them"}}, required=[]
    )


# -- errors name the column (and line when multi-line)


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("name, age integr", 1, 11, "unknown type `integr`"),
        ("name, age Int", 1, 11, "did you mean `int`"),
        ("a list[int", 1, 11, "expected `]`"),
        ("a list(int)", 1, 7, "expected `[` after `list`"),
        ("a enum(x|y", 1, 3, "unclosed `enum(`"),
        ("a enum(x||y)", 1, 10, "empty `enum` value"),
        ("a enum(x|y|x)", 1, 12, "duplicate `enum` value `x`"),
        ("a, b {c int", 1, 6, "unclosed `{`"),
        ("a {}", 1, 3, "at least one field"),
        ("a int extra", 1, 7, "unexpected `extra` after field `a`"),
        ("a, a", 1, 4, "duplicate field `a`"),
        ("a, }", 1, 4, "expected a field name, found `}`"),
        ("a list[]", 1, 8, "expected a type"),
        ("", 1, 1, "no fields"),
        ("name\nage int\nbio txt: a bio", 3, 5, "unknown type `txt`"),
        ("x {\n  y int,\n  z flaot\n}", 3, 5, "unknown type `flaot`"),
    ],
)
def test_errors_locate_the_mistake(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(SchemaDslError) as info:
        parse_dsl(text)
    err = info.value
    assert isinstance(err, UsageError)
    assert (err.line, err.column) == (line, column)
    assert words in str(err)
    where = f"line {line}, column {column}" if "\n" in text else f"column {column}"
    assert f" at {where}\n" in str(err)
    # the excerpt quotes the line and puts a caret under the column
    source, caret = str(err).split("\n")[1:3]
    assert source == "  " + text.split("\n")[line - 1]
    assert caret == "  " + " " * (column - 1) + "^"


# -- schema_to_dsl and the round trip

names = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
_text_chars = st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="\n\r")


def _trimmed(exclude: str) -> st.SearchStrategy[str]:
    chars = st.characters(
        categories=["L", "N", "P", "S", "Zs"], exclude_characters="\n\r" + exclude
    )
    return st.text(chars, min_size=1, max_size=12).filter(lambda s: s == s.strip() and s != "")


scalars = st.sampled_from(
    [
        {"type": "string"},
        {"type": "integer"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
    ]
)
enums = st.lists(_trimmed("|)"), min_size=1, max_size=4, unique=True).map(
    lambda values: {"type": "string", "enum": values}
)


def objects(
    children: st.SearchStrategy[dict[str, Any]], descriptions: st.SearchStrategy[str]
) -> st.SearchStrategy[dict[str, Any]]:
    def build(fields: list[tuple[str, dict[str, Any], str | None, bool]]) -> dict[str, Any]:
        properties = {}
        for name, prop, description, _ in fields:
            properties[name] = {**prop, "description": description} if description else prop
        required = [name for name, _, _, optional in fields if not optional]
        return obj(properties, required)

    field = st.tuples(names, children, st.none() | descriptions, st.booleans())
    return st.lists(field, min_size=1, max_size=5, unique_by=lambda f: f[0]).map(build)


types = st.recursive(
    scalars | enums,
    lambda inner: (
        inner.map(lambda t: {"type": "array", "items": t}) | objects(inner, _trimmed(",}"))
    ),
    max_leaves=12,
)
top_level = objects(types, _trimmed(""))


@settings(max_examples=500, deadline=None)
@given(top_level)
def test_round_trip(schema: dict[str, Any]) -> None:
    text = schema_to_dsl(schema)
    assert parse_dsl(text) == schema


def test_schema_to_dsl_is_concise_and_llm_shaped() -> None:
    assert schema_to_dsl(parse_dsl("name, age int, bio: a short bio")) == (
        "name, age int, bio: a short bio"
    )
    assert parse_dsl("bio: short, sweet") == obj(
        {"bio": {"type": "string", "description": "short"}, "sweet": S}
    )
    assert schema_to_dsl(parse_dsl("bio: short, sweet\n")) == "bio: short, sweet\n"


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "array", "items": S}, "not an object"),
        (obj({"a": {"type": "null"}}), "unsupported schema"),
        (obj({"a": {"type": "string", "pattern": "x"}}), "unsupported schema"),
        (obj({"a b": S}), "names may not hold"),
        (obj({"a": {"type": "string", "description": "two\nlines"}}), "description"),
        (obj({"a": obj({"b": {"type": "string", "description": "x, y"}})}), "description"),
        (obj({"a": {"type": "string", "enum": ["x|y"]}}), "enum values"),
        ({**obj({"a": S}), "additionalProperties": True}, "additionalProperties"),
    ],
)
def test_schema_to_dsl_refuses_what_it_cannot_say(schema: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match="cannot be written in the schema DSL") as info:
        schema_to_dsl(schema)
    assert words in str(info.value)


# -- load_schema, one test per input kind

PERSON = obj({"name": S, "age": {"type": "integer"}})

MODELS = """
from pydantic import BaseModel, Field


class Address(BaseModel):
    city: str


class Person(BaseModel):
    name: str
    address: Address = Field(description="where they live")


class Node(BaseModel):
    value: int
    children: list["Node"] = []


NOT_A_MODEL = 3


class Plain:
    pass
"""


@pytest.fixture
def models(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    package = tmp_path / "schemapkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "schemapkg.models"


def test_load_dict_is_returned_as_is() -> None:
    assert load_schema(PERSON) is PERSON


def test_load_dict_that_is_not_a_json_schema() -> None:
    with pytest.raises(UsageError, match="not a valid JSON Schema at properties/age"):
        load_schema({"type": "object", "properties": {"age": {"type": "integr"}}})


def test_load_inline_json() -> None:
    assert load_schema("  " + json.dumps(PERSON)) == PERSON


def test_load_inline_json_with_a_mistake_names_its_position() -> None:
    with pytest.raises(UsageError, match="inline JSON schema: bad JSON at line 1, column 10"):
        load_schema('{"type": }')
    with pytest.raises(UsageError, match="inline JSON schema is not a valid JSON Schema"):
        load_schema('{"type": 5}')


def test_load_json_file(tmp_path: Any) -> None:
    path = tmp_path / "person.json"
    path.write_text(json.dumps(PERSON))
    assert load_schema(str(path)) == PERSON


def test_load_json_file_problems(tmp_path: Any) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_schema(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "type": "object",\n}')
    with pytest.raises(UsageError, match=r"`.*bad.json`: bad JSON at line 3, column 1"):
        load_schema(str(bad))
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    with pytest.raises(UsageError, match="must be a JSON object, got list"):
        load_schema(str(array))


def test_load_pydantic_class_inlines_defs(models: str) -> None:
    import importlib

    person = importlib.import_module(models).Person
    schema = load_schema(person)
    assert "$defs" not in schema
    address = schema["properties"]["address"]
    assert address["properties"] == {"city": {"title": "City", "type": "string"}}
    assert address["description"] == "where they live"  # the $ref's sibling is kept
    assert schema["required"] == ["name", "address"]


def test_load_import_spec(models: str) -> None:
    schema = load_schema(f"{models}:Person")
    assert schema["title"] == "Person"
    assert schema["properties"]["address"]["type"] == "object"


def test_load_recursive_model_keeps_defs(models: str) -> None:
    schema = load_schema(f"{models}:Node")
    assert "Node" in schema["$defs"]
    assert schema["$ref"] == "#/$defs/Node"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nosuchpkg_xyz.models:Person", "cannot import `nosuchpkg_xyz.models`"),
        ("{models}:Missing", "has no `Missing`"),
        ("{models}:NOT_A_MODEL", "is not a pydantic model"),
        ("{models}:Plain", "is not a pydantic model"),
    ],
)
def test_load_import_spec_problems(models: str, spec: str, words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("`", ".")):
        load_schema(spec.format(models=models))


def test_load_class_that_is_not_a_model() -> None:
    with pytest.raises(UsageError, match="`dict` is not a pydantic model"):
        load_schema(dict)


def test_load_falls_back_to_the_dsl() -> None:
    assert load_schema("name, age int") == PERSON
    assert load_schema("name: the name") == obj(
        {"name": {"type": "string", "description": "the name"}}
    )
    with pytest.raises(SchemaDslError, match="unknown type `integr`"):
        load_schema("name, age integr")


def test_colon_without_space_reads_as_an_import_spec_with_a_dsl_hint() -> None:
    with pytest.raises(UsageError, match="cannot import `bio`") as info:
        load_schema("bio:Short")
    assert "put a space after the `:`" in str(info.value)
    assert load_schema("bio: Short") == obj({"bio": {"type": "string", "description": "Short"}})
