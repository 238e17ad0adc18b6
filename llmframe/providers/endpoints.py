"""Endpoints: where a model name sends its requests, with which wire module and which key.

One wire module serves many endpoints (pydantic-ai's model/provider/profile split): an
OpenAI-compatible server is `openai/<model>` with ``--base-url``; `echo` is the OpenAI wire
answered in process. Keys come from the environment and live only in `ModelTarget.api_key`,
which no repr shows.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmframe.errors import UsageError

if TYPE_CHECKING:
    from llmframe.transports.base import Transport

__all__ = ["ENDPOINTS", "Endpoint", "ModelTarget", "resolve_endpoint", "resolve_model"]


def _echo_transport() -> Transport:
    from llmframe.providers.echo import EchoTransport

    return EchoTransport()


def _llamacpp_transport() -> Transport:
    from llmframe.providers._llamacpp_transport import LlamaCppTransport

    return LlamaCppTransport()


def _llamacpp_model(model: str) -> None:
    from llmframe.providers._llamacpp_model import check_model

    check_model(model)


@dataclass(frozen=True)
class Endpoint:
    """A named place to send requests."""

    name: str
    wire: str
    """The provider module that speaks its wire format."""
    base_url: str
    key_env: str | tuple[str, ...] | None
    """The variable(s) holding the key, the first set one wins."""
    transport: Callable[[], Transport] | None = None
    """A model answered in the process (echo), instead of an HTTP server at `base_url`."""
    check_model: Callable[[str], object] | None = None
    """Refuses a model name the endpoint cannot serve (`UsageError`), before anything runs."""
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    """The key is sent as ``{auth_header}: {auth_prefix}{key}`` (``x-api-key: KEY`` for some)."""


ENDPOINTS: dict[str, Endpoint] = {
    "openai": Endpoint("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openai-responses": Endpoint(
        "openai-responses", "openai_responses", "https://api.openai.com/v1", "OPENAI_API_KEY"
    ),
    "anthropic": Endpoint(
        "anthropic",
        "anthropic",
        "https://api.anthropic.com/v1",
        "ANTHROPIC_API_KEY",
        auth_header="x-api-key",
        auth_prefix="",
    ),
    "gemini": Endpoint(
        "gemini",
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        auth_header="x-goog-api-key",
        auth_prefix="",
    ),
    "ollama": Endpoint("ollama", "ollama", "http://127.0.0.1:11434", None),
    "llamacpp": Endpoint(
        "llamacpp",
        "llamacpp",
        "in-process://llamacpp",
        None,
        transport=_llamacpp_transport,
        check_model=_llamacpp_model,
    ),
    "echo": Endpoint("echo", "openai", "http://echo.invalid/v1", None, _echo_transport),
}


@dataclass(frozen=True)
class ModelTarget:
    """One model to run: the label as the user wrote it, its endpoint and credentials."""

    label: str
    endpoint: Endpoint
    model: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Extra headers from ``--header`` (they may carry credentials, so no repr shows them)."""

    def auth_headers(self) -> dict[str, str]:
        """``--header`` values and the key, added by the runner last; never stored or logged."""
        extra = dict(self.headers)
        if not self.api_key:
            return extra
        return {**extra, self.endpoint.auth_header: f"{self.endpoint.auth_prefix}{self.api_key}"}


def resolve_endpoint(name: str) -> Endpoint | None:
    """A built-in endpoint, or one built from a registered plugin's attributes."""
    from llmframe.providers import get_provider, plugin_names

    if name in ENDPOINTS:
        return ENDPOINTS[name]
    if name not in plugin_names():
        return None
    provider = get_provider(name)
    return Endpoint(
        name,
        name,
        getattr(provider, "default_base_url", "http://127.0.0.1"),
        getattr(provider, "key_env", None),
        auth_header=getattr(provider, "auth_header", "Authorization"),
        auth_prefix=getattr(provider, "auth_prefix", "Bearer "),
    )


def _as_names(key_env: str | tuple[str, ...] | None) -> list[str]:
    if key_env is None:
        return []
    return [key_env] if isinstance(key_env, str) else list(key_env)


_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)?")
"""What HTTP/1.1 lets a header carry (RFC 9110 tokens; visible ASCII, inner spaces and tabs)."""
_UNSENDABLE = "holds a line break, a control or a non-ASCII character, which no header can carry"


def _check_headers(headers: Mapping[str, str]) -> None:
    """Refuse ``--header`` names and values that cannot be sent, never echoing a value.

    httpx would refuse them at the first request, with the value (maybe a key) in its message.
    """
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            msg = f"`--header` name `{name}` is not a valid HTTP header name"
            raise UsageError(msg)
        if not _HEADER_VALUE.fullmatch(value):
            msg = f"`--header` `{name}`: the value {_UNSENDABLE} (the value is not shown)"
            raise UsageError(msg)


def _key(environ: Mapping[str, str], names: list[str], endpoint: Endpoint) -> str | None:
    """The key in the first set variable of `names`, without surrounding whitespace.

    A key read from a file often ends in a line break; one that still cannot be sent in a header
    is refused here, since httpx's own error would carry the key into the run's error rows.
    """
    found = next((n for n in names if environ.get(n)), None)
    if found is None:
        return None
    key = environ[found].strip()
    if not key:
        msg = f"the API key in `{found}` is blank"
        raise UsageError(msg)
    if not _HEADER_VALUE.fullmatch(endpoint.auth_prefix + key):
        msg = f"the API key in `{found}` {_UNSENDABLE} (the key is not shown)"
        raise UsageError(msg)
    return key


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_model(
    label: str,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ModelTarget:
    """Turn ``provider/model`` (or ``echo``) into a `ModelTarget`, or raise `UsageError`."""
    name, _, model = label.partition("/")
    endpoint = resolve_endpoint(name)
    if endpoint is None or (not model and name != "echo"):
        from llmframe.providers import plugin_names

        names = [n for n in ENDPOINTS if n != "echo"] + plugin_names()
        known = ", ".join(f"`{n}/MODEL`" for n in names)
        msg = f"unknown model `{label}`; use {known} or `echo`"
        raise UsageError(msg)
    url = base_url or endpoint.base_url
    _check_headers(headers or {})
    if endpoint.check_model is not None:
        endpoint.check_model(model)
    if endpoint.transport is not None:
        return ModelTarget(label, endpoint, model or "echo", endpoint.base_url, None, headers or {})
    names = [api_key_env] if api_key_env else _as_names(endpoint.key_env)
    api_key = _key(environ, names, endpoint)
    given = {name.lower() for name in headers or {}}
    if (
        not api_key
        and names
        and not _is_loopback(url)
        and endpoint.auth_header.lower() not in given
    ):
        if api_key_env:  # not echoed: a key given by mistake as the variable's name would show
            msg = f"no API key for `{label}`: the variable named by `--api-key-env` is not set"
        else:
            wanted = "` or `".join(names)
            msg = f"no API key for `{label}`: set `{wanted}` (or name another with `--api-key-env`)"
        raise UsageError(msg)
    return ModelTarget(label, endpoint, model, url.rstrip("/"), api_key or None, headers or {})
