"""The concise field DSL of `--schema`: a superset of `llm`'s schema syntax, parsed to JSON Schema.

`llm`'s syntax works unchanged: ``name, age int, bio: a short bio`` gives three required fields,
split on commas, or on new lines when the text holds a new line (so descriptions may hold commas).
A field without a type is a string. The extensions are::

    score float, spam bool, tags list[str], sentiment enum(pos|neg|neutral)
    address {street str, city str: the town}, nickname? str, born date, seen datetime

Unlike `llm`, an unknown type word is an error, not a silent string: `SchemaDslError` names the
line and column of the mistake. Inside ``{...}`` fields split on commas or new lines, and a
description ends at ``,``, ``}`` or the end of the line.
"""

from __future__ import annotations

import difflib
from typing import Any

from llmframe.errors import UsageError

__all__ = ["SchemaDslError", "parse_dsl", "schema_to_dsl"]

_SCALARS: dict[str, dict[str, str]] = {
    "str": {"type": "string"},
    "string": {"type": "string"},
    "int": {"type": "integer"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
_TYPE_WORDS = [*_SCALARS, "list", "enum"]
_TYPES_HINT = (
    "Hint: the types are str, int, float, bool, date, datetime, list[T], enum(a|b) and {...}."
)
_NAME_STOP = frozenset(" \t\r\n,:?{}[]()|")
_SPACES = " \t\r"


class SchemaDslError(UsageError):
    """A malformed schema DSL; `line` and `column` (1-based) locate the mistake."""

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def parse_dsl(text: str) -> dict[str, Any]:
    """Parse the field DSL into a JSON Schema object (properties in order, no extra properties)."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.multiline = "\n" in text

    # -- positions and errors

    def error(self, what: str, pos: int, hint: str | None = None) -> SchemaDslError:
        line = self.text.count("\n", 0, pos) + 1
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        source = self.text[start : len(self.text) if end == -1 else end].rstrip("\r")
        column = pos - start + 1
        where = f"line {line}, column {column}" if self.multiline else f"column {column}"
        msg = f"{what} at {where}\n  {source}\n  {' ' * (column - 1)}^"
        if hint:
            msg += f"\n{hint}"
        return SchemaDslError(msg, line=line, column=column)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def found(self) -> str:
        """Describe what is at the current position, for an error message."""
        if self.pos >= len(self.text):
            return "the end of the schema"
        if self.peek() == "\n":
            return "the end of the line"
        return f"`{self.read_while(lambda c: c not in _NAME_STOP, peek=True) or self.peek()}`"

    def read_while(self, ok: Any, *, peek: bool = False) -> str:
        end = self.pos
        while end < len(self.text) and ok(self.text[end]):
            end += 1
        word = self.text[self.pos : end]
        if not peek:
            self.pos = end
        return word

    def skip_spaces(self, *, newlines: bool = False) -> None:
        blank = _SPACES + "\n" if newlines else _SPACES
        self.read_while(lambda c: c in blank)

    def expect(self, char: str, after: str) -> None:
        self.skip_spaces()
        if self.peek() != char:
            msg = f"expected `{char}` after {after}, found {self.found()}"
            raise self.error(msg, self.pos)
        self.pos += 1

    # -- grammar

    def parse(self) -> dict[str, Any]:
        schema = self.fields(open_at=None)
        if not schema["properties"]:
            msg = "the schema has no fields"
            raise self.error(msg, self.pos)
        return schema

    def fields(self, open_at: int | None) -> dict[str, Any]:
        nested = open_at is not None
        properties: dict[str, Any] = {}
        required: list[str] = []
        while True:
            self.skip_spaces(newlines=True)
            char = self.peek()
            if char == "" and nested:
                msg = "unclosed `{`"
                raise self.error(msg, open_at or 0)
            if char == "":
                break
            if char == "}" and nested:
                self.pos += 1
                break
            if char == ",":  # an empty field, skipped as llm does
                self.pos += 1
                continue
            start = self.pos
            name, optional, prop = self.field(nested)
            if name in properties:
                msg = f"duplicate field `{name}`"
                raise self.error(msg, start)
            properties[name] = prop
            if not optional:
                required.append(name)
            self.separator(name, nested)
        if nested and not properties:
            msg = "an object needs at least one field"
            raise self.error(msg, open_at or 0)
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }

    def separator(self, name: str, nested: bool) -> None:
        self.skip_spaces()
        char = self.peek()
        if char in (",", "\n"):
            self.pos += 1
        elif char == "" or (char == "}" and nested):
            return
        else:
            msg = f"unexpected {self.found()} after field `{name}`"
            raise self.error(msg, self.pos, "Hint: separate fields with `,` or a new line.")

    def field(self, nested: bool) -> tuple[str, bool, dict[str, Any]]:
        name = self.read_while(lambda c: c not in _NAME_STOP)
        if not name:
            msg = f"expected a field name, found {self.found()}"
            raise self.error(msg, self.pos)
        optional = self.peek() == "?"
        if optional:
            self.pos += 1
        self.skip_spaces()
        prop: dict[str, Any]
        if self.peek() in ("", ",", "\n", ":", "}"):
            prop = {"type": "string"}
        else:
            prop = self.type()
        self.skip_spaces()
        if self.peek() == ":":
            self.pos += 1
            description = self.description(nested)
            if description:
                prop = {**prop, "description": description}
        return name, optional, prop

    def description(self, nested: bool) -> str:
        if nested:
            stops = ",}\n"
        else:
            stops = "\n" if self.multiline else ","
        return self.read_while(lambda c: c not in stops).strip()

    def type(self) -> dict[str, Any]:
        start = self.pos
        if self.peek() == "{":
            self.pos += 1
            return self.fields(open_at=start)
        word = self.read_while(lambda c: c.isalnum() or c == "_")
        if not word:
            msg = f"expected a type, found {self.found()}"
            raise self.error(msg, start, _TYPES_HINT)
        if word == "list":
            self.expect("[", "`list`")
            self.skip_spaces()
            items = self.type()
            self.expect("]", "the item type of `list[...]`")
            return {"type": "array", "items": items}
        if word == "enum":
            self.expect("(", "`enum`")
            return {"type": "string", "enum": self.enum_values(start)}
        if word in _SCALARS:
            return dict(_SCALARS[word])
        close = difflib.get_close_matches(word, _TYPE_WORDS, n=1)
        hint = f"Hint: did you mean `{close[0]}`?" if close else _TYPES_HINT
        msg = f"unknown type `{word}`"
        raise self.error(msg, start, hint)

    def enum_values(self, open_at: int) -> list[str]:
        values: list[str] = []
        while True:
            start = self.pos
            raw = self.read_while(lambda c: c not in "|)\n")
            value = raw.strip()
            at = start + len(raw) - len(raw.lstrip())
            if self.peek() in ("", "\n"):
                msg = "unclosed `enum(`"
                raise self.error(msg, open_at, "Hint: close it with `)`.")
            if not value:
                msg = "empty `enum` value"
                raise self.error(msg, at)
            if value in values:
                msg = f"duplicate `enum` value `{value}`"
                raise self.error(msg, at)
            values.append(value)
            self.pos += 1
            if self.text[self.pos - 1] == ")":
                return values


# -- JSON Schema back to the DSL


def schema_to_dsl(schema: dict[str, Any]) -> str:
    """Write a JSON Schema in the DSL; raises `UsageError` for what the DSL cannot say.

    `parse_dsl(schema_to_dsl(s)) == s` for every schema `parse_dsl` can produce.
    """
    fields = _object_fields(schema, "the schema")
    descriptions = [prop.get("description", "") for _, prop in fields]
    multiline = any("," in d for d in descriptions)
    rendered = [_render_field(name, prop, schema, top_level=True) for name, prop in fields]
    return "\n".join(rendered) + "\n" if multiline else ", ".join(rendered)


def _unsupported(what: str, why: str) -> UsageError:
    msg = f"{what} cannot be written in the schema DSL: {why}"
    return UsageError(msg)


def _object_fields(schema: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise _unsupported(where, "it is not an object")
    extra = set(schema) - {"type", "properties", "required", "additionalProperties", "description"}
    if extra:
        raise _unsupported(where, f"unsupported keys {sorted(extra)}")
    if schema.get("additionalProperties", False) is not False:
        raise _unsupported(where, "`additionalProperties` must be false")
    properties = schema.get("properties") or {}
    if not properties:
        raise _unsupported(where, "it has no properties")
    unknown = set(schema.get("required", [])) - set(properties)
    if unknown:
        raise _unsupported(where, f"`required` names missing properties {sorted(unknown)}")
    return list(properties.items())


def _render_field(
    name: str, prop: dict[str, Any], parent: dict[str, Any], *, top_level: bool
) -> str:
    if not name or any(c in _NAME_STOP for c in name):
        msg = f"field `{name}`"
        raise _unsupported(msg, "names may not hold spaces or any of `,:?{}[]()|`")
    optional = "" if name in parent.get("required", []) else "?"
    type_ = _render_type(prop, f"field `{name}`")
    head = f"{name}{optional}" + (f" {type_}" if type_ != "str" else "")
    description = prop.get("description")
    if description is None:
        return head
    forbidden = "\n" if top_level else ",}\n"
    if (
        not isinstance(description, str)
        or not description
        or description != description.strip()
        or any(c in forbidden for c in description)
    ):
        why = f"a description must be trimmed text without any of {forbidden!r}"
        msg = f"field `{name}`"
        raise _unsupported(msg, why)
    return f"{head}: {description}"


_FORMATS = {None: "str", "date": "date", "date-time": "datetime"}
_SIMPLE = {"integer": "int", "number": "float", "boolean": "bool"}


def _render_type(prop: dict[str, Any], where: str) -> str:
    kind = prop.get("type")
    keys = set(prop) - {"type", "description"}
    if kind == "object":
        fields = _object_fields(prop, where)
        inner = [_render_field(name, sub, prop, top_level=False) for name, sub in fields]
        return "{" + ", ".join(inner) + "}"
    if kind == "array" and keys == {"items"}:
        items = prop["items"]
        if not isinstance(items, dict) or "description" in items:
            raise _unsupported(where, "list items must be a schema without a description")
        return f"list[{_render_type(items, where)}]"
    if kind == "string" and keys == {"enum"}:
        return f"enum({_render_enum(prop['enum'], where)})"
    if kind == "string" and keys <= {"format"} and prop.get("format") in _FORMATS:
        return _FORMATS[prop.get("format")]
    if kind in _SIMPLE and not keys:
        return _SIMPLE[kind]
    raise _unsupported(where, f"unsupported schema {prop!r}")


def _render_enum(values: Any, where: str) -> str:
    ok = (
        isinstance(values, list)
        and values
        and len(set(map(repr, values))) == len(values)
        and all(
            isinstance(v, str) and v and v == v.strip() and not set(v) & set("|)\n") for v in values
        )
    )
    if not ok:
        raise _unsupported(where, "enum values must be distinct trimmed strings without `|` or `)`")
    return "|".join(values)
