"""Throughput benchmark (issue 9, first step): llmframe against the raw ceiling and AsyncOpenAI.

In one run, against its own loopback OpenAI-compatible server (`bench/_server.py`, aiohttp,
precomputed bodies, in its own process), it measures requests/s of

- ``raw``: a minimal aiohttp client that sends the same requests and reads the bodies (the
  ceiling, `bench/_clients.py`);
- ``openai``: an ``openai.AsyncOpenAI`` loop under a semaphore (what a user writes instead);
- ``llmframe``: ``llmframe run prompts.parquet --model openai/bench --base-url ... --quiet``
  as a subprocess, Parquet in, run directory out, timed as a whole process and also from the
  run's ``started_at``/``finished_at`` timestamps;

at each concurrency, server latency and streaming mode, plus the ``echo`` engine alone and a
cProfile of one llmframe run. Every client runs in its own process; rounds interleave the
clients so background noise spreads over all of them; the table shows medians and ratios to
the ceiling measured in the same run. The server's CPU time per request is read from /proc, to
show it is not the bottleneck. Writes its section of BENCHMARKS.md.

    python bench/run.py [--quick] [--rounds N] [--no-profile] [--no-write]

About 6-8 minutes on a 2-core machine; ``--quick`` (one round, latency 0, concurrency 64) about
one and a half. With the ``local`` extra installed it then runs `bench_llamacpp` (tokens/s of a
real model in process, through llmframe and direct; about 1.5 minutes more, 0.5 with
``--quick``) and writes that section too.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _common import write_section

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
BEGIN = "<!-- bench_run:begin -->"
END = "<!-- bench_run:end -->"
CLIENTS = ("raw", "openai", "llmframe")
TICK = os.sysconf("SC_CLK_TCK")
TIMEOUT = 600
CHANGES = """### Why the targets are not all met, and what changed (issue 9)

- **Latency 0, c64, stream (0.5 x the ceiling).** The raw client does nothing but read bytes
  (~200-330 µs of CPU per request); llmframe parses every SSE event as from a real server
  (validated, assembled into typed parts), journals each response and writes Parquet. What is
  left is spread thin (profile below): the JSON of 8 chunks per answer, httpx's request and
  response objects, aiohttp, the store.
- **Latency 200 ms, c256 (0.95 x c/latency).** On 2 shared cores not even the raw ceiling
  reaches it: it is in the table's row beside llmframe's, and llmframe's ratio to it is the
  figure to watch. Each wave of 256 answers arrives at once and waits for one core to
  process it.
- **`echo` alone (20,000 prompts/s = 50 µs a prompt).** A streamed echo answer to these
  prompts is 8 events (a role, 5 words, a finish, the usage), each decoded and validated by the
  OpenAI parser as a server's would be: that parser alone takes ~48 µs per answer on this
  machine (20 µs of it `json.loads`), the whole budget, before the runner and the store.
  Whole answers (`--no-stream`) show the engine without the per-event cost.
- What changed, measured as it went (same-run ratios; absolute figures from a loaded machine):
  echo streamed 1,995 -> 4,183 prompts/s; c64 lat0 stream 0.28 -> 0.49 x the ceiling:
  - a `Transport` boundary (`llmframe/transports`): echo and llama.cpp answer in process
    without HTTP; servers go through `HttpTransport`, which hands `httpx.Request`s straight to
    the aiohttp transport (httpx's client layer: cookie jar ~15% of the profile, URL merging,
    auth/redirect flows), parses each endpoint URL once, encodes bodies itself, and looks up
    environment proxies once per base URL (aiohttp's `trust_env` made two thread hops per
    request);
  - one JSON decoder for every parse (`json.loads(..., parse_constant=...)` built a decoder
    per call, a fifth of the parse time); the OpenAI stream parser skips work for keys a delta
    does not have; echo encodes its events from one template per answer;
  - the progress bar redraws at most 20 times a second (it cost ~40 µs per response);
  - memory, resume and SQL at 1M: see the scale section.
"""


@dataclass(frozen=True)
class Cell:
    """One configuration: concurrency, server latency (ms), streaming, and requests sent."""

    concurrency: int
    latency_ms: int
    stream: bool
    n: int


@dataclass
class Samples:
    """The rounds of one client in one cell."""

    rates: list[float] = field(default_factory=list)
    """Requests/s over the client's own timing (whole process for llmframe)."""
    stamped: list[float] = field(default_factory=list)
    """llmframe only: requests/s from the responses' timestamps."""
    server_cpu: list[float] = field(default_factory=list)
    """Server CPU seconds per request."""
    client_cpu: list[float] = field(default_factory=list)
    """Client CPU seconds per request (user + system of the client process)."""


def cells(quick: bool) -> list[Cell]:
    """The matrix: latency 0 and 200 ms, concurrency 64 and 256, streaming and not."""
    if quick:
        return [Cell(64, 0, stream, 1000) for stream in (True, False)]
    out = []
    for latency in (0, 200):
        for concurrency in (64, 256):
            # With latency a round lasts n / (c / 0.2 s): c64 gets 1,024 requests (5 waves);
            # c256 gets 2,048 (8 waves), since its first wave, all 256 answers arriving at once,
            # weighs too much in 4 waves to show the steady rate a long run has.
            n = (2048 if concurrency == 256 else 1024) if latency else 2000
            out += [Cell(concurrency, latency, stream, n) for stream in (True, False)]
    return out


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def server(latency_ms: int) -> Iterator[tuple[str, int]]:
    """A loopback server with this latency in its own process: (base URL, pid)."""
    process = subprocess.Popen(
        [PYTHON, str(HERE / "_server.py"), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            msg = f"the bench server did not start: {line!r}"
            raise RuntimeError(msg)
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def prompts_file(workdir: Path, n: int) -> Path:
    """A Parquet file of `n` one-line prompts (made once per size)."""
    path = workdir / f"prompts-{n}.parquet"
    if not path.exists():
        table = pa.table(
            {
                "id": [f"p{i}" for i in range(n)],
                "prompt": [f"Say hello number {i}" for i in range(n)],
            }
        )
        pq.write_table(table, path)
    return path


def stamped_rate(run: Path) -> tuple[int, float]:
    """(ok responses, their rate) from the run's started_at/finished_at timestamps."""
    table = pa.concat_tables(
        pq.read_table(p, columns=["status", "started_at", "finished_at"])
        for p in sorted((run / "responses").glob("*.parquet"))
    )
    ok = table.column("status").to_pylist().count("ok")
    start = pc.min(table.column("started_at")).as_py()
    finish = pc.max(table.column("finished_at")).as_py()
    return ok, ok / max((finish - start).total_seconds(), 1e-9)


def llmframe_command(prompts: Path, run: Path, model: str, *extra: str) -> list[str]:
    """The CLI call the benchmark times."""
    return [
        PYTHON,
        "-m",
        "llmframe",
        "run",
        str(prompts),
        "--model",
        model,
        "--out",
        str(run),
        "--quiet",
        *extra,
    ]


def quiet(command: list[str], env: dict[str, str] | None = None) -> None:
    """Run `command`, showing its output only if it fails."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        msg = f"exit status {done.returncode}: {' '.join(command)}"
        raise RuntimeError(msg)


def run_llmframe(cell: Cell, url: str, workdir: Path) -> tuple[float, float, float]:
    """One end-to-end run: (process rate, timestamp rate, client CPU seconds)."""
    run = workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    extra = ["--base-url", url, "--concurrency", str(cell.concurrency), "--max-retries", "0"]
    if not cell.stream:
        extra.append("--no-stream")
    command = llmframe_command(prompts_file(workdir, cell.n), run, "openai/bench", *extra)
    env = {**os.environ, "OPENAI_API_KEY": "x"}
    cpu = _children_cpu()
    start = time.perf_counter()
    quiet(command, env)
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    ok, stamped = stamped_rate(run)
    if ok != cell.n:
        msg = f"llmframe answered {ok} of {cell.n} requests ok"
        raise RuntimeError(msg)
    return cell.n / seconds, stamped, cpu


def run_client(client: str, cell: Cell, url: str) -> tuple[float, float]:
    """One reference client run: (rate over its own timing, client CPU seconds)."""
    command = [PYTHON, str(HERE / "_clients.py"), client, "--url", url, "--n", str(cell.n)]
    command += ["--concurrency", str(cell.concurrency)] + (["--stream"] if cell.stream else [])
    cpu = _children_cpu()
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=TIMEOUT)
    cpu = _children_cpu() - cpu
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["ok"] != cell.n:
        msg = f"{client} answered {result['ok']} of {cell.n} requests ok"
        raise RuntimeError(msg)
    return cell.n / result["seconds"], cpu


def measure(matrix: list[Cell], rounds: int, workdir: Path) -> dict[tuple[Cell, str], Samples]:
    """Every client in every cell, `rounds` times, clients interleaved within a round."""
    results: dict[tuple[Cell, str], Samples] = {}
    by_latency: dict[int, list[Cell]] = {}
    for cell in matrix:
        by_latency.setdefault(cell.latency_ms, []).append(cell)
    for latency, group in by_latency.items():
        with server(latency) as (url, pid):
            for cell in group:
                for round_ in range(rounds):
                    for client in CLIENTS:
                        samples = results.setdefault((cell, client), Samples())
                        server_cpu = _proc_cpu(pid)
                        if client == "llmframe":
                            rate, stamped, cpu = run_llmframe(cell, url, workdir)
                            samples.stamped.append(stamped)
                        else:
                            rate, cpu = run_client(client, cell, url)
                        samples.rates.append(rate)
                        samples.server_cpu.append((_proc_cpu(pid) - server_cpu) / cell.n)
                        samples.client_cpu.append(cpu / cell.n)
                        log(f"{describe(cell)} round {round_ + 1} {client}: {rate:,.0f} req/s")
    return results


def measure_echo(
    n: int, rounds: int, workdir: Path, *, stream: bool
) -> tuple[list[float], list[float]]:
    """The engine alone: `llmframe run --model echo`, (process rates, timestamp rates)."""
    rates, stamped = [], []
    run = workdir / "echo-run"
    extra = [] if stream else ["--no-stream"]
    for _ in range(rounds):
        shutil.rmtree(run, ignore_errors=True)
        command = llmframe_command(prompts_file(workdir, n), run, "echo", *extra)
        start = time.perf_counter()
        quiet(command)
        rates.append(n / (time.perf_counter() - start))
        stamped.append(stamped_rate(run)[1])
        log(f"echo {'stream' if stream else 'whole'}: {rates[-1]:,.0f} prompts/s")
    return rates, stamped


def profile(cell: Cell, workdir: Path) -> tuple[float, str]:
    """Profile one llmframe run of `cell` with cProfile: (rate profiled, top costs as markdown)."""
    out = workdir / "llmframe.prof"
    run = workdir / "profile-run"
    shutil.rmtree(run, ignore_errors=True)
    with server(cell.latency_ms) as (url, _):
        extra = ["--base-url", url, "--concurrency", str(cell.concurrency)]
        if not cell.stream:
            extra.append("--no-stream")
        command = llmframe_command(prompts_file(workdir, cell.n), run, "openai/bench", *extra)
        command[1:3] = ["-m", "cProfile", "-o", str(out), "-m", "llmframe"]
        env = {**os.environ, "OPENAI_API_KEY": "x"}
        quiet(command, env)
    _, rate = stamped_rate(run)
    stats = pstats.Stats(str(out), stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    return rate, top_costs(stats, total)


SKIP = ("/asyncio/", "/runpy.py", "/threading.py", "/selectors.py", "/typer/", "/click/")


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    short = filename
    for anchor in ("site-packages/", "/llmframe/", "/lib/python"):
        if anchor in filename:
            short = filename.split(anchor, 1)[1]
            short = ("llmframe/" + short) if anchor == "/llmframe/" else short
            break
    return f"{short}:{line}({name})"


def top_costs(stats: pstats.Stats, total: float, count: int = 10) -> str:
    """Two markdown tables: top cumulative (library and llmframe code) and top own time."""
    entries = stats.stats.items()  # type: ignore[attr-defined]
    cumulative = [
        (ct, tt, nc, key)
        for key, (_, nc, tt, ct, _) in entries
        if key[0] != "~"
        and not any(s in key[0] for s in SKIP)
        and key[2] not in ("<module>", "main", "__call__")
    ]
    cumulative.sort(reverse=True)
    own = sorted(((tt, ct, nc, key) for key, (_, nc, tt, ct, _) in entries), reverse=True)
    lines = [
        f"Top {count} cumulative (asyncio, typer/click and module bodies left out), of "
        f"{total:.2f} s profiled:",
        "",
        "| cumulative s | own s | calls | function |",
        "|---:|---:|---:|---|",
    ]
    for ct, tt, nc, key in cumulative[:count]:
        lines.append(f"| {ct:.2f} | {tt:.2f} | {nc:,} | `{_where(key)}` |")
    lines += [
        "",
        f"Top {count} own time (all code):",
        "",
        "| own s | share | cumulative s | calls | function |",
        "|---:|---:|---:|---:|---|",
    ]
    for tt, ct, nc, key in own[:count]:
        lines.append(f"| {tt:.2f} | {tt / total:.0%} | {ct:.2f} | {nc:,} | `{_where(key)}` |")
    return "\n".join(lines)


def describe(cell: Cell) -> str:
    """A short label for a cell."""
    mode = "stream" if cell.stream else "whole"
    return f"c{cell.concurrency} lat{cell.latency_ms} {mode}"


def log(text: str) -> None:
    """Progress on stderr."""
    print(text, file=sys.stderr, flush=True)


def versions() -> str:
    """The machine and the versions that matter."""
    names = ("llmframe", "aiohttp", "httpx", "openai", "pyarrow")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({platform.machine()}, {platform.system()} "
        f"{platform.release()}), {platform.python_implementation()} {platform.python_version()}; "
        f"{'; '.join(found)}. Load average at start: {load}."
    )


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(results: dict[tuple[Cell, str], Samples], matrix: list[Cell]) -> str:
    """The main markdown table: medians, ratios to the same cell's ceiling, CPU per request."""
    lines = [
        "| concurrency | latency | mode | n | raw (ceiling) | openai | llmframe process | "
        "llmframe timestamps | openai / raw | llmframe / raw | server µs/req | "
        "client µs/req raw / openai / llmframe |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for cell in matrix:
        raw, oai, lf = (results[cell, c] for c in CLIENTS)
        ceiling = _med(raw.rates)
        server_us = _med(raw.server_cpu + oai.server_cpu + lf.server_cpu) * 1e6
        client_us = " / ".join(f"{_med(s.client_cpu) * 1e6:,.0f}" for s in (raw, oai, lf))
        lines.append(
            f"| {cell.concurrency} | {cell.latency_ms} ms | "
            f"{'stream' if cell.stream else 'whole'} | {cell.n:,} | {ceiling:,.0f} | "
            f"{_med(oai.rates):,.0f} | {_med(lf.rates):,.0f} | {_med(lf.stamped):,.0f} | "
            f"{_med(oai.rates) / ceiling:.2f} | {_med(lf.stamped) / ceiling:.2f} | "
            f"{server_us:,.0f} | {client_us} |"
        )
    return "\n".join(lines)


def targets(results: dict[tuple[Cell, str], Samples], matrix: list[Cell], echo: float) -> str:
    """The issue's throughput targets and the measured distance to each."""
    lines = ["| target | measured | met? | distance |", "|---|---|---|---|"]
    for cell in matrix:
        if cell.latency_ms == 0 and cell.concurrency == 64 and cell.stream:
            ceiling = _med(results[cell, "raw"].rates)
            got = _med(results[cell, "llmframe"].stamped)
            ratio = got / ceiling
            lines.append(
                f"| latency 0, c64, stream: llmframe >= 0.5 x ceiling ({0.5 * ceiling:,.0f} "
                f"req/s here) | {got:,.0f} req/s = {ratio:.2f} x | "
                f"{'yes' if ratio >= 0.5 else 'no'} | {0.5 / ratio:.2f}x faster needed |"
            )
        if cell.latency_ms == 200 and cell.concurrency == 256:
            ideal = 0.95 * cell.concurrency / 0.2
            got = _med(results[cell, "llmframe"].stamped)
            raw = _med(results[cell, "raw"].rates)
            lines.append(
                f"| latency 200 ms, c256, {'stream' if cell.stream else 'whole'}: >= 0.95 x "
                f"c/latency = {ideal:,.0f} req/s | {got:,.0f} req/s = "
                f"{got / (cell.concurrency / 0.2):.2f} x (the raw ceiling: {raw:,.0f} = "
                f"{raw / (cell.concurrency / 0.2):.2f} x) | {'yes' if got >= ideal else 'no'} | "
                f"{max(ideal / got, 1):.2f}x faster needed; {got / raw:.2f} x the ceiling |"
            )
    lines.append(
        f"| `echo` engine alone >= 20,000 prompts/s | {echo:,.0f} prompts/s (streamed) | "
        f"{'yes' if echo >= 20_000 else 'no'} | {max(20_000 / echo, 1):.1f}x faster needed |"
    )
    lines.append(
        "| peak RSS, resume and `sql` at 1M | see the scale section below (`bench_scale.py`) "
        "| - | - |"
    )
    return "\n".join(lines)


def section(
    args: argparse.Namespace,
    matrix: list[Cell],
    results: dict[tuple[Cell, str], Samples],
    echo: tuple[int, dict[str, tuple[list[float], list[float]]]],
    profiled: tuple[Cell, float, str] | None,
    machine: str,
    seconds: float,
) -> str:
    """The BENCHMARKS.md section."""
    echo_n, echo_modes = echo
    echo_lines = [
        f"| {mode} | {_med(rates):,.0f} | {_med(stamped):,.0f} |"
        for mode, (rates, stamped) in echo_modes.items()
    ]
    parts = [
        BEGIN,
        "## Throughput against the raw-HTTP ceiling (`bench/run.py`, issue 9)",
        "",
        f"`python bench/run.py{' --quick' if args.quick else ''}`: {args.rounds} round(s) per "
        f"cell, medians, requests/s, in {seconds / 60:.1f} min. Machine: {machine}",
        "",
        "Server: `bench/_server.py`, aiohttp in its own process, one precomputed body (JSON, or "
        "the whole SSE stream of an echo answer: 8 chunks + usage + `[DONE]`), latency by "
        "`asyncio.sleep`. Clients, each in its own process: **raw** = aiohttp posting the "
        "same body and reading the response, nothing else (the ceiling); **openai** = "
        "`AsyncOpenAI(...).chat.completions.create` under an `asyncio.Semaphore`, iterating "
        "the stream; both timed from first request to last response. **llmframe** = "
        "`llmframe run prompts.parquet --model openai/bench --base-url ... --quiet` "
        "(Parquet in, run directory out): *process* is the whole subprocess including start-up "
        "and writing; *timestamps* is ok responses / (last `finished_at` - first "
        "`started_at`) from the run's responses, the fair comparison to the others. Ratios "
        "use the timestamp rate and the ceiling of the same cell in the same run. "
        "*server µs/req* is the server process's CPU time per request (from /proc): "
        "1e6 / it is what the server could serve on one core, so while it stays well under "
        "the client's µs/req the server is not the bottleneck. *client µs/req* is the "
        "client process's CPU time per request, start-up included.",
        "",
        table(results, matrix),
        "",
        f"**`echo` engine alone** (`llmframe run prompts.parquet --model echo --quiet`, "
        f"{echo_n:,} prompts, no latency; whole = `--no-stream`), prompts/s:",
        "",
        "| mode | whole process | from the timestamps |",
        "|---|---:|---:|",
        *echo_lines,
        "",
        "### Targets (issue 9) and the distance to each",
        "",
        targets(results, matrix, _med(echo_modes["stream"][1])),
        "",
        CHANGES,
        "",
    ]
    if profiled is not None:
        cell, rate, costs = profiled
        parts += [
            f"### Where llmframe's time goes (cProfile, {describe(cell)}, {cell.n:,} requests)",
            "",
            f"`python -m cProfile -o llmframe.prof -m llmframe run ...` ({rate:,.0f} req/s "
            "under the profiler, which slows Python code about 2x). Coroutine frames are "
            "counted once per resumption and their cumulative time includes the time they spent "
            "awaiting (so it adds up to more than the total); asyncio's own rows are left out "
            "of the first list.",
            "",
            costs,
            "",
        ]
    parts += [
        "Figures are noisy: 2 cores shared by the server, the client and whatever else runs "
        "(other engineers' test suites may run at the same time); compare ratios within one "
        "run rather than absolute numbers across runs.",
        END,
    ]
    return "\n".join(parts)


def main() -> None:
    """Run the benchmark and write its BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, latency 0, c64 only")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per cell (default 3)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the file")
    parser.add_argument("--no-scale", action="store_true", help="skip bench_scale.py")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    machine = versions()
    start = time.perf_counter()
    matrix = cells(args.quick)
    with tempfile.TemporaryDirectory(prefix="llmframe-bench-") as tmp:
        workdir = Path(tmp)
        results = measure(matrix, args.rounds, workdir)
        echo_n = 5000 if args.quick else 10_000
        echo_modes = {
            mode: measure_echo(echo_n, args.rounds, workdir, stream=mode == "stream")
            for mode in ("stream", "whole")
        }
        profiled = None
        if not args.no_profile:
            cell = Cell(64, 0, True, 1000 if args.quick else 2000)
            rate, costs = profile(cell, workdir)
            profiled = (cell, rate, costs)
    seconds = time.perf_counter() - start
    echo = (echo_n, echo_modes)
    text = section(args, matrix, results, echo, profiled, machine, seconds)
    print(text)
    if not args.no_write:
        write_section(text, BEGIN, END)
    if not args.no_scale:  # peak memory, resume and SQL at 1M prompts (10k/100k with --quick)
        import bench_scale

        options = ["--quick", "--rounds", "1"] if args.quick else []
        bench_scale.run_benchmark(bench_scale.parse_args(options + ["--no-write"] * args.no_write))
    if importlib.util.find_spec("llama_cpp") is not None:  # issue 10, with the `local` extra
        import bench_llamacpp

        bench_llamacpp.regenerate(args.rounds, write=not args.no_write)


if __name__ == "__main__":
    main()
