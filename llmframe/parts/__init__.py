"""Parts and messages: pydantic models, their Arrow encoding, and nested <-> long conversion."""

from llmframe.parts.types import (
    AudioPart,
    Conversation,
    DocumentPart,
    ImagePart,
    JsonPart,
    Message,
    Part,
    PartType,
    ReasoningPart,
    RefusalPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)

__all__ = [
    "AudioPart",
    "Conversation",
    "DocumentPart",
    "ImagePart",
    "JsonPart",
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
