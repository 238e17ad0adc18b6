"""What a run asks of each answer when it has an output schema, and how to ask each provider.

An `OutputSchema` rides on a run (``llmframe extract``, ``run --schema``). For each provider the
runner asks `ask_for_json`: a provider with a native structured-output mode
(`llmframe.providers.base.StructuredOutputs`) gives request options to merge into the user's;
any other gets the schema as instructions at the top of the system prompt, and its answer is
parsed tolerantly (`llmframe.extraction.answer`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmframe._options import merge_options
from llmframe.errors import UsageError
from llmframe.parts.types import Message, TextPart

if TYPE_CHECKING:
    from llmframe.providers.base import Provider

__all__ = [
    "JsonRequest",
    "OutputSchema",
    "ask_for_json",
    "schema_name",
    "with_instructions",
]


@dataclass(frozen=True)
class OutputSchema:
    """The JSON Schema every answer must satisfy, and how many repair turns an answer gets."""

    schema: Mapping[str, Any]
    name: str = "extraction"
    """A short identifier for APIs that name their schema (``[A-Za-z0-9_-]{1,64}``)."""
    repair: int = 1

    def __post_init__(self) -> None:
        if self.repair < 0:
            msg = f"`--repair` must be at least 0, got {self.repair}"
            raise UsageError(msg)


@dataclass(frozen=True)
class JsonRequest:
    """How to ask one provider for JSON: `options` to merge, or `instructions` to prepend."""

    options: Mapping[str, Any] = field(default_factory=dict)
    instructions: str | None = None

    def apply(
        self, messages: Sequence[Message], options: Mapping[str, Any]
    ) -> tuple[list[Message], dict[str, Any]]:
        """The conversation and options of a request that asks for JSON this way."""
        if self.instructions is not None:
            messages = with_instructions(messages, self.instructions)
        return list(messages), merge_options(options, self.options, set_by="the output schema")


def schema_name(schema: Mapping[str, Any], default: str = "extraction") -> str:
    """The schema's ``title`` made into an API-safe name, else `default`."""
    title = schema.get("title")
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:64] if isinstance(title, str) else ""
    return name or default


def ask_for_json(provider: Provider, output: OutputSchema) -> JsonRequest:
    """The native structured-output options of `provider`, else prompt instructions.

    A schema the native mode cannot express (`UsageError` from the provider) is asked for with
    instructions too: every answer is validated against it either way.
    """
    native = getattr(provider, "structured_output", None)
    if native is not None:
        try:
            return JsonRequest(options=dict(native(output.schema, output.name).options))
        except UsageError:
            pass
    text = json.dumps(output.schema, ensure_ascii=False, separators=(",", ":"))
    return JsonRequest(
        instructions=(
            "Answer with only a JSON value, no prose and no code fences, that is valid against "
            f"this JSON Schema: {text}"
        )
    )


def with_instructions(messages: Sequence[Message], text: str) -> list[Message]:
    """`messages` with `text` first in the system prompt (a system message added if none)."""
    first = messages[0] if messages else None
    if first is not None and first.role == "system":
        system = Message(role="system", parts=[TextPart(text=text), *first.parts])
        return [system, *messages[1:]]
    return [Message(role="system", parts=[TextPart(text=text)]), *messages]
