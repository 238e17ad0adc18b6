"""The one exception tree of llmframe.

```
LlmframeError
├── UsageError                 bad arguments or configuration
├── InputError                 a problem in the user's data: file, row, column
│   ├── SchemaMismatch         a value of the wrong shape or type
│   ├── MediaPathError         a refused media reference (outside the media root, bad data: URL)
│   ├── TemplateError          a template that is refused or names a missing column
│   └── InvalidInput           several input problems at once (``.problems``)
├── ProviderError              provider, model, attempt
│   ├── ProviderHTTPError      status, retry_after, redacted body excerpt
│   │   ├── RateLimited        429
│   │   └── AuthFailed         401, 403
│   ├── ProviderTransportError connect or read timeout, reset (retryable)
│   ├── UnexpectedResponse     an unparseable body or event; carries that event only
│   └── UnsupportedPart        a part type a wire format cannot carry
└── StoreError                 run-directory and output-file problems
    ├── RunLocked              another process writes the run (names its pid)
    └── RunMismatch            a run made with other settings (``.differences``)
```

The CLI prints an `LlmframeError` as one line per problem, without a traceback, and exits 2.
Class names are part of the data contract: error rows store ``type(exc).__name__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmframe.providers.base import ErrorVerdict

__all__ = [
    "AuthFailed",
    "InputError",
    "InvalidInput",
    "LlmframeError",
    "MediaPathError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTransportError",
    "RateLimited",
    "RunLocked",
    "RunMismatch",
    "SchemaMismatch",
    "StoreError",
    "TemplateError",
    "UnexpectedResponse",
    "UnsupportedPart",
    "UsageError",
]


class LlmframeError(Exception):
    """Base class of every error llmframe raises on purpose."""


class UsageError(LlmframeError):
    """Bad arguments or configuration."""


class InputError(LlmframeError):
    """A problem in the user's input, located by file, row (or line) and column.

    The location is filled in as the error travels up (see `llmframe.io.location`), so the code
    that finds a problem only says what is wrong.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: str | None = None,
        column: str | None = None,
        where: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        self.where = list(where)

    def located(self, *, file: str | None = None, row: str | None = None) -> InputError:
        """Fill in the file and row where they are still unknown; returns self."""
        self.file = self.file or file
        self.row = self.row or row
        return self

    def __str__(self) -> str:
        place = [p for p in (self.file, self.row) if p]
        if self.column:
            place.append(f"column `{self.column}`")
        place.extend(self.where)
        return ": ".join([*place, self.message])


class SchemaMismatch(InputError):
    """A value that does not have the shape or type llmframe expects."""


class MediaPathError(InputError):
    """A media reference that is refused: outside the media root, missing, or malformed."""


class TemplateError(InputError):
    """A template that is refused, or that names a column the input does not have."""


class InvalidInput(InputError):
    """Several input problems found in one pass; each is in `problems`."""

    def __init__(self, problems: Sequence[InputError], *, file: str | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} {noun} found", file=file)

    def __str__(self) -> str:
        lines = [super().__str__()]
        lines.extend(str(p) for p in self.problems)
        return "\n".join(lines)


def raise_problems(problems: Sequence[InputError], file: str) -> None:
    """Raise the problems found in `file`, if any: one as itself, several as `InvalidInput`."""
    if problems:
        for problem in problems:
            problem.located(file=file)
        raise problems[0] if len(problems) == 1 else InvalidInput(problems, file=file)


class ProviderError(LlmframeError):
    """A failure talking to, or speaking the wire format of, a model provider.

    `verdict`, when set, is the provider's classification (retryable, retry_after), so the runner
    can decide on a retry from the exception alone, e.g. for an error event inside a 200 stream.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        verdict: ErrorVerdict | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.verdict = verdict


class ProviderHTTPError(ProviderError):
    """The provider answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        verdict: ErrorVerdict | None = None,
    ) -> None:
        super().__init__(message, provider=provider, verdict=verdict)
        self.status = status
        self.retry_after = retry_after


class RateLimited(ProviderHTTPError):
    """HTTP 429: too many requests or tokens."""


class AuthFailed(ProviderHTTPError):
    """HTTP 401 or 403: the key is missing, wrong or not allowed."""


class ProviderTransportError(ProviderError):
    """The connection failed, was reset, or timed out."""


class UnexpectedResponse(ProviderError):
    """A response body or stream event that does not parse as the wire format says.

    `excerpt` is the offending body or event, truncated: one event, never the whole stream.
    """

    def __init__(
        self, message: str, *, provider: str | None = None, excerpt: str | None = None
    ) -> None:
        super().__init__(message, provider=provider)
        self.excerpt = excerpt


class UnsupportedPart(ProviderError):
    """A part type that a wire format cannot carry; it is never dropped silently."""


class StoreError(LlmframeError):
    """A problem with a run directory or an output file."""


class RunLocked(StoreError):
    """Another process is writing the run directory as the same writer."""


class RunMismatch(StoreError):
    """An existing run was made with other settings; `differences` names each one."""

    def __init__(self, message: str, *, differences: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.differences = list(differences)
