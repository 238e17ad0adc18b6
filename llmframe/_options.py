"""Model options llmframe sets itself (an output schema, tools) merged into the user's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmframe.errors import UsageError

__all__ = ["merge_options"]


def merge_options(
    user: Mapping[str, Any], ours: Mapping[str, Any], *, set_by: str, path: str = ""
) -> dict[str, Any]:
    """`user` options with `ours` merged in, objects key by key; a clash raises `UsageError`.

    A user's ``output_config.effort`` survives the schema's ``output_config.format``, but the
    same leaf set twice is refused rather than silently overwritten.
    """
    merged = dict(user)
    for key, value in ours.items():
        where = f"{path}.{key}" if path else key
        if key not in merged:
            merged[key] = value
        elif isinstance(merged[key], Mapping) and isinstance(value, Mapping):
            merged[key] = merge_options(merged[key], value, set_by=set_by, path=where)
        else:
            msg = (
                f"option `{where}` is set by {set_by}; drop it from `-o`/`options` "
                f"(llmframe sends it from {set_by})"
            )
            raise UsageError(msg)
    return merged
