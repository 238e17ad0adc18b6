"""Suite 2 (issue #8), kills: one run SIGKILLed 20 times, each kill followed by a resume.

A real `llmframe run` process works through 3,000 prompts against the loopback OpenAI server
with tiny journal segments (compaction every 25 records, an fsync every 5), so that journal
flushes and compactions happen all the time. Nine kills come from outside at random moments
(after a random number of requests, plus a random pause); the other eleven are pulled by the
process itself at a randomly chosen occurrence of a crash-sensitive point, so that each one
is hit on every run, not only by luck:

- ``create_run`` (the first kill): prompts.parquet written, manifest.json not yet;
- ``journal_torn``: halfway through writing a journal line (a torn last line);
- ``journal_fsync``: lines written but not yet flushed to disk;
- ``compact_tmp``: a Parquet file half written under its temporary name;
- ``compact_parts``: a segment's parts file written, its responses file (the commit) not;
- ``compact_commit``: the responses file written, the journal segment not yet removed.

A compaction can be the one a resume runs on the previous run's journal, so some kills land in
recovery. The process runs this file as a script (see `_child`), which sets the store options
and the traps, then runs the CLI.

After every kill: every Parquet file in the run is readable, no response is recorded twice,
and every response finished before an earlier kill is still there, unchanged (its response_id).
The requests are told apart per process by a header: a process never asks for a prompt that
had finished before it started, and the prompts it asked for without finishing them (those in
flight at its kill) number at most the concurrency. At the end each (prompt, model) appears
exactly once, all ok, and the requests sent more than once are only those in flight at a kill.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from openai_server import OpenAIServer

from llmframe.store import open_run

PROMPTS = 3_000
KILLS = 20
CONCURRENCY = 32
SEGMENT_RECORDS = 25
FSYNC_RECORDS = 5
SEED = 20_260_808
TRAPS = ("journal_torn", "journal_fsync", "compact_tmp", "compact_parts", "compact_commit")
ROUND_HEADER = "x-suite-round"
MODEL = "openai/test-model"
_WAIT = 120.0  # seconds any one process may take; a liveness guard, not a speed check


@dataclass(frozen=True)
class Kill:
    """How one process dies: from outside after `nth` requests, or by its own trap."""

    trap: str | None
    nth: int


def _schedule(rng: random.Random) -> list[Kill]:
    """The run's creation cut short, then each trap twice and kills from outside, shuffled."""
    kills = []
    for trap in TRAPS * 2:
        if trap == "journal_torn":
            nth = rng.randint(5, 100)  # the nth journal line this process writes
        elif trap == "journal_fsync":
            nth = rng.randint(1, 15)  # the nth fsync (one per 5 lines)
        else:
            nth = rng.randint(1, 4)  # the nth compaction (one per 25 lines, or in recovery)
        kills.append(Kill(trap, nth))
    kills += [Kill(None, rng.randint(10, 150)) for _ in range(KILLS - 1 - len(kills))]
    rng.shuffle(kills)
    return [Kill("create_run", 1), *kills]


def _command(source: Path, out: Path, server: OpenAIServer, round_: int) -> list[str]:
    return [
        sys.executable, __file__, "run", str(source), "--model", MODEL,
        "--base-url", server.base_url, "--out", str(out), "--concurrency", str(CONCURRENCY),
        "--retry-wait", "0.01", "--quiet", "--header", f"{ROUND_HEADER}={round_}",
    ]  # fmt: skip


def _environment(kill: Kill | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": "sk-suite-kills"}
    env["SUITE_KILLS_STORE"] = f"{SEGMENT_RECORDS},{FSYNC_RECORDS}"
    env.pop("SUITE_KILLS_TRAP", None)
    if kill is not None and kill.trap is not None:
        env["SUITE_KILLS_TRAP"] = f"{kill.trap}:{kill.nth}"
    return env


def _requests_in(server: OpenAIServer, round_: int) -> int:
    return sum(r.headers.get(ROUND_HEADER) == str(round_) for r in server.requests)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _die_by(
    process: subprocess.Popen[bytes],
    kill: Kill,
    server: OpenAIServer,
    round_: int,
    rng: random.Random,
) -> None:
    """Let `process` be SIGKILLed as `kill` says, and reap it."""
    if kill.trap is None:
        _wait_for(
            lambda: process.poll() is not None or _requests_in(server, round_) >= kill.nth,
            f"request {kill.nth} of round {round_}",
        )
        time.sleep(rng.uniform(0, 0.03))
        process.send_signal(signal.SIGKILL)
    try:
        process.wait(_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        msg = f"round {round_}: the process ({kill}) neither died nor finished"
        raise AssertionError(msg) from None
    assert process.returncode == -signal.SIGKILL, (round_, kill, process.returncode)


def _left_behind(out: Path) -> set[str]:
    """What the kill interrupted, read from the files it left."""
    found = set()
    if not (out / "manifest.json").exists():
        found.add("run created without its manifest")
    journal, responses, parts = out / "journal", out / "responses", out / "parts"
    committed = {p.stem for p in responses.glob("*.parquet")}
    for path in journal.glob("*.jsonl"):  # (a glob of a missing folder finds nothing)
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            found.add("torn journal line")
        if path.stem in committed:
            found.add("committed segment whose journal is not removed yet")
        elif data.count(b"\n") >= SEGMENT_RECORDS:
            found.add("closed segment not compacted yet")
    if [p for p in [*responses.glob(".*.tmp"), *parts.glob(".*.tmp")]]:
        found.add("half-written Parquet under a temporary name")
    if any(p.stem not in committed for p in parts.glob("*.parquet")):
        found.add("parts file written, responses file (the commit) not")
    return found or {"between records (requests in flight)"}


_EXPECTED = {
    "create_run": "run created without its manifest",
    "journal_torn": "torn journal line",
    "compact_tmp": "half-written Parquet under a temporary name",
    "compact_parts": "parts file written, responses file (the commit) not",
    "compact_commit": "committed segment whose journal is not removed yet",
}


def _check_parquet(out: Path) -> int:
    """Every Parquet file of the run reads whole; how many there are."""
    files = sorted(out.rglob("*.parquet"))
    for path in files:
        pq.read_table(path)
    return len(files)


def _finished(out: Path) -> dict[str, str]:
    """prompt_id -> response_id of every finished response, checking none is recorded twice."""
    if not (out / "manifest.json").exists():
        return {}
    snapshot = open_run(out).snapshot()
    assert snapshot.ranked.num_rows == snapshot.latest().num_rows, "a response recorded twice"
    latest = snapshot.responses()
    assert set(latest.column("status").to_pylist()) <= {"ok"}
    parts = snapshot.parts()
    assert sorted(parts.column("response_id").to_pylist()) == sorted(
        latest.column("response_id").to_pylist()
    ), "a finished response lost its part"
    prompt_ids, response_ids = (latest.column(n).to_pylist() for n in ("prompt_id", "response_id"))
    return dict(zip(prompt_ids, response_ids, strict=True))


def test_twenty_sigkills_with_resumes_keep_every_finished_response(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    source, out = tmp_path / "prompts.jsonl", tmp_path / "run"
    ids = {f"question number {i}": f"p{i:05d}" for i in range(PROMPTS)}
    source.write_text("".join(json.dumps({"id": i, "prompt": t}) + "\n" for t, i in ids.items()))
    openai_server.rate_limits = None
    openai_server.latency_ms = 4
    rng = random.Random(SEED)
    started = time.monotonic()

    kept: dict[str, str] = {}  # prompt -> response_id, of every response finished at a kill
    finished_before: list[dict[str, str]] = []  # per round: what was finished when it started
    states: collections.Counter[str] = collections.Counter()
    for round_, kill in enumerate(_schedule(rng)):
        finished_before.append(dict(kept))
        process = subprocess.Popen(
            _command(source, out, openai_server, round_), env=_environment(kill)
        )
        _die_by(process, kill, openai_server, round_, rng)
        left = _left_behind(out)
        states.update(left)
        if kill.trap in _EXPECTED:
            assert _EXPECTED[kill.trap] in left, (round_, kill, left)
        _check_parquet(out)
        finished = _finished(out)
        lost = {p: r for p, r in kept.items() if finished.get(p) != r}
        assert not lost, f"round {round_}: finished responses lost or replaced: {lost}"
        kept = finished
    assert 0 < len(kept) < PROMPTS, "the kills must leave work for the last resume"

    final_round = KILLS
    finished_before.append(dict(kept))
    result = subprocess.run(
        _command(source, out, openai_server, final_round), env=_environment(None), check=False
    )
    assert result.returncode == 0
    files = _check_parquet(out)
    final = _finished(out)
    assert len(final) == PROMPTS
    assert set(final) == set(ids.values())
    assert all(final[p] == r for p, r in kept.items()), "a finished response was replaced"
    assert not list((out / "journal").iterdir()), "the journal was not compacted at the end"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]

    # Exactly once: the files on disk hold each (prompt, model) once, before any dedupe.
    responses = pq.read_table(out / "responses")
    assert responses.num_rows == PROMPTS
    keys = collections.Counter(
        zip(*(responses.column(n).to_pylist() for n in ("prompt_id", "model")), strict=True)
    )
    assert set(keys.values()) == {1}
    assert pq.read_table(out / "parts").num_rows == PROMPTS

    # Requests: nothing finished is sent again; repeats are only what was in flight at a kill.
    by_round: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for request in openai_server.requests:
        by_round[int(request.headers[ROUND_HEADER])][ids[request.prompt]] += 1
    in_flight_counts = []
    for round_ in range(KILLS + 1):
        asked = by_round[round_]
        assert set(asked.values()) <= {1}, f"round {round_} asked for a prompt twice"
        again = set(asked) & set(finished_before[round_])
        assert not again, f"round {round_} asked again for finished prompts {sorted(again)[:5]}"
        if round_ < KILLS:
            in_flight = set(asked) - set(finished_before[round_ + 1])
            assert len(in_flight) <= CONCURRENCY, (round_, len(in_flight))
            in_flight_counts.append(len(in_flight))
    total = sum(sum(c.values()) for c in by_round.values())
    repeats = total - len({p for c in by_round.values() for p in c})
    in_flight_total = sum(in_flight_counts)
    assert repeats <= in_flight_total <= CONCURRENCY * KILLS
    print(
        f"\nkills survived: {KILLS} ({dict(states)}); prompts: {PROMPTS}; requests: {total}; "
        f"repeated: {repeats} (in flight at the kills: {in_flight_total} = "
        f"{'+'.join(map(str, in_flight_counts))}, "
        f"bound {CONCURRENCY * KILLS}); Parquet files: {files}; "
        f"wall time: {time.monotonic() - started:.1f} s"
    )


# -- the killed process ----------------------------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_traps(trap: str, nth: int) -> None:
    """SIGKILL this process at the `nth` occurrence of the point `trap` names."""
    import pyarrow.parquet as parquet

    from llmframe.store import journal, run

    seen = 0

    def hit() -> bool:
        nonlocal seen
        seen += 1
        return seen == nth

    append, sync = journal.JournalWriter.append, journal.JournalWriter.sync
    write_table, write_parquet = parquet.write_table, run.write_parquet

    def torn_append(self: journal.JournalWriter, line: bytes) -> None:
        if hit():
            os.write(self._fd, line[: len(line) // 2])
            _die()
        append(self, line)

    def killed_sync(self: journal.JournalWriter) -> None:
        if self._unsynced and hit():
            _die()
        sync(self)

    def torn_write_table(table: object, where: object, *args: object, **kwargs: object) -> None:
        write_table(table, where, *args, **kwargs)
        path = Path(str(where))
        if path.parent.name in ("responses", "parts") and hit():
            os.truncate(path, path.stat().st_size // 2)
            _die()

    def killed_write_parquet(table: object, path: Path) -> None:
        write_parquet(table, path)
        if trap == "create_run":
            if path.name == "prompts.parquet":
                _die()
            return
        folder = "parts" if trap == "compact_parts" else "responses"
        if path.parent.name == folder and hit():
            _die()

    if trap == "journal_torn":
        journal.JournalWriter.append = torn_append  # type: ignore[method-assign]
    elif trap == "journal_fsync":
        journal.JournalWriter.sync = killed_sync  # type: ignore[method-assign]
    elif trap == "compact_tmp":
        parquet.write_table = torn_write_table
    else:
        run.write_parquet = killed_write_parquet
        run.copy_file = _killed_copy_file(run.copy_file, trap)


def _killed_copy_file(
    copy: Callable[[Path, Path], None], trap: str
) -> Callable[[Path, Path], None]:
    """`copy` (how a new run takes its spooled prompts), then SIGKILL if `trap` is create_run."""

    def copied(source: Path, path: Path) -> None:
        copy(source, path)
        if trap == "create_run" and path.name == "prompts.parquet":
            _die()

    return copied


def _child(argv: list[str]) -> None:
    """Run the CLI with small journal segments and, if asked, a trap that SIGKILLs it."""
    from llmframe.cli import main
    from llmframe.store import run

    records, fsync = (int(n) for n in os.environ["SUITE_KILLS_STORE"].split(","))
    options = run.StoreOptions(segment_records=records, fsync_records=fsync)
    create_or_resume = run.RunStore.create_or_resume.__func__  # type: ignore[attr-defined]

    def with_options(cls: type[run.RunStore], *args: object, **kwargs: object) -> run.RunStore:
        kwargs["options"] = kwargs.get("options") or options
        return create_or_resume(cls, *args, **kwargs)

    run.RunStore.create_or_resume = classmethod(with_options)  # type: ignore[method-assign,assignment]
    trap = os.environ.get("SUITE_KILLS_TRAP")
    if trap:
        name, nth = trap.split(":")
        _install_traps(name, int(nth))
    main(argv)


if __name__ == "__main__":
    _child(sys.argv[1:])
