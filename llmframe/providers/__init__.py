"""Model providers: one sans-I/O module per wire API, and the registry that names them.

`get_provider` imports a provider's module only when it is asked for, so importing llmframe stays
cheap. Third-party providers register in the ``llmframe.providers`` entry-point group: the entry
point's name is the model prefix (``myprovider/MODEL``) and it loads a factory (or class) that
returns an object satisfying `llmframe.providers.base.Provider`, with optional attributes
``default_base_url``, ``key_env``, ``auth_header`` and ``auth_prefix`` for its endpoint.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

from llmframe.errors import UsageError

if TYPE_CHECKING:
    from llmframe.providers.base import Provider

__all__ = ["ENTRY_POINT_GROUP", "get_provider", "plugin_names", "provider_names"]

ENTRY_POINT_GROUP = "llmframe.providers"

_BUILTIN: dict[str, str] = {
    # name: "module:factory", the factory called with no arguments.
    "openai": "llmframe.providers.openai:OpenAIChat",
    "openai_responses": "llmframe.providers.openai_responses:OpenAIResponses",
    "anthropic": "llmframe.providers.anthropic:Anthropic",
    "gemini": "llmframe.providers.gemini:Gemini",
    "ollama": "llmframe.providers.ollama:Ollama",
    "llamacpp": "llmframe.providers.llamacpp:LlamaCpp",
}


def _plugins() -> dict[str, importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return {entry.name: entry for entry in found if entry.name not in _BUILTIN}


def plugin_names() -> list[str]:
    """Providers registered by installed packages, sorted."""
    return sorted(_plugins())


def provider_names() -> list[str]:
    """The names `get_provider` knows (built in and registered), sorted."""
    return sorted({*_BUILTIN, *_plugins()})


def get_provider(name: str) -> Provider:
    """The provider called `name`; `UsageError` for an unknown name or a broken plugin."""
    target = _BUILTIN.get(name)
    if target is not None:
        module, _, factory = target.partition(":")
        provider: Provider = getattr(importlib.import_module(module), factory)()
        return provider
    entry = _plugins().get(name)
    if entry is None:
        known = ", ".join(provider_names())
        msg = f"unknown provider `{name}`; known providers: {known}"
        raise UsageError(msg)
    try:
        factory = entry.load()
        provider = factory()
    except Exception as exc:  # a third party's code: report it as unusable, with its words
        msg = f"provider plugin `{name}` ({entry.value}) failed to load: {exc}"
        raise UsageError(msg) from exc
    return provider
