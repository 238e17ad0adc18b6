"""Prompt templates: ``"Classify this review: {review}"`` over a table's columns.

Only plain column names may appear between braces. Attribute and index access (``{x.y}``,
``{x[0]}``), positional fields, conversions (``!r``) and format specs (``:>10``) are refused when
the template is parsed, and rendering only concatenates text: nothing is ever evaluated.
``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import datetime as dt
import decimal
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmframe import _json
from llmframe.errors import TemplateError

__all__ = ["Template"]

_FORBIDDEN = {".": "attribute access", "[": "index access", "]": "index access"}


def _check_field(field: str, conversion: str | None, spec: str) -> None:
    shown = f"{{{field}}}"
    for char, what in _FORBIDDEN.items():
        if char in field:
            msg = f"template field `{shown}` uses {what}; only plain column names are allowed"
            raise TemplateError(msg)
    if not field.strip() or field.isdigit():
        msg = f"template field `{shown}` is positional; name a column, as in `{{review}}`"
        raise TemplateError(msg)
    if conversion is not None or spec:
        msg = (
            f"template field `{{{field}...}}` has a conversion or format spec; "
            "only plain column names are allowed"
        )
        raise TemplateError(msg)


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text pieces and the column names between them."""

    text: str
    pieces: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse and check a template; raise `TemplateError` for anything but plain fields."""
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            msg = f"template `{text}` is malformed: {exc}. Hint: write `{{{{` and `}}}}` for braces"
            raise TemplateError(msg) from None
        pieces = []
        for literal, field, spec, conversion in parsed:
            if field is not None:
                _check_field(field, conversion, spec or "")
            pieces.append((literal, field))
        template = cls(text, tuple(pieces))
        if not template.fields:
            msg = f"template `{text}` names no column, so every row would get the same prompt"
            raise TemplateError(msg)
        return template

    @property
    def fields(self) -> tuple[str, ...]:
        """The column names the template uses, in order of first use."""
        return tuple(dict.fromkeys(field for _, field in self.pieces if field is not None))

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise `TemplateError` naming every field that is not a column."""
        missing = [field for field in self.fields if field not in columns]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            msg = f"template names missing column(s) {names}; columns are: {', '.join(columns)}"
            raise TemplateError(msg)

    def render(self, values: Mapping[str, Any]) -> str:
        """Substitute column values; a null value is an error, never an empty string."""
        out = []
        for literal, field in self.pieces:
            out.append(literal)
            if field is not None:
                out.append(_as_text(field, values[field]))
        return "".join(out)


def _as_text(field: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        msg = f"template column `{field}` is null"
        raise TemplateError(msg, column=field)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        try:
            return _json.dumps(value)
        except (TypeError, ValueError):
            pass
    msg = f"template column `{field}` holds a {type(value).__name__}, which has no text form"
    raise TemplateError(msg, column=field)
