"""The next turn: a previous run's conversations as prompts, with a new user message appended.

``llmframe run RUN --follow-up "Now answer in French"`` reads RUN's `conversations` view (each
ok response appended to its prompt), keeps the user columns, records which model answered
before as ``previous_model``, and appends the follow-up to every conversation.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.io.source import ArrowSource
from llmframe.parts.arrow import messages_from_arrow, messages_to_arrow
from llmframe.parts.types import Message, TextPart

__all__ = ["append_user_message", "is_run_directory", "run_conversations"]


def is_run_directory(path: Path) -> bool:
    """Whether `path` is an llmframe run directory."""
    return path.is_dir() and (path / "manifest.json").is_file()


def run_conversations(path: Path) -> tuple[ArrowSource, Path | None]:
    """A run's conversations as a source, and the media root its prompts used."""
    from llmframe.results import Run

    with Run(path) as run:
        table = run.conversations(as_="arrow")
        media_root = run.manifest.media_root
    if "model" in table.column_names:
        index = table.column_names.index("model")
        previous = table.column("model")
        table = table.set_column(index, "previous_model", previous)
        ids = table.column("id")
        if len(pc.unique(ids)) != len(ids):
            # Several models answered each prompt: one conversation per (prompt, model).
            joined = pc.binary_join_element_wise(ids, previous.cast(pa.string()), "/")
            table = table.set_column(table.column_names.index("id"), "id", joined)
    return ArrowSource(str(path), "run", table), Path(media_root) if media_root else None


def append_user_message(prompts: pa.Table, text: str) -> pa.Table:
    """Every conversation of a prompts table with one more user message."""
    follow_up = Message(role="user", parts=[TextPart(text=text)])
    conversations = [[*c, follow_up] for c in messages_from_arrow(prompts.column("messages"))]
    index = prompts.column_names.index("messages")
    return prompts.set_column(index, prompts.field("messages"), messages_to_arrow(conversations))
