"""Model providers: one sans-I/O module per wire API, and the registry that names them.

`get_provider` imports a provider's module only when it is asked for, so importing llmframe stays
cheap. Entry points for third-party providers come later; the built-in names are listed here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from llmframe.errors import UsageError

if TYPE_CHECKING:
    from llmframe.providers.base import Provider

__all__ = ["get_provider", "provider_names"]

_BUILTIN: dict[str, str] = {
    # name: "module:factory", the factory called with no arguments.
    "openai": "llmframe.providers.openai:OpenAIChat",
    "openai_responses": "llmframe.providers.openai_responses:OpenAIResponses",
    "anthropic": "llmframe.providers.anthropic:Anthropic",
    "gemini": "llmframe.providers.gemini:Gemini",
    "ollama": "llmframe.providers.ollama:Ollama",
}


def provider_names() -> list[str]:
    """The names `get_provider` knows, sorted."""
    return sorted(_BUILTIN)


def get_provider(name: str) -> Provider:
    """The built-in provider called `name`; `UsageError` for an unknown name."""
    target = _BUILTIN.get(name)
    if target is None:
        known = ", ".join(provider_names())
        msg = f"unknown provider `{name}`; known providers: {known}"
        raise UsageError(msg)
    module, _, factory = target.partition(":")
    provider: Provider = getattr(importlib.import_module(module), factory)()
    return provider
