"""Tool calling: captured as parts, and with Python functions a loop whose every step is a row."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import cli
from openai_server import Fault, OpenAIServer

import llmframe
from llmframe._launch import RunRequest, launch
from llmframe.io import ReadOptions
from llmframe.query import sql
from llmframe.runner import RunOptions
from llmframe.store import open_run
from llmframe.tools.config import tool_config

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class Calls:
    """Counts calls, thread-safely (sync tools run on worker threads)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, name: str) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1


def make_tools(calls: Calls) -> list[Any]:
    def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        calls.add("get_weather")
        return {"city": city, "temp_c": 21}

    async def search_db(q: str, limit: int = 3) -> list[str]:
        """Search the product database."""
        calls.add("search_db")
        await asyncio.sleep(0)
        return [f"hit {i}" for i in range(min(limit, 3))]

    return [get_weather, search_db]


def test_the_cli_stores_one_tool_call_part_per_call(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, openai_server: OpenAIServer
) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([WEATHER]), encoding="utf-8")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Weather in {c}?"}) + "\n" for c in "ABC"))
    openai_server.plan(Fault("reply", tool_calls=(("get_weather", '{"city": "Oslo"}'),)), request=1)
    out = tmp_path / "run"
    code, _, err = cli(
        capsys, "run", str(prompts), "-m", "openai/m", "--base-url", openai_server.base_url,
        "--tools", str(tools), "--tool-choice", "get_weather", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    sent = openai_server.requests[0].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    rows = sql(
        out,
        "select name, json_extract_string(json, '$.city') as city, step from parts"
        " where type = 'tool_call' order by city",
    ).to_pylist()
    assert len(rows) == 3
    assert {"name": "get_weather", "city": "Oslo", "step": 0} in rows
    # tools from a file are never run: one step, no results
    assert sql(out, "select count(*) as n from parts where type = 'tool_result'").to_pylist() == [
        {"n": 0}
    ]


def test_bad_tool_files_and_choices_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "hi"}) + "\n")
    tools = tmp_path / "tools.json"
    for body, words in [
        ([WEATHER, WEATHER], "get_weather"),
        ([{"description": "no name"}], "1"),
        ([{"name": "x", "parameters": {"type": "array"}}], "`x`"),
    ]:
        tools.write_text(json.dumps(body), encoding="utf-8")
        code, _, err = cli(
            capsys, "run", str(prompts), "-m", "echo", "--tools", str(tools),
            "--out", str(tmp_path / "r"),
        )  # fmt: skip
        assert code == 2, err
        assert words in err
    tools.write_text(json.dumps([WEATHER]), encoding="utf-8")
    code, _, err = cli(
        capsys, "run", str(prompts), "-m", "echo", "--tools", str(tools),
        "--tool-choice", "nosuch", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 2
    assert "`nosuch` names no tool" in err
    assert not (tmp_path / "r").exists()


def test_python_functions_run_a_multi_step_chain_over_100_rows(tmp_path: Path) -> None:
    calls = Calls()
    run = llmframe.run(
        [f"question {i}" for i in range(100)],
        model="echo",
        tools=make_tools(calls),
        out=tmp_path / "run",
        progress=False,
    )
    assert calls.counts == {"get_weather": 100, "search_db": 100}
    steps = run.sql(
        "select step, type, name, count(*) as n from parts group by all order by all"
    ).fetchall()
    assert steps == [
        (0, "tool_call", "get_weather", 100),
        (0, "tool_result", "get_weather", 100),
        (1, "tool_call", "search_db", 100),
        (1, "tool_result", "search_db", 100),
        (2, "text", None, 100),
    ]
    finals = run.sql("select step, final, status from responses").fetchall()
    assert sorted(set(finals)) == [(0, False, "ok"), (1, False, "ok"), (2, True, "ok")]
    assert run.sql("select count(*) from outputs").fetchall() == [(100,)]
    timed = run.sql(
        "select count(*) from parts where type = 'tool_result'"
        " and json_extract(provider_data, '$.llmframe.duration_ms')::DOUBLE >= 0"
    ).fetchall()
    assert timed == [(200,)]
    conversation = run.conversations()["messages"][0].to_list()
    assert [m["role"] for m in conversation] == [
        "user", "assistant", "tool", "assistant", "tool", "assistant"
    ]  # fmt: skip
    assert json.loads(conversation[2]["parts"][0]["json"]) == {"city": "question 0", "temp_c": 21}
    summary = run.summary()
    assert (summary.total, summary.ok) == (100, 100)


def test_a_raising_tool_and_a_slow_tool_become_results_for_the_model(tmp_path: Path) -> None:
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        msg = f"no station in {city}"
        raise ValueError(msg)

    async def search_db(q: str) -> str:
        """Search the product database."""
        await asyncio.sleep(30)
        return "never"

    started = time.monotonic()
    run = llmframe.run(
        ["hi"],
        model="echo",
        tools=[get_weather, search_db],
        tool_timeout=0.2,
        out=tmp_path / "run",
        progress=False,
    )
    assert time.monotonic() - started < 10
    results = run.sql(
        "select name, text, json_extract(provider_data, '$.llmframe.error')::BOOLEAN as failed"
        " from parts where type = 'tool_result' order by step"
    ).fetchall()
    assert results == [
        ("get_weather", "ValueError: no station in hi", True),
        ("search_db", "TimeoutError: the tool did not return within 0.2 s", True),
    ]
    assert run.sql("select status, step from responses where final").fetchall() == [("ok", 2)]


def test_max_steps_stops_the_chain_and_says_so(tmp_path: Path) -> None:
    calls = Calls()
    run = llmframe.run(
        ["hi"], model="echo", tools=make_tools(calls), max_steps=2, out=tmp_path / "run",
        progress=False,
    )  # fmt: skip
    assert calls.counts == {"get_weather": 1}
    rows = run.sql(
        "select step, final, status, error_type, error_message from responses order by step"
    ).fetchall()
    assert rows[0][:3] == (0, False, "ok")
    assert rows[1][:4] == (1, True, "error", "MaxSteps")
    assert "max_steps" in rows[1][4]
    assert run.summary().errors_by_type == {"MaxSteps": 1}


@pytest.mark.parametrize("stream", [True, False])
def test_parallel_unknown_and_malformed_calls_keep_their_order(
    tmp_path: Path, openai_server: OpenAIServer, stream: bool
) -> None:
    calls = Calls()
    openai_server.plan(
        Fault(
            "reply",
            tool_calls=(
                ("search_db", '{"q": "lamp", "limit": 2}'),
                ("get_weather", '{"city": "Lima"}'),
                ("launch_rocket", "{}"),
                ("get_weather", '{"city": '),
                ("search_db", '{"limit": "many"}'),
            ),
        ),
        request=1,
    )
    run = llmframe.run(
        ["go"],
        model="openai/m",
        base_url=openai_server.base_url,
        tools=make_tools(calls),
        stream=stream,
        out=tmp_path / "run",
        progress=False,
    )
    parts = run.sql(
        "select type, name, text, json from parts where step = 0 order by part_index"
    ).fetchall()
    assert [(t, n) for t, n, _, _ in parts] == [
        ("tool_call", "search_db"), ("tool_call", "get_weather"), ("tool_call", "launch_rocket"),
        ("tool_call", "get_weather"), ("tool_call", "search_db"),
        ("tool_result", "search_db"), ("tool_result", "get_weather"),
        ("tool_result", "launch_rocket"), ("tool_result", "get_weather"),
        ("tool_result", "search_db"),
    ]  # fmt: skip
    results = parts[5:]
    assert json.loads(results[0][3]) == ["hit 0", "hit 1"]
    assert json.loads(results[1][3]) == {"city": "Lima", "temp_c": 21}
    assert "no tool named `launch_rocket`" in results[2][2]
    assert "not valid JSON" in results[3][2]
    assert "q" in results[4][2]  # the missing argument, for the model to fix
    assert calls.counts == {"search_db": 1, "get_weather": 1}
    second = openai_server.requests[1].body["messages"]
    assert [m["role"] for m in second] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "tool",
        "tool",
        "tool",
    ]
    assert [m["tool_call_id"] for m in second[2:]] == [f"call_{i}" for i in range(5)]


def _request(server: OpenAIServer, source: Path, out: Path, tools: list[Any]) -> RunRequest:
    return RunRequest(
        source=source,
        models=["openai/m"],
        out=out,
        read=ReadOptions(),
        model_options={},
        options=RunOptions(concurrency=16, backoff_base=0.01, stop_grace=0.1),
        base_url=server.base_url,
        tools=tool_config(tools),
    )


def _steps_sent(server: OpenAIServer) -> list[int]:
    """The step of each request the server got: one per assistant message before it."""
    return [sum(1 for m in r.body["messages"] if m["role"] == "assistant") for r in server.requests]


def _recorded(out: Path) -> int:
    """Steps recorded in the run at `out` so far (0 before it exists)."""
    if not (out / "manifest.json").exists():
        return 0
    return len(open_run(out).snapshot().latest())


def test_a_killed_chain_resumes_at_its_next_step(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text("".join(json.dumps({"prompt": f"q{i}"}) + "\n" for i in range(8)))
    out = tmp_path / "run"
    calls = Calls()
    first, fast_second = make_tools(calls)

    async def search_db(q: str, limit: int = 3) -> list[str]:
        """Search the product database."""
        await asyncio.sleep(3600)  # never returns: the run is killed here
        return []

    async def kill_after_first_steps() -> None:
        task = asyncio.create_task(launch(_request(openai_server, source, out, [first, search_db])))
        while _recorded(out) < 8:
            await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(kill_after_first_steps())
    assert calls.counts == {"get_weather": 8}
    sent = _steps_sent(openai_server)
    assert sent.count(0) == 8
    assert sent.count(1) <= 8  # in flight when the run was killed: these are sent again
    openai_server.reset()
    summary = asyncio.run(launch(_request(openai_server, source, out, [first, fast_second])))
    assert (summary.ok, summary.total) == (8, 8)
    assert calls.counts == {"get_weather": 8, "search_db": 8}  # step 0 was not run again
    resumed = _steps_sent(openai_server)  # a killed request may arrive late: step 1 may repeat
    assert (resumed.count(0), resumed.count(2)) == (0, 8)
    assert 8 <= resumed.count(1) <= 16
    chain = sql(out, "select step, final from responses order by prompt_id, step").to_pylist()
    assert chain[:3] == [
        {"step": 0, "final": False}, {"step": 1, "final": False}, {"step": 2, "final": True}
    ]  # fmt: skip
    again = asyncio.run(launch(_request(openai_server, source, out, [first, fast_second])))
    assert (again.skipped, again.total) == (8, 0)


def test_retry_errors_redoes_the_failed_step_only(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text(json.dumps({"prompt": "q"}) + "\n")
    out = tmp_path / "run"
    calls = Calls()
    openai_server.plan("bad_request", request=2)  # the second step fails, not retryable
    first = asyncio.run(launch(_request(openai_server, source, out, make_tools(calls))))
    assert first.errors == 1
    assert sql(out, "select step, status from responses order by step").to_pylist() == [
        {"step": 0, "status": "ok"}, {"step": 1, "status": "error"}
    ]  # fmt: skip
    openai_server.reset()
    request = _request(openai_server, source, out, make_tools(calls))
    retried = asyncio.run(
        launch(RunRequest(**{**request.__dict__, "options": RunOptions(retry_errors=True)}))
    )
    assert retried.ok == 1
    assert _steps_sent(openai_server) == [1, 2]
    assert calls.counts == {"get_weather": 1, "search_db": 1}


def test_a_row_tools_column_replaces_the_runs_tools(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lookup = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}
    prompts = tmp_path / "p.jsonl"
    rows = [{"prompt": "a", "tools": [lookup]}, {"prompt": "b"}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([WEATHER]), encoding="utf-8")
    out = tmp_path / "run"
    code, _, err = cli(
        capsys, "run", str(prompts), "-m", "echo", "--tools", str(tools), "--out", str(out)
    )
    assert code == 0, err
    called = sql(out, "select prompt_id, name from parts where type = 'tool_call'").to_pylist()
    names = {row["name"] for row in called}
    assert names == {"lookup", "get_weather"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "a", "tools": [lookup, lookup]}) + "\n")
    code, _, err = cli(capsys, "run", str(bad), "-m", "echo", "--out", str(tmp_path / "r2"))
    assert code == 2
    assert "bad.jsonl: line 1: column `tools`: tool `lookup`: duplicate name" in err
    assert "lookup" in err
    assert not (tmp_path / "r2").exists()
