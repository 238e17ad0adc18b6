"""A model's answer -> a JSON instance checked against the schema, or what is wrong with it.

`AnswerChecker.check(parts)` reads the answer where it is:

- a ``json`` part (a provider that returns structured output as such) is taken as it is;
- a tool call (a forced-tool structured output) gives its arguments;
- otherwise the text parts, joined, are parsed tolerantly: surrounding prose and Markdown code
  fences are stripped (the first ``{`` to the last ``}``, or ``[`` to ``]``), since models
  without a native JSON mode wrap their JSON.

Then optional properties the model set to ``null`` are dropped (OpenAI's strict mode makes every
property required and the optional ones nullable, so ``null`` there means "absent"), and the
instance is validated against the original schema with jsonschema (draft 2020-12), formats
``date`` and ``date-time`` included. A refusal, an empty answer, text that is not JSON and an
invalid instance each give an `error` that names the problem and where it is; it is what the
repair turn (`repair_message`) sends back to the model.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema

from llmframe.parts.types import JsonPart, Part, RefusalPart, TextPart, ToolCallPart

__all__ = ["AnswerChecker", "Verdict", "drop_optional_nulls", "repair_message"]

_MAX_ERRORS = 5
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    """The checked answer: `value` when valid, else `error` saying what is wrong."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the answer is a valid instance."""
        return self.error is None


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == len("YYYY-MM-DD")  # not the basic or week forms


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)?", value):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _format_checker() -> jsonschema.FormatChecker:
    """Draft 2020-12 formats, with `date` and `date-time` checked without extra packages."""
    checker = jsonschema.FormatChecker()
    checker.checks("date")(_is_date)
    checker.checks("date-time")(_is_date_time)
    return checker


def _parse_text(text: str) -> tuple[Any, str | None]:
    """The JSON value in `text` (fences and surrounding prose tolerated), or an error."""
    stripped = text.strip()
    if not stripped:
        return None, "the answer is empty"
    fenced = _FENCE.match(stripped)
    candidates = [fenced.group(1).strip()] if fenced else [stripped]
    for opening, closing in ("{}", "[]"):
        start, end = stripped.find(opening), stripped.rfind(closing)
        if 0 <= start < end:
            candidates.append(stripped[start : end + 1])
    first_error = None
    for candidate in candidates:
        try:
            return json.loads(candidate), None
        except ValueError as exc:
            first_error = first_error or exc
    return None, f"the answer is not JSON ({first_error})"


def drop_optional_nulls(value: Any, schema: Any) -> Any:
    """`value` without ``null`` properties the schema does not require (strict-mode nulls)."""
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return value
        required = set(schema.get("required") or ())
        return {
            key: drop_optional_nulls(item, properties.get(key))
            for key, item in value.items()
            if item is not None or key in required
        }
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [drop_optional_nulls(item, schema["items"]) for item in value]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            objects = [b for b in branches if isinstance(b, Mapping) and "properties" in b]
            if len(objects) == 1:
                return drop_optional_nulls(value, objects[0])
    return value


def _where(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"at `{path.lstrip('.')}`: " if path else ""


class AnswerChecker:
    """Checks answers against one JSON Schema (compiled once)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        validator = jsonschema.validators.validator_for(
            self.schema, jsonschema.Draft202012Validator
        )
        self._validator = validator(self.schema, format_checker=_format_checker())

    def check(self, parts: Sequence[Part]) -> Verdict:
        """The answer in `parts`, validated."""
        value, error = self._read(parts)
        if error is not None:
            return Verdict(error=error)
        value = drop_optional_nulls(value, self.schema)
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return Verdict(value=value)
        lines = [f"{_where(e)}{e.message}" for e in errors[:_MAX_ERRORS]]
        if len(errors) > _MAX_ERRORS:
            lines.append(f"... and {len(errors) - _MAX_ERRORS} more")
        return Verdict(error="; ".join(lines))

    def _read(self, parts: Sequence[Part]) -> tuple[Any, str | None]:
        for part in parts:
            if isinstance(part, JsonPart):
                return part.value, None
        for part in parts:
            if isinstance(part, ToolCallPart):
                if part.raw_arguments is not None:
                    return None, f"the tool call's arguments are not JSON: {part.raw_arguments!r}"
                return part.arguments, None
        refusals = [p.text for p in parts if isinstance(p, RefusalPart)]
        if refusals:
            return None, f"the model refused: {' '.join(refusals)}"
        return _parse_text("".join(p.text for p in parts if isinstance(p, TextPart)))


def repair_message(error: str) -> str:
    """The user turn that sends a validation error back to the model."""
    return (
        f"Your answer is not valid against the JSON Schema: {error}. "
        "Answer again with only the corrected JSON value, no other text."
    )
