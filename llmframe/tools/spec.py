"""`ToolSpec`: one tool a model may call, in llmframe's neutral form (DESIGN.md section 3).

Definitions come from a file or a per-row ``tools`` column (`llmframe.tools.load`), or from
Python functions (`llmframe.tools.functions`); each provider turns them into its own wire shape
(`llmframe.providers.base.ToolOptions`). Only a spec with a `function` is ever executed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TOOL_CHOICES", "ToolConfig", "ToolSpec"]

TOOL_CHOICES = ("auto", "none", "required")
"""The `tool_choice` words; any other value names the one tool the model must call."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, description and JSON Schema parameters (an object schema)."""

    name: str
    parameters: Mapping[str, Any]
    description: str | None = None
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    """The Python callable behind it, for tools the user handed over as functions."""

    def to_json(self) -> dict[str, Any]:
        """The neutral JSON form (``{name, description, parameters}``), as stored in a run."""
        body: dict[str, Any] = {"name": self.name}
        if self.description:
            body["description"] = self.description
        body["parameters"] = dict(self.parameters)
        return body


@dataclass(frozen=True)
class ToolConfig:
    """The tools of a run: offered to every row (a row's ``tools`` column replaces them)."""

    tools: tuple[ToolSpec, ...] = ()
    choice: str | None = None
    """``auto``, ``none``, ``required`` or a tool name; None leaves each API's default."""
    max_steps: int = 8
    """Model calls per row at most, when llmframe runs the tools (Python functions)."""
    timeout: float = 60.0
    """Seconds each tool call may take."""

    @property
    def runs_tools(self) -> bool:
        """Whether llmframe executes these tools (they are Python functions)."""
        return any(spec.function is not None for spec in self.tools)

    def manifest(self) -> dict[str, Any] | None:
        """What a run records about its tools (definitions, choice, limits), or None."""
        if not self.tools and self.choice is None:
            return None
        body: dict[str, Any] = {"definitions": [spec.to_json() for spec in self.tools]}
        if self.choice is not None:
            body["choice"] = self.choice
        if self.runs_tools:
            body["executed"] = True
            body["max_steps"] = self.max_steps
        return body
