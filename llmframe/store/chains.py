"""Reading a chain's earlier steps back as messages, to resume it where it stopped.

A step's parts are the model's answer followed by the ``tool_result`` parts of the tools
llmframe ran for it (`llmframe.schema.PARTS`); as a conversation that is an ``assistant``
message, then a ``tool`` message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.parts.arrow import part_from_row
from llmframe.parts.types import Message, Part, ToolResultPart
from llmframe.schema import PART_FIELDS
from llmframe.store.snapshot import Snapshot

__all__ = ["step_histories", "step_messages"]

Key = tuple[str, str]


def step_messages(parts: Sequence[Part]) -> list[Message]:
    """One step's parts as the messages they add to the conversation."""
    answer = [p for p in parts if not isinstance(p, ToolResultPart)]
    results = [p for p in parts if isinstance(p, ToolResultPart)]
    messages = [Message(role="assistant", parts=answer)]
    if results:
        messages.append(Message(role="tool", parts=results))
    return messages


def step_histories(snapshot: Snapshot, starts: Mapping[Key, int]) -> dict[Key, list[Message]]:
    """For each (prompt_id, model) in `starts`, the messages of its steps before that step."""
    if not starts:
        return {}
    prompt_ids = sorted({prompt_id for prompt_id, _ in starts})
    parts = snapshot.parts()
    parts = parts.filter(pc.is_in(parts.column("prompt_id"), value_set=pa.array(prompt_ids)))
    fields = [f.name for f in PART_FIELDS]
    by_step: dict[Key, dict[int, list[Part]]] = {}
    for row in parts.to_pylist():  # sorted by prompt, model, step, part_index
        key = (row["prompt_id"], row["model"])
        if key in starts and row["step"] < starts[key]:
            part = part_from_row({name: row[name] for name in fields})
            by_step.setdefault(key, {}).setdefault(row["step"], []).append(part)
    histories: dict[Key, list[Message]] = {}
    for key, start in starts.items():
        steps = by_step.get(key, {})
        histories[key] = [m for step in range(start) for m in step_messages(steps.get(step, []))]
    return histories
