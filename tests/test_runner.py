"""The runner end to end: real HTTP on loopback, real run directories, real Parquet."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from clirun import cli
from openai_server import Fault, OpenAIServer

from llmframe._launch import RunRequest, launch
from llmframe.io import ReadOptions
from llmframe.query import sql
from llmframe.runner import RunOptions, RunSummary


def write_prompts(path: Path, count: int, *, start: int = 0) -> list[str]:
    texts = [f"question number {i}" for i in range(start, start + count)]
    path.write_text(
        "".join(
            json.dumps({"id": f"p{i:04d}", "prompt": t, "n": i}) + "\n"
            for i, t in zip(range(start, start + count), texts, strict=True)
        )
    )
    return texts


def request(
    source: Path,
    out: Path,
    *,
    models: Sequence[str] = ("openai/test-model",),
    base_url: str | None = None,
    model_options: dict[str, Any] | None = None,
    **options: Any,
) -> RunRequest:
    options.setdefault("backoff_base", 0.01)
    return RunRequest(
        source=source,
        models=list(models),
        out=out,
        read=ReadOptions(),
        model_options=model_options or {},
        options=RunOptions(**options),
        base_url=base_url,
    )


def run(req: RunRequest) -> RunSummary:
    return asyncio.run(launch(req))


def responses(out: Path) -> list[dict[str, Any]]:
    return sql(out, "select * from responses order by prompt_id, model").to_pylist()


def test_echo_run_from_the_cli_then_rerun_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.jsonl"
    texts = write_prompts(source, 5)
    out = tmp_path / "run"
    code, _, err = cli(capsys, "run", str(source), "--model", "echo", "--out", str(out))
    assert code == 0, err
    assert "5 ok, 0 errors" in err
    rows = sql(out, "select prompt_id, status, text, n from outputs order by prompt_id").to_pylist()
    assert rows == [
        {"prompt_id": f"p{i:04d}", "status": "ok", "text": f"echo: {t}", "n": i}
        for i, t in enumerate(texts)
    ]
    code, _, err = cli(capsys, "run", str(source), "--model", "echo", "--out", str(out))
    assert code == 0
    assert "0 ok, 0 errors, 5 already done" in err
    assert len(responses(out)) == 5


def test_two_models_give_two_responses_per_prompt(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 6)
    out = tmp_path / "run"
    summary = run(
        request(source, out, models=["echo", "openai/test-model"], base_url=openai_server.base_url)
    )
    assert (summary.ok, summary.errors) == (12, 0)
    assert openai_server.count == 6
    rows = responses(out)
    assert sorted({(r["prompt_id"], r["model"]) for r in rows}) == sorted(
        (f"p{i:04d}", m) for i in range(6) for m in ("echo", "openai/test-model")
    )
    assert {r["provider"] for r in rows} == {"echo", "openai"}
    again = run(
        request(source, out, models=["echo", "openai/test-model"], base_url=openai_server.base_url)
    )
    assert (again.ok, again.skipped) == (0, 12)
    assert openai_server.count == 6


def test_streamed_and_whole_answers_agree(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 4)
    streamed, whole = tmp_path / "streamed", tmp_path / "whole"
    run(request(source, streamed, base_url=openai_server.base_url, stream=True))
    run(request(source, whole, base_url=openai_server.base_url, stream=False))
    query = (
        "select prompt_id, text, input_tokens, output_tokens, finish_reason from outputs order by 1"
    )
    assert sql(streamed, query).to_pylist() == sql(whole, query).to_pylist()
    bodies = [r.body for r in openai_server.requests]
    assert [b.get("stream", False) for b in bodies] == [True] * 4 + [False] * 4
    assert all(b["stream_options"] == {"include_usage": True} for b in bodies[:4])
    ttft = sql(streamed, "select ttft_ms, latency_ms from responses").to_pylist()
    assert all(0 < r["ttft_ms"] <= r["latency_ms"] for r in ttft)
    assert sql(whole, "select count(*) as n from responses where ttft_ms is null").to_pylist() == [
        {"n": 4}
    ]


RETRYABLE = [
    Fault("rate_limit", retry_after=0.05),
    Fault("rate_limit_ms", retry_after=0.05),
    Fault("server_error"),
    Fault("bad_gateway"),
    Fault("unavailable"),
    Fault("overloaded"),
    Fault("reset"),
    Fault("cut"),
    Fault("truncated"),
    Fault("malformed"),
]


@pytest.mark.parametrize("stream", [True, False])
def test_retryable_faults_are_retried_until_ok(
    tmp_path: Path, openai_server: OpenAIServer, stream: bool
) -> None:
    source = tmp_path / "p.jsonl"
    texts = write_prompts(source, len(RETRYABLE) + 2)
    for fault, text in zip(RETRYABLE, texts, strict=False):
        openai_server.plan(fault, prompt=text)
    out = tmp_path / "run"
    summary = run(request(source, out, base_url=openai_server.base_url, stream=stream))
    assert (summary.ok, summary.errors, summary.retries) == (len(texts), 0, len(RETRYABLE))
    attempts = {r["prompt_id"]: r["attempts"] for r in responses(out)}
    assert attempts == {f"p{i:04d}": 2 if i < len(RETRYABLE) else 1 for i in range(len(texts))}
    assert all(
        openai_server.count_for(t) == (2 if i < len(RETRYABLE) else 1) for i, t in enumerate(texts)
    )
    texts_out = sql(out, "select text from outputs order by prompt_id").column("text").to_pylist()
    assert texts_out == [f"echo: {t}" for t in texts]


def test_retry_after_is_honoured(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "p.jsonl"
    (text,) = write_prompts(source, 1)
    openai_server.plan(Fault("rate_limit", retry_after=0.6), prompt=text)
    run(request(source, tmp_path / "run", base_url=openai_server.base_url))
    first, second = (r.time for r in openai_server.requests)
    assert second - first >= 0.6


@pytest.mark.parametrize(
    ("fault", "error_type", "status"),
    [
        (Fault("bad_request"), "ProviderHTTPError", 400),
        (Fault("quota"), "RateLimited", 429),
        (Fault("unauthorized"), "AuthFailed", 401),
    ],
)
def test_permanent_errors_become_error_rows_without_retry(
    tmp_path: Path, openai_server: OpenAIServer, fault: Fault, error_type: str, status: int
) -> None:
    source = tmp_path / "p.jsonl"
    texts = write_prompts(source, 3)
    openai_server.plan(fault, prompt=texts[1], times=None)
    out = tmp_path / "run"
    summary = run(request(source, out, base_url=openai_server.base_url))
    assert (summary.ok, summary.errors, summary.retries) == (2, 1, 0)
    failed = [r for r in responses(out) if r["status"] == "error"]
    assert len(failed) == 1
    row = failed[0]
    assert (row["prompt_id"], row["error_type"], row["http_status"], row["attempts"]) == (
        "p0001",
        error_type,
        status,
        1,
    )
    assert row["error_message"]
    assert openai_server.count_for(texts[1]) == 1


def test_hung_requests_time_out_and_give_up_after_max_retries(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source = tmp_path / "p.jsonl"
    texts = write_prompts(source, 2)
    openai_server.plan(Fault("hang"), prompt=texts[0], times=None)
    openai_server.plan(Fault("server_error"), prompt=texts[1], times=None)
    out = tmp_path / "run"
    summary = run(request(source, out, base_url=openai_server.base_url, timeout=0.5, max_retries=2))
    assert (summary.ok, summary.errors, summary.retries) == (0, 2, 4)
    rows = {r["prompt_id"]: r for r in responses(out)}
    assert rows["p0000"]["error_type"] == "ProviderTransportError"
    assert "timed out" in rows["p0000"]["error_message"]
    assert rows["p0001"]["error_type"] == "ProviderHTTPError"
    assert (rows["p0001"]["http_status"], rows["p0001"]["attempts"]) == (500, 3)
    assert openai_server.count_for(texts[1]) == 3


def test_errors_exit_1_and_retry_errors_replaces_them(
    tmp_path: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.jsonl"
    texts = write_prompts(source, 3)
    openai_server.plan(Fault("quota"), prompt=texts[2])
    out = tmp_path / "run"
    args = [
        "run",
        str(source),
        "-m",
        "openai/test-model",
        "--base-url",
        openai_server.base_url,
        "--out",
        str(out),
    ]
    code, _, err = cli(capsys, *args)
    assert code == 1
    assert "2 ok, 1 errors" in err
    assert "RateLimited 1" in err
    code, _, err = cli(capsys, *args)
    assert (code, openai_server.count_for(texts[2])) == (1, 1), "error rows are done unless retried"
    code, _, err = cli(capsys, *args, "--retry-errors")
    assert code == 0, err
    assert "1 ok, 0 errors, 2 already done" in err
    rows = responses(out)
    assert [(r["prompt_id"], r["status"]) for r in rows] == [
        ("p0000", "ok"),
        ("p0001", "ok"),
        ("p0002", "ok"),
    ]
    assert len(pq.read_table(out / "responses")) == 3


def test_a_different_option_set_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 2)
    out = tmp_path / "run"
    assert (
        cli(capsys, "run", str(source), "-m", "echo", "--out", str(out), "-o", "temperature=0.2")[0]
        == 0
    )
    code, _, err = cli(
        capsys, "run", str(source), "-m", "echo", "--out", str(out), "-o", "temperature=0.7"
    )
    assert code == 2
    assert "temperature" in err
    assert "0.2" in err
    assert "0.7" in err
    write_prompts(source, 3)
    code, _, err = cli(
        capsys, "run", str(source), "-m", "echo", "--out", str(out), "-o", "temperature=0.2"
    )
    assert code == 2
    assert "input" in err


def test_secrets_are_sent_but_never_written(
    tmp_path: Path,
    openai_server: OpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sentinel = "sk-sentinel-0123456789abcdef"
    monkeypatch.setenv("MY_KEY", sentinel)
    source = tmp_path / "p.jsonl"
    texts = write_prompts(source, 3)
    openai_server.plan(Fault("unauthorized"), prompt=texts[0], times=None)
    openai_server.plan(Fault("server_error"), prompt=texts[1])
    out = tmp_path / "run"
    code, stdout, err = cli(
        capsys,
        "run",
        str(source),
        "-m",
        "openai/test-model",
        "--base-url",
        openai_server.base_url,
        "--api-key-env",
        "MY_KEY",
        "--out",
        str(out),
        "--retry-wait",
        "0",
    )
    assert code == 1
    assert set(openai_server.authorization) == {f"Bearer {sentinel}"}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    for path in files:
        assert sentinel.encode() not in path.read_bytes(), path
    assert sentinel not in stdout + err
    assert sentinel not in json.dumps(responses(out), default=str)


def test_dry_run_sends_and_writes_nothing(
    tmp_path: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 5)
    out = tmp_path / "run"
    code, stdout, _ = cli(
        capsys,
        "run",
        str(source),
        "-m",
        "openai/test-model",
        "--base-url",
        openai_server.base_url,
        "--out",
        str(out),
        "--dry-run",
        "-o",
        "max_tokens=20",
    )
    assert code == 0
    assert openai_server.count == 0
    assert not out.exists()
    assert '"max_tokens": 20' in stdout
    assert stdout.count('"prompt_id"') == 3


def test_limit_runs_only_the_first_prompts(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 10)
    out = tmp_path / "run"
    summary = run(request(source, out, base_url=openai_server.base_url, limit=4))
    assert summary.ok == 4
    assert [r["prompt_id"] for r in responses(out)] == ["p0000", "p0001", "p0002", "p0003"]


def test_model_options_reach_the_request_and_rows_override(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text(
        json.dumps({"id": "a", "prompt": "one"})
        + "\n"
        + json.dumps({"id": "b", "prompt": "two", "options": {"temperature": 0.9}})
        + "\n"
    )
    run(
        request(
            source,
            tmp_path / "run",
            base_url=openai_server.base_url,
            model_options={"temperature": 0.1, "seed": 7},
        )
    )
    bodies = {r.body["messages"][-1]["content"]: r.body for r in openai_server.requests}
    assert (bodies["one"]["temperature"], bodies["one"]["seed"]) == (0.1, 7)
    assert (bodies["two"]["temperature"], bodies["two"]["seed"]) == (0.9, 7)


def test_images_are_sent_inline_from_the_media_root(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    examples = Path(__file__).parent.parent / "examples"
    out = tmp_path / "run"
    req = request(examples / "chat.jsonl", out, base_url=openai_server.base_url, limit=5)
    summary = run(req)
    assert summary.ok == 5
    sent = [
        r.body
        for r in openai_server.requests
        if "cat" in json.dumps(r.body) or "data:image/png" in json.dumps(r.body)
    ]
    images = [
        part["image_url"]["url"]
        for body in sent
        for message in body["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]
    assert len(images) == 2
    assert all(url.startswith("data:image/png;base64,iVBOR") for url in images)


def test_rpm_paces_requests(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 12)
    summary = run(
        request(source, tmp_path / "run", base_url=openai_server.base_url, rpm=600, concurrency=8)
    )
    assert summary.ok == 12
    assert openai_server.max_in_window(0.5) <= 6
    times = [r.time for r in openai_server.requests]
    assert times[-1] - times[0] >= 1.0


def test_nearly_spent_rate_limit_headers_slow_the_run(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    from openai_server import RateLimits

    openai_server.rate_limits = RateLimits(remaining_requests=0, reset_requests="400ms")
    source = tmp_path / "p.jsonl"
    write_prompts(source, 4)
    run(request(source, tmp_path / "run", base_url=openai_server.base_url, concurrency=1))
    times = [r.time for r in openai_server.requests]
    assert all(b - a >= 0.4 for a, b in itertools.pairwise(times))


def test_missing_key_and_unknown_model_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    source = tmp_path / "p.jsonl"
    write_prompts(source, 1)
    code, _, err = cli(
        capsys, "run", str(source), "-m", "openai/gpt-4o-mini", "--out", str(tmp_path / "r")
    )
    assert code == 2
    assert "OPENAI_API_KEY" in err
    code, _, err = cli(
        capsys, "run", str(source), "-m", "nosuch/model", "--out", str(tmp_path / "r")
    )
    assert code == 2
    assert "unknown model `nosuch/model`" in err
    assert not (tmp_path / "r").exists()


def test_adding_a_model_runs_only_that_model(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 3)
    out = tmp_path / "run"
    run(request(source, out, models=["echo"]))
    summary = run(
        request(source, out, models=["echo", "openai/test-model"], base_url=openai_server.base_url)
    )
    assert (summary.ok, summary.skipped) == (3, 3)
    assert openai_server.count == 3
    assert len(responses(out)) == 6


def test_a_model_column_sends_its_row_to_that_model_only(
    tmp_path: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.jsonl"
    rows = [
        {"id": "a", "prompt": "to the server", "model": "openai/row-model"},
        {"id": "b", "prompt": "to the flags", "model": None},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    summary = run(request(source, out, models=["echo"], base_url=openai_server.base_url))
    assert summary.ok == 2
    assert [(r["prompt_id"], r["model"]) for r in responses(out)] == [
        ("a", "openai/row-model"),
        ("b", "echo"),
    ]
    assert [r.body["model"] for r in openai_server.requests] == ["row-model"]
    code, _, err = cli(capsys, "run", str(source), "--out", str(tmp_path / "other"))
    assert code == 2
    assert "no model" in err


def test_tpm_paces_tokens(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 6)
    summary = run(
        request(
            source,
            tmp_path / "run",
            base_url=openai_server.base_url,
            tpm=6000,
            model_options={"max_tokens": 100},
            concurrency=6,
        )
    )
    assert summary.ok == 6
    times = [r.time for r in openai_server.requests]
    assert times[-1] - times[0] >= 4 * 60 * 100 / 6000


def test_follow_up_runs_the_next_turn_of_a_previous_run(
    tmp_path: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 3)
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli(capsys, "run", str(source), "-m", "echo", "--out", str(first))[0] == 0
    code, _, err = cli(
        capsys, "run", str(first), "--follow-up", "Now in French", "-m", "openai/next",
        "--base-url", openai_server.base_url, "--out", str(second),
    )  # fmt: skip
    assert code == 0, err
    bodies = {r.body["messages"][0]["content"]: r.body for r in openai_server.requests}
    assert bodies["question number 0"]["messages"] == [
        {"role": "user", "content": "question number 0"},
        {"role": "assistant", "content": "echo: question number 0"},
        {"role": "user", "content": "Now in French"},
    ]
    rows = sql(
        second, "select prompt_id, previous_model, n, text from outputs order by 1"
    ).to_pylist()
    assert rows[0] == {
        "prompt_id": "p0000",
        "previous_model": "echo",
        "n": 0,
        "text": "echo: Now in French",
    }
    assert len(rows) == 3


def test_extra_headers_are_sent_and_never_stored(
    tmp_path: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.jsonl"
    write_prompts(source, 2)
    out = tmp_path / "run"
    code, _, err = cli(
        capsys, "run", str(source), "-m", "openai/m", "--base-url", openai_server.base_url,
        "--out", str(out), "-H", "X-Team=data-secret-123",
    )  # fmt: skip
    assert code == 0, err
    assert {r.headers.get("x-team") for r in openai_server.requests} == {"data-secret-123"}
    for path in out.rglob("*"):
        if path.is_file():
            assert b"data-secret-123" not in path.read_bytes(), path


def test_a_provider_plugin_registers_through_entry_points(
    tmp_path: Path,
    openai_server: OpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = tmp_path / "site"
    (site / "myplug").mkdir(parents=True)
    (site / "myplug" / "__init__.py").write_text(
        "from llmframe.providers.openai import OpenAIChat\n\n\n"
        "class Plug(OpenAIChat):\n"
        "    default_base_url = 'http://127.0.0.1:9/v1'\n"
        "    key_env = 'PLUG_KEY'\n"
    )
    info = site / "myplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[llmframe.providers]\nplug = myplug:Plug\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PLUG_KEY", "plug-secret")

    code, out, _ = cli(capsys, "models", "--json")
    assert code == 0
    rows = {row["model"]: row for row in json.loads(out)}
    assert rows["plug/MODEL"]["plugin"] is True
    assert rows["plug/MODEL"]["key"] == "PLUG_KEY"

    source = tmp_path / "p.jsonl"
    write_prompts(source, 2)
    summary = run(
        request(source, tmp_path / "run", models=["plug/small"], base_url=openai_server.base_url)
    )
    assert summary.ok == 2
    assert {r.body["model"] for r in openai_server.requests} == {"small"}
    assert set(openai_server.authorization) == {"Bearer plug-secret"}
    assert {r["provider"] for r in responses(tmp_path / "run")} == {"plug"}


def test_media_a_provider_cannot_take_is_refused_before_sending(
    tmp_path: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = Path(__file__).parent.parent / "examples"
    out = tmp_path / "run"
    code, _, err = cli(
        capsys, "run", str(examples / "chat.jsonl"), "-m", "ollama/llava",
        "--base-url", openai_server.base_url, "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert "id `chat-010`: `ollama/llava` cannot take an audio part (message 1, part 2)" in err
    assert "id `chat-011`: `ollama/llava` cannot take a document part" in err
    assert openai_server.count == 0
    assert not out.exists()
