"""Tools from Python functions: definitions built from signatures, arguments checked by pydantic.

`tools_from_functions` turns each function (sync or async) into a `ToolSpec` that keeps the
function: the name is ``__name__``; the description is the docstring's first paragraph; the
parameters are the JSON Schema pydantic gives a model with one field per parameter, typed by its
hint (none is ``Any``), required unless it has a default, described by its entry in a Google-style
``Args:`` section or a NumPy-style ``Parameters`` section of the docstring, with nested models'
``$defs`` written inline where they do not recurse, and ``additionalProperties: false``. A lambda
(no usable name), ``*args``/``**kwargs`` and positional-only parameters (a tool is called with
keyword arguments), types pydantic cannot describe and duplicate names raise `UsageError` naming
the function.

`validate_arguments` checks and coerces a model's arguments against the same model (``"3"``
becomes ``3`` for an ``int``, an object becomes the pydantic model a parameter names), returning
the keyword arguments to call the function with: only those the model gave, so the function's own
defaults apply to the rest. Arguments that do not fit raise `ToolArgumentsError`, whose message is
short enough to send back to the model as the tool's result. For a tool without a function (from
a file or a column) the arguments are checked against its JSON Schema with jsonschema instead.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from llmframe.errors import UsageError
from llmframe.extraction.load import inline_defs
from llmframe.tools.load import NAME_PATTERN
from llmframe.tools.spec import ToolSpec

__all__ = ["ToolArgumentsError", "tools_from_functions", "validate_arguments"]

_SHOWN_ERRORS = 5
_SHOWN_INPUT = 60
_GOOGLE_SECTION = re.compile(r"(Args|Arguments|Parameters|Params|Keyword Args|Kwargs)\s*:\s*")
_SECTION_HEADER = re.compile(r"[A-Z][A-Za-z ]*:\s*")
_GOOGLE_ENTRY = re.compile(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)")
_NUMPY_ENTRY = re.compile(r"(\w+)\s*(?::.*)?")
_UNDERLINE = re.compile(r"-{3,}\s*")
_UNSET = object()


class ToolArgumentsError(ValueError):
    """A model's arguments that do not fit the tool; the message is written for the model."""


def tools_from_functions(functions: Sequence[Callable[..., Any]]) -> list[ToolSpec]:
    """One `ToolSpec` per function, in order, each keeping its function; `UsageError` if unfit."""
    if isinstance(functions, (str, bytes)) or not isinstance(functions, Sequence):
        msg = f"tools must be a list of functions, got {type(functions).__name__}"
        raise UsageError(msg)
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for position, function in enumerate(functions, start=1):
        name = _name(function, position)
        if name in seen:
            msg = f"two tools are named `{name}`; tool names must be unique"
            raise UsageError(msg)
        seen.add(name)
        parameters = _parameters_schema(function, name)
        specs.append(
            ToolSpec(
                name=name,
                parameters=parameters,
                description=_description(inspect.getdoc(function)),
                function=function,
            )
        )
    return specs


def validate_arguments(spec: ToolSpec, arguments: Any) -> dict[str, Any]:
    """The keyword arguments to call `spec`'s function with; `ToolArgumentsError` if unfit.

    `arguments` is the model's JSON object, as a mapping or as JSON text (None means none).
    """
    given = _as_object(arguments, spec.name)
    if spec.function is None:
        _check_against_schema(spec, given)
        return given
    model = _arguments_model(spec.function, spec.name)
    from pydantic import ValidationError

    try:
        instance = model.model_validate(given)
    except ValidationError as exc:
        problems = [_pydantic_problem(error) for error in exc.errors(include_url=False)]
        raise ToolArgumentsError(_message(spec.name, problems)) from None
    fields = model.model_fields
    return {
        fields[key].alias or key: getattr(instance, key)
        for key in fields
        if key in instance.model_fields_set
    }


# Building -------------------------------------------------------------------------------------


def _name(function: Any, position: int) -> str:
    if not callable(function):
        msg = f"tool {position} is not a function: got {type(function).__name__}"
        raise UsageError(msg)
    name = getattr(function, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        what = "a lambda" if name == "<lambda>" else type(function).__name__
        msg = f"tool {position} ({what}) has no usable name. Hint: define it with `def`"
        raise UsageError(msg)
    if not NAME_PATTERN.fullmatch(name):
        msg = f"function `{name}` cannot be a tool: names are 1 to 64 ASCII letters, digits, _ or -"
        raise UsageError(msg)
    return name


@functools.lru_cache(maxsize=512)
def _arguments_model(function: Callable[..., Any], name: str) -> Any:
    """A pydantic model with one field per parameter, named by alias (so any name is safe)."""
    from pydantic import ConfigDict, Field, PydanticUserError, create_model
    from pydantic.fields import FieldInfo

    try:
        signature = inspect.signature(function, eval_str=True)
    except (NameError, TypeError, ValueError) as exc:
        msg = f"function `{name}`: cannot read its signature and type hints: {exc}"
        raise UsageError(msg) from exc
    docs = _argument_docs(inspect.getdoc(function))
    fields: dict[str, Any] = {}
    for index, parameter in enumerate(signature.parameters.values()):
        _check_kind(parameter, name)
        annotation = Any if parameter.annotation is parameter.empty else parameter.annotation
        default = ... if parameter.default is parameter.empty else parameter.default
        if isinstance(default, FieldInfo):  # pydantic's `x: int = Field(1, ge=1)`
            annotation, default = Annotated[annotation, default], _UNSET
        extra: dict[str, Any] = {"alias": parameter.name}
        if parameter.name in docs and not _has_description(annotation):
            extra["description"] = docs[parameter.name]
        field = Field(**extra) if default is _UNSET else Field(default, **extra)
        fields[f"p{index}"] = (annotation, field)
    try:
        return create_model(  # type: ignore[call-overload]
            f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
    except PydanticUserError as exc:
        msg = f"function `{name}`: cannot describe its parameters: {_first_line(str(exc))}"
        raise UsageError(msg) from exc


def _has_description(annotation: Any) -> bool:
    """Whether an ``Annotated`` hint already describes the parameter (``Field(description=)``)."""
    return any(
        getattr(meta, "description", None) for meta in getattr(annotation, "__metadata__", ())
    )


def _check_kind(parameter: inspect.Parameter, name: str) -> None:
    if parameter.kind is parameter.VAR_POSITIONAL:
        shown = f"*{parameter.name}"
    elif parameter.kind is parameter.VAR_KEYWORD:
        shown = f"**{parameter.name}"
    elif parameter.kind is parameter.POSITIONAL_ONLY:
        shown = f"{parameter.name}, /"
    else:
        return
    msg = (
        f"function `{name}` cannot be a tool: parameter `{shown}` cannot be given by name. "
        "Hint: give the tool named parameters only"
    )
    raise UsageError(msg)


def _parameters_schema(function: Callable[..., Any], name: str) -> dict[str, Any]:
    from pydantic import PydanticUserError
    from pydantic.json_schema import GenerateJsonSchema, PydanticJsonSchemaWarning

    class _NoFieldTitles(GenerateJsonSchema):
        def field_title_should_be_set(self, schema: Any) -> bool:
            return False

    model = _arguments_model(function, name)
    try:
        with warnings.catch_warnings():
            # a default JSON cannot hold is left out of the schema, which is what it should be
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
            schema = model.model_json_schema(schema_generator=_NoFieldTitles)
    except PydanticUserError as exc:
        msg = f"function `{name}`: cannot describe its parameters: {_first_line(str(exc))}"
        raise UsageError(msg) from exc
    schema.pop("title", None)
    return inline_defs(schema)


def _description(doc: str | None) -> str | None:
    """The docstring's first paragraph, on one line; None when there is none."""
    if not doc:
        return None
    paragraph = doc.strip().split("\n\n", 1)[0]
    if _SECTION_HEADER.fullmatch(paragraph.splitlines()[0]):
        return None
    return " ".join(line.strip() for line in paragraph.splitlines())


def _argument_docs(doc: str | None) -> dict[str, str]:
    """Parameter descriptions from a Google ``Args:`` or NumPy ``Parameters`` section."""
    if not doc:
        return {}
    lines = doc.splitlines()
    for index, line in enumerate(lines):
        if _GOOGLE_SECTION.fullmatch(line.strip()):
            return _google_entries(lines[index + 1 :], _indent(line))
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() == "Parameters" and _UNDERLINE.fullmatch(following.strip()):
            return _numpy_entries(lines[index + 2 :], _indent(line))
    return {}


def _google_entries(lines: list[str], header_indent: int) -> dict[str, str]:
    entries: dict[str, list[str]] = {}
    entry_indent: int | None = None
    current: list[str] | None = None
    for line in lines:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        entry_indent = indent if entry_indent is None else entry_indent
        match = _GOOGLE_ENTRY.fullmatch(line.strip())
        if indent == entry_indent and match:
            current = entries.setdefault(match[1], [])
            current.append(match[2])
        elif indent > entry_indent and current is not None:
            current.append(line.strip())
    return _joined(entries)


def _numpy_entries(lines: list[str], header_indent: int) -> dict[str, str]:
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _indent(line) <= header_indent:
            match = _NUMPY_ENTRY.fullmatch(line.strip())
            if _UNDERLINE.fullmatch(following.strip()) or not match:
                break  # the next section
            current = entries.setdefault(match[1], [])
        elif current is not None:
            current.append(line.strip())
    return _joined(entries)


def _joined(entries: Mapping[str, list[str]]) -> dict[str, str]:
    return {name: " ".join(t for t in texts if t) for name, texts in entries.items() if any(texts)}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


# Checking --------------------------------------------------------------------------------------


def _as_object(arguments: Any, name: str) -> dict[str, Any]:
    if arguments is None:
        return {}
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise ToolArgumentsError(_message(name, [f"not valid JSON ({exc})"])) from None
    if not isinstance(arguments, Mapping):
        problem = f"they must be a JSON object, got {type(arguments).__name__}"
        raise ToolArgumentsError(_message(name, [problem]))
    return dict(arguments)


def _check_against_schema(spec: ToolSpec, given: dict[str, Any]) -> None:
    import jsonschema

    validator = jsonschema.validators.validator_for(spec.parameters)(spec.parameters)
    errors = sorted(validator.iter_errors(given), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [_located(list(e.absolute_path), e.message) for e in errors]
        raise ToolArgumentsError(_message(spec.name, problems))


def _pydantic_problem(error: Mapping[str, Any]) -> str:
    location = list(error.get("loc") or ())
    kind = error.get("type")
    if kind == "missing":
        return _located(location, "missing")
    if kind == "extra_forbidden":
        return _located(location, "unexpected argument")
    shown = repr(error.get("input"))
    if len(shown) > _SHOWN_INPUT:
        shown = shown[: _SHOWN_INPUT - 3] + "..."
    return _located(location, f"{error.get('msg')} (got {shown})")


def _located(path: Sequence[Any], message: str) -> str:
    return f"`{'.'.join(str(p) for p in path)}`: {message}" if path else message


def _message(name: str, problems: Sequence[str]) -> str:
    shown = list(problems[:_SHOWN_ERRORS])
    if len(problems) > _SHOWN_ERRORS:
        shown.append(f"and {len(problems) - _SHOWN_ERRORS} more")
    return f"invalid arguments for tool `{name}`: " + "; ".join(shown)
