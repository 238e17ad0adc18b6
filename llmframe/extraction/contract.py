"""What a run asks of each answer when it has an output schema, and how to ask each provider.

An `OutputSchema` rides on a run (``llmframe extract``, ``run --schema``). For each provider the
runner asks `ask_for_json`: a provider with a native structured-output mode
(`llmframe.providers.base.StructuredOutputs`) gives request options to merge into the user's;
any other gets the schema as instructions at the top of the system prompt, and its answer is
parsed tolerantly (`llmframe.extraction.answer`).

A server may refuse the native form: llama-cpp-python's OpenAI-compatible server answers
``response_format: {"type": "json_schema"}`` with HTTP 500 (its request validation, reported as
a server error). So each `JsonRequest` carries its `fallback`, the next way to ask: a provider's
lesser forms (``structured_output_fallbacks``: OpenAI-compatible servers' ``json_object`` with a
``schema``), then the instructions. A failure is a refusal of the form (`JsonRequest.refused`)
when it is an HTTP error that names one of the options the form sets; the runner then asks the
next way, for that model from then on, and says so in a note (`JsonRequest.refusal_note`).
Every answer is validated against the schema whichever way it was asked for.
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

_NOT_REFUSALS = (408, 409, 429)
"""Statuses that say "not now" (timeout, conflict, rate limit), whatever their text."""
_QUOTED = 200
"""Characters of a server's refusal quoted in a note."""


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
    """How to ask one provider for JSON: `options` to merge, or `instructions` to prepend.

    `fallback` is the next way to ask when a server refuses this one (`refused`).
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    instructions: str | None = None
    fallback: JsonRequest | None = None

    def apply(
        self, messages: Sequence[Message], options: Mapping[str, Any]
    ) -> tuple[list[Message], dict[str, Any]]:
        """The conversation and options of a request that asks for JSON this way."""
        if self.instructions is not None:
            messages = with_instructions(messages, self.instructions)
        return list(messages), merge_options(options, self.options, set_by="the output schema")

    @property
    def form(self) -> str:
        """The way of asking, in words: ``response_format`` ``json_schema``, or instructions."""
        if not self.options:
            return "the schema as instructions in the system prompt"
        return " and ".join(_option_words(key, value) for key, value in self.options.items())

    def refused(self, http_status: int | None, message: str) -> bool:
        """Whether a failed request was the server refusing this way of asking.

        An HTTP error (not a timeout, conflict or rate limit) whose message names an option
        this form sets: a server that cannot take ``response_format`` as sent says so, with 400,
        422 or, llama-cpp-python's server, 500. The instructions form sets none: never refused.
        """
        if http_status is None or http_status < 400 or http_status in _NOT_REFUSALS:
            return False
        return any(key in message for key in self.options)

    def refusal_note(self, model: str, http_status: int | None, message: str) -> str:
        """What to tell the user when a server refused this form and `fallback` is asked next."""
        quoted = " ".join(message.split())
        quoted = quoted[:_QUOTED] + ("…" if len(quoted) > _QUOTED else "")
        status = f"HTTP {http_status}" if http_status is not None else "an error"
        then = self.fallback.form if self.fallback is not None else "nothing else"
        return f"`{model}`: the server refused {self.form} ({status}: {quoted}); asked with {then}"


def _option_words(key: str, value: Any) -> str:
    kind = value.get("type") if isinstance(value, Mapping) else None
    words = f"`{key}` `{kind}`" if isinstance(kind, str) else f"`{key}`"
    if isinstance(value, Mapping) and kind is not None and "schema" in value:
        words += " with `schema`"
    return words


def schema_name(schema: Mapping[str, Any], default: str = "extraction") -> str:
    """The schema's ``title`` made into an API-safe name, else `default`."""
    title = schema.get("title")
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:64] if isinstance(title, str) else ""
    return name or default


def _native_forms(provider: Provider, output: OutputSchema) -> list[Mapping[str, Any]]:
    """The options of each native form `provider` offers for `output`, best first, no repeats.

    ``structured_output`` gives the best; the optional ``structured_output_fallbacks`` the lesser
    forms a server that refuses it may take. A form the provider cannot make for this schema
    (`UsageError`) is left out.
    """
    forms: list[Mapping[str, Any]] = []
    for method in ("structured_output", "structured_output_fallbacks"):
        make = getattr(provider, method, None)
        if make is None:
            continue
        try:
            made = make(output.schema, output.name)
        except UsageError:
            continue
        for structured in [made] if method == "structured_output" else made:
            options = dict(structured.options)
            if options not in forms:
                forms.append(options)
    return forms


def ask_for_json(provider: Provider, output: OutputSchema) -> JsonRequest:
    """The native structured-output options of `provider`, else prompt instructions.

    The result's `JsonRequest.fallback` chain goes through the provider's lesser native forms
    to the instructions. A schema the native mode cannot express (`UsageError` from the
    provider) is asked for with instructions too: every answer is validated against it either
    way.
    """
    text = json.dumps(output.schema, ensure_ascii=False, separators=(",", ":"))
    asking = JsonRequest(
        instructions=(
            "Answer with only a JSON value, no prose and no code fences, that is valid against "
            f"this JSON Schema: {text}"
        )
    )
    for options in reversed(_native_forms(provider, output)):
        asking = JsonRequest(options=options, fallback=asking)
    return asking


def with_instructions(messages: Sequence[Message], text: str) -> list[Message]:
    """`messages` with `text` first in the system prompt (a system message added if none)."""
    first = messages[0] if messages else None
    if first is not None and first.role == "system":
        system = Message(role="system", parts=[TextPart(text=text), *first.parts])
        return [system, *messages[1:]]
    return [Message(role="system", parts=[TextPart(text=text)]), *messages]
