"""Echo's structured answers: JSON valid against the request's schema, derived from the prompt."""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmframe.providers.echo import echo_completion

FORMATS = jsonschema.FormatChecker()
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


@FORMATS.checks("date-time", raises=ValueError)
def is_date_time(value: object) -> bool:
    """RFC 3339 (rfc3339-validator, jsonschema's own checker, is not installed)."""
    if not isinstance(value, str):
        return True
    if not DATE_TIME.fullmatch(value):
        return False
    return datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00")).tzinfo is not None


@FORMATS.checks("uri")
def is_uri(value: object) -> bool:
    """An absolute URI with a host (rfc3987, jsonschema's own checker, is not installed)."""
    return not isinstance(value, str) or bool(urlsplit(value).scheme and urlsplit(value).netloc)


def validate(value: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(value)


def structured(text: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    messages = [{"role": "user", "content": text}]
    return {"model": "echo", "messages": messages, "response_format": fmt, **extra}


def answer(body: dict[str, Any]) -> Any:
    return json.loads(echo_completion(body)["choices"][0]["message"]["content"])


def arguments(text: str, schema: dict[str, Any]) -> Any:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    body = {"model": "echo", "messages": [{"role": "user", "content": text}], "tools": [tool]}
    (call,) = echo_completion(body)["choices"][0]["message"]["tool_calls"]
    return json.loads(call["function"]["arguments"])


REVIEW = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["pos", "neg", "neutral"]},
        "score": {"type": "integer"},
        "confidence": {"type": "number"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "spam": {"type": "boolean"},
    },
    "required": ["sentiment", "score", "confidence", "topics", "spam"],
    "additionalProperties": False,
}
REVIEWS = [
    "Makes a clean, bright cup in under two minutes. Cleanup is just popping out the puck.",
    'The listing says "fully waterproof," but the seams leaked on the first night of rain.',
    "Great sound for the price and the case fits in a coin pocket.",
    "Stopped charging my phone after nine days. Returned it.",
    "Très bon rapport qualité-prix, la lampe est parfaite pour lire le soir.",
    "ok",
]


# -- strategies: schemas in the supported subset -----------------------------------------------

WORDS = ["coffee", "tent", "Seams", "leaked", "great", "sound", "Köln", "é", "42", "a", "I've"]
texts = st.text(max_size=120) | st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join)
names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)


def maybe(draw: st.DrawFn, key: str, values: st.SearchStrategy[Any]) -> dict[str, Any]:
    return {key: draw(values)} if draw(st.booleans()) else {}


@st.composite
def strings(draw: st.DrawFn) -> dict[str, Any]:
    fmt = draw(st.sampled_from([None, "date", "date-time", "email", "uri", "uuid"]))
    if fmt is not None:
        return {"type": "string", "format": fmt}
    low = draw(st.integers(0, 30))
    schema = {"type": "string", **maybe(draw, "minLength", st.just(low))}
    return schema | maybe(draw, "maxLength", st.integers(low, low + 40))


@st.composite
def integers(draw: st.DrawFn) -> dict[str, Any]:
    step = draw(st.none() | st.integers(1, 12))
    low = draw(st.integers(-(10**6), 10**6))
    high = low + draw(st.integers(2 * (step or 1) + 2, 10**6))
    schema: dict[str, Any] = {"type": "integer", **({"multipleOf": step} if step else {})}
    schema |= maybe(draw, draw(st.sampled_from(["minimum", "exclusiveMinimum"])), st.just(low))
    return schema | maybe(
        draw, draw(st.sampled_from(["maximum", "exclusiveMaximum"])), st.just(high)
    )


@st.composite
def numbers(draw: st.DrawFn) -> dict[str, Any]:
    step = draw(st.sampled_from([None, None, 0.5, 0.25, 2.5]))
    low = draw(st.floats(-1e6, 1e6) | st.integers(-100, 100))
    high = low + draw(st.floats(max(1e-3, 4 * (step or 0)), 1e6))
    schema: dict[str, Any] = {"type": "number", **({"multipleOf": step} if step else {})}
    schema |= maybe(draw, draw(st.sampled_from(["minimum", "exclusiveMinimum"])), st.just(low))
    return schema | maybe(
        draw, draw(st.sampled_from(["maximum", "exclusiveMaximum"])), st.just(high)
    )


enums = st.lists(st.text(max_size=8), min_size=1, max_size=5, unique=True).map(
    lambda values: {"type": "string", "enum": values}
) | st.lists(st.integers(-5, 5), min_size=1, max_size=5, unique=True).map(lambda v: {"enum": v})
leaves = st.one_of(
    strings(), integers(), numbers(), enums, st.just({"type": "boolean"}), st.just({"type": "null"})
)


@st.composite
def nullable(draw: st.DrawFn, schemas: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    schema = draw(schemas)
    kind = schema.get("type")
    if isinstance(kind, str) and kind != "null" and draw(st.booleans()):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}][:: draw(st.sampled_from([1, -1]))]}


@st.composite
def arrays(draw: st.DrawFn, items: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """Arrays; ``uniqueItems`` only where enough distinct items exist for ``minItems``."""
    unique = draw(st.booleans())
    item = draw(st.just({"type": "string"}) if unique else items)
    if unique and draw(st.booleans()):
        item = draw(enums)
    room = len(item["enum"]) if unique and "enum" in item else 5
    low = draw(st.integers(0, room))
    schema = {"type": "array", "items": item, **({"uniqueItems": True} if unique else {})}
    schema |= maybe(draw, "minItems", st.just(low))
    return schema | maybe(draw, "maxItems", st.integers(low, low + 4))


@st.composite
def objects(draw: st.DrawFn, values: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    properties = draw(st.dictionaries(names, values, max_size=6))
    required = [n for n in properties if draw(st.booleans())]
    schema = {"type": "object", "properties": properties, "required": required}
    return schema | maybe(draw, "additionalProperties", st.just(False))


def strict(schema: Any) -> Any:
    """OpenAI strict form: all properties required, optional ones nullable, no extras."""
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) if k == "items" else v for k, v in schema.items()}
    if "$defs" in out:
        out["$defs"] = {name: strict(sub) for name, sub in schema["$defs"].items()}
    if "anyOf" in out:
        out["anyOf"] = [strict(branch) for branch in schema["anyOf"]]
    if schema.get("type") == "object":
        required = set(schema.get("required", []))
        properties = {}
        for name, sub in schema["properties"].items():
            sub = strict(sub)
            properties[name] = sub if name in required else {"anyOf": [sub, {"type": "null"}]}
        out |= {"properties": properties, "required": list(properties)}
        out["additionalProperties"] = False
    return out


values = st.recursive(
    leaves | nullable(leaves),
    lambda inner: arrays(inner) | objects(inner) | nullable(objects(inner)),
    max_leaves=12,
)


@st.composite
def schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A root object, perhaps with a ``$defs`` entry its properties or array items refer to."""
    schema = draw(objects(values))
    if draw(st.booleans()):
        shared = draw(objects(values))
        ref = {"$ref": "#/$defs/Shared"}
        use = draw(
            st.sampled_from(
                [ref, {"type": "array", "items": ref}, {"anyOf": [ref, {"type": "null"}]}]
            )
        )
        schema["properties"] = {**schema["properties"], "shared_": use}
        schema["$defs"] = {"Shared": shared}
    return strict(schema) if draw(st.booleans()) else schema


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(schemas(), texts)
def test_answer_is_valid_against_the_schema_and_deterministic(
    schema: dict[str, Any], text: str
) -> None:
    body = structured(text, schema)
    value = answer(body)
    validate(value, schema)
    assert answer(copy.deepcopy(body)) == value
    assert set(value) == set(schema["properties"])


@settings(max_examples=100, deadline=None)
@given(schemas(), texts)
def test_tool_call_arguments_are_valid_against_the_parameters(
    schema: dict[str, Any], text: str
) -> None:
    value = arguments(text, schema)
    validate(value, schema)
    assert arguments(text, schema) == value


@given(texts, strings() | integers() | numbers() | enums)
def test_leaf_values_validate(text: str, leaf: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"v": leaf}, "required": ["v"]}
    validate(answer(structured(text, schema)), schema)


# -- concrete examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("review", REVIEWS)
def test_review_schema_gives_plausible_values(review: str) -> None:
    value = answer(structured(review, REVIEW))
    validate(value, REVIEW)
    assert value["sentiment"] in ("pos", "neg", "neutral")
    assert isinstance(value["score"], int)
    assert 0 <= value["score"] <= 100
    assert isinstance(value["confidence"], float)
    assert 0 <= value["confidence"] <= 1
    assert isinstance(value["spam"], bool)
    words = set(re.findall(r"[\w'-]+", review))
    assert value["topics"]
    assert 1 <= len(value["topics"]) <= 3
    assert set(value["topics"]) <= words
    assert len(set(value["topics"])) == len(value["topics"])


def test_different_texts_give_different_values() -> None:
    answers = [answer(structured(review, REVIEW)) for review in REVIEWS]
    for key in ("sentiment", "score", "confidence", "spam"):
        assert len({json.dumps(a[key]) for a in answers}) > 1, key
    assert len({tuple(a["topics"]) for a in answers}) == len(REVIEWS)


def test_values_do_not_depend_on_the_process() -> None:
    """The hash is blake2b, not `hash()`: another PYTHONHASHSEED gives the same answer."""
    code = (
        "import json, sys; from llmframe.providers.echo import echo_completion; "
        "print(echo_completion(json.loads(sys.argv[1]))['choices'][0]['message']['content'])"
    )
    body = json.dumps(structured(REVIEWS[0], REVIEW))
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, body],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {echo_completion(json.loads(body))["choices"][0]["message"]["content"] + "\n"}


def test_strings_are_snippets_and_formats_are_valid() -> None:
    schema = {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "short": {"type": "string", "maxLength": 10},
            "long": {"type": "string", "minLength": 300},
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
            "link": {"type": "string", "format": "uri"},
        },
    }
    value = answer(structured(REVIEWS[0], schema))
    validate(value, schema)
    assert value["summary"] in " ".join(REVIEWS[0].split())
    assert 3 <= len(value["summary"].split()) <= 8
    assert 1 <= len(value["short"]) <= 10
    assert len(value["long"]) == 300
    assert datetime.date.fromisoformat(value["day"]).year in range(2020, 2027)
    assert value["at"].endswith("Z")
    assert value["mail"].endswith("@example.com")
    assert value["link"].startswith("https://example.com/")
    short = answer(structured("Ada Lovelace", schema))
    assert short["summary"] == "Ada Lovelace"


def test_numbers_respect_bounds_and_steps() -> None:
    schema = {
        "type": "object",
        "properties": {
            "stars": {"type": "integer", "minimum": 1, "maximum": 5},
            "even": {"type": "integer", "multipleOf": 2, "exclusiveMinimum": 10, "maximum": 14},
            "temp": {"type": "number", "minimum": -40, "exclusiveMaximum": -30},
            "half": {"type": "number", "multipleOf": 0.5, "minimum": 1, "maximum": 3},
            "above": {"type": "integer", "minimum": 1000},
        },
    }
    for review in REVIEWS:
        value = answer(structured(review, schema))
        validate(value, schema)
        assert value["stars"] in range(1, 6)
        assert value["even"] in (12, 14)
        assert -40 <= value["temp"] < -30
        assert value["half"] in (1.0, 1.5, 2.0, 2.5, 3.0)
        assert 1000 <= value["above"] <= 1100


def test_nullable_and_refs_take_the_value_branch() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": ["integer", "null"]},
            "b": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Pet"}]},
            "c": {"enum": ["x", None]},
            "d": {"allOf": [{"$ref": "#/$defs/Pet"}, {"properties": {"age": {"type": "integer"}}}]},
        },
        "$defs": {
            "Pet": {
                "type": "object",
                "properties": {"kind": {"const": "cat"}, "name": {"type": "string"}},
                "required": ["kind", "name"],
                "additionalProperties": False,
            }
        },
    }
    value = answer(structured("Tom the cat", schema))
    assert isinstance(value["a"], int)
    assert value["b"] == {"kind": "cat", "name": "Tom the cat"}
    assert value["c"] == "x"
    assert set(value["d"]) == {"kind", "name", "age"}


def test_recursive_schemas_end() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                    "next": {"$ref": "#/$defs/Node"},
                },
                "required": ["label", "children", "parent"],
                "additionalProperties": False,
            }
        },
    }
    value = answer(structured("a tree of words", schema))
    validate(value, schema)
    assert value["children"]
    assert all(child["children"] == [] for child in value["children"])
    assert all(child["parent"] is None for child in value["children"])
    assert "next" not in value["children"][0]


def test_unique_items_and_lengths() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 5,
                "uniqueItems": True,
            },
            "flags": {"type": "array", "items": {"type": "boolean"}, "minItems": 4},
            "pair": {
                "type": "array",
                "items": {"enum": ["a", "b", "c"]},
                "minItems": 2,
                "maxItems": 2,
            },
            "none": {"type": "array", "items": {"type": "integer"}, "maxItems": 0},
        },
    }
    for text in ["", "hi", REVIEWS[0]]:
        value = answer(structured(text, schema))
        validate(value, schema)
        assert len(value["pair"]) == 2
        assert value["none"] == []


def test_json_object_is_unchanged() -> None:
    body = {
        "model": "echo",
        "messages": [{"role": "user", "content": "hi there"}],
        "response_format": {"type": "json_object"},
    }
    assert answer(body) == {"echo": "hi there"}


def test_max_tokens_cuts_a_json_answer() -> None:
    data = echo_completion(structured(REVIEWS[0], {"type": "string"}, max_tokens=2))
    choice = data["choices"][0]
    assert choice["finish_reason"] == "length"
    assert len(choice["message"]["content"].split()) == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice["message"]["content"])
