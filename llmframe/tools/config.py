"""`tool_config`: whatever the user passed as `tools` -> a checked `ToolConfig`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmframe.errors import UsageError
from llmframe.tools.functions import tools_from_functions
from llmframe.tools.load import load_tools, parse_tools
from llmframe.tools.spec import ToolConfig, ToolSpec

__all__ = ["tool_config"]


def _specs(tools: Any) -> list[ToolSpec]:
    if tools is None:
        return []
    if isinstance(tools, (str, os.PathLike)):
        return load_tools(tools)
    if not isinstance(tools, Sequence) or isinstance(tools, (bytes, Mapping)):
        msg = (
            "`tools` must be a file path or a list of Python functions, tool definitions "
            f"(dicts) or ToolSpecs, got {type(tools).__name__}"
        )
        raise UsageError(msg)
    functions: list[Callable[..., Any]] = [t for t in tools if callable(t)]
    definitions = [t for t in tools if isinstance(t, Mapping)]
    given = [t for t in tools if isinstance(t, ToolSpec)]
    other = [t for t in tools if not (callable(t) or isinstance(t, (Mapping, ToolSpec)))]
    if other:
        msg = f"`tools` item {other[0]!r} is not a function, a definition (dict) or a ToolSpec"
        raise UsageError(msg)
    specs = [
        *given,
        *parse_tools(definitions, where="`tools`"),
        *tools_from_functions(functions),
    ]
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        msg = f"`tools` has two tools named {', '.join(f'`{n}`' for n in duplicates)}"
        raise UsageError(msg)
    return specs


def tool_config(
    tools: Any = None,
    choice: str | None = None,
    *,
    max_steps: int = 8,
    timeout: float = 60.0,
) -> ToolConfig:
    """A `ToolConfig` from a path, or a list of functions, definitions and `ToolSpec`s."""
    return ToolConfig(tuple(_specs(tools)), choice, max_steps=max_steps, timeout=timeout)
