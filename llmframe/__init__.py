"""llmframe: LLM conversations as tabular datasets.

Messages and response parts are Arrow rows (`llmframe.schema`); readers turn the tables users
already have into prompts; the CLI and these functions share one implementation.
"""

from llmframe.api import convert, read_prompts, validate
from llmframe.errors import (
    InputError,
    LlmframeError,
    ProviderError,
    StoreError,
    UsageError,
)
from llmframe.parts import (
    AudioPart,
    DocumentPart,
    ImagePart,
    JsonPart,
    Message,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)

__version__ = "0.1.0"

__all__ = [
    "AudioPart",
    "DocumentPart",
    "ImagePart",
    "InputError",
    "JsonPart",
    "LlmframeError",
    "Message",
    "ProviderError",
    "ReasoningPart",
    "RefusalPart",
    "StoreError",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "UsageError",
    "VideoPart",
    "__version__",
    "convert",
    "read_prompts",
    "validate",
]
