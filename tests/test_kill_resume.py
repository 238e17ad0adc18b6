"""A real `llmframe run` process killed mid-run, then resumed: nothing lost, nothing sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
from openai_server import OpenAIServer

from llmframe.query import sql


def _prompts(path: Path, count: int) -> dict[str, str]:
    """Write `count` prompts; return prompt text -> id."""
    texts = {f"question number {i}": f"p{i:05d}" for i in range(count)}
    path.write_text("".join(json.dumps({"id": i, "prompt": t}) + "\n" for t, i in texts.items()))
    return texts


def _command(source: Path, out: Path, server: OpenAIServer, *, concurrency: int = 64) -> list[str]:
    return [
        sys.executable, "-m", "llmframe", "run", str(source),
        "--model", "openai/test-model", "--base-url", server.base_url, "--out", str(out),
        "--concurrency", str(concurrency), "--retry-wait", "0.01", "--max-retries", "20", "--quiet",
    ]  # fmt: skip


def _wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _finished(out: Path) -> set[str]:
    rows = sql(out, "select prompt_id from responses where status = 'ok'")
    return set(rows.column("prompt_id").to_pylist())


def test_ten_thousand_prompts_with_faults_survive_sigkill_and_resume(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    count = 10_000
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    ids = _prompts(source, count)
    openai_server.rate_limits = None
    openai_server.faults(rate=0.05, seed=7)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    for kill_after in (2_500, 6_000):
        process = subprocess.Popen(_command(source, out, openai_server), env=env)
        _wait_for(
            lambda p=process, n=kill_after: openai_server.count >= n or p.poll() is not None, 300
        )
        process.send_signal(signal.SIGKILL)
        process.wait()
        finished = _finished(out)
        assert 0 < len(finished) < count
        mark = openai_server.count
        resumed = subprocess.Popen(_command(source, out, openai_server), env=env)
        _wait_for(
            lambda p=resumed, m=mark: openai_server.count >= m + 200 or p.poll() is not None, 300
        )
        resumed.send_signal(signal.SIGKILL)
        resumed.wait()
        sent_again = {ids[r.prompt] for r in openai_server.requests[mark:] if r.prompt in ids}
        assert not sent_again & finished, "a finished prompt was sent again after resuming"

    mark = openai_server.count
    finished = _finished(out)
    result = subprocess.run(_command(source, out, openai_server), env=env, check=False)
    assert result.returncode == 0
    sent_again = {ids[r.prompt] for r in openai_server.requests[mark:] if r.prompt in ids}
    assert not sent_again & finished
    assert sent_again | finished == set(ids.values())

    rows = sql(
        out,
        "select status, count(*) over (partition by prompt_id, model) as n from responses",
    )
    assert rows.num_rows == count
    assert set(rows.column("n").to_pylist()) == {1}
    assert set(rows.column("status").to_pylist()) == {"ok"}
    on_disk = pq.read_table(out / "responses")
    assert on_disk.num_rows == count
    assert len(set(on_disk.column("prompt_id").to_pylist())) == count
    assert pq.read_table(out / "parts").num_rows == count


def test_ctrl_c_stops_cleanly_and_the_run_resumes(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    ids = _prompts(source, 400)
    openai_server.latency_ms = 50
    process = subprocess.Popen(
        _command(source, out, openai_server, concurrency=4),
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: openai_server.count >= 20, 60)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "run the same command again to resume" in err
    finished = _finished(out)
    assert 0 < len(finished) < len(ids)
    assert openai_server.count < 40, "sending went on after Ctrl-C"
    openai_server.latency_ms = 0
    mark = openai_server.count
    result = subprocess.run(_command(source, out, openai_server), check=False)
    assert result.returncode == 0
    assert not {ids[r.prompt] for r in openai_server.requests[mark:]} & finished
    assert sql(out, "select count(*) as n from responses").to_pylist() == [{"n": 400}]
