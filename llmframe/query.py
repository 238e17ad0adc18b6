"""DuckDB views over a run directory, and SQL results written out for the CLI.

`connect` registers these views (a finished, in-progress or killed run alike: journal records
not compacted yet are included; each (prompt_id, model, step) once, the latest record):

- ``prompts``: ``prompts.parquet`` as run.
- ``responses``, ``parts``: the `llmframe.schema.RESPONSES` and ``PARTS`` tables.
- ``outputs``: one row per finished (prompt, model), its final step: ``prompt_id``, ``model``,
  ``status``, ``text`` (its text parts joined in order), ``json`` (its first JSON part), error,
  tokens and latency (of that step; ``responses`` has every step's), then the
  prompt's user columns (one named like an outputs column gets an ``input_`` prefix). Rows
  follow the prompts' order, then the model.
- ``conversations``: each chain that ended ok as a prompts row, ready for the next turn: the
  prompt's columns with every step appended to ``messages`` (the assistant message, then a
  ``tool`` message of the results llmframe's tools returned for it) and
  ``model`` set to the response's model. With several models an ``id`` repeats once per model.

duckdb is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import pyarrow as pa
import pyarrow.parquet as pq

from llmframe._atomic import atomic_path
from llmframe.errors import UsageError
from llmframe.io.parquet import write_table
from llmframe.schema import PART_FIELDS, PROMPT_OVERRIDES
from llmframe.store import RunView, open_run
from llmframe.store.snapshot import INTERNAL, sql_list
from llmframe.store.view import to_arrow

if TYPE_CHECKING:
    import duckdb

__all__ = ["ResultFormat", "connect", "format_result", "sql"]

ResultFormat = Literal["table", "csv", "json", "parquet"]
RunLike = str | os.PathLike[str] | RunView

_NOT_USER = frozenset({"id", "messages", *PROMPT_OVERRIDES.names})
_OUTPUT_COLUMNS = (
    "r.prompt_id",
    "r.model",
    "r.status",
    "t.text",
    "t.json",
    "r.finish_reason",
    "r.error_type",
    "r.error_message",
    "r.input_tokens",
    "r.output_tokens",
    "r.reasoning_tokens",
    "r.cached_tokens",
    "r.latency_ms",
    "r.ttft_ms",
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _outputs_sql(prompt_columns: list[str]) -> str:
    taken = {column.split(".")[1] for column in _OUTPUT_COLUMNS}
    user = [
        f"p.{_quote(c)}" + (f" AS {_quote('input_' + c)}" if c in taken else "")
        for c in prompt_columns
        if c not in _NOT_USER
    ]
    return f"""
        CREATE VIEW outputs AS
        WITH t AS (
            SELECT response_id,
                string_agg(text, '' ORDER BY part_index) FILTER (WHERE type = 'text') AS text,
                first(json ORDER BY part_index) FILTER (WHERE type = 'json') AS json
            FROM parts GROUP BY response_id
        )
        SELECT {", ".join([*_OUTPUT_COLUMNS, *user])}
        FROM responses r
        LEFT JOIN t USING (response_id)
        LEFT JOIN {INTERNAL}.prompts p ON p.id = r.prompt_id
        WHERE r.final
        ORDER BY p._row, r.model"""


def _conversations_sql(prompt_columns: list[str]) -> str:
    part = ", ".join(f"{_quote(f.name)}: {_quote(f.name)}" for f in PART_FIELDS)
    columns = []
    for name in prompt_columns:
        if name == "messages":
            columns.append("list_concat(p.messages, c.turns) AS messages")
            if "model" not in prompt_columns:
                columns.append("c.model AS model")
        elif name == "model":
            columns.append("c.model AS model")
        else:
            columns.append(f"p.{_quote(name)}")
    return f"""
        CREATE VIEW conversations AS
        WITH a AS (
            SELECT response_id,
                list({{{part}}} ORDER BY part_index) FILTER (WHERE type <> 'tool_result')
                    AS answer,
                list({{{part}}} ORDER BY part_index) FILTER (WHERE type = 'tool_result')
                    AS results
            FROM parts GROUP BY response_id
        ),
        s AS (
            SELECT r.prompt_id, r.model, r.step, r.final, r.status,
                [{{'role': 'assistant', 'parts': coalesce(a.answer, [])}}]
                || CASE WHEN a.results IS NULL THEN [] ELSE [{{'role': 'tool', 'parts': a.results}}]
                   END AS messages
            FROM responses r LEFT JOIN a USING (response_id)
        ),
        c AS (
            SELECT prompt_id, model, flatten(list(messages ORDER BY step)) AS turns
            FROM s GROUP BY prompt_id, model
            HAVING bool_or(final AND status = 'ok')
        )
        SELECT {", ".join(columns)}
        FROM c
        JOIN {INTERNAL}.prompts p ON p.id = c.prompt_id
        ORDER BY p._row, c.model"""


def connect(run: RunLike) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the run's views (see the module docstring)."""
    import duckdb

    view = run if isinstance(run, RunView) else open_run(run)
    con = view.connect()
    with contextlib.suppress(duckdb.Error):  # JSON columns come back tagged as JSON
        con.execute("SET arrow_lossless_conversion = true")
    prompts = sql_list([view.layout.prompts])
    prompt_columns = pq.read_schema(view.layout.prompts).names
    con.execute(f"CREATE VIEW prompts AS SELECT * FROM read_parquet({prompts})")
    con.execute(f"""
        CREATE VIEW {INTERNAL}.prompts AS
        SELECT * EXCLUDE (file_row_number), file_row_number AS _row
        FROM read_parquet({prompts}, file_row_number = true)""")
    con.execute(_outputs_sql(prompt_columns))
    con.execute(_conversations_sql(prompt_columns))
    return con


def _storage(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pa.chunked_array(
        [chunk.storage for chunk in column.chunks], type=column.type.storage_type
    )


def _plain_integers(table: pa.Table) -> pa.Table:
    """DuckDB's 128-bit integers (``sum`` of a BIGINT) as int64, or decimal where they overflow.

    Lossless conversion (kept so JSON columns stay tagged) hands them over as opaque bytes.
    """
    for index, field in enumerate(table.schema):
        type_name = getattr(field.type, "type_name", None)
        if type_name not in ("hugeint", "uhugeint"):
            continue
        signed = type_name == "hugeint"
        values = [
            None if raw is None else int.from_bytes(raw, "little", signed=signed)
            for raw in _storage(table.column(index)).to_pylist()
        ]
        fits = all(v is None or -(2**63) <= v < 2**63 for v in values)
        array = pa.array(values, type=pa.int64() if fits else pa.decimal128(38, 0))
        table = table.set_column(index, field.name, array)
    return table


def sql(run: RunLike, query: str) -> pa.Table:
    """Run one SQL query over the run's views; the result as an Arrow table."""
    import duckdb

    con = connect(run)
    try:
        relation = con.sql(query)
        return pa.table({}) if relation is None else _plain_integers(to_arrow(relation))
    except duckdb.Error as exc:
        msg = f"SQL failed: {exc}"
        raise UsageError(msg) from None
    finally:
        con.close()


def format_result(
    table: pa.Table,
    fmt: ResultFormat = "table",
    output: Path | None = None,
    *,
    max_rows: int | None = None,
) -> None:
    """Write a result as a text table, CSV, JSON Lines or Parquet, to `output` or stdout.

    A text table on stdout shows up to `max_rows` rows (DuckDB's default when None); written
    to a file it shows every row. Parquet needs an `output`.
    """
    if fmt not in get_args(ResultFormat):
        msg = f"unknown format `{fmt}`; expected one of: {', '.join(get_args(ResultFormat))}"
        raise UsageError(msg)
    if fmt == "parquet":
        if output is None:
            msg = "`--format parquet` needs an output file"
            raise UsageError(msg)
        write_table(table, Path(output))
        return
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        relation = con.from_arrow(table)
        if fmt == "table":
            text = io.StringIO()
            rows = max_rows if output is None else max(table.num_rows, 1)
            with contextlib.redirect_stdout(text):
                relation.show(max_rows=rows, max_width=None if output is None else 10_000)
            _emit_text(text.getvalue(), output)
        else:
            _copy(con, relation, fmt, output)
    finally:
        con.close()


def _emit_text(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    with atomic_path(Path(output)) as temporary:
        temporary.write_text(text, encoding="utf-8")


def _copy(
    con: duckdb.DuckDBPyConnection,
    relation: duckdb.DuckDBPyRelation,
    fmt: Literal["csv", "json"],
    output: Path | None,
) -> None:
    con.register("result", relation)
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT json"
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / f"result.{fmt}"
        con.execute(f"COPY result TO {sql_list([target])[1:-1]} ({options})")
        if output is None:
            sys.stdout.flush()
            with open(target, "rb") as source:
                shutil.copyfileobj(source, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with atomic_path(Path(output)) as temporary:
                shutil.copyfile(target, temporary)
