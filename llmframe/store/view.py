"""`open_run`: read-only access to a run, finished, in progress or killed; no lock taken."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from llmframe.errors import StoreError
from llmframe.store.layout import RunLayout
from llmframe.store.manifest import Manifest
from llmframe.store.snapshot import Snapshot, take_snapshot

if TYPE_CHECKING:
    import duckdb

__all__ = ["RunView", "open_run"]


class RunView:
    """A run directory opened for reading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.layout = RunLayout(path)
        manifest = self.layout.manifest
        try:
            text = manifest.read_text(encoding="utf-8")
        except FileNotFoundError:
            msg = f"`{path}` is not an llmframe run (no manifest.json)"
            raise StoreError(msg) from None
        except OSError as exc:
            msg = f"cannot read `{manifest}`: {exc.strerror or exc}"
            raise StoreError(msg) from exc
        self.manifest = Manifest.from_json(text, source=str(manifest))

    def snapshot(self) -> Snapshot:
        """The run's files and pending journal records as of now."""
        return take_snapshot(self.layout)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the views ``responses`` and ``parts`` of a fresh snapshot."""
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        self.snapshot().register(con)
        return con

    def prompts(self) -> pa.Table:
        """The prompts the run was made with."""
        try:
            return pq.read_table(self.layout.prompts)
        except OSError as exc:
            msg = f"cannot read `{self.layout.prompts}`: {exc}"
            raise StoreError(msg) from exc

    def responses(self) -> pa.Table:
        """One response per (prompt_id, model, step), the latest, in the `RESPONSES` schema."""
        return self.snapshot().responses()

    def parts(self) -> pa.Table:
        """The parts of those responses, in the `PARTS` schema."""
        return self.snapshot().parts()


def to_arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """A DuckDB relation as an Arrow table (across DuckDB versions)."""
    method = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return method()


def open_run(path: str | os.PathLike[str]) -> RunView:
    """Open a run directory for reading; it may be finished, in progress or killed."""
    return RunView(Path(path))
