"""The built-in offline model ``echo``: an OpenAI Chat Completions server inside the process.

`EchoTransport` is an `httpx.AsyncBaseTransport` that answers ``POST .../chat/completions`` (any
base URL; `BASE_URL` by convention) with no key and no network, in the OpenAI wire format, so the
runner's path through HTTP, SSE and the OpenAI parser is the same as for a real server. The pure
functions `echo_completion` and `echo_chunks` (request body -> response body / stream chunks) are
also what the test suite's loopback server answers with.

The answer, deterministic for a given request body:

- **Text.** ``"echo: " + TEXT``, where TEXT is the last user message rendered as its text parts
  and a ``[image]``, ``[audio]``, ``[video]`` or ``[document]`` marker per media part, joined by
  single spaces. When the conversation ends in tool messages, TEXT is those tool results instead,
  so a tool loop's final answer shows what the tools returned.
- **Tool call.** When the request has ``tools``, the last message is from the user and
  ``tool_choice`` is not ``"none"``: one call of the first tool (or the one ``tool_choice``
  names), its arguments the tool's ``parameters`` filled in as for JSON below, from the last
  message's text; ``finish_reason`` is ``tool_calls``.
- **JSON.** With ``response_format`` ``json_schema``, the content is compact JSON valid against
  the schema (Draft 2020-12, formats checked) whose values are derived from TEXT, for offline
  demos of extraction. Each choice is a BLAKE2b hash of TEXT and the value's path (``/topics/0``)
  taken modulo the number of options, so the same TEXT gives the same JSON in every process and
  different texts give different values:

  - *object*: every listed property, required or not, in schema order, plus any ``required``
    name not listed (unless ``additionalProperties`` is false); nothing else.
  - *string*: a snippet of TEXT: all of it when it has at most 8 words, else 3 to 8 consecutive
    words, joined by single spaces; padded with TEXT or cut (then stripped) to
    ``minLength``/``maxLength``. ``format`` ``date`` gives a day in 2020-2025 (``2024-03-17``),
    ``date-time`` that day and a time in UTC (``2024-03-17T09:41:05Z``), ``time``
    ``09:41:05Z``, ``email`` ``word.word@example.com``, ``uri`` (and ``iri``, ``*-reference``)
    ``https://example.com/word-word`` (words of TEXT in ASCII), ``uuid`` a version-4 UUID;
    lengths are not applied to formats.
  - *integer*: within ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, default
    0 to 100 (a lone bound outside it gets a 100-wide range beside it), and a multiple of
    ``multipleOf``.
  - *number*: a float likewise, default 0 to 1, rounded to 2 decimals (more in a range narrower
    than 1), such as 0.73; with ``multipleOf``, a multiple that passes jsonschema's float test.
  - *boolean*: true or false. ``enum``: one of the values (null only when it is the only one);
    ``const``: its value.
  - *array*: 1 to 3 distinct items, the count clamped to ``minItems``/``maxItems``
    (``prefixItems`` in full). Items of plain strings are distinct words of TEXT (words of 5+
    letters when there are any), so ``topics list[str]`` reads as words of the review, with no
    more items than words unless ``minItems`` asks; ``enum`` items are distinct values.
    ``uniqueItems`` holds whenever the item schema has enough distinct values.
  - *nullable*: ``["T", "null"]``, ``anyOf``/``oneOf`` with a null branch (OpenAI strict
    schemas' optional properties) give the non-null value; otherwise ``anyOf``/``oneOf`` take
    their first branch, ``allOf`` its branches merged. Without ``type``, ``properties`` or
    ``required`` mean an object, ``items`` an array, bounds a number; a bare schema is a string.
  - *references*: local references (``#/$defs/Name``) are followed, sibling keywords laid over the
    target. A reference already being expanded (recursion) is filled minimally: required
    properties only, the null branch, ``minItems`` items; past 8 nested references, null.

  Not honoured, so the answer may then be invalid: ``pattern`` and ``patternProperties``
  (no regex inversion), ``contains``, ``minProperties``/``maxProperties``, ``not``,
  ``if``/``then``/``else``, ``dependent*``, remote ``$ref``, and contradictory or unsatisfiable
  bounds. ``json_object`` gives ``{"echo": TEXT}``.
- **Length.** ``max_completion_tokens`` (or ``max_tokens``) keeps the first N words of a text or
  JSON answer and sets ``finish_reason`` ``length``; a cut JSON answer is usually not valid
  JSON, as with a real model.

Tokens are words: ``len(text.split())``. ``prompt_tokens`` is the sum over messages of 1 plus
the words of the rendered message (its text as above, plus tool calls' names and arguments);
tools and schemas are not counted. ``completion_tokens`` is the words of the content, or of the
tool call's arguments JSON.

Streaming sends a role chunk, one chunk per word of content (or 8-character fragments of the
arguments), a finish chunk, a usage chunk when ``stream_options.include_usage``, then
``[DONE]``. The extra body key ``latency_ms`` simulates latency: half of it before the first
chunk (so time to first token is visible), the rest spread over the others; a non-streamed
answer waits all of it. The read timeout of the httpx request applies to these waits. ``id`` is
``echo-`` plus a hash of the request, ``created`` is 0 and ``model`` is the model asked for.
Echo injects no faults: a malformed request gets a 400 like a real server's.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import math
import re
import sys
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import httpx

__all__ = [
    "BASE_URL",
    "DONE",
    "EchoError",
    "EchoTransport",
    "chunk_delays",
    "count_tokens",
    "echo_chunks",
    "echo_completion",
    "error_body",
    "latency_seconds",
    "prompt_text",
    "prompt_tokens",
    "sse_event",
]

BASE_URL = "http://echo.invalid/v1"
"""The base URL the echo model is reached at; the host is never resolved."""

DONE = b"data: [DONE]\n\n"
"""The event that ends an OpenAI stream."""

_NOT_HASHED = ("stream", "stream_options", "latency_ms")
_MEDIA = {
    "image_url": "[image]",
    "input_audio": "[audio]",
    "file": "[document]",
    "video_url": "[video]",
}
_ARGUMENT_FRAGMENT = 8
_MAX_REF_DEPTH = 8
_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")
_TERM_LETTERS = 5  # words this long make array items; shorter ones only when there are none
_SNIPPET_WORDS = 8  # a text this short is a string value whole; a longer one gives 3 to 8 words
_SNIPPET_MIN = 3
_EPOCH = datetime.date(2020, 1, 1)
_DAYS = 6 * 365
_EXTRA_TRIES = 8
_NOT_PLAIN = {"enum", "const", "format", "anyOf", "oneOf", "allOf"}
_INFERRED = (
    ("properties", "object"),
    ("required", "object"),
    ("additionalProperties", "object"),
    ("items", "array"),
    ("prefixItems", "array"),
    ("minimum", "number"),
    ("maximum", "number"),
    ("exclusiveMinimum", "number"),
    ("exclusiveMaximum", "number"),
    ("multipleOf", "number"),
)
_PIECE = re.compile(r"\s*\S+|\s+$")


class EchoError(ValueError):
    """A request echo refuses, as a real server would with a 400."""


@dataclass(frozen=True)
class _Answer:
    response_id: str
    model: str
    content: str | None
    tool_call: tuple[str, str] | None  # (name, arguments JSON)
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def count_tokens(text: str) -> int:
    """Echo's token estimate: whitespace-separated words."""
    return len(text.split())


def error_body(
    message: str, *, type_: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def sse_event(chunk: Mapping[str, Any]) -> bytes:
    """One chunk as a server-sent event."""
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def _render_content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        msg = "message `content` must be a string, null or a list of parts"
        raise EchoError(msg)
    pieces = []
    for part in content:
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            msg = "each content part must be an object with a `type`"
            raise EchoError(msg)
        kind = part["type"]
        if kind in ("text", "refusal"):
            pieces.append(str(part.get(kind, "")))
        else:
            pieces.append(_MEDIA.get(kind, f"[{kind}]"))
    return " ".join(pieces)


def _render(message: Mapping[str, Any]) -> str:
    pieces = [_render_content(message.get("content"))]
    for call in message.get("tool_calls") or []:
        function = call.get("function", {}) if isinstance(call, Mapping) else {}
        pieces += [str(function.get("name", "")), str(function.get("arguments", ""))]
    return " ".join(pieces)


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        msg = "`messages` must be a non-empty list"
        raise EchoError(msg)
    for message in messages:
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            msg = "each message must be an object with a `role`"
            raise EchoError(msg)
    return messages


def prompt_text(body: Mapping[str, Any]) -> str:
    """The text echo answers: trailing tool results, else the last user message, rendered."""
    messages = _messages(body)
    tail: list[str] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        tail.append(_render(message))
    if tail:
        return " ".join(reversed(tail))
    users = [m for m in messages if m["role"] == "user"]
    return _render(users[-1]) if users else ""


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Echo's prompt token count: per message, 1 plus the words of the rendered message."""
    return sum(1 + count_tokens(_render(m)) for m in _messages(body))


def latency_seconds(body: Mapping[str, Any]) -> float:
    """The simulated latency the body asks for (``latency_ms``), in seconds."""
    latency = body.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not latency >= 0:
        msg = "`latency_ms` must be a non-negative number"
        raise EchoError(msg)
    return latency / 1000


def chunk_delays(latency: float, n_chunks: int) -> list[float]:
    """Seconds to wait before each of `n_chunks`: half before the first, the rest spread evenly."""
    if n_chunks <= 1:
        return [latency] * n_chunks
    rest = latency / 2 / (n_chunks - 1)
    return [latency / 2] + [rest] * (n_chunks - 1)


def _resolve(ref: str, root: Any) -> Any:
    """The target of a local JSON pointer ``$ref`` (``#/$defs/Name``), or ``{}``."""
    target = root
    for key in ref.removeprefix("#").strip("/").split("/") if ref.strip("#/") else []:
        key = key.replace("~1", "/").replace("~0", "~")
        target = target.get(key, {}) if isinstance(target, Mapping) else {}
    return target


def _number_or_none(value: Any) -> int | float | None:
    """`value` if it is a finite JSON number (not a bool), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value if abs(value) <= sys.float_info.max else None
    return None


def _size(value: Any, default: int | None) -> int | None:
    """A ``minLength``-style count: a non-negative int, else `default`."""
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def _bounds(schema: Mapping[str, Any]) -> tuple[Any, bool, Any, bool]:
    """(low, low is exclusive, high, high is exclusive); a missing bound is None."""
    low, high = _number_or_none(schema.get("minimum")), _number_or_none(schema.get("maximum"))
    low_open = high_open = False
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if above is True or below is True:  # draft 4: booleans qualifying minimum/maximum
        low_open, high_open = above is True and low is not None, below is True and high is not None
    if (bound := _number_or_none(above)) is not None and (low is None or bound >= low):
        low, low_open = bound, True
    if (bound := _number_or_none(below)) is not None and (high is None or bound <= high):
        high, high_open = bound, True
    return low, low_open, high, high_open


def _default_range(low: Any, high: Any, span: int) -> tuple[Any, Any]:
    """Bounds for an unbounded side: ``0..span`` unless the schema's bound lies outside it."""
    if low is None:
        low = 0 if high is None or high > 0 else high - span
    if high is None:
        high = span if low < span else low + span
    return low, high


def _is_multiple(value: float, step: Any) -> bool:
    """`value` is a multiple of `step` by jsonschema's own test (a float quotient is integral)."""
    if isinstance(step, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % step == 0


def _on_grid(
    schema: Mapping[str, Any], pick: Callable[[int], int], *, integer: bool
) -> int | float | None:
    """A multiple of ``multipleOf`` within the bounds, or None without a usable ``multipleOf``."""
    raw = _number_or_none(schema.get("multipleOf"))
    if raw is None or raw <= 0:
        return None
    step = Fraction(str(raw))
    step = Fraction(step.numerator) if integer else step  # integer multiples of p/q: multiples of p
    low, low_open, high, high_open = _bounds(schema)
    low, high = _default_range(low, high, max(100 if integer else 1, 4 * step))
    first, last = math.ceil(Fraction(low) / step), math.floor(Fraction(high) / step)
    if low_open and first * step == low:
        first += 1
    if high_open and last * step == high:
        last -= 1
    if first > last:
        return None
    count, start = last - first + 1, pick(last - first + 1)
    convert = int if integer else float
    candidates = (convert((first + (start + i) % count) * step) for i in range(min(count, 16)))
    return next((c for c in candidates if _is_multiple(c, raw)), convert((first + start) * step))


def _integer(schema: Mapping[str, Any], pick: Callable[[int], int]) -> int:
    """An integer within the bounds (default 0..100) and on the ``multipleOf`` grid."""
    on_grid = _on_grid(schema, pick, integer=True)
    if on_grid is not None:
        return int(on_grid)
    low, low_open, high, high_open = _bounds(schema)
    low = None if low is None else math.floor(low) + 1 if low_open else math.ceil(low)
    high = None if high is None else math.ceil(high) - 1 if high_open else math.floor(high)
    low, high = _default_range(low, high, 100)
    return low + pick(high - low + 1) if high >= low else low


def _float(schema: Mapping[str, Any], pick: Callable[[int], int]) -> float:
    """A number within the bounds (default 0..1), at two significant decimals of its range."""
    on_grid = _on_grid(schema, pick, integer=False)
    if on_grid is not None:
        return float(on_grid)
    low, low_open, high, high_open = _bounds(schema)
    low, high = _default_range(low, high, 1)
    low, high = float(low), float(high)
    if high <= low:
        return low
    share = (1 + pick(99)) / 100
    value = low * (1 - share) + high * share
    spread = high - low
    digits = 2 - math.floor(math.log10(spread)) if math.isfinite(spread) else 0
    rounded = round(value, max(digits, 2))
    inside = (low < rounded or (rounded == low and not low_open)) and (
        rounded < high or (rounded == high and not high_open)
    )
    return rounded if inside else value


def _ascii(word: str) -> str:
    """`word` lower-cased with accents dropped and only ASCII letters and digits kept."""
    plain = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", plain)


def _same(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _local_ref(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    return ref if isinstance(ref, str) and ref.startswith("#") else None


def _follow(schema: Mapping[str, Any], ref: str, root: Any) -> dict[str, Any]:
    """The target of `schema`'s ``$ref``, with `schema`'s other keywords laid over it."""
    target = _resolve(ref, root)
    rest = {k: v for k, v in schema.items() if k != "$ref"}
    return {**target, **rest} if isinstance(target, Mapping) else rest


def _effective(schema: Any, root: Any) -> Any:
    """`schema` with local ``$ref`` chains followed (for a look at an array's items)."""
    for _ in range(_MAX_REF_DEPTH):
        ref = _local_ref(schema)
        if ref is None:
            break
        schema = _follow(schema, ref, root)
    return schema


class _Filler:
    """Schema-valid values derived from one text (see the module docstring)."""

    def __init__(self, text: str, root: Any) -> None:
        self.text = text
        self.root = root
        self.words = text.split()
        found = list(dict.fromkeys(_WORD.findall(text)))
        self.terms = [w for w in found if len(w) >= _TERM_LETTERS] or found

    def draw(self, path: str, n: int) -> int:
        """A number in ``range(n)`` from the text and `path`, the same in every process."""
        key = f"{path}\x00{self.text}".encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(key, digest_size=8).digest()
        return int.from_bytes(digest, "big") % n if n > 0 else 0

    def ranked(self, path: str, values: Sequence[Any]) -> list[Any]:
        """`values` in an order drawn from the text and `path`."""
        return sorted(values, key=lambda value: self.draw(f"{path}#{_same(value)}", 1 << 62))

    def value(
        self, schema: Any, path: str = "", refs: tuple[str, ...] = (), *, minimal: bool = False
    ) -> Any:
        """A value for `schema` at `path`; `refs` are the ``$ref``s followed to get here."""
        if len(refs) > _MAX_REF_DEPTH or schema is False:
            return None
        if not isinstance(schema, Mapping):
            return self.string({}, path)
        ref = _local_ref(schema)
        if ref is not None:  # followed once in full; again (recursion) only minimally
            merged = _follow(schema, ref, self.root)
            return self.value(merged, path, (*refs, ref), minimal=minimal or ref in refs)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            options = [v for v in enum if v is not None] or enum
            return options[self.draw(path, len(options))]
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                nulls = [b for b in branches if isinstance(b, Mapping) and b.get("type") == "null"]
                usable = [b for b in branches if not any(b is n for n in nulls)]
                chosen = nulls[0] if nulls and (minimal or not usable) else usable[0]
                return self.value(chosen, path, refs, minimal=minimal)
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            return self.value(self.merge(schema), path, (*refs, "allOf"), minimal=minimal)
        return self.typed(schema, path, refs, minimal=minimal)

    def merge(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """`schema` with its ``allOf`` branches merged in: properties joined, required united."""
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for branch in schema["allOf"]:
            branch = _effective(branch, self.root)
            for key, value in branch.items() if isinstance(branch, Mapping) else ():
                if key == "properties" and isinstance(value, Mapping):
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                else:
                    merged.setdefault(key, value)
        return merged

    def typed(
        self, schema: Mapping[str, Any], path: str, refs: tuple[str, ...], *, minimal: bool
    ) -> Any:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = "null" if not kinds or (minimal and "null" in kind) else kinds[0]
        if kind is None:
            inferred = [(k, t) for k, t in _INFERRED if k in schema]
            kind = inferred[0][1] if inferred else "string"
        if kind == "object":
            return self.object(schema, path, refs, minimal=minimal)
        if kind == "array":
            return self.array(schema, path, refs, minimal=minimal)
        if kind == "integer":
            return _integer(schema, lambda n: self.draw(path, n))
        if kind == "number":
            return _float(schema, lambda n: self.draw(path, n))
        if kind == "boolean":
            return self.draw(path, 2) == 1
        return None if kind == "null" else self.string(schema, path)

    def object(
        self, schema: Mapping[str, Any], path: str, refs: tuple[str, ...], *, minimal: bool
    ) -> dict[str, Any]:
        """Every listed property (only the required ones when `minimal`), plus unlisted required."""
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = schema.get("required")
        required = [n for n in required if isinstance(n, str)] if isinstance(required, list) else []
        names = [n for n in properties if not minimal or n in required]
        extra = schema.get("additionalProperties", {})
        if extra is not False:
            names += [n for n in dict.fromkeys(required) if n not in properties]
        return {
            name: self.value(properties.get(name, extra), f"{path}/{name}", refs, minimal=minimal)
            for name in names
        }

    def array(
        self, schema: Mapping[str, Any], path: str, refs: tuple[str, ...], *, minimal: bool
    ) -> list[Any]:
        """1 to 3 distinct items (``prefixItems`` in full), within ``minItems``/``maxItems``."""
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        low, high = _size(schema.get("minItems"), 0) or 0, _size(schema.get("maxItems"), None)
        if items is False:
            high = len(prefix) if high is None else min(high, len(prefix))
        wanted = 0 if minimal else len(prefix) or 1 + self.draw(f"{path}#n", 3)
        wanted = max(low, wanted if high is None else min(wanted, high))
        values = [self.value(s, f"{path}/{i}", refs, minimal=minimal) for i, s in enumerate(prefix)]
        values = values[:wanted]
        seen = {_same(v) for v in values}
        for value, spare in self.candidates(
            items, path, len(values), wanted, refs, minimal=minimal
        ):
            if len(values) >= wanted:
                break
            if (not spare or len(values) < low) and _same(value) not in seen:
                seen.add(_same(value))
                values.append(value)
        if values and len(values) < low and schema.get("uniqueItems") is not True:
            values = [values[i % len(values)] for i in range(low)]
        return values

    def candidates(
        self,
        items: Any,
        path: str,
        start: int,
        wanted: int,
        refs: tuple[str, ...],
        *,
        minimal: bool,
    ) -> Iterator[tuple[Any, bool]]:
        """(item, spare) to choose from: distinct words or enum values first, then one per index.

        Spare items only make up ``minItems``: an array of strings has no more items than the
        text has distinct words, unless ``minItems`` asks for more.
        """
        shape = _effective(items, self.root)
        spare = False
        if isinstance(shape, Mapping):
            enum = shape.get("enum")
            if isinstance(enum, list) and "const" not in shape:
                yield from (
                    (v, False)
                    for v in self.ranked(path, [v for v in enum if v is not None] or enum)
                )
            kind = shape.get("type")
            kinds = [k for k in kind if k != "null"] if isinstance(kind, list) else [kind]
            spare = kinds == ["string"] and not _NOT_PLAIN & shape.keys()
            if spare:
                base = (self.terms or ["echo"])[0]
                words = [*self.ranked(path, self.terms)]
                yield from ((self.fit_length(w, shape), False) for w in words)
                numbered = (f"{base} {i}" for i in range(2, 2 + wanted))
                yield from ((self.fit_length(w, shape), True) for w in numbered)
        for index in range(start, wanted + _EXTRA_TRIES):
            yield self.value(items, f"{path}/{index}", refs, minimal=minimal), spare

    def string(self, schema: Mapping[str, Any], path: str) -> str:
        """A ``format`` value, else a snippet of the text fitted to the length bounds."""
        make = _FORMATS.get(schema.get("format"))
        if make is not None:
            return make(self, path)
        words = self.words
        if len(words) > _SNIPPET_WORDS:
            size = _SNIPPET_MIN + self.draw(f"{path}#size", _SNIPPET_WORDS - _SNIPPET_MIN + 1)
            first = self.draw(f"{path}#start", len(words) - size + 1)
            words = words[first : first + size]
        return self.fit_length(" ".join(words), schema)

    def fit_length(self, text: str, schema: Mapping[str, Any]) -> str:
        """`text` padded with the whole text, or cut, to ``minLength``..``maxLength``."""
        low, high = _size(schema.get("minLength"), 0) or 0, _size(schema.get("maxLength"), None)
        if len(text) < low:
            pad = " ".join(self.words) or "echo"
            text = " ".join([text, *[pad] * (low // len(pad) + 1)]).strip()[:low]
        if high is not None:
            text = text[:high]
        trimmed = text.strip()
        return trimmed if len(trimmed) >= low else text

    def date(self, path: str) -> str:
        return (_EPOCH + datetime.timedelta(days=self.draw(path, _DAYS))).isoformat()

    def time(self, path: str) -> str:
        seconds = self.draw(f"{path}#time", 24 * 60 * 60)
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"

    def date_time(self, path: str) -> str:
        return f"{self.date(path)}T{self.time(path)}"

    def slugs(self, path: str) -> list[str]:
        return [s for s in (_ascii(w) for w in self.ranked(path, self.terms)) if s][:2] or ["echo"]

    def email(self, path: str) -> str:
        return ".".join(self.slugs(path)) + "@example.com"

    def uri(self, path: str) -> str:
        return "https://example.com/" + "-".join(self.slugs(path))

    def uuid(self, path: str) -> str:
        key = f"{path}\x00{self.text}".encode("utf-8", "surrogatepass")
        return str(uuid.UUID(bytes=hashlib.blake2b(key, digest_size=16).digest(), version=4))


_FORMATS: dict[Any, Callable[[_Filler, str], str]] = {
    "date": _Filler.date,
    "date-time": _Filler.date_time,
    "time": _Filler.time,
    "email": _Filler.email,
    "uri": _Filler.uri,
    "iri": _Filler.uri,
    "uri-reference": _Filler.uri,
    "iri-reference": _Filler.uri,
    "uuid": _Filler.uuid,
}


def _fill(schema: Any, text: str) -> Any:
    """A value valid against `schema`, derived from `text` (see the module docstring)."""
    return _Filler(text, schema).value(schema)


def _json_answer(body: Mapping[str, Any], text: str) -> str | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_object":
        return json.dumps({"echo": text}, ensure_ascii=False, separators=(",", ":"))
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema", {})
        value = _fill(schema, text)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return None


def _tool_call(
    body: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]
) -> tuple[str, str] | None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if (
        not isinstance(tools, list)
        or not tools
        or messages[-1]["role"] != "user"
        or choice == "none"
    ):
        return None
    functions = [t.get("function", t) for t in tools if isinstance(t, Mapping)]
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        functions = [f for f in functions if f.get("name") == wanted] or functions
    if not functions or not isinstance(functions[0].get("name"), str):
        msg = "each tool needs a function `name`"
        raise EchoError(msg)
    first = functions[0]
    schema = first.get("parameters") or {"type": "object", "properties": {}}
    arguments = _fill(schema, _render(messages[-1]))
    return first["name"], json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        msg = "`max_completion_tokens` must be a positive integer"
        raise EchoError(msg)
    return limit


def _answer(body: Mapping[str, Any]) -> _Answer:
    if not isinstance(body, Mapping):
        msg = "the request body must be a JSON object"
        raise EchoError(msg)
    messages = _messages(body)
    model = body.get("model", "echo")
    if not isinstance(model, str):
        msg = "`model` must be a string"
        raise EchoError(msg)
    latency_seconds(body)
    hashed = {k: v for k, v in body.items() if k not in _NOT_HASHED}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()
    text = prompt_text(body)
    tokens_in = prompt_tokens(body)
    response_id = f"echo-{digest[:24]}"
    call = _tool_call(body, messages)
    if call is not None:
        tokens_out = count_tokens(call[1])
        return _Answer(response_id, model, None, call, "tool_calls", tokens_in, tokens_out)
    content = _json_answer(body, text)
    content = f"echo: {text}" if content is None else content
    finish = "stop"
    limit = _max_tokens(body)
    pieces = _PIECE.findall(content)
    if limit is not None and count_tokens(content) > limit:
        content, finish = "".join(pieces[:limit]), "length"
    return _Answer(response_id, model, content, None, finish, tokens_in, count_tokens(content))


def _usage(answer: _Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _call_id(answer: _Answer) -> str:
    return "call_" + answer.response_id.removeprefix("echo-")


def echo_completion(body: Mapping[str, Any]) -> dict[str, Any]:
    """The whole (non-streamed) ``chat.completion`` body echo answers `body` with."""
    answer = _answer(body)
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_call is not None:
        name, arguments = answer.tool_call
        function = {"name": name, "arguments": arguments}
        message["tool_calls"] = [{"id": _call_id(answer), "type": "function", "function": function}]
    return {
        "id": answer.response_id,
        "object": "chat.completion",
        "created": 0,
        "model": answer.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": _usage(answer),
    }


def echo_chunks(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects echo streams for `body` (``[DONE]`` not included)."""
    answer = _answer(body)
    options = body.get("stream_options")
    include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    deltas: list[dict[str, Any]]
    if answer.tool_call is not None:
        name, arguments = answer.tool_call
        start = {"index": 0, "id": _call_id(answer), "type": "function"}
        start["function"] = {"name": name, "arguments": ""}
        deltas = [{"role": "assistant", "content": None, "tool_calls": [start]}]
        deltas += [
            {
                "tool_calls": [
                    {"index": 0, "function": {"arguments": arguments[i : i + _ARGUMENT_FRAGMENT]}}
                ]
            }
            for i in range(0, len(arguments), _ARGUMENT_FRAGMENT)
        ]
    else:
        deltas = [{"role": "assistant", "content": ""}]
        deltas += [{"content": piece} for piece in _PIECE.findall(answer.content or "")]
    head = {"id": answer.response_id, "object": "chat.completion.chunk", "created": 0}
    head["model"] = answer.model
    tail = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice], **tail}

    chunks = [chunk(d) for d in deltas] + [chunk({}, answer.finish_reason)]
    if include_usage:
        chunks.append({**head, "choices": [], "usage": _usage(answer)})
    return chunks


async def _wait(seconds: float, request: httpx.Request) -> None:
    """Sleep, raising `httpx.ReadTimeout` where the request's read timeout is shorter."""
    timeout = request.extensions.get("timeout", {}).get("read")
    if timeout is not None and seconds > timeout:
        await asyncio.sleep(timeout)
        msg = "echo: read timed out"
        raise httpx.ReadTimeout(msg, request=request)
    if seconds > 0:
        await asyncio.sleep(seconds)


async def _stream(
    chunks: list[dict[str, Any]], latency: float, request: httpx.Request
) -> AsyncIterator[bytes]:
    for delay, chunk in zip(chunk_delays(latency, len(chunks)), chunks, strict=True):
        await _wait(delay, request)
        yield sse_event(chunk)
    yield DONE


def _error(status: int, message: str, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, json=error_body(message, **kwargs))


class EchoTransport(httpx.AsyncBaseTransport):
    """Answers OpenAI Chat Completions requests in-process with `echo_completion`/`echo_chunks`."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """One request; never touches the network."""
        if not request.url.path.rstrip("/").endswith("/chat/completions"):
            return _error(404, f"echo serves POST /chat/completions, not {request.url.path}")
        if request.method != "POST":
            return _error(405, f"echo does not serve {request.method}")
        try:
            body = json.loads(await request.aread())
        except ValueError:
            return _error(400, "the request body is not valid JSON")
        try:
            latency = latency_seconds(body) if isinstance(body, Mapping) else 0.0
            if isinstance(body, Mapping) and body.get("stream") is True:
                stream = _stream(echo_chunks(body), latency, request)
                return httpx.Response(
                    200, headers={"content-type": "text/event-stream"}, content=stream
                )
            completion = echo_completion(body)
        except EchoError as exc:
            return _error(400, str(exc))
        await _wait(latency, request)
        return httpx.Response(200, json=completion)
