"""Parts and messages as pydantic models: the Python face of the Arrow `Part` and `Message`.

One class per part type, discriminated on ``type``. Each class names its own fields
(``ToolCallPart.arguments``, ``JsonPart.value``); `llmframe.parts.arrow` maps them onto the one flat
Arrow `Part` struct. Identity (ids, indexes) is a storage concern and never lives in a part.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

__all__ = [
    "AudioPart",
    "Conversation",
    "DocumentPart",
    "ImagePart",
    "JsonPart",
    "MediaPart",
    "Message",
    "Part",
    "PartType",
    "ReasoningPart",
    "RefusalPart",
    "Role",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "VideoPart",
]

PartType = Literal[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "tool_call",
    "tool_result",
    "json",
    "reasoning",
    "refusal",
]
Role = Literal["system", "developer", "user", "assistant", "tool"]

ProviderData = dict[str, JsonValue]
"""Opaque state a provider needs to have a part sent back (a signature, a file id, a detail level).

It holds the producing provider's name under ``"provider"``; it is never shown as content.
"""


class _BasePart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_data: ProviderData | None = None


class TextPart(_BasePart):
    """Plain text."""

    type: Literal["text"] = "text"
    text: str


class ReasoningPart(_BasePart):
    """A model's reasoning; `text` may be absent when only an encrypted blob is kept."""

    type: Literal["reasoning"] = "reasoning"
    text: str | None = None


class RefusalPart(_BasePart):
    """A model's refusal to answer."""

    type: Literal["refusal"] = "refusal"
    text: str


class _MediaPart(_BasePart):
    """Media by reference (`uri`: a path under the media root, https or data: URL) or inline."""

    uri: str | None = None
    data: bytes | None = None
    mime_type: str | None = None

    @model_validator(mode="after")
    def _has_content(self) -> _MediaPart:
        if self.uri is None and self.data is None and not self.provider_data:
            msg = f"{self.type} part needs `uri` or `data`"  # type: ignore[attr-defined]
            raise ValueError(msg)
        return self


class ImagePart(_MediaPart):
    """An image."""

    type: Literal["image"] = "image"


class AudioPart(_MediaPart):
    """A sound recording."""

    type: Literal["audio"] = "audio"


class VideoPart(_MediaPart):
    """A video."""

    type: Literal["video"] = "video"


class DocumentPart(_MediaPart):
    """A document such as a PDF; `name` is its file name."""

    type: Literal["document"] = "document"
    name: str | None = None


class ToolCallPart(_BasePart):
    """A model's call of a tool.

    `arguments` is the parsed JSON value. When a model produced arguments that are not valid JSON,
    they are kept verbatim in `raw_arguments` and `arguments` is None: nothing is lost.
    """

    type: Literal["tool_call"] = "tool_call"
    name: str
    tool_call_id: str | None = None
    arguments: JsonValue = None
    raw_arguments: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_arguments(cls, values: Any) -> Any:
        if (
            isinstance(values, dict)
            and "arguments" not in values
            and values.get("raw_arguments") is None
        ):
            return {**values, "arguments": {}}
        return values

    @model_validator(mode="after")
    def _one_form(self) -> ToolCallPart:
        if self.raw_arguments is not None and self.arguments is not None:
            msg = "tool_call part takes `arguments` or `raw_arguments`, not both"
            raise ValueError(msg)
        return self


class ToolResultPart(_BasePart):
    """What a tool returned, linked to its call by `tool_call_id`: text, a JSON value, or both."""

    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    name: str | None = None
    text: str | None = None
    value: JsonValue = None


class JsonPart(_BasePart):
    """Structured output: one JSON value."""

    type: Literal["json"] = "json"
    value: JsonValue


Part = Annotated[
    Union[  # noqa: UP007 - a Union reads better than a 10-way `|` here
        TextPart,
        ImagePart,
        AudioPart,
        VideoPart,
        DocumentPart,
        ToolCallPart,
        ToolResultPart,
        JsonPart,
        ReasoningPart,
        RefusalPart,
    ],
    Field(discriminator="type"),
]
"""Any part, discriminated on its ``type``."""

PART_CLASSES: dict[str, type[_BasePart]] = {
    cls.model_fields["type"].default: cls for cls in get_args(get_args(Part)[0])
}


MediaPart = Union[ImagePart, AudioPart, VideoPart, DocumentPart]  # noqa: UP007
"""A part that references or holds media."""


class Message(BaseModel):
    """A role and its non-empty list of parts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    parts: list[Part] = Field(min_length=1)


class Conversation(BaseModel):
    """A non-empty sequence of messages: one prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: list[Message] = Field(min_length=1)
