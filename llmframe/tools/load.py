"""Tool definitions from a file (``--tools FILE``) or a per-row ``tools`` column, checked.

A definition is ``{name, description?, parameters?}``, or OpenAI's Chat Completions form
``{"type": "function", "function": {name, description?, parameters?}}``; the flat form may carry
``"type": "function"`` too (the Responses API's shape), and Anthropic's ``input_schema`` is taken
in place of ``parameters``. No ``parameters`` means a tool without arguments,
``{"type": "object", "properties": {}}``. ``strict: false`` is accepted (it is how llmframe sends
every tool); ``strict: true`` and any other key are refused rather than dropped, since a typo such
as ``paramters`` would otherwise turn into a tool without arguments.

Every problem in a list is found in one pass and reported in one `UsageError`, a line each,
naming where the list came from and the tool (by name, or by its position when it has none).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmframe._json import parse_user_json
from llmframe.errors import UsageError
from llmframe.tools.spec import TOOL_CHOICES, ToolSpec

__all__ = ["NAME_PATTERN", "check_choice", "load_tools", "parse_tools", "tool_problems"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A tool name every API takes: 1 to 64 letters, digits, ``_`` or ``-``."""

_NAME_RULE = "1 to 64 ASCII letters, digits, `_` or `-`"
_NO_PARAMETERS = {"type": "object", "properties": {}}
_KEYS = ("name", "description", "parameters", "input_schema", "type", "strict")
_YAML_SUFFIXES = (".yaml", ".yml")


def parse_tools(value: Any, *, where: str) -> list[ToolSpec]:
    """The tools a JSON list of definitions describes; `UsageError` listing every problem.

    `where` says where the list came from (``tools file `t.json```, ``row 3, column `tools```)
    and starts each line of the error.
    """
    specs, problems = tool_problems(value)
    if problems:
        raise UsageError("\n".join(f"{where}: {problem}" for problem in problems))
    return specs


def tool_problems(value: Any) -> tuple[list[ToolSpec], list[str]]:
    """The tools a JSON list of definitions describes, and every problem found (a line each).

    For callers that locate problems themselves (a `tools` cell is checked with its file, row
    and column when the input is read); `parse_tools` raises them instead.
    """
    if not isinstance(value, list):
        return [], [f"tools must be a JSON list of definitions, got {_kind(value)}"]
    problems: list[str] = []
    specs: list[ToolSpec] = []
    first_seen: dict[str, int] = {}
    for position, item in enumerate(value, start=1):
        spec = _parse_one(item, position, problems)
        name = _name_of(item)
        if name in first_seen:
            problems.append(f"tool `{name}`: duplicate name (tool {first_seen[name]} has it too)")
            continue
        if name is not None:
            first_seen[name] = position
        if spec is not None:
            specs.append(spec)
    return specs, problems


def load_tools(path: str | os.PathLike[str]) -> list[ToolSpec]:
    """The tools in a ``.json``, ``.yaml`` or ``.yml`` file holding a list of definitions."""
    file = Path(path)
    where = f"tools file `{file}`"
    suffix = file.suffix.lower()
    if suffix != ".json" and suffix not in _YAML_SUFFIXES:
        msg = f"{where}: must end in `.json`, `.yaml` or `.yml`"
        raise UsageError(msg)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        msg = f"{where} not found"
        raise UsageError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f"{where} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        raise UsageError(msg) from exc
    except OSError as exc:
        msg = f"cannot read {where}: {exc.strerror or exc}"
        raise UsageError(msg) from exc
    value = _parse_yaml(text, where) if suffix in _YAML_SUFFIXES else parse_user_json(text, where)
    return parse_tools(value, where=where)


def check_choice(tools: Sequence[ToolSpec], choice: str | None) -> str | None:
    """`choice` if it can be sent with `tools`, else `UsageError`; None when nothing is to be sent.

    ``auto``, ``none``, ``required`` or a tool's name (`TOOL_CHOICES`). Without tools there is
    nothing to choose from: ``auto`` and ``none`` send nothing, ``required`` or a name is an error.
    Every provider's `tool_options` calls this first, so the rule is the same for all.
    """
    if choice is None:
        return None
    if not isinstance(choice, str):
        msg = f"`tool_choice` must be a string, got {_kind(choice)}"
        raise UsageError(msg)
    names = [tool.name for tool in tools]
    if choice in TOOL_CHOICES:
        if choice == "required" and not tools:
            msg = "`tool_choice` `required` needs at least one tool"
            raise UsageError(msg)
        return choice if tools else None
    if choice not in names:
        offered = ", ".join(f"`{name}`" for name in names) or "none"
        msg = (
            f"`tool_choice` `{choice}` is not `auto`, `none`, `required` or the name of a tool "
            f"(tools: {offered})"
        )
        raise UsageError(msg)
    return choice


# One definition ---------------------------------------------------------------------------------


def _parse_one(item: Any, position: int, problems: list[str]) -> ToolSpec | None:
    if not isinstance(item, Mapping):
        problems.append(f"tool {position}: must be an object, got {_kind(item)}")
        return None
    wrapped = "function" in item  # OpenAI Chat Completions: {"type": "function", "function": {}}
    body = item["function"] if wrapped else item
    if not isinstance(body, Mapping):
        problems.append(f"tool {position}: `function` must be an object, got {_kind(body)}")
        return None
    name = body.get("name")
    label = f"tool `{name}`" if isinstance(name, str) else f"tool {position}"
    start = len(problems)
    if name is None:
        problems.append(f"{label}: no `name`")
    elif not isinstance(name, str):
        problems.append(f"{label}: `name` must be a string, got {_kind(name)}")
    elif not NAME_PATTERN.fullmatch(name):
        problems.append(f"{label}: the name must be {_NAME_RULE}")
    if wrapped:
        problems.extend(
            f"{label}: unknown key `{key}` beside `function`"
            for key in item
            if key != "type" and key != "function"
        )
        if item.get("type", "function") != "function":
            problems.append(f"{label}: `type` must be `function`, got {item['type']!r}")
    _check_keys(body, label, problems)
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(f"{label}: `description` must be a string, got {_kind(description)}")
    parameters = _parameters(body, label, problems)
    if len(problems) > start or not isinstance(name, str):
        return None
    return ToolSpec(name=name, parameters=parameters, description=description)


def _name_of(item: Any) -> str | None:
    body = item.get("function", item) if isinstance(item, Mapping) else None
    name = body.get("name") if isinstance(body, Mapping) else None
    return name if isinstance(name, str) else None


def _check_keys(body: Mapping[str, Any], label: str, problems: list[str]) -> None:
    for key in body:
        if key not in _KEYS:
            problems.append(f"{label}: unknown key `{key}` (known: {', '.join(_KEYS)})")
    if body.get("type", "function") != "function":
        problems.append(f"{label}: `type` must be `function`, got {body['type']!r}")
    if body.get("strict", False) is not False:
        problems.append(
            f"{label}: `strict: true` is not supported: llmframe sends tool schemas as given, "
            "non-strict, and validates the arguments itself"
        )


def _parameters(body: Mapping[str, Any], label: str, problems: list[str]) -> dict[str, Any]:
    if "parameters" in body and "input_schema" in body:
        problems.append(f"{label}: give `parameters` or `input_schema`, not both")
    key = "parameters" if "parameters" in body else "input_schema"
    schema = body.get(key)
    if schema is None:
        return copy.deepcopy(_NO_PARAMETERS)
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        got = _kind(schema) if not isinstance(schema, Mapping) else f"type {schema.get('type')!r}"
        problems.append(
            f'{label}: `{key}` must be a JSON Schema object (`"type": "object"`), got {got}'
        )
        return {}
    problem = _schema_problem(schema)
    if problem:
        problems.append(f"{label}: `{key}` is not a valid JSON Schema: {problem}")
    return copy.deepcopy(dict(schema))


def _schema_problem(schema: Mapping[str, Any]) -> str | None:
    import jsonschema  # lazy: only tool and schema loading need it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        at = "/".join(str(p) for p in exc.absolute_path)
        return f"{exc.message} (at `{at}`)" if at else exc.message
    return None


# Files -----------------------------------------------------------------------------------------


def _parse_yaml(text: str, where: str) -> Any:
    try:
        import yaml  # lazy and optional: only YAML tool files need it
    except ImportError as exc:
        msg = f"{where}: install pyyaml to read YAML tool files (`pip install pyyaml`)"
        raise UsageError(msg) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        msg = f"{where}: bad YAML{at}: {reason}"
        raise UsageError(msg) from exc


def _kind(value: Any) -> str:
    """The JSON word for a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__
