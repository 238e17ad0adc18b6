"""Refuse, before anything is sent, media a provider cannot take.

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
from llmframe.parts.longform import nested_to_long
from llmframe.providers.endpoints import ModelTarget
from llmframe.providers.profiles import PROFILES

__all__ = ["check_media_support"]

_MEDIA = ("image", "audio", "video", "document")


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
