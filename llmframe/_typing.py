"""The `Literal` aliases of llmframe's options, defined once (as polars keeps them)."""

from __future__ import annotations

from typing import Literal

__all__ = ["FrameFormat"]

FrameFormat = Literal["polars", "pandas", "arrow"]
"""What a `llmframe.results.Run` table comes back as: a polars or pandas DataFrame, or Arrow."""
