"""What a prompts table holds, in numbers: `llmframe validate` prints this."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.parts.longform import nested_to_long
from llmframe.schema import PART_TYPES, PROMPT_OVERRIDES, PROMPTS, ROLES

__all__ = ["Summary", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Counts over a prompts table."""

    path: str
    format: str
    rows: int
    messages: int
    parts: int
    parts_by_type: dict[str, int]
    messages_by_role: dict[str, int]
    id_source: str
    overrides: list[str]
    user_columns: list[str]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return asdict(self)

    def render(self) -> str:
        """The summary as a few readable lines."""

        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{key} {count}" for key, count in values.items()) or "none"

        lines = [
            f"{self.path}: {self.format}, {self.rows} rows, ids from {self.id_source}",
            f"  messages: {self.messages} ({counts(self.messages_by_role)})",
            f"  parts:    {self.parts} ({counts(self.parts_by_type)})",
            f"  user columns: {', '.join(self.user_columns) or 'none'}",
        ]
        if self.overrides:
            lines.append(f"  per-row overrides: {', '.join(self.overrides)}")
        return "\n".join(lines)


def _value_counts(values: pa.Array, order: list[str]) -> dict[str, int]:
    found = {
        row["values"]: row["counts"]
        for row in pc.value_counts(values.cast(pa.string())).to_pylist()
    }
    return {key: found[key] for key in order if key in found}


def summarize(table: pa.Table, *, path: str, format: str, id_source: str) -> Summary:
    """Count rows, messages, parts by type and messages by role."""
    long = nested_to_long(table.select(["id", "messages"]))
    message_roles = pc.list_flatten(table.column("messages").combine_chunks()).field("role")
    reserved = set(PROMPTS.names) | set(PROMPT_OVERRIDES.names)
    return Summary(
        path=path,
        format=format,
        rows=table.num_rows,
        messages=len(message_roles),
        parts=long.num_rows,
        parts_by_type=_value_counts(long.column("type").combine_chunks(), list(PART_TYPES)),
        messages_by_role=_value_counts(message_roles, list(ROLES)),
        id_source=id_source,
        overrides=[c for c in PROMPT_OVERRIDES.names if c in table.column_names],
        user_columns=[c for c in table.column_names if c not in reserved],
    )
