"""Suite 3 (issue #8), disk and process faults: an unwritable or full `--out`, two writers.

Each test runs real `llmframe run` processes (this file run as a script, see `_child`) against
the loopback OpenAI server, and tells the processes' requests apart by a header.

- Unwritable `--out`: a path under a regular file, a read-only directory and a read-only
  filesystem. A new run and the resume of a killed run are both refused with exit 2 and a
  message naming the path and the reason, before any request is sent and without changing a
  byte; once the place is writable again the same command resumes and finishes the run.
  Tests run as root here, where permission bits are ignored: the read-only directory is made
  immutable (``chattr +i``) as root and by permission bits otherwise; the read-only filesystem
  is a tmpfs mounted read-only, skipped where mounting is not allowed.
- Full disk: a 128 KiB tmpfs (skipped where mounting is not allowed) and a file-size limit
  (``RLIMIT_FSIZE``, with SIGXFSZ ignored so writes fail with EFBIG), which works anywhere. The
  run stops with a clear error (exit 2), leaves no torn journal line, half-written or unreadable
  file, and once there is room the same command resumes it: every response written before is
  kept, each (prompt, model) appears once, and only responses lost with the write are asked
  for again.
- Two processes on one `--out`: the second is refused by the writer lock (exit 2, naming the
  run and the first process's pid), sends nothing and changes nothing, while the first keeps
  running and finishes.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from openai_server import OpenAIServer

from llmframe.store import open_run

MODEL = "openai/test-model"
ROUND_HEADER = "x-suite-round"
CONCURRENCY = 16
_WAIT = 120.0  # seconds any one process may take; a liveness guard, not a speed check
_QUIET = 5.0  # seconds without a request after which a live run counts as stuck


# -- helpers -----------------------------------------------------------------------------------


def _write_prompts(path: Path, count: int) -> dict[str, str]:
    """`count` prompts as JSON Lines; returns prompt text -> id."""
    ids = {f"question number {i}": f"p{i:05d}" for i in range(count)}
    path.write_text("".join(json.dumps({"id": i, "prompt": t}) + "\n" for t, i in ids.items()))
    return ids


def _command(
    source: Path,
    out: Path,
    server: OpenAIServer,
    round_: int,
    *,
    model: str = MODEL,
    concurrency: int = CONCURRENCY,
) -> list[str]:
    return [
        sys.executable, __file__, "run", str(source), "--model", model,
        "--base-url", server.base_url, "--out", str(out), "--concurrency", str(concurrency),
        "--retry-wait", "0.01", "--quiet", "--header", f"{ROUND_HEADER}={round_}",
    ]  # fmt: skip


def _env(*, file_size_limit: int | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": "sk-suite-disk"}
    env.pop("SUITE_DISK_FSIZE", None)
    if file_size_limit is not None:
        env["SUITE_DISK_FSIZE"] = str(file_size_limit)
    return env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=_WAIT, check=False
    )


def _asked(server: OpenAIServer, round_: int) -> list[str]:
    """The prompts of the requests a process (its round number) sent."""
    return [r.prompt for r in server.requests if r.headers.get(ROUND_HEADER) == str(round_)]


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _kill_after(
    command: list[str], server: OpenAIServer, round_: int, requests: int, env: dict[str, str]
) -> None:
    """Start `command`, SIGKILL it once it has sent `requests` requests."""
    process = subprocess.Popen(command, env=env)
    _wait_for(
        lambda: process.poll() is not None or len(_asked(server, round_)) >= requests,
        f"{requests} requests",
    )
    process.send_signal(signal.SIGKILL)
    assert process.wait(_WAIT) == -signal.SIGKILL


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> content hash (or ``dir``) of everything under `root`."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


def _finished(out: Path) -> dict[str, str]:
    """prompt_id -> response_id of the finished responses; checks the files are whole."""
    for path in out.rglob("*.parquet"):
        pq.read_table(path)
    for path in (out / "journal").glob("*.jsonl"):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"torn journal line in {path.name}"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")], "a temporary file left"
    snapshot = open_run(out).snapshot()
    assert snapshot.ranked.num_rows == snapshot.latest().num_rows, "a response recorded twice"
    latest = snapshot.responses()
    assert set(latest.column("status").to_pylist()) <= {"ok"}
    prompt_ids, response_ids = (latest.column(n).to_pylist() for n in ("prompt_id", "response_id"))
    return dict(zip(prompt_ids, response_ids, strict=True))


def _check_complete(out: Path, ids: dict[str, str], kept: dict[str, str]) -> None:
    """Every prompt answered once, and the responses in `kept` unchanged."""
    final = _finished(out)
    assert set(final) == set(ids.values())
    lost = {p: r for p, r in kept.items() if final[p] != r}
    assert not lost, f"responses written before were lost or replaced: {lost}"
    responses = pq.read_table(out / "responses")
    assert responses.num_rows == len(ids)
    keys = zip(*(responses.column(n).to_pylist() for n in ("prompt_id", "model")), strict=True)
    assert set(collections.Counter(keys).values()) == {1}


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """A clear refusal: exit 2, one ``llmframe: error:`` line naming `words`, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("llmframe: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


class Tmpfs:
    """A small tmpfs mounted on a folder (needs the right to mount; unmounted at the end)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False

    def mount(self, options: str) -> subprocess.CompletedProcess[str]:
        self.path.mkdir(exist_ok=True)
        command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        self.mounted = result.returncode == 0
        return result

    def remount(self, options: str) -> None:
        command = ["mount", "-o", f"remount,{options}", str(self.path)]
        subprocess.run(command, capture_output=True, text=True, check=True)

    def unmount(self) -> None:
        """Unmount; a process still closing its files may keep it busy a moment: then detach."""
        if not self.mounted:
            return
        for _ in range(20):
            if subprocess.run(["umount", str(self.path)], capture_output=True).returncode == 0:
                self.mounted = False
                return
            time.sleep(0.1)
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=True)
        self.mounted = False


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Tmpfs]]:
    """Mount a tmpfs with the given options, or skip where this machine does not allow it."""
    mounts: list[Tmpfs] = []

    def mount(options: str) -> Tmpfs:
        fs = Tmpfs(tmp_path / f"fs{len(mounts)}")
        mounts.append(fs)
        if not shutil.which("mount") or not sys.platform.startswith("linux"):
            pytest.skip("no `mount` command: a small filesystem cannot be made here")
        result = fs.mount(options)
        if result.returncode != 0:
            pytest.skip(
                "cannot mount a small tmpfs here (mounting needs CAP_SYS_ADMIN): "
                f"{result.stderr.strip()}"
            )
        return fs

    yield mount
    for fs in mounts:
        fs.unmount()


def _chattr(flag: str, path: Path) -> subprocess.CompletedProcess[str]:
    command = ["chattr", "-R", flag, str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


class ReadOnlyDirectory:
    """Makes a folder tree unwritable: immutable (``chattr +i``) as root, else permission bits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.immutable = os.geteuid() == 0

    def on(self) -> None:
        if self.immutable:
            if not shutil.which("chattr"):
                pytest.skip("root ignores permission bits and there is no `chattr` here")
            result = _chattr("+i", self.root)
            if result.returncode != 0:
                pytest.skip(
                    "root ignores permission bits and this filesystem refuses `chattr +i`: "
                    f"{result.stderr.strip()}"
                )
            return
        for path in [self.root, *self.root.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)

    def off(self) -> None:
        if self.immutable:
            _chattr("-i", self.root)
            return
        for path in [self.root, *self.root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


# -- unwritable --out --------------------------------------------------------------------------


def test_out_under_a_regular_file_is_refused(tmp_path: Path, openai_server: OpenAIServer) -> None:
    source = tmp_path / "prompts.jsonl"
    _write_prompts(source, 10)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    result = _run(_command(source, blocker / "run", openai_server, 0), env=_env())
    _refused(result, str(blocker / "run"), "Not a directory")
    assert openai_server.count == 0
    assert blocker.read_text() == "not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "prompts.jsonl"]


@pytest.mark.parametrize("kind", ["directory", "filesystem"])
def test_read_only_out_is_refused_and_the_run_resumes_once_writable(
    kind: str,
    tmp_path: Path,
    openai_server: OpenAIServer,
    tmpfs: Callable[[str], Tmpfs],
) -> None:
    """A new run and a resume into a read-only place exit 2 untouched; writable, it finishes."""
    source = tmp_path / "prompts.jsonl"
    ids = _write_prompts(source, 300)
    openai_server.rate_limits = None
    openai_server.latency_ms = 2
    if kind == "directory":
        place = tmp_path / "place"
        place.mkdir()
        read_only = ReadOnlyDirectory(place)
        protect, unprotect = read_only.on, read_only.off
        reason = "Operation not permitted" if read_only.immutable else "Permission denied"
    else:
        fs = tmpfs("size=16m")
        place = fs.path
        protect, unprotect = (lambda: fs.remount("ro")), (lambda: fs.remount("rw"))
        reason = "Read-only file system"
    out = place / "run"

    protect()  # a new run cannot even make its folder
    try:
        result = _run(_command(source, out, openai_server, 0), env=_env())
    finally:
        unprotect()
    _refused(result, str(out), reason)
    assert not out.exists()
    assert openai_server.count == 0

    _kill_after(_command(source, out, openai_server, 1), openai_server, 1, 100, _env())
    kept = _finished(out)
    assert 0 < len(kept) < len(ids)
    before = _tree(out)
    assert any(name.startswith("journal/") for name in before), "no journal to resume"

    protect()  # the killed run cannot be resumed: refused before any request, nothing touched
    try:
        result = _run(_command(source, out, openai_server, 2), env=_env())
        assert _tree(out) == before
    finally:
        unprotect()
    _refused(result, str(out), reason)
    assert _asked(openai_server, 2) == []

    result = _run(_command(source, out, openai_server, 3), env=_env())
    assert result.returncode == 0, result.stderr
    _check_complete(out, ids, kept)
    assert not set(_asked(openai_server, 3)) & {t for t, i in ids.items() if i in kept}


# -- full disk ---------------------------------------------------------------------------------


def _run_until_stopped(
    command: list[str], env: dict[str, str], server: OpenAIServer
) -> tuple[int, str, bool]:
    """Run `command` until it exits or is stuck (sends nothing for a while; then Ctrl-C).

    Returns the exit code, stderr and whether it got stuck.
    """
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + _WAIT
    count, changed = server.count, time.monotonic()
    stuck = False
    while process.poll() is None:
        assert time.monotonic() < deadline, "the run neither finished nor got stuck"
        time.sleep(0.05)
        if server.count != count:
            count, changed = server.count, time.monotonic()
        elif count and time.monotonic() - changed > _QUIET:
            stuck = True
            process.send_signal(signal.SIGINT)
            break
    try:
        _, err = process.communicate(timeout=_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err, stuck


@pytest.mark.parametrize("kind", ["small-filesystem", "file-size-limit"])
def test_full_disk_stops_with_a_clear_error_and_the_run_resumes(
    kind: str,
    tmp_path: Path,
    openai_server: OpenAIServer,
    tmpfs: Callable[[str], Tmpfs],
) -> None:
    source = tmp_path / "prompts.jsonl"
    ids = _write_prompts(source, 600)
    openai_server.rate_limits = None
    openai_server.latency_ms = 2
    if kind == "small-filesystem":
        fs = tmpfs("size=128k")  # room for the prompts and about 250 journal lines
        out, env, reason = fs.path / "run", _env(), "No space left on device"
    else:
        # Each file may grow to 100 kB: the journal segment fills up after ~200 responses.
        out, env, reason = tmp_path / "run", _env(file_size_limit=100_000), "File too large"

    code, err, stuck = _run_until_stopped(
        _command(source, out, openai_server, 0), env, openai_server
    )
    kept = _finished(out)  # every file whole, no torn line, no temporary file left
    assert 0 < len(kept) < len(ids)
    asked = _asked(openai_server, 0)
    lost = set(asked) - {t for t, i in ids.items() if i in kept}
    assert len(lost) <= CONCURRENCY, "more responses lost than were in flight"

    if kind == "small-filesystem":
        fs.remount("size=64m")  # room again
    result = _run(_command(source, out, openai_server, 1), env=_env())
    assert result.returncode == 0, result.stderr
    _check_complete(out, ids, kept)
    again = _asked(openai_server, 1)
    assert not set(again) & {t for t, i in ids.items() if i in kept}, "a kept response re-sent"
    assert len(again) - len(set(again)) == 0
    print(f"\n{kind}: {len(kept)} responses kept, {len(lost)} lost with the write and re-sent")

    assert not stuck, f"the full disk hung the run (exit {code} after Ctrl-C)"
    _refused(subprocess.CompletedProcess([], code, "", err), reason)


# -- two processes -----------------------------------------------------------------------------


def test_second_process_on_one_out_is_refused_by_the_lock(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    ids = _write_prompts(source, 160)
    openai_server.rate_limits = None
    openai_server.latency_ms = 60  # 160 prompts, 2 at a time, 60 ms each: 4.8 s at least
    first = subprocess.Popen(
        _command(source, out, openai_server, 0, concurrency=2),
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(
            lambda: first.poll() is not None or len(_asked(openai_server, 0)) >= 5, "first run"
        )
        manifest = (out / "manifest.json").read_bytes()
        seconds = [  # tried together: one as the first was started, one adding a model
            subprocess.Popen(command, env=_env(), stderr=subprocess.PIPE, text=True)
            for command in (
                _command(source, out, openai_server, 1),
                _command(source, out, openai_server, 2, model="openai/other"),
            )
        ]
        results = [(p.wait(_WAIT), p.communicate()[1]) for p in seconds]
        assert first.poll() is None, "the first run ended before the second was tried"
        during = len(_asked(openai_server, 0))
        _, err = first.communicate(timeout=_WAIT)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    for code, err in results:
        refusal = subprocess.CompletedProcess([], code, "", err)
        _refused(refusal, f"run `{out}`", "in use by another process", f"pid {first.pid}")
    assert _asked(openai_server, 1) == _asked(openai_server, 2) == []
    assert (out / "manifest.json").read_bytes() == manifest  # the other model was not added
    assert first.returncode == 0, err
    assert len(_asked(openai_server, 0)) > during, "the first run stopped when refused"
    _check_complete(out, ids, {})
    assert sorted(_asked(openai_server, 0)) == sorted(ids)


# -- the process under test ----------------------------------------------------------------------


def _child(argv: list[str]) -> None:
    """Run the CLI, with a file-size limit if asked (writes past it fail with EFBIG)."""
    limit = os.environ.get("SUITE_DISK_FSIZE")
    if limit:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    from llmframe.cli import main

    main(argv)


if __name__ == "__main__":
    _child(sys.argv[1:])
