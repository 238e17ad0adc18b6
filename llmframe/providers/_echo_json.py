"""Schema-valid JSON values derived from a text: the filler behind echo's structured answers.

`fill` (schema, text) -> a JSON value valid against the schema (Draft 2020-12, formats checked)
whose values are derived from the text, for offline demos of extraction. Echo uses it for the
content of a ``json_schema`` answer and for tool call arguments. Each choice is a BLAKE2b hash of
the text and the value's path (``/topics/0``) taken modulo the number of options, so the same text
gives the same JSON in every process and different texts give different values:

- *object*: every listed property, required or not, in schema order, plus any ``required``
  name not listed (unless ``additionalProperties`` is false); nothing else.
- *string*: a snippet of the text: all of it when it has at most 8 words, else 3 to 8
  consecutive words, joined by single spaces; padded with the text or cut (then stripped) to
  ``minLength``/``maxLength``. ``format`` ``date`` gives a day in 2020-2025 (``2024-03-17``),
  ``date-time`` that day and a time in UTC (``2024-03-17T09:41:05Z``), ``time``
  ``09:41:05Z``, ``email`` ``word.word@example.com``, ``uri`` (and ``iri``, ``*-reference``)
  ``https://example.com/word-word`` (words of the text in ASCII), ``uuid`` a version-4 UUID;
  lengths are not applied to formats.
- *integer*: within ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, default
  0 to 100 (a lone bound outside it gets a 100-wide range beside it), and a multiple of
  ``multipleOf``.
- *number*: a float likewise, default 0 to 1, rounded to 2 decimals (more in a range narrower
  than 1), such as 0.73; with ``multipleOf``, a multiple that passes jsonschema's float test.
- *boolean*: true or false. ``enum``: one of the values (null only when it is the only one);
  ``const``: its value.
- *array*: 1 to 3 distinct items, the count clamped to ``minItems``/``maxItems``
  (``prefixItems`` in full). Items of plain strings are distinct words of the text (words of 5+
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

Not honoured, so the value may then be invalid: ``pattern`` and ``patternProperties`` (no regex
inversion), ``contains``, ``minProperties``/``maxProperties``, ``not``, ``if``/``then``/``else``,
``dependent*``, remote ``$ref``, and contradictory or unsatisfiable bounds.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
import sys
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

__all__ = ["fill"]

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


def fill(schema: Any, text: str) -> Any:
    """A value valid against `schema`, derived from `text` (see the module docstring)."""
    return _Filler(text, schema).value(schema)
