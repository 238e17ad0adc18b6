"""Arrow tables handed over as polars or pandas DataFrames; the libraries are imported lazily.

JSON columns (Arrow's ``arrow.json`` extension, at any depth) become plain strings of JSON
text in polars and pandas, where the extension type is unknown or opaque; Arrow keeps it.
pandas gets nullable integer and boolean columns (``Int64``, ``boolean``), so a count with a
missing value stays an integer rather than turning into a float.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import pyarrow as pa

from llmframe._typing import FrameFormat
from llmframe.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_format", "plain_json", "to_frame"]


def check_format(as_: object) -> FrameFormat:
    """`as_` if it names a known format, else `UsageError`."""
    if as_ not in get_args(FrameFormat):
        choices = ", ".join(repr(name) for name in get_args(FrameFormat))
        msg = f"`as_` must be one of {choices}, got {as_!r}"
        raise UsageError(msg)
    return as_  # type: ignore[return-value]


def to_frame(table: pa.Table, as_: FrameFormat) -> Any:
    """`table` as a polars DataFrame, a pandas DataFrame or itself (`as_` is checked first)."""
    as_ = check_format(as_)
    if as_ == "arrow":
        return table
    table = plain_json(table)
    if as_ == "polars":
        import polars as pl

        return pl.from_arrow(table)
    return _to_pandas(table)


def plain_json(table: pa.Table) -> pa.Table:
    """`table` with every extension type (JSON) replaced by its storage type, at any depth."""
    schema = pa.schema([field.with_type(_plain(field.type)) for field in table.schema])
    return table if schema.equals(table.schema) else table.cast(schema)


def _plain(data_type: pa.DataType) -> pa.DataType:
    if isinstance(data_type, pa.BaseExtensionType):
        return _plain(data_type.storage_type)
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_plain(f.type)) for f in data_type.fields])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_plain(data_type.value_type)))
    if pa.types.is_large_list(data_type):
        return pa.large_list(data_type.value_field.with_type(_plain(data_type.value_type)))
    if pa.types.is_map(data_type):
        return pa.map_(
            data_type.key_field.with_type(_plain(data_type.key_type)),
            data_type.item_field.with_type(_plain(data_type.item_type)),
        )
    return data_type


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError:
        msg = "`as_='pandas'` needs pandas, which is not installed.\nHint: pip install pandas"
        raise UsageError(msg) from None
    nullable = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return table.to_pandas(types_mapper=nullable.get)
