"""JSON Schema -> Arrow types, typed columns and back, and OpenAI strict-mode schemas."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jsonschema
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmframe.errors import SchemaMismatch, UsageError
from llmframe.extraction.arrow import (
    ENUM,
    FALLBACK_KEY,
    TIMESTAMP,
    arrow_fields,
    arrow_type,
    from_columns,
    to_columns,
)
from llmframe.extraction.strict import openai_strict
from llmframe.schema import JSON

# --- exact type mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, pa.string()),
        ({"type": "integer"}, pa.int64()),
        ({"type": "number"}, pa.float64()),
        ({"type": "boolean"}, pa.bool_()),
        ({"type": "string", "format": "date"}, pa.date32()),
        ({"type": "string", "format": "date-time"}, pa.timestamp("us", tz="UTC")),
        ({"type": "string", "format": "email"}, pa.string()),
        ({"enum": ["a", "b"]}, pa.dictionary(pa.int32(), pa.string())),
        ({"type": "string", "enum": ["a", None]}, pa.dictionary(pa.int32(), pa.string())),
        ({"const": "x"}, pa.dictionary(pa.int32(), pa.string())),
        ({"enum": [1, 2]}, pa.int64()),
        ({"type": ["string", "null"]}, pa.string()),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, pa.int64()),
        (
            {"type": "array", "items": {"type": "string"}},
            pa.list_(pa.field("item", pa.string(), nullable=False)),
        ),
        (
            {"type": "array", "items": {"type": ["integer", "null"]}},
            pa.list_(pa.field("item", pa.int64())),
        ),
        (
            {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "zip": {"type": "string"},
                    "since": {"type": "string", "format": "date"},
                },
                "required": ["city"],
            },
            pa.struct(
                [
                    pa.field("city", pa.string(), nullable=False),
                    pa.field("zip", pa.string()),
                    pa.field("since", pa.date32()),
                ]
            ),
        ),
        (
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"tag": {"enum": ["x", "y"]}},
                    "required": ["tag"],
                },
            },
            pa.list_(
                pa.field(
                    "item",
                    pa.struct([pa.field("tag", ENUM, nullable=False)]),
                    nullable=False,
                )
            ),
        ),
    ],
)
def test_arrow_type_is_exact(schema: dict[str, Any], expected: pa.DataType) -> None:
    assert arrow_type(schema) == expected


def test_fields_nullable_where_optional_or_null_allowed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "string"},
            "c": {"type": ["string", "null"]},
            "d": {"anyOf": [{"$ref": "#/$defs/when"}, {"type": "null"}]},
        },
        "required": ["a", "c", "d"],
        "$defs": {"when": {"type": "string", "format": "date-time"}},
    }
    fields = arrow_fields(schema)
    assert [(f.name, f.type, f.nullable) for f in fields] == [
        ("a", pa.string(), False),
        ("b", pa.string(), True),
        ("c", pa.string(), True),
        ("d", TIMESTAMP, True),
    ]


# --- fallbacks ------------------------------------------------------------------------------


def _reason(field: pa.Field) -> str:
    return field.metadata[FALLBACK_KEY].decode()


@pytest.mark.parametrize(
    ("sub", "reason"),
    [
        (
            {
                "oneOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}},
                    {"type": "object", "properties": {"b": {"type": "integer"}}},
                ]
            },
            "`oneOf` of 2 non-null schemas",
        ),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "`anyOf` of 2 non-null schemas"),
        ({"type": ["string", "integer"]}, "several non-null types"),
        ({"$ref": "#/$defs/node"}, "recursive `$ref` '#/$defs/node'"),
        ({"type": "object"}, "free-form map"),
        ({"type": "array"}, "without a single `items`"),
        ({"enum": ["a", 1]}, "mixed or non-string"),
        ({}, "any value"),
        ({"allOf": [{"type": "string"}]}, "`allOf`"),
    ],
)
def test_fallback_is_json_with_a_reason(sub: dict[str, Any], reason: str) -> None:
    schema = {
        "type": "object",
        "properties": {"x": sub},
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
    }
    (field,) = arrow_fields(schema)
    if sub == {"$ref": "#/$defs/node"}:
        # the outer node is typed; the recursion point inside it falls back
        (children,) = field.type.fields
        assert children.type.value_type == JSON
        assert reason in _reason(children.type.value_field)
        return
    assert field.type == JSON
    assert reason in _reason(field)


def test_fallback_values_round_trip_as_json_text() -> None:
    schema = {
        "type": "object",
        "properties": {
            "x": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "m": {"type": "object"},
        },
    }
    rows = [{"x": "a", "m": {"k": [1, 2]}}, {"x": 3, "m": {}}, None]
    table = to_columns(schema, rows)
    assert table.column("m").to_pylist() == ['{"k":[1,2]}', "{}", None]
    assert from_columns(table) == [*rows[:2], {"x": None, "m": None}]


def test_bad_refs_and_roots_raise_usage_error() -> None:
    with pytest.raises(UsageError, match="only local"):
        arrow_fields({"type": "object", "properties": {"a": {"$ref": "http://x/y.json"}}})
    with pytest.raises(UsageError, match="does not resolve"):
        arrow_fields({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}})
    with pytest.raises(UsageError, match="object with `properties`"):
        arrow_fields({"type": "array", "items": {"type": "string"}})


def test_bad_date_is_a_schema_mismatch_naming_the_column() -> None:
    schema = {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}
    with pytest.raises(SchemaMismatch, match="column `d`"):
        to_columns(schema, [{"d": "yesterday"}])


def test_to_columns_types_and_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "label": {"enum": ["pos", "neg"]},
        },
        "required": ["when", "label"],
    }
    table = to_columns(schema, [{"when": "2024-05-01T12:00:00Z", "label": "pos"}, None])
    assert table.schema.field("label").type == ENUM
    assert table.column("when").to_pylist()[0] == dt.datetime(
        2024, 5, 1, 12, tzinfo=dt.timezone.utc
    )
    assert from_columns(table) == [
        {"when": "2024-05-01T12:00:00+00:00", "day": None, "label": "pos"},
        {"when": None, "day": None, "label": None},
    ]


# --- hypothesis: random supported schemas -> instances -> Arrow -> JSON -----------------------

_NAMES = st.text("abcdefghij_", min_size=1, max_size=6)
_LEAVES = st.sampled_from(
    [
        {"type": "string"},
        {"type": "integer"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"enum": ["red", "green", "blue"]},
        {"type": "object"},  # JSON fallback
    ]
)


def _objects(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_NAMES, children, min_size=1, max_size=4).flatmap(
        lambda props: st.sets(st.sampled_from(sorted(props))).map(
            lambda req: {"type": "object", "properties": props, "required": sorted(req)}
        )
    )


def _nullable(sub: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [sub, {"type": "null"}]}


_SCHEMAS = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.builds(lambda s: {"type": "array", "items": s}, children),
        _objects(children),
        children.map(_nullable),
    ),
    max_leaves=8,
)

_DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1))
_TIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.just(dt.timezone.utc),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=5,
)


def _instances(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.none() | _instances(schema["anyOf"][0])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "object" and "properties" not in schema:
        return st.dictionaries(st.text(max_size=3), _JSON, max_size=3)
    if kind == "object":
        return st.fixed_dictionaries(
            {k: _instances(v) for k, v in schema["properties"].items() if k in schema["required"]},
            optional={
                k: _instances(v)
                for k, v in schema["properties"].items()
                if k not in schema["required"]
            },
        )
    if kind == "array":
        return st.lists(_instances(schema["items"]), max_size=3)
    if fmt == "date":
        return _DATES.map(dt.date.isoformat)
    if fmt == "date-time":
        return _TIMES.map(dt.datetime.isoformat)
    return {
        "string": st.text(max_size=6),
        "integer": st.integers(-(2**63), 2**63 - 1),
        "number": st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
    }[kind]


def _filled(schema: dict[str, Any], value: Any) -> Any:
    """`value` as from_columns returns it: every property present, missing ones as None."""
    if value is None:
        return None
    if "anyOf" in schema:
        return _filled(schema["anyOf"][0], value)
    if schema.get("type") == "object" and "properties" in schema:
        return {k: _filled(sub, value.get(k)) for k, sub in schema["properties"].items()}
    if schema.get("type") == "array":
        return [_filled(schema["items"], v) for v in value]
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), schema=_objects(_SCHEMAS))
def test_random_instances_round_trip(data: st.DataObject, schema: dict[str, Any]) -> None:
    fields = arrow_fields(schema)
    assert [f.name for f in fields] == list(schema["properties"])
    rows = data.draw(st.lists(_instances(schema) | st.none(), max_size=5))
    for row in rows:
        if row is not None:
            jsonschema.validate(row, schema)
    table = to_columns(schema, rows)
    assert [f.type for f in table.schema] == [f.type for f in fields]
    empty = dict.fromkeys(schema["properties"])
    assert from_columns(table) == [_filled(schema, r) if r is not None else empty for r in rows]


# --- OpenAI strict mode ---------------------------------------------------------------------

_PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer"},
        "mood": {"enum": ["ok", "sad"]},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "home": {"$ref": "#/$defs/address"},
        "kind": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "seen": {"type": "string", "format": "date"},
    },
    "required": ["name"],
    "$defs": {
        "address": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "zip": {"type": "string", "pattern": "^[0-9]+$"},
            },
            "required": ["city"],
        }
    },
}


def test_strict_requires_everything_and_closes_objects() -> None:
    strict = openai_strict(_PERSON)
    assert strict["required"] == list(_PERSON["properties"])
    assert strict["additionalProperties"] is False
    props = strict["properties"]
    assert props["name"] == {"type": "string"}  # minLength stripped, still required non-null
    assert props["age"] == {"type": ["integer", "null"]}
    assert props["mood"] == {"anyOf": [{"enum": ["ok", "sad"]}, {"type": "null"}]}
    assert props["tags"] == {"type": ["array", "null"], "items": {"type": "string"}}
    assert props["home"] == {"anyOf": [{"$ref": "#/$defs/address"}, {"type": "null"}]}
    assert props["kind"] == {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    assert props["seen"] == {"type": ["string", "null"], "format": "date"}
    address = strict["$defs"]["address"]
    assert address["required"] == ["city", "zip"]
    assert address["additionalProperties"] is False
    assert address["properties"]["zip"] == {"type": ["string", "null"], "pattern": "^[0-9]+$"}
    assert "minLength" in _PERSON["properties"]["name"]  # the input is unchanged


@pytest.mark.parametrize(
    "instance",
    [
        {"name": "Ann"},
        {"name": "Bo", "age": 3, "mood": "ok", "tags": ["a"], "home": {"city": "X"}, "kind": 2},
        {"name": "Cy", "home": {"city": "Y", "zip": "123"}, "seen": "2024-01-02", "kind": "k"},
    ],
)
def test_strict_accepts_valid_instances_with_nulls_for_missing(instance: dict[str, Any]) -> None:
    jsonschema.validate(instance, _PERSON)
    strict = openai_strict(_PERSON)
    jsonschema.Draft202012Validator.check_schema(strict)

    def fill(value: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
        out = {k: value.get(k) for k in schema["properties"]}
        if out.get("home") is not None:
            out["home"] = fill(out["home"], _PERSON["$defs"]["address"])
        return out

    jsonschema.validate(fill(instance, _PERSON), strict)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(instance | {"extra": 1}, strict)
    if instance.keys() != _PERSON["properties"].keys():
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(instance, strict)  # strict: every key must be present


def test_strict_refuses_what_it_cannot_express() -> None:
    with pytest.raises(UsageError, match="object at the root"):
        openai_strict({"type": "array", "items": {"type": "string"}})
    with pytest.raises(UsageError, match="`allOf`"):
        openai_strict({"type": "object", "properties": {"a": {"allOf": [{"type": "string"}]}}})


def test_strict_nullable_enum_and_oneof() -> None:
    strict = openai_strict(
        {
            "type": "object",
            "properties": {
                "e": {"type": "string", "enum": ["a"]},
                "o": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "f": {"type": "string", "format": "phone"},
            },
            "required": ["o", "f"],
        }
    )
    assert strict["properties"]["e"] == {"type": ["string", "null"], "enum": ["a", None]}
    assert strict["properties"]["o"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert strict["properties"]["f"] == {"type": "string"}
    jsonschema.validate({"e": None, "o": 1, "f": "x"}, strict)
    assert json.dumps(strict)  # plain JSON
