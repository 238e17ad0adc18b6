"""The manifest: what makes two runs the same, stored as ``RUN/manifest.json``.

A run may be resumed by a command with the same input fingerprint, options, base URL, schema,
tools and media root. Models may differ: a new model is added to the run, and a command naming
fewer models resumes only those. The llmframe version and creation time are informative.
Nothing secret is stored: option keys that name credentials and URLs with a user or password
are refused.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from llmframe import _json
from llmframe.errors import StoreError, UsageError

__all__ = ["FORMAT", "Manifest", "differences", "secret_keys"]

FORMAT = 2
"""2: responses and parts have ``step`` (and responses ``final``): tool-calling chains."""
"""The run-directory format this code reads and writes."""

_SECRET_KEYS = frozenset(
    {"api_key", "apikey", "api-key", "authorization", "x-api-key", "password", "secret", "token"}
)
_SECRET_SUFFIXES = (
    "_api_key",
    "-api-key",
    "_secret",
    "_password",
    "_token_secret",
    "access_token",
    "auth_token",
    "bearer_token",
    "refresh_token",
    "session_token",
    "id_token",
)


def _version() -> str:
    from llmframe import __version__

    return __version__


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Manifest:
    """The settings of a run; `options`, `schema` and `tools` are JSON-ready values."""

    models: tuple[str, ...]
    options: Mapping[str, Any]
    input_fingerprint: str
    media_root: str | None = None
    llmframe_version: str = field(default_factory=_version)
    created_at: str = field(default_factory=_now)
    base_url: str | None = None
    schema: Any = None
    tools: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        _check_secrets(self)

    def to_json(self) -> str:
        """The manifest as JSON text (with the format number)."""
        body = {"format": FORMAT}
        for item in fields(self):
            value = getattr(self, item.name)
            body[item.name] = list(value) if item.name == "models" else value
        try:
            return json.dumps(body, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            msg = f"manifest is not JSON-ready: {exc}"
            raise UsageError(msg) from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "manifest.json") -> Manifest:
        """Read a manifest written by `to_json`."""
        try:
            body = _json.loads(text)
        except ValueError as exc:
            msg = f"`{source}` is not valid JSON: {exc}"
            raise StoreError(msg) from None
        if not isinstance(body, dict):
            msg = f"`{source}` is not a JSON object"
            raise StoreError(msg)
        version = body.pop("format", None)
        if version != FORMAT:
            msg = (
                f"`{source}` has run format {version!r}; this llmframe reads format {FORMAT}. "
                "Hint: the run was made by another llmframe version; run again into a new folder"
            )
            raise StoreError(msg)
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(body) - known)
        missing = sorted(k for k in ("models", "options", "input_fingerprint") if k not in body)
        if unknown or missing:
            problems = [f"unknown field(s) {', '.join(unknown)}"] if unknown else []
            problems += [f"missing field(s) {', '.join(missing)}"] if missing else []
            msg = f"`{source}` is not an llmframe manifest: {'; '.join(problems)}"
            raise StoreError(msg)
        return cls(**body)

    def with_models(self, models: tuple[str, ...]) -> Manifest:
        """The same manifest naming `models` after its own (no repeats)."""
        merged = tuple(dict.fromkeys((*self.models, *models)))
        return self if merged == self.models else replace(self, models=merged)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: tuples equal lists, key order does not matter, 1 differs from 1.0."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _short(value: Any) -> str:
    text = "absent" if value is None else _json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _option_differences(run: Any, now: Any, path: str, what: str = "option") -> list[str]:
    if isinstance(run, Mapping) and isinstance(now, Mapping):
        found = []
        for key in sorted(set(run) | set(now)):
            where = f"{path}.{key}" if path else str(key)
            found += _option_differences(run.get(key), now.get(key), where, what)
        return found
    if _same(run, now):
        return []
    return [f"{what} `{path}`: {_short(run)} in the run, {_short(now)} now"]


def differences(run: Manifest, now: Manifest) -> list[str]:
    """What differs between a run's manifest and a new command's, one line each.

    Models, version and creation time are not compared.
    """
    found = []
    if run.input_fingerprint != now.input_fingerprint:
        found.append(
            f"input: fingerprint {run.input_fingerprint} in the run, {now.input_fingerprint} now"
        )
    found += _option_differences(dict(run.options), dict(now.options), "")
    for name in ("base_url", "media_root", "schema", "tools"):
        before, after = getattr(run, name), getattr(now, name)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            found += _option_differences(before, after, "", name)
        elif not _same(before, after):
            found.append(f"{name}: {_short(before)} in the run, {_short(after)} now")
    return found


def secret_keys(value: Any, path: str = "") -> list[str]:
    """The paths of keys in `value` (options, at any depth) whose names say credentials."""
    found = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            lowered = str(key).lower()
            if lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES):
                found.append(where)
            found += secret_keys(item, where)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += secret_keys(item, f"{path}[{index}]")
    return found


def _check_secrets(manifest: Manifest) -> None:
    keys = secret_keys(manifest.options, "")
    if keys:
        names = ", ".join(f"`{k}`" for k in keys)
        msg = (
            f"refusing to store credentials in a run: option(s) {names}\n"
            "Hint: pass keys through the environment, never as options."
        )
        raise UsageError(msg)
    if manifest.base_url:
        parts = urlsplit(manifest.base_url)
        if parts.username or parts.password:
            msg = "refusing to store credentials in a run: `base_url` has a user or password"
            raise UsageError(msg)
