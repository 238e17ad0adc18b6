"""What each wire API can take and give: the facts `llmframe models` prints.

Kept beside the endpoints, one row per wire module, so the README table, the CLI and the tests
read the same facts. A part a provider cannot take is refused by its `build_call` with
`UnsupportedPart`; this table only describes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROFILES", "Profile"]


@dataclass(frozen=True)
class Profile:
    """Capabilities of one wire API."""

    takes: tuple[str, ...]
    """Part types accepted in requests."""
    gives: tuple[str, ...]
    """Part types that responses can hold."""
    streaming: str
    """How streams are framed."""
    system_first: bool = False
    """The system prompt is a top-level field: system messages must come before the rest."""


_TEXT_TOOLS = ("text", "tool_call", "tool_result")
PROFILES: dict[str, Profile] = {
    "openai": Profile(
        takes=(*_TEXT_TOOLS, "image", "audio", "document"),
        gives=("text", "refusal", "tool_call", "reasoning"),
        streaming="SSE",
    ),
    "openai_responses": Profile(
        takes=(*_TEXT_TOOLS, "image", "document", "reasoning"),
        gives=("text", "refusal", "tool_call", "reasoning", "image"),
        streaming="SSE",
    ),
    "anthropic": Profile(
        takes=(*_TEXT_TOOLS, "image", "document", "reasoning"),
        gives=("text", "tool_call", "reasoning"),
        streaming="SSE",
        system_first=True,
    ),
    "gemini": Profile(
        takes=(*_TEXT_TOOLS, "image", "audio", "video", "document", "reasoning"),
        gives=("text", "tool_call", "reasoning", "image"),
        streaming="SSE",
        system_first=True,
    ),
    "ollama": Profile(
        takes=(*_TEXT_TOOLS, "image", "reasoning"),
        gives=("text", "tool_call", "reasoning"),
        streaming="NDJSON",
    ),
    "llamacpp": Profile(
        takes=_TEXT_TOOLS,
        gives=("text", "tool_call"),
        streaming="in process",
    ),
}
