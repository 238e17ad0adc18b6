"""OpenAI strict structured outputs: rewrite a JSON Schema the way `strict: true` requires.

`openai_strict(schema)` returns a new schema (the input is not changed) in which, on every object
(root, nested, array items, `anyOf` branches and `$defs`):

- every property is listed in `required`;
- a property that was optional is made nullable (``"null"`` added to its `type`, `None` to its
  `enum`, a ``{"type": "null"}`` branch to its `anyOf`, or the schema wrapped in
  ``anyOf: [schema, {"type": "null"}]``), so the model answers `null` instead of omitting it;
- ``additionalProperties`` is ``false``.

Keywords OpenAI's strict mode rejects are stripped (`STRIPPED`). Stripping only loosens the
schema, so llmframe validates each answer against the *original* schema afterwards and those
constraints are still enforced. Composition strict mode cannot express (`allOf`, `not`,
`if`/`then`/`else`, `dependentRequired`, `dependentSchemas`) raises `UsageError`, as does a root
that is not an object: dropping those would change what the schema means.
"""

from __future__ import annotations

from typing import Any

from llmframe.errors import UsageError

__all__ = ["REJECTED", "STRIPPED", "openai_strict"]

STRIPPED: frozenset[str] = frozenset(
    {
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "patternProperties",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contains",
        "minContains",
        "maxContains",
        "uniqueItems",
        "default",
        "examples",
        "$schema",
        "$id",
    }
)
"""Keywords removed everywhere: strict mode does not accept them (as OpenAI documents it)."""

REJECTED: frozenset[str] = frozenset(
    {"allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas"}
)
"""Keywords that raise `UsageError`: removing them would change what the schema accepts."""

_SUPPORTED_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)


def openai_strict(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` rewritten for OpenAI ``response_format: json_schema`` with ``strict: true``."""
    root_type = schema.get("type")
    if root_type != "object" and "properties" not in schema:
        msg = "OpenAI strict mode needs an object at the root of the schema"
        raise UsageError(msg)
    return _strict(schema)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if "$ref" in schema or not ("type" in schema or "anyOf" in schema):
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    if "anyOf" in out:
        if not any(b.get("type") == "null" for b in out["anyOf"]):
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        return out
    if isinstance(kind, list):
        if "null" not in kind:
            out["type"] = [*kind, "null"]
    elif kind != "null":
        out["type"] = [kind, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _strict(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    rejected = sorted(REJECTED & schema.keys())
    if rejected:
        msg = f"OpenAI strict mode cannot express `{rejected[0]}`"
        raise UsageError(msg)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in STRIPPED or (key == "format" and value not in _SUPPORTED_FORMATS):
            continue
        if key in ("$defs", "definitions"):
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf"):
            out["anyOf"] = [_strict(sub) for sub in value]  # strict mode takes anyOf only
        elif key == "items":
            out[key] = _strict(value)
        elif key != "properties":
            out[key] = value
    if "properties" in schema or schema.get("type") == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out["properties"] = {
            name: _strict(sub) if name in required else _nullable(_strict(sub))
            for name, sub in properties.items()
        }
        out["required"] = list(properties)
        out["additionalProperties"] = False
    return out
