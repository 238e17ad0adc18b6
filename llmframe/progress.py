"""Progress on a terminal: a rich bar with done/total, rates, errors, retries and ETA.

Rich is already installed with typer and does this well (live redraw, ETA, terminal width);
writing our own would be worse. Off a terminal nothing is drawn: the CLI prints one summary.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmframe.runner import RunSummary

__all__ = ["TerminalProgress"]


class TerminalProgress:
    """A live progress bar on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]run"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"),
            TextColumn("{task.fields[faults]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: Any = None
        self._started = time.monotonic()

    def start(self, total: int) -> None:
        """Show the bar for `total` responses."""
        self._started = time.monotonic()
        self._bar.start()
        self._task = self._bar.add_task("run", total=total, rates="", faults="")

    def update(self, summary: RunSummary) -> None:
        """Redraw from the run's counters."""
        done = summary.ok + summary.errors
        elapsed = max(time.monotonic() - self._started, 1e-6)
        tokens = summary.input_tokens + summary.output_tokens
        rates = f"{done / elapsed:.1f} req/s  {tokens / elapsed:,.0f} tok/s"
        faults = f"errors {summary.errors}  retries {summary.retries}"
        self._bar.update(self._task, completed=done, rates=rates, faults=faults)

    def stop(self) -> None:
        """Leave the final state on screen."""
        self._bar.stop()
