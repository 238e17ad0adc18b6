"""Benchmark: typing extracted JSON instances into Arrow columns (`llmframe.extraction.arrow`).

Times `to_columns` on generated instances of a realistic extraction schema and, in the same run,
a naive baseline (`pa.Table.from_pylist` on the same dicts, which infers types and builds no
enum dictionaries or dates). Prints the numbers and writes them into BENCHMARKS.md, replacing
the section between the markers.

    python bench/bench_typing.py [rows]
"""

from __future__ import annotations

import platform
import random
import sys
from typing import Any

import pyarrow as pa
from _common import REPEATS, best_of, write_section

from llmframe.extraction.arrow import to_columns

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentiment": {"enum": ["positive", "neutral", "negative"]},
        "score": {"type": "integer"},
        "confidence": {"type": "number"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "spam": {"type": "boolean"},
        "address": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "country": {"type": "string"},
                "zip": {"type": ["string", "null"]},
            },
            "required": ["city", "country"],
        },
    },
    "required": ["sentiment", "score", "confidence", "topics", "spam"],
}
TOPICS = ["billing", "shipping", "refund", "login", "bug", "praise", "pricing", "other"]
CITIES = ["Lyon", "Oslo", "Lima", "Pune", "Kyiv", "Austin"]
BEGIN = "<!-- bench_typing:begin -->"
END = "<!-- bench_typing:end -->"


def instances(count: int, seed: int = 0) -> list[dict[str, Any] | None]:
    """`count` valid instances of SCHEMA; one in 50 rows is a failed extraction (None)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any] | None] = []
    for i in range(count):
        if i % 50 == 49:
            rows.append(None)
            continue
        row: dict[str, Any] = {
            "sentiment": rng.choice(["positive", "neutral", "negative"]),
            "score": rng.randint(1, 5),
            "confidence": rng.random(),
            "topics": rng.sample(TOPICS, rng.randint(0, 3)),
            "spam": rng.random() < 0.1,
        }
        if rng.random() < 0.7:
            row["address"] = {
                "city": rng.choice(CITIES),
                "country": "XX",
                "zip": None if rng.random() < 0.3 else str(rng.randint(10000, 99999)),
            }
        rows.append(row)
    return rows


def section(rows: int, typed: float, naive: float) -> str:
    """The BENCHMARKS.md section for these timings."""
    return f"""{BEGIN}
## Typing extracted JSON into Arrow columns (`bench/bench_typing.py`)

`to_columns(schema, instances)` on {rows:,} generated instances of a 6-field schema (sentiment
enum -> dictionary, score int64, confidence float64, topics list<string>, spam bool, address
struct with a nullable zip), 2% rows without an instance. Baseline in the same run:
`pa.Table.from_pylist` on the same dicts (type inference only: no enum dictionary, no schema).
Best of {REPEATS} runs each.

| what | seconds | rows/s |
|---|---:|---:|
| `to_columns` (typed) | {typed:.3f} | {rows / typed:,.0f} |
| `pa.Table.from_pylist` (naive) | {naive:.3f} | {rows / naive:,.0f} |

Typed / naive time ratio: **{typed / naive:.2f}x** (below 1 means `to_columns` is faster).
Target: >= 20,000 rows/s. Machine: {platform.python_implementation()} {platform.python_version()},
pyarrow {pa.__version__}, 2 cores, a shared and noisy box, so treat the numbers as rough.
{END}"""


def main() -> None:
    """Run the benchmark and update BENCHMARKS.md."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rows = instances(count)
    table = to_columns(SCHEMA, rows)
    assert table.num_rows == count
    typed = best_of(lambda: to_columns(SCHEMA, rows))
    naive = best_of(lambda: pa.Table.from_pylist([r or {} for r in rows]))
    text = section(count, typed, naive)
    print(text)
    write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
