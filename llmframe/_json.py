"""Canonical JSON text: how llmframe writes every JSON value it stores."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is; NaN and infinities are refused."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def loads(text: str | bytes) -> Any:
    """Parse strict JSON text (no NaN or Infinity)."""
    return json.loads(text, parse_constant=_refuse_constant)
