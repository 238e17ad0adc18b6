"""Canonical JSON text: how llmframe writes every JSON value it stores."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads", "parse_user_json"]


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is; NaN and infinities are refused."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


_STRICT = json.JSONDecoder(parse_constant=_refuse_constant)
"""One decoder for every call: `json.loads` with an argument builds a new one each time."""


def loads(text: str | bytes) -> Any:
    """Parse strict JSON text (no NaN or Infinity); too deep a nesting is a `ValueError` too."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    try:
        return _STRICT.decode(text)
    except RecursionError:
        msg = "JSON nested too deeply"
        raise ValueError(msg) from None


def parse_user_json(text: str, where: str) -> Any:
    """JSON the user wrote (a file, an option): `UsageError` naming `where`, line and column."""
    from llmframe.errors import UsageError

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{where}: bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise UsageError(msg) from exc
