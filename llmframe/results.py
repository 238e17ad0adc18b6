"""`Run`: a run directory's tables as DataFrames, SQL over its views, and a summary.

A `Run` keeps one DuckDB connection with the views of `llmframe.query` (``prompts``,
``responses``, ``parts``, ``outputs``, ``conversations``), opened on first use. Every table,
`Run.sql` and `Run.summary` read through it, so they agree with each other: they show the run
as it was when the connection opened. On a run still being written, `Run.refresh` opens a new
connection that sees the newer records.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import pyarrow as pa

from llmframe._frames import check_format, to_frame
from llmframe._typing import FrameFormat
from llmframe.errors import LlmframeError, StoreError, UsageError
from llmframe.store import Manifest, RunView, open_run
from llmframe.store.snapshot import INTERNAL
from llmframe.store.view import to_arrow

if TYPE_CHECKING:
    from types import TracebackType

    import duckdb
    import pandas as pd
    import polars as pl

    from llmframe.runner import RunSummary

__all__ = ["Run", "RunStats"]

_PREVIEW_ROWS = 10
_PREVIEW_CHARS = 200
_QUERIES = {
    "prompts": "SELECT * FROM prompts",
    "responses": f"""
        SELECT r.* FROM responses r LEFT JOIN {INTERNAL}.prompts p ON p.id = r.prompt_id
        ORDER BY p._row, r.model, r.step""",
    "parts": f"""
        SELECT t.* FROM parts t LEFT JOIN {INTERNAL}.prompts p ON p.id = t.prompt_id
        ORDER BY p._row, t.model, t.step, t.part_index""",
    "outputs": "SELECT * FROM outputs",
    "conversations": "SELECT * FROM conversations",
}
_STATS_SQL = """
    SELECT count(*) FILTER (WHERE final) AS total, count(*) AS steps,
        count(*) FILTER (WHERE final AND status = 'ok') AS ok,
        count(*) FILTER (WHERE final AND status = 'error') AS error,
        count(*) FILTER (WHERE final AND status = 'invalid') AS invalid,
        coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
        coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
        coalesce(sum(reasoning_tokens), 0)::BIGINT AS reasoning_tokens,
        coalesce(sum(cached_tokens), 0)::BIGINT AS cached_tokens,
        quantile_cont(latency_ms, [0.5, 0.9, 0.99]) FILTER (WHERE status <> 'error') AS latency,
        quantile_cont(ttft_ms, [0.5, 0.9]) FILTER (WHERE status <> 'error') AS ttft
    FROM responses"""
_ERRORS_SQL = """
    SELECT coalesce(error_type, 'unknown') AS kind, count(*) AS n FROM responses
    WHERE final AND status = 'error' GROUP BY kind ORDER BY n DESC, kind"""


@dataclass(frozen=True)
class RunStats:
    """What a run directory holds, computed from its files (`Run.summary`).

    Latency and time-to-first-token percentiles (milliseconds, interpolated) are over the
    responses that got an answer (``ok`` and ``invalid``); None when there are none. TTFT is
    only measured on streamed responses. ``errors_by_type`` counts the ``error`` rows by
    ``error_type``, most frequent first. ``models`` are the run's models (its manifest's,
    then any others with responses).
    """

    total: int
    """Finished (prompt, model) chains; one response each unless tools added steps."""
    steps: int
    """Rows of ``responses``: every step of every chain."""
    ok: int
    error: int
    invalid: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    errors_by_type: dict[str, int]
    models: tuple[str, ...]
    prompts: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-ready values."""
        values = asdict(self)
        values["models"] = list(self.models)
        return values

    def _headline(self) -> str:
        steps = f" in {self.steps} steps" if self.steps != self.total else ""
        return (
            f"{self.total} responses{steps}: {self.ok} ok, {self.error} error, "
            f"{self.invalid} invalid"
            f" ({self.prompts} prompts x {len(self.models)} model(s))"
        )

    def describe(self) -> list[tuple[str, str]]:
        """The summary as (label, value) pairs, for display."""
        rows = [
            (
                "responses",
                f"{self.total} ({self.ok} ok, {self.error} error, {self.invalid} invalid)",
            ),
            ("prompts", str(self.prompts)),
            ("models", ", ".join(self.models) or "-"),
            (
                "tokens",
                f"{self.input_tokens:,} in, {self.output_tokens:,} out, "
                f"{self.reasoning_tokens:,} reasoning, {self.cached_tokens:,} cached",
            ),
            (
                "latency ms",
                f"p50 {format_ms(self.latency_p50_ms)}, p90 {format_ms(self.latency_p90_ms)}, "
                f"p99 {format_ms(self.latency_p99_ms)}",
            ),
            ("TTFT ms", f"p50 {format_ms(self.ttft_p50_ms)}, p90 {format_ms(self.ttft_p90_ms)}"),
        ]
        if self.errors_by_type:
            kinds = ", ".join(f"{kind} {n}" for kind, n in self.errors_by_type.items())
            rows.append(("errors", kinds))
        return rows

    def __str__(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.describe())


def format_ms(value: float | None) -> str:
    """Milliseconds for display: one decimal below 10, whole above."""
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _last_line(last: RunSummary) -> str:
    """What the invocation that produced a run reported, as one line."""
    text = f"{last.ok} ok, {last.errors} errors"
    if last.errors_by_type:
        text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(last.errors_by_type.items())) + ")"
    text += f", {last.skipped} already done, {last.retries} retries"
    if last.interrupted:
        text += "; interrupted: run it again to resume"
    return text


class Run:
    """A run directory (finished, in progress or killed): tables, SQL and a summary.

    `last` is the `RunSummary` of the invocation that produced it, when there was one; its
    interruption and error counts are shown next to the summary, which is always computed
    from the files. Tables come back as polars DataFrames unless ``as_`` says ``"pandas"`` or
    ``"arrow"``. JSON columns (``json``, ``options``, ``provider_data``...) are strings of
    JSON text in polars and pandas (decode with ``pl.col("json").str.json_decode()`` or
    ``json.loads``) and keep Arrow's ``arrow.json`` type in Arrow; binary ``data`` stays bytes.
    Labels (``status``, ``type``, ``role``) are plain strings. pandas gets nullable integers.
    """

    def __init__(self, path: str | os.PathLike[str], *, last: RunSummary | None = None) -> None:
        self._view = _open(Path(path))
        self._last = last
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def path(self) -> Path:
        """The run directory."""
        return self._view.path

    @property
    def manifest(self) -> Manifest:
        """What was run: models, options, media root (as of opening or the last refresh)."""
        return self._view.manifest

    @property
    def last(self) -> RunSummary | None:
        """The `RunSummary` of the invocation that produced this run, if given."""
        return self._last

    # -- connection ---------------------------------------------------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            import duckdb

            from llmframe.query import connect

            try:
                self._con = connect(self._view)
            except duckdb.Error as exc:
                msg = f"cannot read run `{self.path}`: {exc}"
                raise StoreError(msg) from None
            _lossless(self._con, on=False)
        return self._con

    def refresh(self) -> None:
        """Read the run again, to see records written since it was opened.

        Relations from `sql` made before keep reading the run as it was.
        """
        self._view = _open(self.path)
        self._con = None

    def close(self) -> None:
        """Close the DuckDB connection (reopened if the run is used again)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- SQL -----------------------------------------------------------------------------------

    def sql(self, query: str, *, params: object = None) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation for `query` over the views, on the run's connection.

        Example: ``run.sql("SELECT model, avg(latency_ms) FROM responses GROUP BY model").pl()``.
        `params` are bound to ``?`` or ``$name`` placeholders. Statements that change the
        connection (``CREATE VIEW``) persist until `refresh`. JSON columns convert to text
        (``.pl()``, ``.df()``, ``.arrow()``), as DuckDB does by default.
        """
        import duckdb

        con = self._connection()
        try:
            relation = con.sql(query, params=params)
        except duckdb.Error as exc:
            msg = f"SQL failed: {exc}"
            raise UsageError(msg) from None
        # DuckDB 1.x gives None for a statement without a result (CREATE VIEW); 2.x a relation.
        return relation if relation is not None else con.sql("SELECT NULL AS result LIMIT 0")

    def _arrow(self, query: str, params: object = None) -> pa.Table:
        """A query's result with JSON columns tagged ``arrow.json`` (lossless conversion)."""
        import duckdb

        con = self._connection()
        _lossless(con, on=True)
        try:
            return _plain_booleans(to_arrow(con.sql(query, params=params)))
        except duckdb.Error as exc:
            msg = f"cannot read run `{self.path}`: {exc}"
            raise StoreError(msg) from None
        finally:
            _lossless(con, on=False)

    def _table(self, name: str, as_: FrameFormat) -> Any:
        check_format(as_)
        return to_frame(self._arrow(_QUERIES[name]), as_)

    # -- tables --------------------------------------------------------------------------------

    @overload
    def outputs(self, *, as_: Literal["polars"] = ...) -> pl.DataFrame: ...
    @overload
    def outputs(self, *, as_: Literal["pandas"]) -> pd.DataFrame: ...
    @overload
    def outputs(self, *, as_: Literal["arrow"]) -> pa.Table: ...
    def outputs(self, *, as_: FrameFormat = "polars") -> pl.DataFrame | pd.DataFrame | pa.Table:
        """Each finished (prompt, model)'s final step: text, JSON, status, tokens, user columns."""
        return self._table("outputs", as_)

    @overload
    def responses(self, *, as_: Literal["polars"] = ...) -> pl.DataFrame: ...
    @overload
    def responses(self, *, as_: Literal["pandas"]) -> pd.DataFrame: ...
    @overload
    def responses(self, *, as_: Literal["arrow"]) -> pa.Table: ...
    def responses(self, *, as_: FrameFormat = "polars") -> pl.DataFrame | pd.DataFrame | pa.Table:
        """One row per (prompt, model, step), in prompt, model, step order (`RESPONSES` columns)."""
        return self._table("responses", as_)

    @overload
    def parts(self, *, as_: Literal["polars"] = ...) -> pl.DataFrame: ...
    @overload
    def parts(self, *, as_: Literal["pandas"]) -> pd.DataFrame: ...
    @overload
    def parts(self, *, as_: Literal["arrow"]) -> pa.Table: ...
    def parts(self, *, as_: FrameFormat = "polars") -> pl.DataFrame | pd.DataFrame | pa.Table:
        """One row per response part, in prompt, model, step and part order (`PARTS` columns)."""
        return self._table("parts", as_)

    @overload
    def prompts(self, *, as_: Literal["polars"] = ...) -> pl.DataFrame: ...
    @overload
    def prompts(self, *, as_: Literal["pandas"]) -> pd.DataFrame: ...
    @overload
    def prompts(self, *, as_: Literal["arrow"]) -> pa.Table: ...
    def prompts(self, *, as_: FrameFormat = "polars") -> pl.DataFrame | pd.DataFrame | pa.Table:
        """The normalised prompts the run was made with, in their order."""
        return self._table("prompts", as_)

    @overload
    def conversations(self, *, as_: Literal["polars"] = ...) -> pl.DataFrame: ...
    @overload
    def conversations(self, *, as_: Literal["pandas"]) -> pd.DataFrame: ...
    @overload
    def conversations(self, *, as_: Literal["arrow"]) -> pa.Table: ...
    def conversations(
        self, *, as_: FrameFormat = "polars"
    ) -> pl.DataFrame | pd.DataFrame | pa.Table:
        """Each ok response appended to its prompt's messages: a prompts table for the next turn."""
        return self._table("conversations", as_)

    # -- summary -------------------------------------------------------------------------------

    def summary(self) -> RunStats:
        """Counts, tokens, latency and errors, computed from the run's files."""
        counts = self._arrow(_STATS_SQL).to_pylist()[0]
        latency = counts.pop("latency") or [None] * 3
        ttft = counts.pop("ttft") or [None] * 2
        errors = self._arrow(_ERRORS_SQL).to_pylist()
        seen = self._arrow("SELECT DISTINCT model FROM responses ORDER BY model")
        prompts = self._arrow("SELECT count(*) AS n FROM prompts").column("n")[0].as_py()
        return RunStats(
            **counts,
            latency_p50_ms=latency[0],
            latency_p90_ms=latency[1],
            latency_p99_ms=latency[2],
            ttft_p50_ms=ttft[0],
            ttft_p90_ms=ttft[1],
            errors_by_type={e["kind"]: e["n"] for e in errors},
            models=tuple(dict.fromkeys([*self.manifest.models, *seen.column("model").to_pylist()])),
            prompts=prompts,
        )

    # -- display -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        try:
            line = self.summary()._headline()
        except LlmframeError as exc:
            line = f"unreadable: {exc}"
        text = f"Run({str(self.path)!r}): {line}"
        if self._last is not None:
            text += f"; last invocation: {_last_line(self._last)}"
        return text

    def _repr_html_(self) -> str:
        from llmframe._run_html import render, render_error

        try:
            stats = self.summary()
            rows = self._preview_rows()
        except LlmframeError as exc:
            return render_error(self.path, exc)
        extra = [("last invocation", _last_line(self._last))] if self._last is not None else []
        return render(self.path, stats, rows, extra=extra, media_root=self.manifest.media_root)

    def _preview_rows(self) -> list[dict[str, Any]]:
        """The first rows of ``outputs``; ``images``: (``"prompt"`` or ``"response"``, part)."""
        rows = self._arrow(f"""
            SELECT prompt_id, model, status, left(text, {_PREVIEW_CHARS + 1}) AS text,
                error_type, left(error_message, {_PREVIEW_CHARS + 1}) AS error_message,
                input_tokens, output_tokens, latency_ms
            FROM outputs LIMIT {_PREVIEW_ROWS}""").to_pylist()
        ids = sorted({row["prompt_id"] for row in rows})
        asked: dict[str, list[dict[str, Any]]] = {}
        prompts = self._arrow("SELECT id, messages FROM prompts WHERE list_contains(?, id)", [ids])
        for prompt in prompts.to_pylist():
            asked[prompt["id"]] = [
                part
                for message in prompt["messages"]
                for part in message["parts"]
                if part["type"] == "image"
            ]
        answered: dict[tuple[str, str], list[dict[str, Any]]] = {}
        parts = self._arrow(
            """SELECT prompt_id, model, uri, data, mime_type FROM parts
            WHERE type = 'image' AND list_contains(?, prompt_id)
            ORDER BY prompt_id, model, part_index""",
            [ids],
        )
        for part in parts.to_pylist():
            answered.setdefault((part["prompt_id"], part["model"]), []).append(part)
        for row in rows:
            key = (row["prompt_id"], row["model"])
            row["images"] = [("prompt", part) for part in asked.get(row["prompt_id"], [])]
            row["images"] += [("response", part) for part in answered.get(key, [])]
        return rows


def _plain_booleans(table: pa.Table) -> pa.Table:
    """Booleans as Arrow booleans: lossless conversion tags them ``arrow.bool8`` (int8)."""
    for index, field in enumerate(table.schema):
        if isinstance(field.type, pa.BaseExtensionType) and pa.types.is_int8(
            field.type.storage_type
        ):
            column = pa.chunked_array(
                [chunk.storage.cast(pa.bool_()) for chunk in table.column(index).chunks],
                pa.bool_(),
            )
            table = table.set_column(index, field.with_type(pa.bool_()), column)
    return table


def _lossless(con: duckdb.DuckDBPyConnection, *, on: bool) -> None:
    """Turn DuckDB's lossless Arrow conversion on or off (where DuckDB has the setting).

    On, JSON comes out tagged ``arrow.json``, but sums (HUGEINT) as opaque bytes; so it is off
    for the relations `Run.sql` hands out, which then give JSON as text and sums as decimals.
    """
    import duckdb

    with contextlib.suppress(duckdb.Error):
        con.execute(f"SET arrow_lossless_conversion = {'true' if on else 'false'}")


def _open(path: Path) -> RunView:
    """Open a run for reading, refusing a missing folder or one that is not a run."""
    if not path.exists():
        msg = f"no run at `{path}`: the folder does not exist"
        raise StoreError(msg)
    if not path.is_dir():
        msg = f"`{path}` is not a run directory: it is a file"
        raise StoreError(msg)
    view = open_run(path)
    if not view.layout.prompts.is_file():
        msg = f"`{path}` is not a complete run: it has no prompts.parquet"
        raise StoreError(msg)
    return view
