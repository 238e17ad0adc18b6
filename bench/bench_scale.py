"""Scale benchmark (issue 9): peak memory over 100k and 1M prompts, resume, and SQL over 1M.

In one run, on generated Parquet inputs of one-line prompts, it measures

- ``llmframe run prompts.parquet --model echo --out RUN --quiet`` over each size: wall time and
  the process's peak RSS (its ``VmHWM`` as it exits, see `PEAK`);
- the same command again over the finished largest run (a resume: 0 requests), median of rounds;
- ``llmframe sql`` with a count and a group-by over that run's responses, as a whole command and
  in-process (import, then `llmframe.query.sql`), medians of rounds;
- the same fresh runs through the loopback OpenAI-compatible server of `bench/_server.py`
  (``--model openai/bench --base-url ...``) at ``--server-sizes`` (100k by default: a million
  requests take about 10 minutes here; ``--server-sizes 100000,1000000`` for both).

It writes its section of BENCHMARKS.md, with the targets of issue 9 met or the distance to them.

    python bench/bench_scale.py [--quick] [--sizes 100000,1000000] [--server-sizes 100000]
                                [--rounds N] [--no-write]

``--quick`` uses 10k and 100k prompts (10k through the server). `bench/run.py` runs it after
its own cells (``--no-scale`` skips it). About 5.5 minutes here, one and a half quick.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _common import write_section

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
BEGIN = "<!-- bench_scale:begin -->"
END = "<!-- bench_scale:end -->"
TIMEOUT = 3600
COUNT = "select count(*) from responses"
GROUP = "select model, status, count(*) as n, avg(latency_ms) as ms from responses group by all"
DONE = re.compile(r": (\d+) ok, (\d+) errors(?:, (\d+) already done)?")

# Before/after figures of the fixes this benchmark led to (measured on this machine; the tables
# above them are regenerated on every run, these lines are kept by hand).
CHANGES = [
    "Before any fix (c04f115): 100k echo prompts 69 s, peak 400 MB; 1M 425 s, peak "
    "**2,298 MB**; resume of the finished 1M run 42.8 s, peak 2,310 MB; `sql` count over "
    "1M 2.10 s, group-by 1.73 s.",
    "Normalising the input (60f823c): a pydantic `Message` per row, then back to Arrow, "
    "became text prompts built as Arrow columns, 16,384 rows at a time "
    "(`llmframe/io/normalize.py`, `io/textprompts.py`); a Parquet input is opened, not read "
    "into memory. Normalising 1M prompts: 25.7 s -> 2.7 s, its peak 2,238 -> 629 MB.",
    "The store's per-record index of finished chains (about 300 bytes a record) became a "
    "read of the files when asked (375eb55, `llmframe/store/run.py`); closing a run no "
    "longer ranks every key unless a record may have replaced another (a Bloom filter of "
    "the keys written, 2 bytes a key), where it cost about 150 MB at 1M.",
    "A clean close writes `deduplicated.json`; `sql` then reads the Parquet files without "
    "the dedupe join, and no longer imports pandas through `pa.array([])` (375eb55): count "
    "over 1M 2.10 -> 0.64 s as a command, 1.5 -> 0.11 s in-process.",
    "The input is checked and spooled to a temporary Parquet file a chunk at a time and "
    "fingerprinted per chunk, instead of held whole with an IPC copy for the fingerprint "
    "(7c1a91d, `llmframe/_launch.py`, `io/spool.py`); the CLI gives Arrow the jemalloc "
    "pool, as mimalloc kept freed pages (100k: peak 246 -> 193 MB).",
    "Resume of 1M: 42.8 -> about 8-9 s: the input normalised in 1.4 s instead of 25.7 s, "
    "`chains()` 4.1 -> 1.3 s (tuples, labels cast to strings before `to_pylist`), `done()` "
    "computed once for its two calls. What is left is the runner's own walk over a million "
    "done rows (`_pending_count` and `_produce`, about 2.5 s; the `chains()` dict it also "
    "built gave way to `RunStore.continuing`, a120b5e: 1.8 -> 0.1 s, 850 -> 670 MB peak). "
    "The resume's peak RSS (not a target) is the Python set of a million done keys the "
    "runner builds.",
]

PEAK = """
import atexit, os, runpy, sys

def report():
    try:  # Linux; elsewhere the benchmark falls back to ru_maxrss
        with open("/proc/self/status") as status:
            peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except OSError:
        return
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(peak)

atexit.register(report)
sys.argv = ["llmframe", *sys.argv[1:]]
runpy.run_module("llmframe", run_name="__main__", alter_sys=True)
"""
"""`python -m llmframe`, reporting its peak RSS as it exits: ``VmHWM`` of its own memory map.

Not ``ru_maxrss``: Linux carries the parent's high-water mark over ``exec``, so a child of a
benchmark process that once held 300 MB reports at least 300 MB, whatever it used itself.
"""

IN_PROCESS = """
import json, sys, time
start = time.perf_counter()
from llmframe import query
imported = time.perf_counter()
table = query.sql(sys.argv[1], sys.argv[2])
done = time.perf_counter()
print(json.dumps({"import": imported - start, "query": done - imported, "rows": table.num_rows}))
"""


@dataclass(frozen=True)
class Measured:
    """One finished subprocess: wall seconds, peak RSS in MB, and its output."""

    seconds: float
    peak_mb: float
    stdout: str
    stderr: str


def measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `command` to completion; its peak RSS from `PEAK` if it reports one, else ru_maxrss."""
    with tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        env = {**(env or os.environ), "BENCH_PEAK_FILE": str(peak_file)}
        out, err = Path(folder) / "out", Path(folder) / "err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
            timer = threading.Timer(TIMEOUT, os.kill, (process.pid, signal.SIGKILL))
            timer.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                timer.cancel()
            seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        peak_kb = int(peak_file.read_text()) if peak_file.exists() else usage.ru_maxrss
        result = Measured(seconds, peak_kb / 1024, out.read_text(), err.read_text())
    if process.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        msg = f"exit status {process.returncode}: {' '.join(command)}"
        raise RuntimeError(msg)
    return result


MAKE_PROMPTS = """
import sys
import pyarrow as pa, pyarrow.parquet as pq
n = int(sys.argv[2])
ids = pa.array([f"p{i}" for i in range(n)])
texts = pa.array([f"Say hello number {i}" for i in range(n)])
pq.write_table(pa.table({"id": ids, "prompt": texts}), sys.argv[1])
"""


def prompts_file(workdir: Path, n: int) -> Path:
    """A Parquet file of `n` one-line prompts with ids (made once per size, in a subprocess)."""
    path = workdir / f"prompts-{n}.parquet"
    if not path.exists():
        subprocess.run([PYTHON, "-c", MAKE_PROMPTS, str(path), str(n)], check=True)
    return path


ECHO = ["--no-stream"]
"""How the echo runs ask (see the section's text)."""


def run_command(prompts: Path, run: Path, *extra: str) -> list[str]:
    """``llmframe run`` as the benchmark calls it (reporting its peak RSS)."""
    return [PYTHON, "-c", PEAK, "run", str(prompts), "--out", str(run), "--quiet", *extra]


def counts(stderr: str) -> tuple[int, int, int]:
    """(ok, errors, already done) from a run's final line."""
    match = DONE.search(stderr)
    if match is None:
        msg = f"no summary line in: {stderr[-500:]!r}"
        raise RuntimeError(msg)
    ok, errors, skipped = match.groups()
    return int(ok), int(errors), int(skipped or 0)


@dataclass(frozen=True)
class Fresh:
    """A fresh run of `n` prompts through `model`."""

    model: str
    n: int
    seconds: float
    peak_mb: float


def fresh_run(workdir: Path, n: int, model: str, url: str | None = None) -> tuple[Fresh, Path]:
    """One new run over `n` prompts; checks every prompt was answered ok."""
    run = workdir / f"run-{model.replace('/', '-')}-{n}"
    extra = ["--model", model, *(ECHO if model == "echo" else [])]
    env = None
    if url is not None:
        extra += ["--base-url", url, "--concurrency", "64", "--max-retries", "0"]
        env = {**os.environ, "OPENAI_API_KEY": "x"}
    done = measured(run_command(prompts_file(workdir, n), run, *extra), env)
    ok, errors, skipped = counts(done.stderr)
    if (ok, errors, skipped) != (n, 0, 0):
        msg = f"{model} over {n:,}: {ok} ok, {errors} errors, {skipped} skipped"
        raise RuntimeError(msg)
    log(f"{model} {n:,}: {done.seconds:.1f} s, peak {done.peak_mb:,.0f} MB")
    return Fresh(model, n, done.seconds, done.peak_mb), run


def resume(workdir: Path, n: int, run: Path, rounds: int) -> tuple[list[float], list[float]]:
    """The same command again over a finished run: (seconds, peak MB) per round."""
    seconds, peaks = [], []
    for _ in range(rounds):
        done = measured(run_command(prompts_file(workdir, n), run, "--model", "echo", *ECHO))
        if counts(done.stderr) != (0, 0, n):
            msg = f"the resume did not find all {n:,} done: {done.stderr[-300:]!r}"
            raise RuntimeError(msg)
        seconds.append(done.seconds)
        peaks.append(done.peak_mb)
        log(f"resume {n:,}: {done.seconds:.2f} s, peak {done.peak_mb:,.0f} MB")
    return seconds, peaks


@dataclass(frozen=True)
class Query:
    """Timings of one SQL query: whole command, and import + query in one process."""

    sql: str
    command: list[float]
    imports: list[float]
    query: list[float]


def time_query(run: Path, sql: str, rounds: int, expected_rows: int) -> Query:
    """`llmframe sql` as a command, and `llmframe.query.sql` in-process, `rounds` times each."""
    command, imports, query = [], [], []
    for _ in range(rounds):
        whole = [PYTHON, "-m", "llmframe", "sql", sql, "--run", str(run), "--format", "csv"]
        command.append(measured(whole).seconds)
        inner = json.loads(measured([PYTHON, "-c", IN_PROCESS, str(run), sql]).stdout)
        if inner["rows"] != expected_rows:
            msg = f"{sql!r} gave {inner['rows']} rows, expected {expected_rows}"
            raise RuntimeError(msg)
        imports.append(inner["import"])
        query.append(inner["query"])
    log(f"{sql[:40]}: {_med(command):.2f} s command, {_med(query):.2f} s query")
    return Query(sql, command, imports, query)


def _med(values: list[float]) -> float:
    return statistics.median(values)


def log(text: str) -> None:
    """Progress on stderr."""
    print(text, file=sys.stderr, flush=True)


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def _memory_targets(runs: list[Fresh], label: str) -> list[str]:
    """The two peak-RSS targets for one model's runs (its smallest and largest)."""
    small, large = runs[0], runs[-1]
    ratio = large.peak_mb / small.peak_mb
    return [
        f"| peak RSS at {large.n:,} <= 1.2 x at {small.n:,} ({label}) | {large.peak_mb:,.0f} "
        f"MB / {small.peak_mb:,.0f} MB = {ratio:.2f} x | {_met(ratio <= 1.2)} | "
        f"{'-' if ratio <= 1.2 else f'{large.peak_mb - 1.2 * small.peak_mb:,.0f} MB over'} |",
        f"| peak RSS at {large.n:,} < 500 MB ({label}) | {large.peak_mb:,.0f} MB | "
        f"{_met(large.peak_mb < 500)} | "
        f"{'-' if large.peak_mb < 500 else f'{large.peak_mb - 500:,.0f} MB over'} |",
    ]


def targets(fresh: list[Fresh], resumed: list[float], queries: list[Query]) -> str:
    """The issue's scale targets, met or the measured distance."""
    lines = ["| target | measured | met? | distance |", "|---|---|---|---|"]
    for model, label in (("echo", "echo"), ("openai/bench", "loopback server")):
        runs = sorted((f for f in fresh if f.model == model), key=lambda f: f.n)
        if len(runs) > 1:
            lines += _memory_targets(runs, label)
    large = max((f for f in fresh if f.model == "echo"), key=lambda f: f.n)
    seconds = _med(resumed)
    lines.append(
        f"| resume of a finished {large.n:,}-prompt run: 0 requests, < 10 s | 0 requests, "
        f"{seconds:.2f} s | {_met(seconds < 10)} | "
        f"{'-' if seconds < 10 else f'{seconds / 10:.1f}x faster needed'} |"
    )
    for query in queries:
        whole, inner = _med(query.command), _med(query.query)
        lines.append(
            f'| `llmframe sql "{query.sql}"` over {large.n:,} responses < 1 s | '
            f"{whole:.2f} s as a command ({_med(query.imports):.2f} s of it importing "
            f"llmframe), {inner:.2f} s in-process | {_met(whole < 1)} | "
            f"{'-' if whole < 1 else f'{whole - 1:.2f} s over'} |"
        )
    return "\n".join(lines)


def section(
    args: argparse.Namespace,
    fresh: list[Fresh],
    resumed: tuple[list[float], list[float]],
    queries: list[Query],
    machine: str,
    seconds: float,
) -> str:
    """The BENCHMARKS.md section."""
    largest = max(f.n for f in fresh if f.model == "echo")
    rows = [
        "| what | prompts | seconds | prompts/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for item in fresh:
        model = "echo`" if item.model == "echo" else "openai/bench` via the loopback server"
        rows.append(
            f"| `llmframe run --model {model}, new run | {item.n:,} | {item.seconds:.1f} | "
            f"{item.n / item.seconds:,.0f} | {item.peak_mb:,.0f} |"
        )
    times, peaks = resumed
    rows.append(
        f"| the same command again (resume, 0 requests), median of {len(times)} | "
        f"{largest:,} | {_med(times):.2f} | - | {_med(peaks):,.0f} |"
    )
    query_rows = [
        "| query | command s | importing llmframe s | `query.sql` s |",
        "|---|---:|---:|---:|",
    ]
    for query in queries:
        query_rows.append(
            f"| `{query.sql}` | {_med(query.command):.2f} | {_med(query.imports):.2f} | "
            f"{_med(query.query):.2f} |"
        )
    parts = [
        BEGIN,
        "## Scale: memory, resume and SQL at a million prompts (`bench/bench_scale.py`, issue 9)",
        "",
        f"`python bench/bench_scale.py{' --quick' if args.quick else ''}` (also run by "
        f"`bench/run.py`), in {seconds / 60:.1f} min. Machine: {machine}",
        "",
        "Input: a Parquet file of `id` and one-line `prompt` columns. Each command is a "
        "subprocess; *peak RSS* is its `VmHWM` as it exits (the most memory it held at any "
        "moment, Python start-up and imports included; not `ru_maxrss`, which Linux carries "
        "over `exec` from the parent's high-water mark). *seconds* "
        "is the whole command, start-up, planning and writing the run directory included. "
        "echo answers whole bodies (`--no-stream`): memory and resume do not depend on "
        "streaming, and it keeps `bench/run.py` under 15 minutes (the streamed engine's rate "
        "is in the throughput section).",
        "",
        *rows,
        "",
        f"`llmframe sql ... --run RUN --format csv` over the {largest:,}-response run, median of "
        f"{args.rounds} rounds: the whole command, and in one process the import of "
        "`llmframe.query` then `llmframe.query.sql(run, query)` (which opens the run: lists "
        "its files, reads any journal not yet compacted, creates the views, runs the query).",
        "",
        *query_rows,
        "",
        "### Targets (issue 9) and the distance to each",
        "",
        targets(fresh, times, queries),
        "",
        "### What changed",
        "",
        *(f"- {line}" for line in CHANGES),
        "",
        "Figures are noisy: 2 cores shared with whatever else runs; memory figures are steadier "
        "than times.",
        END,
    ]
    return "\n".join(parts)


def measure(args: argparse.Namespace, workdir: Path) -> tuple[list[Fresh], Path, int]:
    """The fresh runs: echo at each size, then the loopback server at `server_sizes`."""
    fresh = []
    run, largest = None, 0
    for n in args.sizes:
        item, path = fresh_run(workdir, n, "echo")
        fresh.append(item)
        if n >= largest:
            run, largest = path, n
    if args.server_sizes:
        from run import server

        with server(0) as (url, _):
            for n in args.server_sizes:
                item, path = fresh_run(workdir, n, "openai/bench", url)
                fresh.append(item)
    assert run is not None
    return fresh, run, largest


def run_benchmark(args: argparse.Namespace) -> str:
    """Measure everything; the section text (written unless ``--no-write``)."""
    from run import versions

    machine = versions()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llmframe-scale-") as tmp:
        workdir = Path(tmp)
        fresh, run, largest = measure(args, workdir)
        resumed = resume(workdir, largest, run, args.rounds)
        queries = [
            time_query(run, COUNT, args.rounds, 1),
            time_query(run, GROUP, args.rounds, 1),
        ]
    text = section(args, fresh, resumed, queries, machine, time.perf_counter() - start)
    print(text)
    if not args.no_write:
        write_section(text, BEGIN, END)
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (also used by `bench/run.py`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k prompts")
    parser.add_argument("--sizes", help="comma-separated prompt counts for echo runs")
    parser.add_argument(
        "--server-sizes",
        help="comma-separated prompt counts via the loopback server (default 100000; quick 10000)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of resume and sql")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the file")
    args = parser.parse_args(argv)
    default = "10000,100000" if args.quick else "100000,1000000"
    args.sizes = [int(n) for n in (args.sizes or default).split(",")]
    servers = args.server_sizes if args.server_sizes is not None else default.split(",")[0]
    args.server_sizes = [int(n) for n in servers.split(",") if n]
    return args


if __name__ == "__main__":
    run_benchmark(parse_args())
