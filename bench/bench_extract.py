"""Benchmark: what extraction adds per answer and per run (`llmframe.extraction`).

1. Checking answers: `AnswerChecker.check` (parse the text, drop strict-mode nulls, validate with
   jsonschema, formats included) on generated JSON answers; baseline in the same run: bare
   `json.loads` of the same texts, the least any client does with an answer.
2. Building the table: `extraction_table` over a run directory of recorded responses (JSON parts
   in the store's Parquet files), from reading the files to the typed wide table.

    python bench/bench_extract.py [answers]
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import platform
import sys
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
from _common import best_of, write_section
from bench_typing import SCHEMA, instances

from llmframe.extraction.answer import AnswerChecker
from llmframe.extraction.table import extraction_table
from llmframe.io import ReadOptions
from llmframe.io.frames import source_from_data
from llmframe.io.normalize import normalize
from llmframe.parts.types import JsonPart, TextPart
from llmframe.store import Manifest, RunStore, open_run

BEGIN = "<!-- bench_extract:begin -->"
END = "<!-- bench_extract:end -->"


def record_run(path: Path, answers: list[dict | None]) -> None:
    """A run directory with one ok response (a JSON part) per answer, None -> an invalid row."""
    prompts = normalize(
        source_from_data([{"prompt": f"review {i}", "n": i} for i in range(len(answers))]),
        ReadOptions(),
    )
    manifest = Manifest(models=("echo",), options={}, input_fingerprint="bench", schema=SCHEMA)
    now = dt.datetime.now(dt.timezone.utc)
    with RunStore.create_or_resume(path, manifest, prompts) as store:
        for prompt_id, answer in zip(prompts.column("id").to_pylist(), answers, strict=True):
            row = {
                "response_id": uuid.uuid4().hex,
                "prompt_id": prompt_id,
                "model": "echo",
                "provider": "echo",
                "status": "ok" if answer is not None else "invalid",
                "attempts": 1,
                "started_at": now,
                "finished_at": now,
            }
            store.record(row, [JsonPart(value=answer)] if answer is not None else [])


def section(count: int, check: float, loads: float, rows: int, table: float) -> str:
    """The BENCHMARKS.md section for these timings."""
    version = importlib.metadata.version("jsonschema")
    return f"""{BEGIN}
## Checking answers and building the extraction table (`bench/bench_extract.py`)

The same 6-field schema as above. Checking: {count:,} JSON answers as text parts (parse, drop
strict-mode nulls, validate with jsonschema {version} including formats);
baseline in the same run: bare `json.loads` of the same texts. Table: `extraction_table` over a
run directory of {rows:,} recorded responses (2% invalid), from its Parquet files to the typed
table. Best of 5 (check) and 3 (table) runs.

| what | seconds | rows/s |
|---|---:|---:|
| `AnswerChecker.check` | {check:.3f} | {count / check:,.0f} |
| `json.loads` only (baseline) | {loads:.3f} | {count / loads:,.0f} |
| `extraction_table` (run dir -> typed table) | {table:.3f} | {rows / table:,.0f} |

Checking costs **{check / loads:.1f}x** a bare parse, about {check / count * 1e6:.0f} µs per
answer (three quarters of it in jsonschema): small next to any model's latency, and paid once per
answer. Target for typing: >= 20,000
rows/s. Machine: {platform.python_implementation()} {platform.python_version()}, pyarrow
{pa.__version__}, 2 cores, a shared and noisy box, so treat the numbers as rough.
{END}"""


def main() -> None:
    """Run the benchmark and update BENCHMARKS.md."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    answers = instances(count)
    texts = [json.dumps(a) for a in answers if a is not None]
    parts = [[TextPart(text=t)] for t in texts]
    checker = AnswerChecker(SCHEMA)
    assert all(checker.check(p).ok for p in parts)
    check = best_of(lambda: [checker.check(p) for p in parts])
    loads = best_of(lambda: [json.loads(t) for t in texts])
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        record_run(run, answers)
        view = open_run(run)
        assert extraction_table(view, SCHEMA).num_rows == count
        table = best_of(lambda: extraction_table(view, SCHEMA), repeats=3)
    text = section(len(texts), check, loads, count, table)
    print(text)
    write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
