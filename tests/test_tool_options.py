"""`tool_options` of every provider: tool specs and a choice in each API's request shape.

Against the recordings: for each T-flagged recording in ../shared/conformance/INDEX.md, the specs
are read back from the recorded request's tools (with `parse_tools`, which takes every shape but
Gemini's), the choice from its ``tool_choice``, and `tool_options` passed through `build_call`
must give the recorded ``tools``/``tool_choice`` again. Two differences are deliberate, and
`canonical` forgives exactly them: the Responses API gets ``strict: false`` (omitted, the API would
rewrite the schema into strict mode; see `OpenAIResponses.tool_options`), and Gemini gets the
schema as ``parametersJsonSchema``, where one recording used the OpenAPI-subset ``parameters``
(upper-case types) and the other the snake_case spelling ``parameters_json_schema``.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from conformance import CONFORMANCE, Exchange, load, needs_conformance

from llmframe.errors import UsageError
from llmframe.parts.types import Message, TextPart
from llmframe.providers.anthropic import Anthropic
from llmframe.providers.gemini import Gemini
from llmframe.providers.ollama import Ollama
from llmframe.providers.openai import OpenAIChat
from llmframe.providers.openai_responses import OpenAIResponses
from llmframe.tools.load import parse_tools
from llmframe.tools.spec import ToolSpec

PROVIDERS: dict[str, Any] = {
    "openai-chat": OpenAIChat(),
    "openai-compat": OpenAIChat(),
    "openai-responses": OpenAIResponses(),
    "anthropic": Anthropic(),
    "gemini": Gemini(),
    "ollama": Ollama(),
}
HI = [Message(role="user", parts=[TextPart(text="hi")])]


def _tool_recordings() -> list[str]:
    """The files INDEX.md flags T (tools/function calls)."""
    if not CONFORMANCE.is_dir():
        return []
    files = []
    for line in (CONFORMANCE / "INDEX.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 3 and re.fullmatch(r"`[\w.-]+`", cells[1]):
            if "T" in re.split(r"[^\w]+", cells[3]):
                files.append(cells[1].strip("`"))
    return files


def _family(file: str) -> str:
    return next(prefix for prefix in PROVIDERS if file.startswith(prefix + "-"))


def _tool_requests() -> list[Exchange]:
    """One exchange per distinct (file, tools, choice): the 429 file repeats one request."""
    seen: set[str] = set()
    chosen = []
    for file in _tool_recordings():
        for exchange in load(CONFORMANCE / file.split("-")[0] / file):
            body = exchange.request_json() if exchange.request_body else None
            if not isinstance(body, dict) or "tools" not in body:
                continue
            key = json.dumps([file, body["tools"], body.get("tool_choice")], sort_keys=True)
            if key not in seen:
                seen.add(key)
                chosen.append(exchange)
    return chosen


TOOL_REQUESTS = _tool_requests()


def test_the_index_flags_tool_recordings_for_every_provider() -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip("the conformance recordings are not here")
    families = {_family(file) for file in _tool_recordings()}
    assert families >= {"openai-chat", "openai-responses", "anthropic", "gemini", "ollama"}


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI-subset schema (``"type": "STRING"``) as JSON Schema."""
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: value.lower() if key == "type" and isinstance(value, str) else _lower_types(value)
        for key, value in schema.items()
    }


def _gemini_declarations(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [declaration for tool in tools for declaration in tool["functionDeclarations"]]


def specs_of(family: str, recorded: dict[str, Any], where: str) -> list[ToolSpec]:
    """The specs behind a recorded request's tools."""
    if family != "gemini":
        return parse_tools(recorded["tools"], where=where)
    definitions = []
    for declaration in _gemini_declarations(recorded["tools"]):
        schema = declaration.get("parameters_json_schema") or declaration.get(
            "parametersJsonSchema"
        )
        if schema is None:
            schema = _lower_types(declaration["parameters"])
        definitions.append(
            {
                "name": declaration["name"],
                "description": declaration["description"],
                "parameters": schema,
            }
        )
    return parse_tools(definitions, where=where)


def choice_of(family: str, recorded: dict[str, Any]) -> str | None:
    """The neutral choice behind a recorded ``tool_choice`` (or Gemini ``toolConfig``)."""
    if family == "gemini":
        assert "toolConfig" not in recorded  # no recording has one; the unit tests cover it
        return None
    choice = recorded.get("tool_choice")
    if choice is None or isinstance(choice, str):
        return choice
    if family == "anthropic":
        words = {"auto": "auto", "any": "required", "none": "none"}
        return words.get(choice["type"]) or choice["name"]
    return choice.get("name") or choice["function"]["name"]


def canonical(family: str, body: dict[str, Any]) -> dict[str, Any]:
    """The tool fields of a request body, with the two deliberate differences forgiven."""
    fields = {
        k: copy.deepcopy(body[k]) for k in ("tools", "tool_choice", "toolConfig") if k in body
    }
    if fields.get("tools") == []:  # an empty list offers nothing; we send no `tools` then
        del fields["tools"]
    if family == "openai-responses":
        for tool in fields.get("tools", []):
            tool.setdefault("strict", False)
    if family == "gemini":
        for declaration in _gemini_declarations(fields.get("tools", [])):
            if "parameters_json_schema" in declaration:
                declaration["parametersJsonSchema"] = declaration.pop("parameters_json_schema")
            if "parameters" in declaration:
                declaration["parametersJsonSchema"] = _lower_types(declaration.pop("parameters"))
    return fields


@needs_conformance
@pytest.mark.parametrize("exchange", TOOL_REQUESTS, ids=[ex.id for ex in TOOL_REQUESTS])
def test_tool_options_reproduce_the_recorded_tools(exchange: Exchange) -> None:
    family = _family(exchange.file)
    provider = PROVIDERS[family]
    recorded = exchange.request_json()
    specs = specs_of(family, recorded, where=exchange.id)
    choice = choice_of(family, recorded)

    options = provider.tool_options(specs, choice)
    call = provider.build_call("m", HI, {**options}, stream=False)

    assert canonical(family, dict(call.body)) == canonical(family, recorded)


def test_the_normalisation_forgives_only_what_it_says() -> None:
    tool = {"type": "function", "name": "a", "parameters": {"type": "object"}}
    assert canonical("openai-responses", {"tools": [tool]}) == canonical(
        "openai-responses", {"tools": [{**tool, "strict": False}]}
    )
    assert canonical("openai-responses", {"tools": [{**tool, "strict": True}]}) != canonical(
        "openai-responses", {"tools": [tool]}
    )
    assert canonical("openai-chat", {"tools": [{**tool, "strict": False}]}) != canonical(
        "openai-chat", {"tools": [tool]}
    )


@needs_conformance
def test_one_tool_recorded_in_two_shapes_is_one_spec() -> None:
    chat = load(CONFORMANCE / "openai" / "openai-chat-stream-tool-call.yaml")[0]
    responses = load(CONFORMANCE / "openai" / "openai-responses-tool-call.yaml")[0]
    from_chat = parse_tools(chat.request_json()["tools"], where="chat")
    from_responses = parse_tools(responses.request_json()["tools"], where="responses")
    assert from_chat == from_responses
    assert from_chat[0].name == "multiply"


# Every choice, per provider ---------------------------------------------------------------------

WEATHER = ToolSpec(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    description="Weather in a city.",
)
NOW = ToolSpec(name="now", parameters={"type": "object", "properties": {}})
CHOICES = ("auto", "none", "required", "now")

EXPECTED_CHOICE: dict[str, dict[str, Any]] = {
    "openai-chat": {
        "auto": {"tool_choice": "auto"},
        "none": {"tool_choice": "none"},
        "required": {"tool_choice": "required"},
        "now": {"tool_choice": {"type": "function", "function": {"name": "now"}}},
    },
    "openai-responses": {
        "auto": {"tool_choice": "auto"},
        "none": {"tool_choice": "none"},
        "required": {"tool_choice": "required"},
        "now": {"tool_choice": {"type": "function", "name": "now"}},
    },
    "anthropic": {
        "auto": {"tool_choice": {"type": "auto"}},
        "none": {"tool_choice": {"type": "none"}},
        "required": {"tool_choice": {"type": "any"}},
        "now": {"tool_choice": {"type": "tool", "name": "now"}},
    },
    "gemini": {
        "auto": {"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}},
        "none": {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}},
        "required": {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
        "now": {
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}
            }
        },
    },
    "ollama": {"auto": {}},
}

EXPECTED_TOOLS: dict[str, list[dict[str, Any]]] = {
    "openai-chat": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city.",
                "parameters": WEATHER.parameters,
            },
        },
        {"type": "function", "function": {"name": "now", "parameters": NOW.parameters}},
    ],
    "openai-responses": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather in a city.",
            "parameters": WEATHER.parameters,
            "strict": False,
        },
        {"type": "function", "name": "now", "parameters": NOW.parameters, "strict": False},
    ],
    "anthropic": [
        {
            "name": "get_weather",
            "description": "Weather in a city.",
            "input_schema": WEATHER.parameters,
        },
        {"name": "now", "input_schema": NOW.parameters},
    ],
    "gemini": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city.",
                    "parametersJsonSchema": WEATHER.parameters,
                },
                {"name": "now", "description": "", "parametersJsonSchema": NOW.parameters},
            ]
        }
    ],
}
EXPECTED_TOOLS["ollama"] = EXPECTED_TOOLS["openai-chat"]
FAMILIES = sorted(EXPECTED_TOOLS)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("choice", [None, *CHOICES])
def test_each_choice_in_each_api(family: str, choice: str | None) -> None:
    provider = PROVIDERS[family]
    if choice is not None and choice not in EXPECTED_CHOICE[family]:
        with pytest.raises(
            UsageError, match=f"`tool_choice` `{choice}` is not supported for Ollama"
        ):
            provider.tool_options([WEATHER, NOW], choice)
        return
    options = provider.tool_options([WEATHER, NOW], choice)
    expected = EXPECTED_CHOICE[family][choice] if choice is not None else {}
    assert options == {"tools": EXPECTED_TOOLS[family], **expected}
    body = provider.build_call("m", HI, options, stream=True).body
    assert {k: body[k] for k in options} == options  # build_call passes them through as they are


@pytest.mark.parametrize("family", FAMILIES)
def test_the_options_sit_beside_the_users(family: str) -> None:
    provider = PROVIDERS[family]
    user_options = {"temperature": 0.5}
    body = provider.build_call(
        "m", HI, {**user_options, **provider.tool_options([WEATHER], "auto")}, stream=False
    ).body
    assert json.dumps(body).count("get_weather") == 1
    assert "0.5" in json.dumps(body)


@pytest.mark.parametrize("family", FAMILIES)
def test_no_tools_send_nothing(family: str) -> None:
    provider = PROVIDERS[family]
    assert provider.tool_options([], None) == {}
    assert provider.tool_options([], "auto") == {}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_choice_that_names_no_tool_is_refused(family: str) -> None:
    provider = PROVIDERS[family]
    with pytest.raises(UsageError, match=r"`tool_choice` `search` is not .*`get_weather`, `now`"):
        provider.tool_options([WEATHER, NOW], "search")
    with pytest.raises(UsageError, match="`required` needs at least one tool"):
        provider.tool_options([], "required")
