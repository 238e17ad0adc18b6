"""Tool definitions: lists from files and columns (`tools.load`), and from Python functions
(`tools.functions`), and the checking of a model's arguments before a function is called."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel, Field

from llmframe.errors import UsageError
from llmframe.tools.functions import ToolArgumentsError, tools_from_functions, validate_arguments
from llmframe.tools.load import check_choice, load_tools, parse_tools
from llmframe.tools.spec import ToolSpec

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER = ToolSpec(
    name="get_weather", parameters=WEATHER_PARAMETERS, description="Weather in a city."
)


def problems(value: Any, where: str = "tools file `t.json`") -> list[str]:
    """The lines of the UsageError `parse_tools` raises for `value`."""
    with pytest.raises(UsageError) as info:
        parse_tools(value, where=where)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{where}: ") for line in lines), lines
    return [line.removeprefix(f"{where}: ") for line in lines]


# Definitions from JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "definition",
    [
        {
            "name": "get_weather",
            "description": "Weather in a city.",
            "parameters": WEATHER_PARAMETERS,
        },
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city.",
                "parameters": WEATHER_PARAMETERS,
            },
        },
        {  # the Responses API's flat shape
            "type": "function",
            "name": "get_weather",
            "description": "Weather in a city.",
            "parameters": WEATHER_PARAMETERS,
            "strict": False,
        },
        {  # Anthropic's
            "name": "get_weather",
            "description": "Weather in a city.",
            "input_schema": WEATHER_PARAMETERS,
        },
    ],
    ids=["flat", "openai-chat", "openai-responses", "anthropic"],
)
def test_every_shape_parses_to_the_same_spec(definition: dict[str, Any]) -> None:
    (spec,) = parse_tools([definition], where="w")
    assert spec == WEATHER
    assert spec.function is None
    assert spec.to_json() == {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": WEATHER_PARAMETERS,
    }


def test_missing_parameters_mean_no_arguments_and_descriptions_are_kept_as_given() -> None:
    bare, empty = parse_tools([{"name": "now"}, {"name": "ping", "description": ""}], where="w")
    assert bare.parameters == {"type": "object", "properties": {}}
    assert bare.description is None
    assert empty.description == ""  # recorded requests send "", and they are reproduced as such


def test_the_spec_does_not_share_the_callers_dicts() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    (spec,) = parse_tools([{"name": "a", "parameters": schema}], where="w")
    schema["properties"]["a"]["type"] = "integer"
    assert spec.parameters["properties"]["a"] == {"type": "string"}


def test_an_empty_list_is_no_tools() -> None:
    assert parse_tools([], where="w") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"name": "a"}, "tools must be a JSON list of definitions, got an object"),
        (None, "tools must be a JSON list of definitions, got null"),
        ("get_weather", "tools must be a JSON list of definitions, got a string"),
    ],
)
def test_a_value_that_is_not_a_list_is_refused(value: Any, expected: str) -> None:
    assert problems(value) == [expected]


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("get_weather", "tool 1: must be an object, got a string"),
        ({"description": "no name"}, "tool 1: no `name`"),
        ({"name": 7}, "tool 1: `name` must be a string, got a number"),
        ({"type": "function", "function": "x"}, "tool 1: `function` must be an object"),
        ({"type": "function", "function": {"description": "d"}}, "tool 1: no `name`"),
        ({"name": "get weather"}, "tool `get weather`: the name must be 1 to 64 ASCII letters"),
        ({"name": "x" * 65}, f"tool `{'x' * 65}`: the name must be 1 to 64"),
        ({"name": "météo"}, "tool `météo`: the name must be 1 to 64 ASCII letters"),
        ({"name": "a", "description": 3}, "tool `a`: `description` must be a string"),
        (
            {"name": "a", "parameters": {"type": "string"}},
            'tool `a`: `parameters` must be a JSON Schema object (`"type": "object"`), '
            "got type 'string'",
        ),
        (
            {"name": "a", "parameters": {"properties": {}}},
            "tool `a`: `parameters` must be a JSON Schema object",
        ),
        ({"name": "a", "parameters": []}, "tool `a`: `parameters` must be a JSON Schema object"),
        (
            {
                "name": "a",
                "input_schema": {"type": "object", "properties": {"x": {"type": "nope"}}},
            },
            "tool `a`: `input_schema` is not a valid JSON Schema: 'nope' is not valid",
        ),
        (
            {"name": "a", "parameters": {"type": "object", "required": "x"}},
            "tool `a`: `parameters` is not a valid JSON Schema: 'x' is not of type 'array'",
        ),
        (
            {"name": "a", "parameters": {"type": "object"}, "input_schema": {"type": "object"}},
            "tool `a`: give `parameters` or `input_schema`, not both",
        ),
        ({"name": "a", "paramters": {"type": "object"}}, "tool `a`: unknown key `paramters`"),
        ({"name": "a", "strict": True}, "tool `a`: `strict: true` is not supported"),
        ({"name": "a", "type": "web_search"}, "tool `a`: `type` must be `function`"),
        (
            {"type": "function", "function": {"name": "a"}, "name": "a"},
            "tool `a`: unknown key `name` beside `function`",
        ),
        (
            {"type": "custom", "function": {"name": "a"}},
            "tool `a`: `type` must be `function`, got 'custom'",
        ),
    ],
)
def test_a_bad_definition_is_named_in_the_error(definition: Any, expected: str) -> None:
    found = problems([definition])
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_a_nameless_tool_is_named_by_its_position() -> None:
    found = problems([{"name": "ok"}, {"name": "ok2"}, {"parameters": {"type": "object"}}])
    assert found == ["tool 3: no `name`"]


def test_duplicate_names_are_refused() -> None:
    found = problems(
        [{"name": "a"}, {"name": "b"}, {"type": "function", "function": {"name": "a"}}]
    )
    assert found == ["tool `a`: duplicate name (tool 1 has it too)"]


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    found = problems(
        [
            {"name": "ok"},
            {"name": "bad name"},
            5,
            {"name": "p", "parameters": {"type": "array"}},
            {"name": "ok"},
        ],
        where="row 3, column `tools`",
    )
    assert [line.split(":")[0] for line in found] == [
        "tool `bad name`",
        "tool 3",
        "tool `p`",
        "tool `ok`",
    ]


# Files ------------------------------------------------------------------------------------------

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_PARAMETERS}},
    {"name": "now", "description": "The time."},
]


def test_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(TOOLS), encoding="utf-8")
    weather, now = load_tools(path)
    assert (weather.name, weather.parameters) == ("get_weather", WEATHER_PARAMETERS)
    assert (now.name, now.description) == ("now", "The time.")
    assert load_tools(str(path)) == [weather, now]


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_a_yaml_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tools{suffix}"
    path.write_text(
        """\
- name: get_weather
  description: Weather in a city.
  parameters:
    type: object
    properties:
      city: {type: string}
    required: [city]
""",
        encoding="utf-8",
    )
    assert load_tools(path) == [WEATHER]


def test_yaml_without_pyyaml_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tools.yaml"
    path.write_text("- name: a\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "yaml", None)  # what `import yaml` meets when it is absent
    with pytest.raises(UsageError, match="install pyyaml to read YAML tool files"):
        load_tools(path)


def test_bad_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    path.write_text('[\n  {"name": "a"},\n  {"name": }\n]', encoding="utf-8")
    with pytest.raises(UsageError, match=r"tools\.json`: bad JSON at line 3, column 12"):
        load_tools(path)


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tools.yml"
    path.write_text("- name: a\n- name: [b\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"tools\.yml`: bad YAML at line 3"):
        load_tools(path)


def test_a_bad_definition_in_a_file_names_the_file_and_tool(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([{"name": "a"}, {"name": "a"}]), encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_tools(path)
    assert str(info.value) == f"tools file `{path}`: tool `a`: duplicate name (tool 1 has it too)"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"tools file `.*missing\.json` not found"):
        load_tools(tmp_path / "missing.json")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(UsageError, match=r"cannot read tools file `.*dir\.json`"):
        load_tools(tmp_path / "dir.json")
    (tmp_path / "latin.json").write_bytes(b'[{"name": "caf\xe9"}]')
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        load_tools(tmp_path / "latin.json")
    (tmp_path / "tools.txt").write_text("[]", encoding="utf-8")
    with pytest.raises(UsageError, match=r"must end in `\.json`, `\.yaml` or `\.yml`"):
        load_tools(tmp_path / "tools.txt")


# tool_choice ------------------------------------------------------------------------------------


def test_check_choice() -> None:
    tools = [WEATHER]
    for choice in (None, "auto", "none", "required", "get_weather"):
        assert check_choice(tools, choice) == choice
    assert check_choice([], "auto") is None  # nothing to choose from: nothing is sent
    assert check_choice([], "none") is None
    with pytest.raises(
        UsageError, match=r"`tool_choice` `search` is not .* \(tools: `get_weather`\)"
    ):
        check_choice(tools, "search")
    with pytest.raises(UsageError, match="`required` needs at least one tool"):
        check_choice([], "required")
    with pytest.raises(UsageError, match=r"\(tools: none\)"):
        check_choice([], "get_weather")
    with pytest.raises(UsageError, match="must be a string"):
        check_choice(tools, {"type": "auto"})  # type: ignore[arg-type]


# Definitions from Python functions -------------------------------------------------------------


class Unit(str, Enum):
    C = "c"
    F = "f"


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str
    country: str = "NL"


class Node(BaseModel):
    """A tree: recursive, so its `$defs` stay."""

    value: int
    children: list[Node] = []


def get_weather(city: str, unit: Literal["c", "f"] = "c", days: int = 1) -> str:
    """Get the weather
    for a city.

    Uses the cache when it can.

    Args:
        city: The city name,
            e.g. Paris.
        unit (str): Celsius or Fahrenheit.
        days: How many days ahead.

    Returns:
        The forecast as text.
    """
    return f"{city}: sunny ({unit}, {days} days)"


async def search(query: str, limit: int = 10, tags: Optional[list[str]] = None) -> list[str]:  # noqa: UP045 - an older spelling, read as well
    """Search the catalogue.

    Parameters
    ----------
    query : str
        What to look for.
    limit : int
        At most this many
        results.

    Returns
    -------
    list of str
    """
    return [query] * limit


def ship(to: Address, unit: Unit = Unit.C, count: int = Field(default=1, ge=1)) -> str:
    """Ship a parcel."""
    return to.city


def plant(tree: Node) -> int:
    return tree.value


def untyped(a, b=2):
    return a


def test_a_typed_function_with_a_google_docstring() -> None:
    (spec,) = tools_from_functions([get_weather])
    assert spec.name == "get_weather"
    assert spec.description == "Get the weather for a city."
    assert spec.function is get_weather
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city name, e.g. Paris."},
            "unit": {
                "enum": ["c", "f"],
                "type": "string",
                "default": "c",
                "description": "Celsius or Fahrenheit.",
            },
            "days": {"type": "integer", "default": 1, "description": "How many days ahead."},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_an_async_function_with_a_numpy_docstring() -> None:
    (spec,) = tools_from_functions([search])
    assert spec.function is search
    assert spec.description == "Search the catalogue."
    assert spec.parameters["required"] == ["query"]
    properties = spec.parameters["properties"]
    assert properties["query"] == {"type": "string", "description": "What to look for."}
    assert properties["limit"] == {
        "type": "integer",
        "default": 10,
        "description": "At most this many results.",
    }
    assert properties["tags"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
        "default": None,
    }


def test_pydantic_models_are_written_inline() -> None:
    (spec,) = tools_from_functions([ship])
    assert "$defs" not in spec.parameters
    to = spec.parameters["properties"]["to"]
    assert to["type"] == "object"
    assert to["description"] == "A postal address."
    assert to["required"] == ["street", "city"]
    assert spec.parameters["properties"]["unit"]["enum"] == ["c", "f"]
    assert spec.parameters["properties"]["count"] == {"type": "integer", "default": 1, "minimum": 1}
    assert spec.parameters["required"] == ["to"]


def test_a_description_given_in_the_signature_beats_the_docstring() -> None:
    def book(
        room: Annotated[str, Field(description="Room code.")],
        nights: int = Field(1, ge=1, description="Nights to stay."),
        guest: str = "anon",
    ) -> None:
        """Book a room.

        Args:
            room: Ignored: the hint says it.
            nights: Ignored too.
            guest: Who stays.
        """

    (spec,) = tools_from_functions([book])
    properties = spec.parameters["properties"]
    assert properties["room"] == {"type": "string", "description": "Room code."}
    assert properties["nights"] == {
        "type": "integer",
        "default": 1,
        "minimum": 1,
        "description": "Nights to stay.",
    }
    assert properties["guest"]["description"] == "Who stays."
    assert validate_arguments(spec, {"room": "A1"}) == {"room": "A1"}
    with pytest.raises(
        ToolArgumentsError, match="`nights`: Input should be greater than or equal to 1"
    ):
        validate_arguments(spec, {"room": "A1", "nights": 0})


def test_a_recursive_model_keeps_its_defs() -> None:
    (spec,) = tools_from_functions([plant])
    assert spec.description is None
    assert "Node" in spec.parameters["$defs"]
    assert spec.parameters["properties"]["tree"] == {"$ref": "#/$defs/Node"}


def test_untyped_parameters_take_any_value() -> None:
    (spec,) = tools_from_functions([untyped])
    assert spec.parameters == {
        "type": "object",
        "properties": {"a": {}, "b": {"default": 2}},
        "required": ["a"],
        "additionalProperties": False,
    }


def test_a_bound_method_leaves_out_self() -> None:
    class Shop:
        def price(self, item: str) -> float:
            """The price of an item."""
            return 1.0

    (spec,) = tools_from_functions([Shop().price])
    assert spec.name == "price"
    assert list(spec.parameters["properties"]) == ["item"]


def test_function_schemas_are_valid_tool_definitions() -> None:
    specs = tools_from_functions([get_weather, search, ship, plant, untyped])
    for spec in specs:
        jsonschema.validators.validator_for(spec.parameters).check_schema(spec.parameters)
    assert parse_tools([spec.to_json() for spec in specs], where="w") == specs


def _star_args(*names: str) -> None: ...


def _star_kwargs(**options: Any) -> None: ...


def _positional_only(a: int, /) -> None: ...


class _Opaque:
    pass


def _opaque(thing: _Opaque) -> None: ...


@pytest.mark.parametrize(
    ("functions", "expected"),
    [
        ([_star_args], r"function `_star_args` cannot be a tool: parameter `\*names`"),
        ([_star_kwargs], r"function `_star_kwargs` cannot be a tool: parameter `\*\*options`"),
        ([_positional_only], r"function `_positional_only` cannot be a tool: parameter `a, /`"),
        ([lambda x: x], r"tool 1 \(a lambda\) has no usable name"),
        ([get_weather, search, get_weather], "two tools are named `get_weather`"),
        ([get_weather, "search"], "tool 2 is not a function: got str"),
        ([_opaque], "function `_opaque`: cannot describe its parameters"),
        (get_weather, "tools must be a list of functions, got function"),
    ],
)
def test_functions_that_cannot_be_tools(functions: Any, expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        tools_from_functions(functions)


# Arguments --------------------------------------------------------------------------------------


def test_arguments_are_coerced_and_only_those_given_are_passed() -> None:
    weather, ship_spec = tools_from_functions([get_weather, ship])
    assert validate_arguments(weather, {"city": "Paris", "days": "3"}) == {
        "city": "Paris",
        "days": 3,
    }
    assert validate_arguments(weather, '{"city": "Oslo"}') == {"city": "Oslo"}
    kwargs = validate_arguments(
        ship_spec, {"to": {"street": "Dam 1", "city": "Amsterdam"}, "unit": "f"}
    )
    assert kwargs == {"to": Address(street="Dam 1", city="Amsterdam"), "unit": Unit.F}
    assert ship(**kwargs) == "Amsterdam"


def test_no_arguments_for_a_tool_without_parameters() -> None:
    def now() -> str:
        return "noon"

    (spec,) = tools_from_functions([now])
    for empty in (None, "", {}, "{}"):
        assert validate_arguments(spec, empty) == {}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "invalid arguments for tool `get_weather`: `city`: missing"),
        (
            {"city": "Paris", "days": "soon"},
            "invalid arguments for tool `get_weather`: `days`: Input should be a valid integer, "
            "unable to parse string as an integer (got 'soon')",
        ),
        (
            {"city": "Paris", "unit": "k"},
            "invalid arguments for tool `get_weather`: `unit`: "
            "Input should be 'c' or 'f' (got 'k')",
        ),
        (
            {"city": "Paris", "country": "FR"},
            "invalid arguments for tool `get_weather`: `country`: unexpected argument",
        ),
        ('{"city": ', "invalid arguments for tool `get_weather`: not valid JSON"),
        ([1, 2], "invalid arguments for tool `get_weather`: they must be a JSON object, got list"),
    ],
)
def test_arguments_that_do_not_fit(arguments: Any, expected: str) -> None:
    (spec,) = tools_from_functions([get_weather])
    with pytest.raises(ToolArgumentsError) as info:
        validate_arguments(spec, arguments)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_many_problems_are_summarised() -> None:
    def wide(a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> None: ...

    (spec,) = tools_from_functions([wide])
    with pytest.raises(ToolArgumentsError) as info:
        validate_arguments(spec, {})
    message = str(info.value)
    assert message.endswith("`e`: missing; and 2 more")
    assert len(message) < 200


def test_nested_errors_say_where() -> None:
    (spec,) = tools_from_functions([ship])
    with pytest.raises(ToolArgumentsError, match=r"`to\.city`: missing"):
        validate_arguments(spec, {"to": {"street": "x"}})


def test_a_tool_from_a_file_is_checked_against_its_schema() -> None:
    assert validate_arguments(WEATHER, {"city": "Paris"}) == {"city": "Paris"}
    with pytest.raises(ToolArgumentsError, match=r"`get_weather`: 'city' is a required property"):
        validate_arguments(WEATHER, {})
    with pytest.raises(ToolArgumentsError, match=r"`city`: 3 is not of type 'string'"):
        validate_arguments(WEATHER, {"city": 3})
