"""`load_schema`: turn whatever `--schema` was given into a JSON Schema dict.

In order: a dict (checked against its meta-schema), a pydantic model class, inline JSON (text
starting with ``{``), a path to a ``.json`` file, a ``package.module:ClassName`` import spec, and
otherwise the field DSL of `llmframe.extraction.dsl`.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from llmframe._json import parse_user_json
from llmframe.errors import UsageError
from llmframe.extraction.dsl import parse_dsl

__all__ = ["load_schema"]

_IMPORT_SPEC = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Z]\w*")
_DSL_HINT = "Hint: to use the field DSL instead, put a space after the `:`."


def load_schema(spec: str | dict[str, Any] | type) -> dict[str, Any]:
    """Return the JSON Schema meant by `spec`; raises `UsageError` when it cannot be read."""
    if isinstance(spec, dict):
        return _checked(spec, "the schema")
    if isinstance(spec, type):
        return _from_model(spec, spec.__qualname__)
    if not isinstance(spec, str):
        msg = f"`schema` must be a str, dict or pydantic model class, got {type(spec).__name__}"
        raise UsageError(msg)
    text = spec.strip()
    if text.startswith("{"):
        return _checked(parse_user_json(text, "inline JSON schema"), "the inline JSON schema")
    if "\n" not in text and text.lower().endswith(".json"):
        return _from_file(Path(text))
    if _IMPORT_SPEC.fullmatch(text):
        return _from_import(text)
    return parse_dsl(spec)


def _checked(schema: Any, what: str) -> dict[str, Any]:
    import jsonschema  # lazy: only schema loading needs it

    if not isinstance(schema, dict):
        msg = f"{what} must be a JSON object, got {type(schema).__name__}"
        raise UsageError(msg)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        msg = f"{what} is not a valid JSON Schema at {where}: {exc.message}"
        raise UsageError(msg) from exc
    return schema


def _from_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        msg = f"schema file `{path}` not found"
        raise UsageError(msg)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read schema file `{path}`: {exc}"
        raise UsageError(msg) from exc
    return _checked(parse_user_json(text, f"`{path}`"), f"`{path}`")


def _from_import(spec: str) -> dict[str, Any]:
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import `{module_name}` for schema `{spec}`: {exc}\n{_DSL_HINT}"
        raise UsageError(msg) from exc
    model = getattr(module, class_name, None)
    if model is None:
        msg = f"module `{module_name}` has no `{class_name}` (schema `{spec}`)\n{_DSL_HINT}"
        raise UsageError(msg)
    return _from_model(model, spec)


def _from_model(model: Any, name: str) -> dict[str, Any]:
    from pydantic import BaseModel  # lazy: only model schemas need it

    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        msg = f"`{name}` is not a pydantic model (a `BaseModel` subclass)"
        raise UsageError(msg)
    return inline_defs(model.model_json_schema())


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace each local ``$ref`` into ``$defs`` by its definition, unless the refs recurse.

    A recursive model keeps its ``$defs`` unchanged, since it cannot be written out.
    """
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.removeprefix("#/$defs/")
            if key in seen or key not in defs:
                raise _Recursive
            siblings = {k: resolve(v, seen) for k, v in node.items() if k != "$ref"}
            return {**resolve(defs[key], (*seen, key)), **siblings}
        return {k: resolve(v, seen) for k, v in node.items()}

    try:
        body = {k: v for k, v in schema.items() if k != "$defs"}
        return dict(resolve(body, ()))
    except _Recursive:
        return schema


class _Recursive(Exception):
    """A ``$ref`` that refers back to itself (or to nothing): keep the ``$defs``."""
