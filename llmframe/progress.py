"""Progress: a rich bar on a terminal, an HTML line updated in place in a notebook.

Rich is already installed with typer and does the terminal well (live redraw, ETA, terminal
width); writing our own would be worse. In Jupyter one display handle is updated in place, a
few times a second, which needs no widget library. Elsewhere nothing is drawn.
"""

from __future__ import annotations

import html
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmframe.runner import RunSummary

__all__ = ["NotebookProgress", "TerminalProgress", "choose_progress", "in_notebook"]

_TERMINAL_INTERVAL = 0.05
"""Seconds between bar updates: per response, they cost ~40 µs each (15% of the echo engine)."""


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
        self._shown = 0.0
        self._last: RunSummary | None = None

    def start(self, total: int) -> None:
        """Show the bar for `total` responses (none when there is nothing to do)."""
        if total == 0:
            return
        self._started = time.monotonic()
        self._bar.start()
        self._task = self._bar.add_task("run", total=total, rates="", faults="")

    def update(self, summary: RunSummary) -> None:
        """Redraw from the run's counters, at most 20 times a second (rich draws 10)."""
        if self._task is None:
            return
        self._last = summary
        now = time.monotonic()
        if now - self._shown >= _TERMINAL_INTERVAL:
            self._shown = now
            self._draw(summary)

    def _draw(self, summary: RunSummary) -> None:
        done = summary.done
        elapsed = max(time.monotonic() - self._started, 1e-6)
        tokens = summary.input_tokens + summary.output_tokens
        rates = f"{done / elapsed:.1f} req/s  {tokens / elapsed:,.0f} tok/s"
        faults = f"errors {summary.errors}  retries {summary.retries}"
        if summary.invalid or summary.repairs:
            faults += f"  invalid {summary.invalid}  repairs {summary.repairs}"
        self._bar.update(self._task, completed=done, rates=rates, faults=faults)

    def stop(self) -> None:
        """Leave the final state on screen."""
        if self._task is None:
            return
        if self._last is not None:
            self._draw(self._last)
        self._bar.stop()


def _line(summary: RunSummary, total: int, started: float) -> tuple[int, str]:
    done = summary.done
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = done / elapsed
    eta = f"{(total - done) / rate:.0f}s" if rate > 0 and total > done else "-"
    text = (
        f"{done}/{total} responses, {rate:.1f} req/s, "
        f"{(summary.input_tokens + summary.output_tokens) / elapsed:,.0f} tok/s, "
        f"errors {summary.errors}, retries {summary.retries}, "
        + (
            f"invalid {summary.invalid}, repairs {summary.repairs}, "
            if summary.invalid or summary.repairs
            else ""
        )
        + f"eta {eta}"
    )
    return done, text


class NotebookProgress:
    """A progress bar in a notebook cell, redrawn in place at most four times a second."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._total = 0
        self._started = time.monotonic()
        self._shown = 0.0
        self._last: RunSummary | None = None

    def _html(self, summary: RunSummary | None) -> Any:
        from IPython.display import HTML

        done, text = (
            (0, f"0/{self._total} responses")
            if summary is None
            else _line(summary, self._total, self._started)
        )
        return HTML(
            f'<progress value="{done}" max="{max(self._total, 1)}" style="width:40%"></progress> '
            f"<code>{html.escape(text)}</code>"
        )

    def start(self, total: int) -> None:
        """Show an empty bar for `total` responses (none when there is nothing to do)."""
        from IPython.display import display

        if total == 0:
            return
        self._total = total
        self._started = time.monotonic()
        self._handle = display(self._html(None), display_id=True)

    def update(self, summary: RunSummary) -> None:
        """Redraw, throttled."""
        self._last = summary
        now = time.monotonic()
        if self._handle is not None and now - self._shown >= 0.25:
            self._shown = now
            self._handle.update(self._html(summary))

    def stop(self) -> None:
        """Draw the final state."""
        if self._handle is not None and self._last is not None:
            self._handle.update(self._html(self._last))


def in_notebook() -> bool:
    """Whether we run inside a Jupyter kernel."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ipython = shell.get_ipython()  # type: ignore[attr-defined]
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def choose_progress(wanted: bool | None) -> TerminalProgress | NotebookProgress | None:
    """A notebook bar in Jupyter, a rich bar on a terminal, or nothing (`wanted=False`)."""
    if wanted is False:
        return None
    if in_notebook():
        return NotebookProgress()
    if wanted or sys.stderr.isatty():
        return TerminalProgress()
    return None
