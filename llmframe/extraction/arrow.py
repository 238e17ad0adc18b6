"""JSON Schema -> Arrow types, and validated JSON instances -> typed Arrow columns.

The mapping (one column per property of the root object schema):

```
string                      -> string
string, format date         -> date32
string, format date-time    -> timestamp[us, tz=UTC]   (naive times are read as UTC)
integer / number / boolean  -> int64 / float64 / bool
enum of strings (or const)  -> dictionary<int32, string>
enum of integers            -> int64
array with `items`          -> list<item type>
object with `properties`    -> struct<one field per property>
["T", "null"], anyOf [T, null], oneOf [T, null]  -> T, nullable
```

A field is nullable when it is not `required` or when its schema allows null.

**JSON fallback.** Whatever has no faithful Arrow type becomes a column of
`llmframe.schema.JSON` (compact JSON text), and its field carries the metadata key
``llmframe.fallback`` saying why: `anyOf`/`oneOf` of several non-null types, recursive `$ref`,
`allOf`, objects without `properties` (free-form maps), arrays without `items` or with
`prefixItems`, mixed-type enums and the empty schema. A type is never guessed.

Only local references (``#/$defs/...``, ``#/definitions/...``) are resolved; any other `$ref`
raises `UsageError`. In a table built by `to_columns` every top-level column is nullable, since a
row whose extraction failed has no instance; `arrow_fields` keeps the schema's own nullability.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from llmframe.errors import SchemaMismatch, UsageError
from llmframe.schema import JSON

__all__ = [
    "ENUM",
    "FALLBACK_KEY",
    "TIMESTAMP",
    "arrow_fields",
    "arrow_type",
    "from_columns",
    "to_columns",
]

FALLBACK_KEY = b"llmframe.fallback"
"""Field metadata key on JSON-fallback fields; the value says why the field is JSON text."""

ENUM = pa.dictionary(pa.int32(), pa.string())
TIMESTAMP = pa.timestamp("us", tz="UTC")

_SIMPLE: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "null": pa.null(),
}
_FORMATS: dict[str, pa.DataType] = {"date": pa.date32(), "date-time": TIMESTAMP}

Convert = Callable[[Any], Any]


class _Fallback(Exception):
    """A schema with no faithful Arrow type; `reason` becomes the field metadata."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Node:
    """A schema compiled once: its Arrow type, nullability, fallback reason and converter."""

    __slots__ = ("convert", "data_type", "nullable", "reason")

    def __init__(
        self,
        data_type: pa.DataType,
        *,
        nullable: bool = False,
        reason: str | None = None,
        convert: Convert | None = None,
    ) -> None:
        self.data_type = data_type
        self.nullable = nullable
        self.reason = reason
        self.convert = convert


def _json_text(value: Any) -> Any:
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _to_date(value: Any) -> Any:
    return None if value is None else dt.date.fromisoformat(value)


def _to_datetime(value: Any) -> Any:
    if value is None:
        return None
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return dt.datetime.fromisoformat(value)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.stack: list[str] = []
        self.path: list[str] = []
        """The field being compiled (``tags``, ``[]``, ``city``), so a problem names it."""

    def problem(self, msg: str) -> UsageError:
        """A `UsageError` naming the field it is about, as ``schema field `a.b[]```."""
        where = ".".join(self.path).replace(".[]", "[]")
        return UsageError(f"schema field `{where}`: {msg}" if where else msg)

    def field(self, name: str, schema: Any) -> _Node:
        """The node of property or item `name` of the schema being compiled."""
        self.path.append(name)
        try:
            return self.node(schema)
        finally:
            self.path.pop()

    def resolve(self, ref: str) -> dict[str, Any]:
        parts = ref.split("/")
        if parts[0] != "#" or len(parts) < 2:
            msg = f"only local `$ref`s (#/$defs/...) are supported, got {ref!r}"
            raise self.problem(msg)
        target: Any = self.root
        for part in parts[1:]:
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or key not in target:
                msg = f"`$ref` {ref!r} does not resolve in the schema"
                raise self.problem(msg)
            target = target[key]
        return target

    def node(self, schema: Any) -> _Node:
        try:
            return self._node(schema)
        except _Fallback as fallback:
            nullable = not isinstance(schema, dict) or _allows_null(schema)
            return _Node(JSON, nullable=nullable, reason=fallback.reason, convert=_json_text)

    def _node(self, schema: Any) -> _Node:
        if schema is True or schema == {}:
            msg = "the schema allows any value"
            raise _Fallback(msg)
        if not isinstance(schema, dict):
            msg = f"a schema must be an object, got {schema!r}"
            raise self.problem(msg)
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union(key, schema[key])
        if "allOf" in schema:
            msg = "`allOf` is not mapped to a single Arrow type"
            raise _Fallback(msg)
        if "const" in schema or "enum" in schema:
            return self._enum(schema)
        kind = schema.get("type")
        nullable = False
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            nullable = len(kinds) < len(kind)
            if len(kinds) != 1:
                msg = f"`type` {kind!r} has several non-null types"
                raise _Fallback(msg)
            kind = kinds[0]
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema:
                kind = "array"
            else:
                msg = "the schema has no `type`"
                raise _Fallback(msg)
        node = self._typed(kind, schema)
        node.nullable = node.nullable or nullable
        return node

    def _typed(self, kind: str, schema: dict[str, Any]) -> _Node:
        if kind == "string" and schema.get("format") in _FORMATS:
            fmt = schema["format"]
            return _Node(_FORMATS[fmt], convert=_to_date if fmt == "date" else _to_datetime)
        if kind in _SIMPLE:
            return _Node(_SIMPLE[kind], nullable=kind == "null")
        if kind == "array":
            return self._array(schema)
        if kind == "object":
            return self._object(schema)
        msg = f"unknown `type` {kind!r}"
        raise self.problem(msg)

    def _ref(self, ref: str) -> _Node:
        if ref in self.stack:
            msg = f"recursive `$ref` {ref!r}"
            raise _Fallback(msg)
        self.stack.append(ref)
        try:
            return self._node(self.resolve(ref))
        finally:
            self.stack.pop()

    def _union(self, key: str, branches: list[Any]) -> _Node:
        rest = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        if len(rest) != 1:
            msg = f"`{key}` of {len(rest)} non-null schemas"
            raise _Fallback(msg)
        node = self._node(rest[0])
        node.nullable = node.nullable or len(rest) < len(branches)
        return node

    def _enum(self, schema: dict[str, Any]) -> _Node:
        values = [schema["const"]] if "const" in schema else list(schema["enum"])
        present = [v for v in values if v is not None]
        nullable = len(present) < len(values)
        if present and all(isinstance(v, str) for v in present):
            return _Node(ENUM, nullable=nullable)
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            return _Node(pa.int64(), nullable=nullable)
        msg = "`enum` of mixed or non-string values"
        raise _Fallback(msg)

    def _array(self, schema: dict[str, Any]) -> _Node:
        if "prefixItems" in schema or not isinstance(schema.get("items"), dict):
            msg = "an array without a single `items` schema (tuple or untyped)"
            raise _Fallback(msg)
        item = self.field("[]", schema["items"])
        data_type = pa.list_(_field("item", item))
        convert = None
        if item.convert is not None:
            inner = item.convert

            def convert(value: Any) -> Any:
                return None if value is None else [inner(v) for v in value]

        return _Node(data_type, convert=convert)

    def _object(self, schema: dict[str, Any]) -> _Node:
        properties = schema.get("properties")
        if not properties:
            msg = "an object without `properties` (a free-form map)"
            raise _Fallback(msg)
        required = set(schema.get("required", ()))
        nodes = {name: self.field(name, sub) for name, sub in properties.items()}
        fields = [_field(name, node, optional=name not in required) for name, node in nodes.items()]
        converters = [(name, node.convert) for name, node in nodes.items() if node.convert]
        convert = None
        if converters:

            def convert(value: Any) -> Any:
                if value is None:
                    return None
                value = dict(value)
                for name, inner in converters:
                    if name in value:
                        value[name] = inner(value[name])
                return value

        return _Node(pa.struct(fields), convert=convert)


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    for key in ("anyOf", "oneOf"):
        if any(isinstance(b, dict) and b.get("type") == "null" for b in schema.get(key, ())):
            return True
    return None in schema.get("enum", ())


def _field(name: str, node: _Node, *, optional: bool = False) -> pa.Field:
    metadata = {FALLBACK_KEY: node.reason.encode()} if node.reason else None
    return pa.field(name, node.data_type, nullable=optional or node.nullable, metadata=metadata)


def _root_nodes(schema: dict[str, Any]) -> tuple[_Compiler, dict[str, _Node], set[str]]:
    compiler = _Compiler(schema)
    root = compiler.resolve(schema["$ref"]) if "$ref" in schema else schema
    properties = root.get("properties") if isinstance(root, dict) else None
    if not properties:
        msg = "an extraction schema must be an object with `properties`"
        raise UsageError(msg)
    nodes = {name: compiler.field(name, sub) for name, sub in properties.items()}
    return compiler, nodes, set(root.get("required", ()))


def arrow_type(schema: dict[str, Any]) -> pa.DataType:
    """The Arrow type of values valid under `schema` (JSON for the documented fallbacks)."""
    return _Compiler(schema).node(schema).data_type


def arrow_fields(schema: dict[str, Any]) -> list[pa.Field]:
    """One Arrow field per property of the object `schema`, nullable where optional."""
    _, nodes, required = _root_nodes(schema)
    return [_field(name, node, optional=name not in required) for name, node in nodes.items()]


def to_columns(schema: dict[str, Any], instances: Sequence[dict[str, Any] | None]) -> pa.Table:
    """A wide typed table, one column per property of `schema`, from validated instances.

    `None` stands for a row without an instance (a failed extraction): every column is null there.
    """
    _, nodes, _ = _root_nodes(schema)
    arrays = []
    fields = []
    for name, node in nodes.items():
        values = [None if inst is None else inst.get(name) for inst in instances]
        try:
            if node.convert is not None:
                values = [node.convert(v) for v in values]
            storage = _storage(node.data_type)
            array = pa.array(values, type=storage)
            arrays.append(array if storage == node.data_type else array.cast(node.data_type))
        except (ValueError, TypeError, AttributeError, pa.ArrowException) as exc:
            msg = f"a value does not fit the Arrow type {node.data_type}: {exc}"
            raise SchemaMismatch(msg, column=name) from exc
        fields.append(_field(name, node, optional=True))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _storage(data_type: pa.DataType) -> pa.DataType:
    """`data_type` with nested extension types replaced by their storage.

    `pa.array` cannot build extension types nested in lists or structs, so the column is built
    as storage and cast (a zero-copy relabel) afterwards.
    """
    if isinstance(data_type, pa.BaseExtensionType):
        return data_type.storage_type
    if pa.types.is_list(data_type):
        item = data_type.value_field
        return pa.list_(item.with_type(_storage(item.type)))
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_storage(f.type)) for f in data_type.fields])
    return data_type


def _back(data_type: pa.DataType) -> Convert | None:
    if isinstance(data_type, pa.BaseExtensionType):
        return lambda v: None if v is None else json.loads(v)
    if pa.types.is_date32(data_type):
        return lambda v: None if v is None else v.isoformat()
    if pa.types.is_timestamp(data_type):
        return lambda v: None if v is None else v.astimezone(dt.timezone.utc).isoformat()
    if pa.types.is_list(data_type):
        inner = _back(data_type.value_type)
        if inner is None:
            return None
        return lambda v: None if v is None else [inner(x) for x in v]
    if pa.types.is_struct(data_type):
        children = [(f.name, _back(f.type)) for f in data_type.fields]
        converters = [(n, c) for n, c in children if c is not None]
        if not converters:
            return None

        def convert(value: Any) -> Any:
            if value is None:
                return None
            for name, inner in converters:
                value[name] = inner(value[name])
            return value

        return convert
    return None


def from_columns(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows as JSON values again: dates as ISO strings, JSON text parsed.

    Every property is present in each row; a missing optional value comes back as `None`.
    """
    convert = _back(pa.struct(list(table.schema)))
    rows = table.to_pylist()
    return [convert(row) for row in rows] if convert else rows
