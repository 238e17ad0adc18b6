"""A consistent read of a run, finished, in progress or killed, and the one dedupe rule.

A snapshot is the compacted Parquet files plus the journal records not compacted yet, read
without a lock. `Snapshot.ranked` applies the dedupe rule; `Snapshot.register` exposes the result
to DuckDB as the views ``responses`` and ``parts``.

The dedupe rule: each (prompt_id, model, step) is the response with the latest ``finished_at``
(a missing one counts as oldest); ties go to the later segment name, then the later row within
it. A response's parts are the parts of that response_id from the same segment. A run whose
files ``deduplicated.json`` vouches for, and no journal records, holds each key once already
(`Snapshot.clean`): its rows are taken as they are, without ranking a million keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.errors import StoreError
from llmframe.schema import PARTS, RESPONSES
from llmframe.store.journal import read_segment
from llmframe.store.layout import RunLayout, read_deduplicated, read_parquet
from llmframe.store.tables import SEGMENT_COLUMNS, concat, segment_tables, with_origin

if TYPE_CHECKING:
    import duckdb

__all__ = ["INTERNAL", "Snapshot", "last_of_each", "sql_list", "take_snapshot"]

INTERNAL = "_llmframe"
"""The prefix of the DuckDB objects behind the views ``responses`` and ``parts``."""

_ATTEMPTS = 20
_PENDING_RESPONSES = pa.schema([*RESPONSES, *SEGMENT_COLUMNS])
_PENDING_PARTS = pa.schema([*PARTS, *SEGMENT_COLUMNS])
_KEY = ("prompt_id", "model", "step")
_KEY_COLUMNS = ["response_id", *_KEY, "final", "status", "finished_at"]
_ORDER = [*_KEY, "_when", "_segment", "_row"]


@dataclass(frozen=True)
class Snapshot:
    """Committed Parquet files and pending journal records, as of one moment."""

    layout: RunLayout
    committed: tuple[str, ...]
    pending_responses: pa.Table
    pending_parts: pa.Table
    clean: bool = False
    """No journal records, and the committed files hold each (prompt_id, model, step) once."""

    @property
    def response_files(self) -> list[Path]:
        """The committed responses files."""
        return [self.layout.responses(name) for name in self.committed]

    @property
    def part_files(self) -> list[Path]:
        """The parts files of committed segments (written before their responses file)."""
        return [self.layout.parts(name) for name in self.committed]

    @cached_property
    def ranked(self) -> pa.Table:
        """Every response's key columns, ``_segment``, ``_row`` and ``_latest`` (the rule)."""
        tables = [
            with_origin(read_parquet(path, _KEY_COLUMNS), name)
            for name, path in zip(self.committed, self.response_files, strict=True)
        ]
        tables.append(self.pending_responses.select([*_KEY_COLUMNS, *SEGMENT_COLUMNS.names]))
        table = pa.concat_tables(tables).combine_chunks()
        # A missing finished_at sorts first (oldest); the sort needs no null placement then.
        when = pc.fill_null(table.column("finished_at").cast(pa.int64()), -(2**63))
        keys = table.append_column("_when", when)
        order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in _ORDER])
        table = table.take(order)
        return table.append_column("_latest", last_of_each(table))

    def latest(self) -> pa.Table:
        """The responses that count: ``response_id``, ``prompt_id``, ``model``, ``status``..."""
        return self.ranked.filter(self.ranked.column("_latest"))

    def replaced(self) -> dict[str, list[str]]:
        """Segment name -> the response_ids in it that a newer record replaced."""
        if self.clean:
            return {}
        older = self.ranked.filter(pc.invert(self.ranked.column("_latest")))
        found: dict[str, list[str]] = {}
        for segment, response_id in zip(
            older.column("_segment").to_pylist(),
            older.column("response_id").to_pylist(),
            strict=True,
        ):
            found.setdefault(segment, []).append(response_id)
        return found

    def responses(self) -> pa.Table:
        """The responses that count, whole, in the `RESPONSES` schema, by prompt, model, step."""
        return self._winning(self.response_files, self.pending_responses, RESPONSES)

    def parts(self) -> pa.Table:
        """Their parts, in the `PARTS` schema, by prompt, model, step and part_index."""
        return self._winning(self.part_files, self.pending_parts, PARTS)

    def _winning(self, files: list[Path], pending: pa.Table, schema: pa.Schema) -> pa.Table:
        tables = [
            with_origin(read_parquet(path), name)
            for name, path in zip(self.committed, files, strict=True)
        ]
        table = pa.concat_tables([*tables, pending])
        if not self.clean:
            table = table.filter(pc.is_in(_origin_key(table), _origin_key(self.latest())))
        order = [(name, "ascending") for name in _KEY]
        if "part_index" in schema.names:
            order.append(("part_index", "ascending"))
        return table.sort_by(order).select(schema.names)

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the deduplicated views ``responses`` and ``parts`` in `con`."""
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {INTERNAL}")
        if self.clean and self.committed:
            for table, schema, files in (
                ("responses", RESPONSES, self.response_files),
                ("parts", PARTS, self.part_files),
            ):
                columns = ", ".join(f'"{name}"' for name in schema.names)
                con.execute(f"""
                    CREATE OR REPLACE VIEW {table} AS
                    SELECT {columns} FROM read_parquet({sql_list(files)})""")
            return
        con.register(f"{INTERNAL}_pending_responses", self.pending_responses)
        con.register(f"{INTERNAL}_pending_parts", self.pending_parts)
        con.register(f"{INTERNAL}_latest", self.latest().select(["response_id", "_segment"]))
        for table, schema, files in (
            ("responses", RESPONSES, self.response_files),
            ("parts", PARTS, self.part_files),
        ):
            rows = f"SELECT * FROM {INTERNAL}_pending_{table}"
            if files:
                stored = f"""
                    SELECT * EXCLUDE (filename, file_row_number),
                        regexp_extract(filename, '([^/\\\\]+)\\.parquet$', 1) AS _segment,
                        file_row_number AS _row
                    FROM read_parquet({sql_list(files)}, filename = true, file_row_number = true)"""
                rows = f"{stored} UNION ALL BY NAME {rows}"
            columns = ", ".join(f't."{name}"' for name in schema.names)
            con.execute(f"""
                CREATE OR REPLACE VIEW {table} AS
                SELECT {columns} FROM ({rows}) t
                SEMI JOIN {INTERNAL}_latest w
                ON t.response_id = w.response_id AND t._segment = w._segment""")


def last_of_each(table: pa.Table, keys: Sequence[str] = _KEY) -> pa.Array:
    """True for each row of `table` (sorted by `keys`) whose `keys` differ from the next row's."""
    rows = table.num_rows
    if rows == 0:
        return pa.nulls(0, pa.bool_())
    changes = [
        pc.not_equal(table.column(name).slice(0, rows - 1), table.column(name).slice(1))
        for name in keys
    ]
    last = changes[0]
    for change in changes[1:]:
        last = pc.or_(last, change)
    return pa.concat_arrays([last.combine_chunks(), pa.array([True])])


def _origin_key(table: pa.Table) -> pa.ChunkedArray:
    """Each row's segment and response_id, as one value."""
    return pc.binary_join_element_wise(table.column("_segment"), table.column("response_id"), "/")


def sql_list(paths: Sequence[Path]) -> str:
    """Paths as a DuckDB list literal."""
    quoted = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return f"[{quoted}]"


def _read_pending(layout: RunLayout, names: Sequence[str]) -> tuple[pa.Table, pa.Table]:
    responses, parts = [], []
    for name in names:
        segment = read_segment(layout.journal(name))
        if segment.records:
            tables = segment_tables(segment)
            responses.append(with_origin(tables.responses, name))
            parts.append(with_origin(tables.parts, name))
    return concat(responses, _PENDING_RESPONSES), concat(parts, _PENDING_PARTS)


def take_snapshot(layout: RunLayout) -> Snapshot:
    """Read a run as of now; retried if a segment is compacted while it is being read."""
    for _ in range(_ATTEMPTS):
        journals = layout.journals()  # before the Parquet files: compaction writes those first
        committed = layout.committed()
        done = set(committed)
        pending = [name for name in journals if name not in done]
        try:
            responses, parts = _read_pending(layout, pending)
        except FileNotFoundError:  # compacted meanwhile: its Parquet files now exist
            continue
        clean = responses.num_rows == 0 and read_deduplicated(layout, committed)
        return Snapshot(layout, tuple(committed), responses, parts, clean)
    msg = f"cannot read `{layout.root}`: its journal kept changing while being read"
    raise StoreError(msg)
