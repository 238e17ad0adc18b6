"""What the benchmarks share: timing and writing their section of BENCHMARKS.md."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
REPEATS = 5


def best_of(func: Callable[[], object], repeats: int = REPEATS) -> float:
    """The fastest of `repeats` timings of `func`, in seconds (least disturbed by noise)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def write_section(text: str, begin: str, end: str, path: Path = BENCHMARKS) -> None:
    """Put `text` into `path`, replacing an earlier section between the markers."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + text + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)
