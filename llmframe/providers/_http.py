"""What every provider needs to classify an HTTP error: statuses, Retry-After, redaction.

The rules that do not depend on a wire format live here, so each provider's `classify_error` only
reads its own error body: 408, 409, 429 and 5xx are worth a retry, other statuses are not; 429 is
`RateLimited` and 401/403 `AuthFailed`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from llmframe.errors import AuthFailed, ProviderHTTPError, RateLimited
from llmframe.providers.base import ErrorVerdict

__all__ = [
    "error_from_verdict",
    "error_type",
    "excerpt",
    "header",
    "in_band_error",
    "redact",
    "retry_after",
    "retryable_status",
]

_ERROR_CLASSES: dict[str, type[ProviderHTTPError]] = {
    cls.__name__: cls for cls in (ProviderHTTPError, RateLimited, AuthFailed)
}
_SECRET = re.compile(
    r"(?P<key>\b(?:sk-|sk_|gsk_|xai-|AIza))[A-Za-z0-9_\-]{6,}"
    r"|(?P<bearer>\bBearer\s+)[A-Za-z0-9._~+/\-]{6,}=*"
)


def retryable_status(status: int) -> bool:
    """Whether a request that got `status` may succeed if sent again."""
    return status in (408, 409, 429) or 500 <= status <= 599


def error_type(status: int) -> str:
    """The `llmframe.errors` class name for an HTTP error status."""
    if status == 429:
        return RateLimited.__name__
    if status in (401, 403):
        return AuthFailed.__name__
    return ProviderHTTPError.__name__


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, looked up case-insensitively."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = header(headers, "retry-after-ms")
    if millis is not None and (value := _seconds(millis.strip())) is not None:
        return value / 1000
    raw = header(headers, "retry-after")
    if raw is None:
        return None
    if (value := _seconds(raw.strip())) is not None:
        return value
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def redact(text: str) -> str:
    """`text` with anything that looks like an API key or bearer token masked."""
    return _SECRET.sub(lambda m: f"{m['key'] or m['bearer']}***", text)


def excerpt(text: str, limit: int = 200) -> str:
    """The first `limit` characters of `text`, redacted (before cutting), marked when cut."""
    text = redact(text)
    return text[:limit] + ("…" if len(text) > limit else "")


def error_from_verdict(
    verdict: ErrorVerdict, *, provider: str, status: int | None = None
) -> ProviderHTTPError:
    """The exception that `verdict` names, carrying the verdict for the runner."""
    cls = _ERROR_CLASSES.get(verdict.error_type, ProviderHTTPError)
    return cls(
        verdict.message,
        provider=provider,
        status=status,
        retry_after=verdict.retry_after,
        verdict=verdict,
    )


def in_band_error(
    verdict: ErrorVerdict,
    *,
    provider: str,
    status: int | None = None,
    where: str = "error inside a 200 response",
) -> ProviderHTTPError:
    """`error_from_verdict` for an error reported inside a 200 response, its message saying so."""
    verdict = dataclasses.replace(verdict, message=f"{where}: {verdict.message}")
    return error_from_verdict(verdict, provider=provider, status=status)
