"""Reading JSON off the wire: the `UnexpectedResponse` a provider raises for what it cannot read.

Each provider binds these to its name once (``_WIRE = Wire("openai")``), so the messages
("got a stream event that is not JSON: ...", "`usage` in the response is not an object: ...")
and the redacted excerpt they carry read the same for every wire API.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from llmframe import _json
from llmframe.errors import UnexpectedResponse
from llmframe.providers import _http

__all__ = ["Wire", "error_body", "in_band_status"]

_IN_BAND_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "api_error": 500,
    "overloaded_error": 503,
}


@dataclass(frozen=True)
class Wire:
    """The shape errors of one provider, `provider` being the name they carry."""

    provider: str

    def junk(self, text: str | bytes, what: str) -> UnexpectedResponse:
        """`UnexpectedResponse` for `what`, carrying an excerpt of this one body or event.

        `what` may quote the event (its name, its ``type``), so it is redacted and cut too.
        """
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        excerpt = _http.excerpt(text)
        return UnexpectedResponse(
            f"got {_http.excerpt(what)}: {excerpt!r}", provider=self.provider, excerpt=excerpt
        )

    def json_object(self, text: str | bytes, what: str) -> dict[str, Any]:
        """`text` parsed as a JSON object, else `junk` naming `what`."""
        try:
            payload = _loads(text)
        except ValueError:
            raise self.junk(text, f"a {what} that is not JSON") from None
        if not isinstance(payload, dict):
            raise self.junk(text, f"a {what} that is not a JSON object")
        return payload

    def shape_error(self, value: Any, what: str, key: str, expected: str) -> UnexpectedResponse:
        """`key` of the `what` is `value`, which is not `expected`."""
        excerpt = _http.excerpt(_json.dumps(value))
        msg = f"`{key}` in the {what} is not {expected}: {excerpt}"
        return UnexpectedResponse(msg, provider=self.provider, excerpt=excerpt)

    def unsupported(self, value: Any, what: str) -> UnexpectedResponse:
        """`what` (holding `value`) is something llmframe cannot store yet."""
        excerpt = _http.excerpt(_json.dumps(value))
        msg = f"{what} is not supported by llmframe yet: {excerpt}"
        return UnexpectedResponse(msg, provider=self.provider, excerpt=excerpt)

    def refuse_unread(self, obj: Mapping[str, Any], known: Set[str], where: str) -> None:
        """Raise `unsupported` for a non-empty key of `obj` outside `known`: nothing is dropped."""
        for key, value in obj.items():
            if key not in known and value not in (None, "", [], {}):
                raise self.unsupported(value, f"`{key}` in {where}")

    def optional_str(self, obj: Mapping[str, Any], key: str, what: str) -> str | None:
        """``obj[key]`` when it is a string or absent (None), else `shape_error`."""
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise self.shape_error(value, what, key, "a string")
        return value

    def optional_int(self, obj: Mapping[str, Any], key: str, what: str) -> int | None:
        """``obj[key]`` when it is an integer (not a bool) or absent (None), else `shape_error`."""
        value = obj.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.shape_error(value, what, key, "an integer")
        return value


def error_body(body: bytes) -> tuple[str, Any]:
    """An error response's `body` as text and as JSON (None where it is not JSON)."""
    text = body.decode("utf-8", errors="replace")
    try:
        return text, _loads(text)
    except ValueError:
        return text, None


def _loads(text: str | bytes) -> Any:
    """`_json.loads` for text off the wire, JSON nested too deeply refused as `ValueError`.

    Python's parser raises `RecursionError` there, which escaped every parser's error handling:
    a server answering ``[[[[...`` killed the runner's worker (tests/test_suite_fuzz.py).
    """
    try:
        return _json.loads(text)
    except RecursionError:
        msg = "JSON nested too deeply to parse"
        raise ValueError(msg) from None


def in_band_status(error: Any) -> int:
    """The HTTP status an OpenAI-style error object inside a 200 response stands for.

    A numeric ``code`` (400-599, also as a string) wins; else a known ``code`` or ``type`` word;
    else 500.
    """
    if not isinstance(error, Mapping):
        return 500
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    words = (error.get("code"), error.get("type"))
    return next(
        (_IN_BAND_STATUS[w] for w in words if isinstance(w, str) and w in _IN_BAND_STATUS), 500
    )
