"""ShareGPT-style ``conversations`` (``from``/``value`` turns), as many HF datasets store them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmframe.errors import SchemaMismatch
from llmframe.parts.types import Message, TextPart

__all__ = ["SPEAKERS", "message_from_sharegpt"]

SPEAKERS: dict[str, str] = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
}
"""ShareGPT speaker names and the role each becomes."""


def message_from_sharegpt(turn: Any) -> Message:
    """Read one ``{"from": ..., "value": ...}`` turn."""
    if not isinstance(turn, Mapping):
        msg = f"turn must be an object, got {type(turn).__name__}"
        raise SchemaMismatch(msg)
    extra = sorted(k for k, v in turn.items() if k not in ("from", "value") and v is not None)
    if extra:
        msg = f"turn has unsupported key(s) {', '.join(f'`{k}`' for k in extra)}"
        raise SchemaMismatch(msg)
    speaker = turn.get("from")
    if speaker not in SPEAKERS:
        msg = f"unknown role `{speaker}`; expected one of: {', '.join(SPEAKERS)}"
        raise SchemaMismatch(msg)
    value = turn.get("value")
    if not isinstance(value, str):
        got = "nothing" if value is None else type(value).__name__
        msg = f"{speaker} turn needs `value` as a string, got {got}"
        raise SchemaMismatch(msg)
    return Message(role=SPEAKERS[speaker], parts=[TextPart(text=value)])
