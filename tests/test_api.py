"""The Python API: every input type, sync inside a running loop, async, interrupt and resume."""

from __future__ import annotations

import _thread
import asyncio
import inspect
import json
import threading
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import llmframe
from llmframe.errors import UsageError
from llmframe.parts.types import Message, TextPart

PROMPTS = ["hi", "ünïcödé 🚀", "what is a table?"]
ANSWERS = [f"echo: {p}" for p in PROMPTS]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default run directories land in a fresh folder."""
    monkeypatch.chdir(tmp_path)


def texts(run: Any) -> list[str]:
    frame = run.outputs().sort("prompt_id")
    by_id = dict(zip(frame["prompt_id"].to_list(), frame["text"].to_list(), strict=True))
    return sorted(by_id.values())


def test_the_issue_example_prints_a_two_row_frame() -> None:
    frame = llmframe.run(["hi", "ünïcödé 🚀"], model="echo").outputs()
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == 2
    assert sorted(frame["text"].to_list()) == ["echo: hi", "echo: ünïcödé 🚀"]


def _inputs(tmp_path: Path) -> dict[str, Any]:
    rows = [{"prompt": p, "n": i} for i, p in enumerate(PROMPTS)]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    table = pa.Table.from_pylist(rows)
    return {
        "path": path,
        "str path": str(path),
        "strings": PROMPTS,
        "openai messages": [[{"role": "user", "content": p}] for p in PROMPTS],
        "Message objects": [[Message(role="user", parts=[TextPart(text=p)])] for p in PROMPTS],
        "dicts": rows,
        "pandas": pd.DataFrame(rows),
        "polars": pl.DataFrame(rows),
        "arrow table": table,
        "record batch reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        "duckdb relation": duckdb.from_arrow(table),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "path",
        "str path",
        "strings",
        "openai messages",
        "Message objects",
        "dicts",
        "pandas",
        "polars",
        "arrow table",
        "record batch reader",
        "duckdb relation",
    ],
)
def test_every_input_type_gives_the_same_answers(tmp_path: Path, kind: str) -> None:
    data = _inputs(tmp_path)[kind]
    run = llmframe.run(data, model="echo", progress=False)
    assert texts(run) == sorted(ANSWERS)
    if kind in ("dicts", "pandas", "polars", "arrow table", "path"):
        assert sorted(run.outputs()["n"].to_list()) == [0, 1, 2]


def test_user_columns_join_back_and_other_frame_kinds(tmp_path: Path) -> None:
    run = llmframe.run(pl.DataFrame({"prompt": PROMPTS, "label": ["a", "b", "c"]}), model="echo")
    pandas_frame = run.outputs(as_="pandas")
    assert isinstance(pandas_frame, pd.DataFrame)
    assert sorted(pandas_frame["label"]) == ["a", "b", "c"]
    arrow = run.responses(as_="arrow")
    assert isinstance(arrow, pa.Table)
    assert arrow.num_rows == 3
    assert run.sql("select count(*) from parts where type = 'text'").fetchall()[0] == (3,)


def test_sync_run_inside_a_running_event_loop() -> None:
    async def notebook_cell() -> list[str]:
        return texts(llmframe.run(PROMPTS, model="echo"))

    assert asyncio.run(notebook_cell()) == sorted(ANSWERS)


def test_await_arun() -> None:
    run = asyncio.run(llmframe.arun(PROMPTS, model="echo", options={"latency_ms": 1}))
    assert texts(run) == sorted(ANSWERS)


def test_run_and_arun_take_the_same_arguments() -> None:
    sync, asynchronous = inspect.signature(llmframe.run), inspect.signature(llmframe.arun)
    assert list(sync.parameters.values()) == list(asynchronous.parameters.values())


def test_the_same_call_resumes_the_same_run() -> None:
    first = llmframe.run(PROMPTS, model="echo")
    second = llmframe.run(PROMPTS, model="echo")
    assert first.path == second.path
    assert first.path.parent == Path("llmframe-runs")
    assert second.sql("select count(*) from responses").fetchall()[0] == (3,)
    other = llmframe.run(PROMPTS, model="echo", options={"temperature": 0})
    assert other.path != first.path
    both = llmframe.run(PROMPTS, models=["echo", "echo/second"], out=first.path)
    assert both.sql("select count(*) from responses").fetchall()[0] == (6,)


def _interrupt_soon(delay: float) -> threading.Timer:
    timer = threading.Timer(delay, _thread.interrupt_main)
    timer.start()
    return timer


@pytest.mark.parametrize("in_loop", [False, True], ids=["script", "notebook"])
def test_interrupt_stops_cleanly_and_running_again_resumes(tmp_path: Path, in_loop: bool) -> None:
    prompts = [f"question {i}" for i in range(60)]
    arguments: dict[str, Any] = {
        "model": "echo",
        "out": tmp_path / "run",
        "options": {"latency_ms": 200},
        "concurrency": 4,
    }

    def call() -> Any:
        if in_loop:

            async def cell() -> Any:
                return llmframe.run(prompts, **arguments)

            # As in a Jupyter kernel: a loop is running and SIGINT raises KeyboardInterrupt in
            # the main thread (asyncio.run would install its own SIGINT handler instead).
            loop = asyncio.new_event_loop()
            try:
                return loop.run_until_complete(cell())
            finally:
                loop.close()
        return llmframe.run(prompts, **arguments)

    timer = _interrupt_soon(0.9)
    with pytest.raises(KeyboardInterrupt):
        call()
    timer.join()
    partial = llmframe.open(tmp_path / "run").sql("select count(*) from responses").fetchall()[0][0]
    assert 0 < partial < len(prompts)
    finished = call()
    assert finished.sql("select count(*) from responses").fetchall()[0] == (len(prompts),)
    assert finished.sql("select count(distinct prompt_id) from responses").fetchall()[0] == (
        len(prompts),
    )


def test_bad_data_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="only prompts"):
        llmframe.run(["a", 1], model="echo")
    with pytest.raises(UsageError, match="empty"):
        llmframe.run([], model="echo")
    with pytest.raises(UsageError, match="cannot read a int"):
        llmframe.run(5, model="echo")
    with pytest.raises(UsageError, match="no model"):
        llmframe.run(["a"])
    assert not Path("llmframe-runs").exists()
