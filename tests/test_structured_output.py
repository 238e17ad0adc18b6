"""Native structured output (`StructuredOutputs.structured_output`) for each built-in provider.

(a) The options a provider returns, put through its own `build_call`, give the structured-output
fields of each JSON-schema recording in ../shared/conformance (the J-flagged rows of INDEX.md)
exactly. (b) The recorded answer, parsed as the provider parses it (a whole body, or the stream
through its decoder and stream parser), is text that `json.loads` into a value valid against the
recorded schema. Then what no recording holds: the OpenAI strict fallback, Anthropic's schema
subset, and how the options sit beside the user's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from conformance import CONFORMANCE, Exchange, load, needs_conformance
from replay import decode, run_stream

from llmframe.errors import UsageError
from llmframe.extraction.strict import openai_strict
from llmframe.parts.build import user
from llmframe.parts.types import RefusalPart, TextPart
from llmframe.providers import get_provider
from llmframe.providers.anthropic import API_VERSION, Anthropic, anthropic_schema
from llmframe.providers.base import Completion, StructuredOutput
from llmframe.providers.gemini import Gemini
from llmframe.providers.ollama import Ollama
from llmframe.providers.openai import OpenAIChat
from llmframe.providers.openai_responses import OpenAIResponses

BUILTIN = ("openai", "openai_responses", "anthropic", "gemini", "ollama")
MESSAGES = [user("Invent a good dog")]


@dataclass(frozen=True)
class Case:
    """One JSON-schema recording and how its request carries the structured-output fields."""

    file: str
    provider: Any
    fields: Callable[[dict[str, Any]], Any]
    """The structured-output fields of a request body."""
    schema: Callable[[dict[str, Any]], dict[str, Any]]
    """The schema the recorded request asked for."""
    name: Callable[[dict[str, Any]], str] = lambda body: "Answer"
    """The name the recorded request gave (APIs without one: any name)."""

    @property
    def id(self) -> str:
        return self.file.split("/")[1].rsplit(".", 1)[0]

    def exchange(self) -> Exchange:
        (exchange,) = load(CONFORMANCE / self.file)
        assert exchange.status == 200
        return exchange

    def streamed(self, body: dict[str, Any]) -> bool:
        # Ollama streams unless told `"stream": false`; langchaingo leaves the field out.
        return body.get("stream", isinstance(self.provider, Ollama)) is True


CASES = [
    Case(
        "openai/openai-chat-json-schema-strict.yaml",
        OpenAIChat(),
        fields=lambda body: body["response_format"],
        schema=lambda body: body["response_format"]["json_schema"]["schema"],
        name=lambda body: body["response_format"]["json_schema"]["name"],
    ),
    Case(
        "openai/openai-chat-refusal.yaml",
        OpenAIChat(),
        fields=lambda body: body["response_format"],
        schema=lambda body: body["response_format"]["json_schema"]["schema"],
        name=lambda body: body["response_format"]["json_schema"]["name"],
    ),
    Case(
        "openai/openai-responses-json-schema-strict.yaml",
        OpenAIResponses(),
        fields=lambda body: body["text"],
        schema=lambda body: body["text"]["format"]["schema"],
        name=lambda body: body["text"]["format"]["name"],
    ),
    Case(
        "anthropic/anthropic-messages-stream-json-schema.yaml",
        Anthropic(),
        fields=lambda body: body["output_config"],
        schema=lambda body: body["output_config"]["format"]["schema"],
    ),
    Case(
        "gemini/gemini-json-schema.yaml",
        Gemini(),
        fields=lambda body: {
            key: body["generationConfig"][key] for key in ("responseMimeType", "responseJsonSchema")
        },
        schema=lambda body: body["generationConfig"]["responseJsonSchema"],
    ),
    Case(
        "ollama/ollama-chat-stream-format-json-schema.httprr",
        Ollama(),
        fields=lambda body: body["format"],
        schema=lambda body: body["format"],
    ),
]
ANSWERS = [case for case in CASES if "refusal" not in case.file]


def complete(case: Case, exchange: Exchange) -> Completion:
    if case.streamed(exchange.request_json()):
        events = decode(case.provider.stream_decoder(), exchange.body)
        return run_stream(case.provider, events)[0]
    return case.provider.parse_body(exchange.body)


def asked(case: Case) -> tuple[dict[str, Any], StructuredOutput]:
    recorded = case.exchange().request_json()
    return recorded, case.provider.structured_output(case.schema(recorded), case.name(recorded))


# (a) the request carries what the recording's did ----------------------------------------------


@needs_conformance
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_options_build_the_recorded_structured_output_fields(case: Case) -> None:
    recorded, structured = asked(case)
    assert structured.answer == "text"
    stream = case.streamed(recorded)
    call = case.provider.build_call("model", MESSAGES, structured.options, stream=stream)
    assert call.body is not None
    assert case.fields(json.loads(json.dumps(call.body))) == case.fields(recorded)


@needs_conformance
def test_anthropic_needs_no_beta_header() -> None:
    (case,) = [case for case in CASES if isinstance(case.provider, Anthropic)]
    _, structured = asked(case)
    call = case.provider.build_call("claude-sonnet-4-5", MESSAGES, structured.options, stream=True)
    assert dict(call.headers) == {"anthropic-version": API_VERSION}


# (b) the recorded answer is JSON valid against the schema ----------------------------------------


@needs_conformance
@pytest.mark.parametrize("case", ANSWERS, ids=[case.id for case in ANSWERS])
def test_recorded_answer_is_json_valid_against_the_schema(case: Case) -> None:
    exchange = case.exchange()
    parts = complete(case, exchange).parts
    assert parts
    assert all(isinstance(part, TextPart) for part in parts)
    value = json.loads("".join(part.text for part in parts if isinstance(part, TextPart)))
    jsonschema.validate(value, case.schema(exchange.request_json()))


@needs_conformance
def test_a_refusal_comes_back_as_a_refusal_not_json() -> None:
    (case,) = [case for case in CASES if "refusal" in case.file]
    (part,) = complete(case, case.exchange()).parts
    assert isinstance(part, RefusalPart)


# Every built-in provider has a native mode -------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_provider_answers_in_text(name: str) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    kept = copy.deepcopy(schema)
    structured = get_provider(name).structured_output(schema, "thing")  # type: ignore[attr-defined]
    assert isinstance(structured, StructuredOutput)
    assert structured.answer == "text"
    assert schema == kept  # the caller's schema is not changed
    json.dumps(structured.options)  # JSON, ready for a request body


# OpenAI: strict when it can be, the schema as given when not -------------------------------------

OPTIONAL = {
    "type": "object",
    "description": "A dog.",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name"],
}
COMPOSED = {
    "type": "object",
    "properties": {"age": {"type": "integer", "allOf": [{"minimum": 0}, {"maximum": 30}]}},
    "required": ["age"],
}


def test_openai_chat_sends_the_strict_rewrite() -> None:
    options = OpenAIChat().structured_output(OPTIONAL, "dog").options
    assert options == {
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "dog",
                "schema": openai_strict(OPTIONAL),
                "strict": True,
                "description": "A dog.",
            },
        }
    }
    sent = options["response_format"]["json_schema"]["schema"]
    assert sent["required"] == ["name", "age"]
    assert sent["properties"]["age"] == {"type": ["integer", "null"]}
    assert sent["additionalProperties"] is False


@pytest.mark.parametrize("schema", [COMPOSED, {**COMPOSED, "not": {"required": ["x"]}}])
def test_openai_chat_falls_back_to_non_strict(schema: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        openai_strict(schema)
    options = OpenAIChat().structured_output(schema, "dog").options
    assert options == {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "dog", "schema": schema, "strict": False},
        }
    }


def test_openai_responses_strict_and_fallback() -> None:
    strict = OpenAIResponses().structured_output(OPTIONAL, "dog").options
    assert strict == {
        "text": {
            "format": {
                "type": "json_schema",
                "name": "dog",
                "schema": openai_strict(OPTIONAL),
                "strict": True,
                "description": "A dog.",
            }
        }
    }
    loose = OpenAIResponses().structured_output(COMPOSED, "dog").options
    assert loose == {
        "text": {
            "format": {"type": "json_schema", "name": "dog", "schema": COMPOSED, "strict": False}
        }
    }
    call = OpenAIResponses().build_call("gpt-4o", MESSAGES, loose, stream=False)
    assert call.body is not None
    assert call.body["text"] == loose["text"]


# Anthropic: the subset its constrained decoding takes --------------------------------------------


def test_anthropic_closes_objects_and_drops_what_it_cannot_take() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 20, "format": "hostname"},
            "age": {"type": "integer", "minimum": 0, "maximum": 30, "default": 3},
            "site": {"type": "string", "format": "iri"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 5},
            "toys": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"$ref": "#/$defs/Toy"},
            },
            "owner": {
                "oneOf": [
                    {"type": "null"},
                    {"type": "object", "properties": {"n": {"type": "string"}}},
                ]
            },
        },
        "required": ["name"],
        "$defs": {
            "Toy": {"type": "object", "properties": {"kind": {"enum": ["ball", "rope", None]}}}
        },
    }
    kept = copy.deepcopy(schema)
    assert anthropic_schema(schema) == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "format": "hostname"},
            "age": {"type": "integer", "default": 3},
            "site": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "toys": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Toy"}},
            "owner": {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {"n": {"type": "string"}},
                        "additionalProperties": False,
                    },
                ]
            },
        },
        "required": ["name"],  # optional properties stay optional: Anthropic allows them
        "$defs": {
            "Toy": {
                "type": "object",
                "properties": {"kind": {"enum": ["ball", "rope", None]}},
                "additionalProperties": False,
            }
        },
        "additionalProperties": False,
    }
    assert schema == kept
    options = Anthropic().structured_output(schema, "dog").options
    assert options == {
        "output_config": {"format": {"type": "json_schema", "schema": anthropic_schema(schema)}}
    }


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ({"type": "object", "additionalProperties": {"type": "string"}}, "open object"),
        ({"type": "object", "properties": {"a": {"type": "object"}}}, "open object"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": True,
            },
            "open object",
        ),
        (
            {
                "type": "object",
                "properties": {"root": {"$ref": "#/$defs/Node"}},
                "$defs": {
                    "Node": {
                        "type": "object",
                        "properties": {
                            "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
                        },
                    }
                },
            },
            "recursive",
        ),
        (
            {"type": "object", "properties": {"me": {"$ref": "#"}}},
            "recursive",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"allOf": [{"$ref": "#/$defs/A"}]}},
                "$defs": {"A": {"type": "string"}},
            },
            "`allOf` over a `\\$ref`",
        ),
        ({"type": "object", "properties": {"a": {"not": {"type": "null"}}}}, "`not`"),
        ({"type": "object", "properties": {"a": {"enum": [{"x": 1}]}}}, "plain values in `enum`"),
        ({"type": "object", "properties": {"a": {"const": [1]}}}, "plain values in `const`"),
    ],
)
def test_anthropic_refuses_what_it_cannot_express(schema: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        Anthropic().structured_output(schema, "dog")


def test_anthropic_takes_shared_definitions_that_do_not_recurse() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/$defs/A"}},
        "$defs": {
            "A": {"type": "object", "properties": {"c": {"$ref": "#/$defs/C"}}},
            "C": {"type": "string", "allOf": [{"type": "string"}]},
        },
    }
    assert anthropic_schema(schema)["$defs"]["A"]["additionalProperties"] is False


# Gemini and Ollama: the schema as given, where their request builders put it ---------------------


def test_gemini_options_join_the_generation_config() -> None:
    options = Gemini().structured_output(OPTIONAL, "dog").options
    assert options == {"responseMimeType": "application/json", "responseJsonSchema": OPTIONAL}
    merged = {**options, "temperature": 0, "generationConfig": {"topK": 3}}
    body = Gemini().build_call("gemini-2.5-flash", MESSAGES, merged, stream=False).body
    assert body is not None
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": OPTIONAL,
        "temperature": 0,
        "topK": 3,
    }
    twice = {**options, "generationConfig": {"responseMimeType": "text/plain"}}
    with pytest.raises(UsageError, match="both set Gemini's `responseMimeType`"):
        Gemini().build_call("gemini-2.5-flash", MESSAGES, twice, stream=False)


def test_ollama_sends_the_schema_as_format() -> None:
    options = Ollama().structured_output(OPTIONAL, "dog").options
    assert options == {"format": OPTIONAL}
    body = (
        Ollama().build_call("gemma3:1b", MESSAGES, {**options, "temperature": 0}, stream=True).body
    )
    assert body is not None
    assert body["format"] == OPTIONAL
    assert body["options"] == {"temperature": 0}
