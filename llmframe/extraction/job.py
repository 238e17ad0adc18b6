"""An extraction: a run whose answers must fit a schema, then its wide typed table.

`Extraction` is what the CLI's ``extract`` and `llmframe.extract` share: it checks the schema
before anything is sent (its Arrow types too), says what each answer must satisfy
(`output`), and builds the table from the run once it has finished (`table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from llmframe.errors import UsageError
from llmframe.extraction.arrow import arrow_fields
from llmframe.extraction.contract import OutputSchema, schema_name
from llmframe.extraction.load import load_schema
from llmframe.extraction.table import extraction_table, multi_schema
from llmframe.io.parquet import write_table
from llmframe.store import open_run

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "Extraction",
    "check_out",
    "default_run_dir",
    "write_output",
]

DEFAULT_INSTRUCTIONS = (
    "Extract the information the JSON Schema describes from the user's text. Use only what the "
    "text says; leave an optional field out when the text does not give it."
)
DEFAULT_INSTRUCTIONS_MULTI = (
    "Extract every item the JSON Schema describes from the user's text, in the order they "
    "appear, as the `items` list (empty when there is none). Use only what the text says."
)


@dataclass(frozen=True)
class Extraction:
    """A checked extraction schema and how answers are asked for."""

    schema: dict[str, Any]
    """The JSON Schema of one row (of one item with `multi`)."""
    multi: bool = False
    repair: int = 1

    @classmethod
    def load(cls, spec: str | dict[str, Any] | type, *, multi: bool, repair: int) -> Extraction:
        """Read `spec` (any `--schema` form) and check it maps to Arrow columns."""
        schema = load_schema(spec)
        if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
            msg = (
                "the extraction schema must be an object with `properties` (one column each); "
                "to extract a list, describe one item and pass `--multi`"
            )
            raise UsageError(msg)
        arrow_fields(schema)  # unsupported references etc. fail here, before any request
        return cls(schema=schema, multi=multi, repair=repair)

    @property
    def instructions(self) -> str:
        """The default system prompt."""
        return DEFAULT_INSTRUCTIONS_MULTI if self.multi else DEFAULT_INSTRUCTIONS

    def output(self) -> OutputSchema:
        """What every answer must satisfy: the schema, or a list of items with `multi`."""
        sent = multi_schema(self.schema) if self.multi else self.schema
        return OutputSchema(schema=sent, name=schema_name(self.schema), repair=self.repair)

    def table(self, run: Path, models: Sequence[str] = ()) -> pa.Table:
        """The wide typed table of the finished run at `run`."""
        return extraction_table(open_run(run), self.schema, multi=self.multi, models=models)


def default_run_dir(out: Path) -> Path:
    """The run directory kept beside an extraction's output: ``out.parquet`` -> ``out.run``."""
    return out.with_name(out.name.removesuffix(".parquet") + ".run")


def check_out(out: Path) -> None:
    """Refuse an output path that could not be written, before anything is sent."""
    if out.suffix != ".parquet":
        msg = f"`--out` must be a .parquet file, got `{out}`"
        raise UsageError(msg)
    if not out.parent.is_dir():
        msg = f"`--out`: folder `{out.parent}` does not exist"
        raise UsageError(msg)


def write_output(table: pa.Table, out: Path) -> None:
    """Write the extraction table as Parquet, whole or not at all."""
    check_out(out)
    write_table(table, out)
