"""Suite 5 of issue #8, secrets: a sentinel API key is sent on every request and leaks nowhere.

One random sentinel key (fresh each session, not shaped like ``sk-...`` so that the pattern
redaction in `llmframe.providers._http.redact` cannot hide a leak) goes through full runs with
errors, retries and the root ``--debug`` option, against the loopback fault server
(`openai_server`: 401, 429 with each retry header, 400, 5xx, resets, cuts, malformed and
truncated streams, a hang that times out), by every key route:

- the variable each provider names (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY``,
  ``GOOGLE_API_KEY``), ``--api-key-env`` / ``api_key_env=``, and ``--header Authorization=...``
  (also as ``Name: value``) / ``headers=``;
- through the CLI in process (``--debug``), the CLI as a child process, and the Python API.

Each run proves the server received the sentinel in the right header on every request, then
that the sentinel is in none of: any file of the run directory (every file walked, hidden ones
too; a bytes search and, since Parquet pages are ZSTD-compressed and a bytes search cannot see
into them, every Parquet cell and its metadata decoded), stdout, stderr, any log record of any
logger captured at DEBUG (httpx's and httpcore's included), any error row, repr (`Run`,
`RunSummary`, `ModelTarget`, `RunRequest`), exception message or traceback
(`traceback.format_exception`, causes included). It looks for the sentinel raw and encoded:
JSON-escaped, URL-encoded, hex, and base64 / base64url at each of the three byte alignments.

Keys given as model options are refused before anything is written or sent (``-o api_key=...``,
no plugin needed), and keys that no header can carry are refused without being echoed.

Already covered elsewhere, and extended here: ``tests/test_runner.py::
test_secrets_are_sent_but_never_written`` (one CLI route, raw bytes) and the end-to-end runs of
``tests/test_provider_anthropic.py`` and ``tests/test_provider_gemini.py`` (raw bytes of the run).
The last tests are gaps this suite found (a key a server says back, token-named options), fixed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pyarrow.parquet as pq
import pytest
from aiohttp import web
from clirun import cli
from loopback import LoopbackServer
from openai_server import Fault, OpenAIServer

import llmframe
from llmframe._attempt import AttemptFailed, attempt
from llmframe._launch import RunRequest
from llmframe.cli import main
from llmframe.errors import RunMismatch, UsageError
from llmframe.io import ReadOptions
from llmframe.providers import get_provider
from llmframe.providers.endpoints import resolve_model
from llmframe.runner import RunOptions
from llmframe.transports.http import HttpTransport

SENTINEL = f"Lf{secrets.token_hex(10)}+/{secrets.token_hex(6)}"
"""The key: random, unique to this session; ``+/`` so its URL-encoded forms differ from it."""

KEY_ENV = "LLMFRAME_SUITE_SENTINEL_KEY"
PROVIDER_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


# --- finding the sentinel -------------------------------------------------------------------------


def _forms(secret: str) -> dict[str, bytes]:
    """The byte strings whose presence means `secret` leaked, by the encoding that hid it."""
    raw = secret.encode()
    forms = {
        "raw": raw,
        "json-escaped": secret.replace("/", "\\/").encode(),
        "url-encoded": quote(secret, safe="").encode(),
        "form-encoded": quote_plus(secret).encode(),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    for shift in range(3):  # the secret may start at any byte of a 3-byte base64 group
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * shift + raw)
            # Drop the characters that also depend on the bytes around the secret.
            forms[f"{name}@{shift}"] = text[4 if shift else 0 : -4]
    return forms


FORMS = _forms(SENTINEL)


def leaks(data: str | bytes) -> list[str]:
    """The names of the sentinel's forms found in `data` (empty: no leak)."""
    blob = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data
    return [name for name, form in FORMS.items() if form in blob]


def test_the_search_finds_every_form_it_names() -> None:
    """The detector itself: each encoding of the key, embedded in other text, is found."""
    raw = SENTINEL.encode()
    for prefix in (b"", b"a", b"ab", b"Bearer "):
        blob = prefix + raw + b"tail"
        assert "raw" in leaks(b"x" + blob)
        assert any(n.startswith("base64@") for n in leaks(base64.b64encode(blob)))
        assert any(n.startswith("base64url@") for n in leaks(base64.urlsafe_b64encode(blob)))
    assert "url-encoded" in leaks(quote(SENTINEL, safe=""))
    assert "raw" not in leaks(quote(SENTINEL, safe=""))
    assert "form-encoded" in leaks(quote_plus(SENTINEL))
    assert "hex" in leaks(raw.hex())
    assert leaks(json.dumps({"k": SENTINEL}).replace("/", "\\/")) == ["json-escaped"]
    assert leaks("nothing to see") == []


@dataclass
class Scan:
    """What `scan_run` looked at."""

    files: int = 0
    bytes: int = 0
    cells: int = 0


def _parquet_text(path: Path) -> tuple[str, int]:
    """Every cell and the metadata of a Parquet file as text, and the number of cells."""
    file = pq.ParquetFile(path)
    table = file.read()
    rows = table.to_pylist()
    meta = {**(file.schema_arrow.metadata or {}), **(file.metadata.metadata or {})}
    text = json.dumps(rows, default=repr, ensure_ascii=False) + repr(meta)
    return text, table.num_rows * table.num_columns


def scan_run(out: Path, scan: Scan | None = None) -> Scan:
    """Assert that no file under `out` holds the sentinel in any form; count what was read."""
    scan = scan or Scan()
    assert out.is_dir(), out
    for folder, _, names in os.walk(out):
        for name in names:
            path = Path(folder, name)
            data = path.read_bytes()
            scan.files += 1
            scan.bytes += len(data)
            assert not leaks(data), (path, leaks(data))
            if path.suffix == ".parquet" and data:
                text, cells = _parquet_text(path)
                scan.cells += cells
                assert not leaks(text), (path, leaks(text))
    return scan


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert not leaks(text), (leaks(text), text[:2000])


def assert_exception_clean(exc: BaseException) -> None:
    """The message, repr and full traceback (causes and contexts included) hold no sentinel."""
    assert_clean(str(exc), repr(exc), "".join(traceback.format_exception(exc)))


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger's records at DEBUG (the root's level; httpx and httpcore propagate to it)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_logs_clean(caplog: pytest.LogCaptureFixture, *, expect_http: bool = True) -> None:
    for record in caplog.records:
        parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
        assert_clean(*parts)
    assert_clean(caplog.text)
    if expect_http:  # the capture works: the HTTP transport logged each request it made
        assert any(r.name.startswith(("httpx", "llmframe.http")) for r in caplog.records)


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No provider key in the environment, and runs land in a fresh folder."""
    for name in (*PROVIDER_VARS, KEY_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


# --- a full run through the fault server ----------------------------------------------------------

FAULTS: dict[str, Fault | None] = {
    "deny me": Fault("unauthorized"),  # 401 every time: AuthFailed, not retried
    "quota": Fault("quota"),  # 429 insufficient_quota: not retried
    "bad request": Fault("bad_request"),  # 400
    "slow down": Fault("rate_limit", retry_after=0),  # 429 Retry-After: 0, then ok
    "slow down ms": Fault("rate_limit_ms", retry_after=0),  # 429 retry-after-ms: 0, then ok
    "server error": Fault("server_error", headers={"retry-after": "0"}),
    "gateway": Fault("bad_gateway", headers={"retry-after": "0"}),  # an HTML body
    "overloaded": Fault("overloaded", headers={"retry-after": "0"}),  # 529
    "reset": Fault("reset"),  # TCP RST before any response
    "cut": Fault("cut", after_chunks=1),  # the connection closes mid-stream
    "malformed": Fault("malformed", after_chunks=1),  # an event that is not JSON
    "truncated": Fault("truncated", after_chunks=1),  # a clean end without [DONE]
    "hang": Fault("hang"),  # no answer: the attempt's timeout fires
    "fine": None,
    "also fine": None,
}
FAILING = {"deny me", "quota", "bad request"}
"""Prompts that end as error rows; every other prompt succeeds after its retries."""


def write_prompts(path: Path) -> None:
    path.write_text(
        "".join(
            json.dumps({"id": f"p{i:02d}", "prompt": prompt}) + "\n"
            for i, prompt in enumerate(FAULTS)
        ),
        encoding="utf-8",
    )


def plan_faults(server: OpenAIServer) -> None:
    for prompt, fault in FAULTS.items():
        if fault is not None:
            server.plan(fault, prompt=prompt, times=None if prompt in FAILING else 1)


def assert_sent_everywhere(server: OpenAIServer) -> None:
    """The key went out: every request the server saw carried it, and there were retries."""
    assert server.count > len(FAULTS)  # retries happened
    assert set(server.authorization) == {f"Bearer {SENTINEL}"}


def assert_error_rows(out: Path) -> None:
    rows = llmframe.open(out).responses().to_dicts()
    by_prompt = {r["prompt_id"]: r for r in rows}
    assert len(rows) == len(FAULTS)
    kinds = {r["error_type"] for r in rows if r["status"] == "error"}
    assert kinds == {"AuthFailed", "RateLimited", "ProviderHTTPError"}
    assert sum(r["status"] == "ok" for r in rows) == len(FAULTS) - len(FAILING)
    assert max(r["attempts"] for r in by_prompt.values()) >= 2
    assert_clean(json.dumps(rows, default=str))


ROUTES: dict[str, tuple[dict[str, str], list[str]]] = {
    "OPENAI_API_KEY": ({"OPENAI_API_KEY": SENTINEL}, []),
    "--api-key-env": ({KEY_ENV: SENTINEL}, ["--api-key-env", KEY_ENV]),
    "--header Name=value": ({}, ["--header", f"Authorization=Bearer {SENTINEL}"]),
    "-H Name: value": ({}, ["-H", f"Authorization: Bearer {SENTINEL}"]),
}


def run_args(source: Path, out: Path, server: OpenAIServer, *extra: str) -> list[str]:
    return [
        "--debug",
        "run",
        str(source),
        "-m",
        "openai/test-model",
        "--base-url",
        server.base_url,
        "--out",
        str(out),
        "--retry-wait",
        "0",
        "--max-retries",
        "2",
        "--timeout",
        "1",
        *extra,
    ]


def _faulty_run(
    env: dict[str, str], no_keys: pytest.MonkeyPatch, tmp_path: Path, server: OpenAIServer
) -> tuple[Path, Path]:
    """`env` set, prompts written and faults planned: (the prompts file, the run to make)."""
    for name, value in env.items():
        no_keys.setenv(name, value)
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    write_prompts(source)
    plan_faults(server)
    return source, out


@pytest.mark.parametrize("route", list(ROUTES))
def test_cli_run_with_faults_retries_and_debug_leaks_nothing(
    route: str,
    tmp_path: Path,
    openai_server: OpenAIServer,
    no_keys: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env, flags = ROUTES[route]
    source, out = _faulty_run(env, no_keys, tmp_path, openai_server)

    code, stdout, stderr = cli(capsys, *run_args(source, out, openai_server, *flags))

    assert code == 1, stderr  # some rows are errors
    assert "errors by type" in stderr
    assert_sent_everywhere(openai_server)
    assert_error_rows(out)
    assert_clean(stdout, stderr)
    first = scan_run(out)
    assert first.files >= 5
    assert first.cells > 0

    # Again, sending the error rows once more: resumed, retried, still nothing written.
    code, stdout, stderr = cli(
        capsys, *run_args(source, out, openai_server, *flags, "--retry-errors")
    )
    assert code == 1
    assert_clean(stdout, stderr)
    scan_run(out)

    # Other options on the same run: `--debug` lets the RunMismatch out, traceback and all.
    with pytest.raises(RunMismatch) as mismatch:
        main(run_args(source, out, openai_server, *flags, "-o", "temperature=0.5"))
    assert_exception_clean(mismatch.value)
    assert_clean(*capsys.readouterr())
    assert_logs_clean(logs)
    assert set(openai_server.authorization) == {f"Bearer {SENTINEL}"}


def test_cli_in_a_child_process_leaks_nothing_to_its_output(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    """The real command, real environment and real file descriptors 1 and 2."""
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    write_prompts(source)
    plan_faults(openai_server)
    env = {k: v for k, v in os.environ.items() if k not in (*PROVIDER_VARS, KEY_ENV)}
    env["OPENAI_API_KEY"] = SENTINEL
    done = subprocess.run(
        [sys.executable, "-m", "llmframe", *run_args(source, out, openai_server)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert not leaks(done.stdout)
    assert not leaks(done.stderr)
    assert_sent_everywhere(openai_server)
    assert_error_rows(out)
    scan_run(out)


# --- the Python API -------------------------------------------------------------------------------

API_ROUTES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "OPENAI_API_KEY": ({"OPENAI_API_KEY": SENTINEL}, {}),
    "api_key_env=": ({KEY_ENV: SENTINEL}, {"api_key_env": KEY_ENV}),
    "headers=": ({}, {"headers": {"Authorization": f"Bearer {SENTINEL}"}}),
}


@pytest.mark.parametrize("route", list(API_ROUTES))
def test_python_api_run_leaks_nothing(
    route: str,
    tmp_path: Path,
    openai_server: OpenAIServer,
    no_keys: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env, kwargs = API_ROUTES[route]
    source, out = _faulty_run(env, no_keys, tmp_path, openai_server)
    common: dict[str, Any] = {
        "base_url": openai_server.base_url,
        "out": out,
        "max_retries": 2,
        "timeout": 1.0,
        "progress": False,
        **kwargs,
    }

    run = llmframe.run(source, "openai/test-model", **common)

    assert_sent_everywhere(openai_server)
    assert_error_rows(out)
    assert run.last is not None
    assert run.last.errors == len(FAILING)
    stats = run.summary()
    assert_clean(repr(run), str(run), repr(run.last), repr(stats), str(stats))
    assert_clean(run._repr_html_() if hasattr(run, "_repr_html_") else "")
    for table in (run.responses(), run.parts(), run.outputs()):
        assert_clean(repr(table), json.dumps(table.to_dicts(), default=repr))
    scan_run(out)

    # The request and the targets it resolves to: their reprs hide the key and the headers.
    request = RunRequest(
        source=source,
        models=["openai/test-model"],
        out=out,
        read=ReadOptions(),
        model_options={},
        options=RunOptions(),
        base_url=openai_server.base_url,
        api_key_env=kwargs.get("api_key_env"),
        headers=kwargs.get("headers", {}),
    )
    target = resolve_model(
        "openai/test-model",
        base_url=openai_server.base_url,
        api_key_env=kwargs.get("api_key_env"),
        headers=kwargs.get("headers"),
    )
    assert target.auth_headers() == {"Authorization": f"Bearer {SENTINEL}"}
    assert_clean(repr(request), str(request), repr(target), str(target), repr(target.endpoint))

    # Other options on the same run: the RunMismatch and its traceback.
    with pytest.raises(RunMismatch) as mismatch:
        llmframe.run(source, "openai/test-model", **common, options={"temperature": 0.5})
    assert_exception_clean(mismatch.value)
    assert_clean(*capsys.readouterr())
    assert_logs_clean(logs)


# Each attempt's failure, as the runner sees it: the exception chain from httpx and the parsers.
ATTEMPT_FAULTS = [
    *(
        (kind, True)
        for kind in (
            "unauthorized", "quota", "rate_limit", "rate_limit_date", "rate_limit_ms",
            "bad_request", "server_error", "bad_gateway", "unavailable", "overloaded", "reset",
            "hang", "stall", "cut", "truncated", "malformed",
        )
    ),
    *((kind, False) for kind in ("stall", "cut", "truncated", "malformed")),
]  # fmt: skip


def test_every_failed_attempt_and_its_traceback_hold_no_key(
    openai_server: OpenAIServer, logs: pytest.LogCaptureFixture
) -> None:
    target = resolve_model(
        "openai/test-model",
        base_url=openai_server.base_url,
        api_key_env=KEY_ENV,
        environ={KEY_ENV: SENTINEL},
    )
    provider = get_provider("openai")
    failures: list[AttemptFailed] = []

    async def each() -> None:
        transport = HttpTransport(concurrency=1, timeout=0.5)
        try:
            for kind, stream in ATTEMPT_FAULTS:
                openai_server.plan(Fault(kind, retry_after=0, after_chunks=1))  # type: ignore[arg-type]
                call = provider.build_call(
                    "test-model",
                    [llmframe.Message(role="user", parts=[llmframe.TextPart(text=kind)])],
                    {},
                    stream=stream,
                )
                with pytest.raises(AttemptFailed) as failed:
                    await attempt(transport, target, provider, call, timeout=0.5)
                failures.append(failed.value)
        finally:
            await transport.aclose()

    asyncio.run(each())

    assert len(failures) == len(ATTEMPT_FAULTS)
    kinds = {f.verdict.error_type for f in failures}
    assert kinds >= {"AuthFailed", "RateLimited", "ProviderHTTPError"}
    assert kinds >= {"ProviderTransportError", "UnexpectedResponse"}
    for failure in failures:
        assert_exception_clean(failure)
        assert_clean(repr(failure.verdict), str(failure.headers))
    assert set(openai_server.authorization) == {f"Bearer {SENTINEL}"}
    assert_logs_clean(logs)


# --- the other providers' variables and headers ---------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]


class KeyServer(LoopbackServer):
    """Answers every POST: the first request 429, the second 503, then `answer`; 401 for
    a body that mentions ``deny``. It keeps every header it received (keys included)."""

    def __init__(self, answer: Mapping[str, Any]) -> None:
        super().__init__(thread_name="key-server")
        self.answer = json.dumps(answer).encode()
        self._lock = threading.Lock()
        self._log: list[Received] = []

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._log)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        with self._lock:
            self._log.append(
                Received(request.path, {k.lower(): v for k, v in request.headers.items()})
            )
            number = len(self._log)
        error = {"type": "error", "error": {"type": "api_error", "message": "try again"}}
        if b"deny" in raw:
            error["error"] = {"type": "authentication_error", "message": "invalid key"}
            return web.json_response(error, status=401)
        if number in (1, 2):
            return web.json_response(error, status=429 if number == 1 else 503, headers={
                "retry-after": "0"
            })  # fmt: skip
        return web.Response(body=self.answer, content_type="application/json")


ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}
GEMINI_ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
}
RESPONSES_ANSWER = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "model": "m",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
}

PROVIDER_ROUTES = [
    # model, variable, header it goes in, prefix, the answer, the base URL's path
    ("anthropic/claude-x", "ANTHROPIC_API_KEY", "x-api-key", "", ANTHROPIC_ANSWER, "/v1"),
    ("gemini/gemini-x", "GEMINI_API_KEY", "x-goog-api-key", "", GEMINI_ANSWER, "/v1beta"),
    ("gemini/gemini-x", "GOOGLE_API_KEY", "x-goog-api-key", "", GEMINI_ANSWER, "/v1beta"),
    (
        "openai-responses/gpt-x",
        "OPENAI_API_KEY",
        "authorization",
        "Bearer ",
        RESPONSES_ANSWER,
        "/v1",
    ),
]


@pytest.mark.parametrize(
    ("model", "variable", "header", "prefix", "answer", "root"),
    PROVIDER_ROUTES,
    ids=[f"{m.split('/')[0]}-{v}" for m, v, *_ in PROVIDER_ROUTES],
)
def test_each_providers_key_variable_is_sent_in_its_header_and_never_written(
    model: str,
    variable: str,
    header: str,
    prefix: str,
    answer: dict[str, Any],
    root: str,
    tmp_path: Path,
    no_keys: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    no_keys.setenv(variable, SENTINEL)
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    prompts = ["hello", "deny me", "again"]
    source.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    with KeyServer(answer) as server:
        code, stdout, stderr = cli(
            capsys, "--debug", "run", str(source), "-m", model, "--base-url",
            server.origin + root, "--out", str(out), "--no-stream", "--retry-wait", "0",
            "--concurrency", "1",
        )  # fmt: skip
        received = server.requests
    assert code == 1, stderr
    assert len(received) == len(prompts) + 2  # two retries
    assert {r.headers.get(header) for r in received} == {prefix + SENTINEL}
    others = {"authorization", "x-api-key", "x-goog-api-key"} - {header}
    assert not any(h in r.headers for r in received for h in others)
    rows = llmframe.open(out).responses().to_dicts()
    assert sorted(r["status"] for r in rows) == ["error", "ok", "ok"]
    assert {r["error_type"] for r in rows} == {None, "AuthFailed"}
    assert_clean(stdout, stderr, json.dumps(rows, default=str))
    scan_run(out)
    assert_logs_clean(logs)


# --- keys refused before anything is sent or written ----------------------------------------------

SECRET_OPTIONS = [
    f"api_key={SENTINEL}",
    f"apiKey={SENTINEL}",
    f"api-key={SENTINEL}",
    f"openai_api_key={SENTINEL}",
    f"Authorization=Bearer {SENTINEL}",
    f"x-api-key={SENTINEL}",
    f"client_secret={SENTINEL}",
    "extra_headers=" + json.dumps({"Authorization": f"Bearer {SENTINEL}"}),
    "extra_body=" + json.dumps({"auth": {"password": SENTINEL}}),
]


@pytest.mark.parametrize("option", SECRET_OPTIONS, ids=lambda o: o.split("=")[0])
def test_manifest_refuses_keys_given_as_options(
    option: str,
    tmp_path: Path,
    openai_server: OpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``-o api_key=...`` and kin: exit 2 naming the option, not its value; nothing sent or made.

    The echo model needs no plugin, no key and no network.
    """
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    source.write_text(json.dumps({"prompt": "hello"}) + "\n")
    code, stdout, stderr = cli(
        capsys, "run", str(source), "-m", "echo", "--out", str(out), "-o", option
    )
    assert code == 2
    assert stderr.startswith("llmframe: error: refusing to store credentials in a run: option(s) `")
    assert "Hint: pass keys through the environment" in stderr
    assert "Traceback" not in stderr
    assert_clean(stdout, stderr)
    assert not out.exists()
    assert not (tmp_path / "llmframe-runs").exists()
    # The same through the loopback server: refused before the first request.
    code, _, stderr = cli(
        capsys, "run", str(source), "-m", "openai/x", "--base-url", openai_server.base_url,
        "--out", str(out), "-o", option,
    )  # fmt: skip
    assert code == 2
    assert_clean(stderr)
    assert openai_server.count == 0
    assert not out.exists()


def test_python_api_refuses_keys_given_as_options(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"refusing to store credentials.*`api_key`") as refused:
        llmframe.run(["hello"], "echo", out=tmp_path / "run", options={"api_key": SENTINEL})
    assert_exception_clean(refused.value)
    assert not (tmp_path / "run").exists()


BAD_KEYS = {
    "crlf-ended": (SENTINEL + "\r\n", True),  # a key pasted from a Windows file: stripped, sent
    "lf-ended": (SENTINEL + "\n", True),
    "space-padded": (f"  {SENTINEL}\t", True),
    "inner-newline": (SENTINEL[:8] + "\n" + SENTINEL[8:], False),
    "inner-cr": (SENTINEL[:8] + "\r" + SENTINEL[8:], False),
    "non-ascii": (SENTINEL + "é", False),
    "control": (SENTINEL[:8] + "\x07" + SENTINEL[8:], False),
}


@pytest.mark.parametrize("case", list(BAD_KEYS))
@pytest.mark.parametrize("route", ["env", "header"])
def test_a_key_no_header_can_carry_is_refused_without_echoing_it(
    case: str,
    route: str,
    tmp_path: Path,
    openai_server: OpenAIServer,
    no_keys: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """httpx's own error would carry the key into every error row (found by this suite)."""
    key, sendable = BAD_KEYS[case]
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    source.write_text(json.dumps({"prompt": "fine"}) + "\n")
    if route == "env":  # surrounding whitespace is stripped from a key
        no_keys.setenv(KEY_ENV, key)
        flags = ["--api-key-env", KEY_ENV]
    else:  # and from a `--header` value by the CLI
        flags = ["--header", f"Authorization=Bearer {key}"]
    code, stdout, stderr = cli(capsys, *run_args(source, out, openai_server, *flags)[1:])
    assert_clean(stdout, stderr)
    if sendable:
        assert code == 0, stderr
        (sent,) = openai_server.authorization
        assert sent is not None
        assert sent.split() == ["Bearer", SENTINEL]  # inner spaces of a header value are kept
        scan_run(out)
        return
    assert code == 2
    assert "which no header can carry" in stderr
    assert "not shown" in stderr
    assert openai_server.count == 0
    assert not out.exists()


def test_a_key_given_by_mistake_as_the_variable_name_is_not_echoed(
    tmp_path: Path, no_keys: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--api-key-env sk-...`` instead of a name: the error used to print the key back."""
    source = tmp_path / "prompts.jsonl"
    source.write_text(json.dumps({"prompt": "hello"}) + "\n")
    # A non-loopback URL needs a key; the error comes before any connection is tried.
    code, stdout, stderr = cli(
        capsys, "run", str(source), "-m", "openai/gpt-x", "--api-key-env", SENTINEL
    )
    assert code == 2
    assert "no API key for `openai/gpt-x`" in stderr
    assert "`--api-key-env`" in stderr
    assert_clean(stdout, stderr)
    with pytest.raises(UsageError) as refused:
        llmframe.run(["hello"], "openai/gpt-x", api_key_env=SENTINEL)
    assert_exception_clean(refused.value)
    # A real variable name is still named, so the message stays useful.
    code, _, stderr = cli(capsys, "run", str(source), "-m", "anthropic/claude-x")
    assert code == 2
    assert "set `ANTHROPIC_API_KEY`" in stderr


def test_model_target_reprs_and_errors_hide_every_credential() -> None:
    headers = {"Authorization": f"Bearer {SENTINEL}", "X-Custom": SENTINEL}
    for label, env in (
        ("openai/x", {"OPENAI_API_KEY": SENTINEL}),
        ("anthropic/x", {"ANTHROPIC_API_KEY": SENTINEL}),
        ("gemini/x", {"GOOGLE_API_KEY": SENTINEL}),
    ):
        target = resolve_model(label, headers=headers, environ=env)
        assert SENTINEL in json.dumps(target.auth_headers())  # it is there, to be sent
        assert_clean(repr(target), str(target), repr([target]), repr({"t": target}))
    for value in (f"Bearer {SENTINEL}\n", f"Bearer {SENTINEL}\0", f"Bearer {SENTINEL}é"):
        with pytest.raises(UsageError, match="not shown") as bad:
            resolve_model("openai/x", headers={"Authorization": value}, environ={})
        assert_exception_clean(bad.value)
    with pytest.raises(UsageError, match="not a valid HTTP header name") as bad:
        resolve_model("openai/x", headers={"Bad Name": SENTINEL}, environ={})
    assert_exception_clean(bad.value)


# --- gaps the suite found, fixed -----------------------------------------------------------------


class EchoingServer(LoopbackServer):
    """A server whose 401 says the key back, as some proxies and compatible servers do."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        body = {"error": {"message": f"Invalid API key: {key}", "type": "invalid_request_error"}}
        return web.json_response(body, status=401)


def test_a_key_the_server_says_back_is_not_stored(
    tmp_path: Path, no_keys: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_keys.setenv("OPENAI_API_KEY", SENTINEL)
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    source.write_text(json.dumps({"prompt": "hello"}) + "\n")
    with EchoingServer() as server:
        code, _, _ = cli(
            capsys, "run", str(source), "-m", "openai/x", "--base-url", server.origin + "/v1",
            "--out", str(out),
        )  # fmt: skip
    assert code == 1
    scan_run(out)


@pytest.mark.parametrize("name", ["access_token", "auth_token", "bearer_token", "token"])
def test_token_options_are_refused_too(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    source.write_text(json.dumps({"prompt": "hello"}) + "\n")
    code, _, _ = cli(
        capsys, "run", str(source), "-m", "echo", "--out", str(out), "-o", f"{name}={SENTINEL}"
    )
    assert code == 2
    assert not out.exists()


def test_a_credential_in_a_rows_options_column_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    source.write_text(json.dumps({"prompt": "hello", "options": {"api_key": SENTINEL}}) + "\n")
    code, _, err = cli(capsys, "run", str(source), "-m", "echo", "--out", str(out))
    assert code == 2
    assert "prompts.jsonl: line 1: column `options`: refusing to store credentials" in err
    assert SENTINEL not in err
    assert not out.exists()


def test_json_nested_too_deeply_is_bad_input_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"prompt": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    code, _, err = cli(capsys, "validate", str(deep))
    assert code == 2
    assert "Traceback" not in err
    assert "deep.jsonl" in err
