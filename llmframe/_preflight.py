"""Refuse, before anything is sent, media a provider cannot take, and misplaced system turns.

A run whose rows hold audio for a model that takes no audio would otherwise spend money on
the rows before it and end with error rows; it is cheaper to say so at once, naming each row,
part and provider (exit 2). Finer refusals (an https image for Ollama) stay with each
provider's `build_call` and become error rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from llmframe.errors import InputError, raise_problems
from llmframe.io.source import Source
from llmframe.parts.longform import nested_to_long
from llmframe.providers.endpoints import ModelTarget
from llmframe.providers.profiles import PROFILES

__all__ = ["check_media_support", "check_system_first"]

_MEDIA = ("image", "audio", "video", "document")
_SYSTEM_ROLES = ("system", "developer")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def check_media_support(
    prompts: pa.Table,
    targets: Sequence[ModelTarget],
    row_targets: Mapping[str, ModelTarget],
    *,
    file: str,
) -> None:
    """Raise `InvalidInput` naming every media part a row's model cannot take."""
    long = nested_to_long(prompts.select(["id", "messages"]))
    media = long.filter(pc.is_in(long.column("type").cast(pa.string()), pa.array(_MEDIA)))
    if media.num_rows == 0:
        return
    row_models = dict(
        zip(
            prompts.column("id").to_pylist(),
            prompts.column("model").to_pylist() if "model" in prompts.column_names else [],
            strict=False,
        )
    )
    problems = []
    for row in media.select(["id", "message_index", "part_index", "type"]).to_pylist():
        row_model = row_models.get(row["id"])
        for target in [row_targets[row_model]] if row_model else targets:
            profile = PROFILES.get(target.endpoint.wire)
            if profile is None or row["type"] in profile.takes:
                continue
            msg = (
                f"`{target.label}` cannot take {_article(row['type'])} {row['type']} part "
                f"(message {row['message_index'] + 1}, part {row['part_index'] + 1}). "
                "Hint: `llmframe models` lists what each provider takes"
            )
            problems.append(InputError(msg, row=f"id `{row['id']}`"))
    raise_problems(problems, file)


def _system_first(target: ModelTarget) -> bool:
    profile = PROFILES.get(target.endpoint.wire)
    return profile is not None and profile.system_first


def check_system_first(
    prompts: pa.Table,
    targets: Sequence[ModelTarget],
    row_targets: Mapping[str, ModelTarget],
    source: Source,
) -> None:
    """Raise `InvalidInput` naming each row with a system message after its conversation began.

    Only for models whose API takes the system prompt at the top alone (`Profile.system_first`:
    Anthropic, Gemini).
    """
    if not any(_system_first(t) for t in [*targets, *row_targets.values()]):
        return
    messages = prompts.column("messages").combine_chunks()
    roles = pc.list_flatten(messages).field("role").cast(pa.string()).to_pylist()
    offsets = messages.offsets.to_pylist()
    models = prompts.column("model").to_pylist() if "model" in prompts.column_names else None
    problems = []
    for row in range(prompts.num_rows):
        row_roles = roles[offsets[row] : offsets[row + 1]]
        first = next((i for i, r in enumerate(row_roles) if r not in _SYSTEM_ROLES), None)
        late = [
            i
            for i, r in enumerate(row_roles)
            if r in _SYSTEM_ROLES and first is not None and i > first
        ]
        if not late:
            continue
        row_model = models[row] if models else None
        for target in [row_targets[row_model]] if row_model else targets:
            if _system_first(target):
                msg = (
                    f"message {late[0] + 1} is a {row_roles[late[0]]} message after the "
                    f"conversation began; `{target.label}` takes a system prompt only before "
                    "it. Hint: move it to the start"
                )
                label = source.row_label(row)
                problems.append(InputError(msg, row=label, column="messages"))
    raise_problems(problems, source.path)
