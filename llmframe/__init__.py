"""llmframe: LLM conversations as tabular datasets.

Messages and response parts are Arrow rows (`llmframe.schema`); `run` sends a table of
conversations to models and returns a `Run` to query with SQL or DataFrames; `extract` turns a
column of documents into typed columns that fit a schema. The CLI is a thin
shell over these functions.
"""

__version__ = "0.1.0"

from llmframe.api import (
    aextract,
    arun,
    convert,
    extract,
    open,
    read_prompts,
    run,
    to_models,
    validate,
)
from llmframe.errors import InputError, LlmframeError, ProviderError, StoreError, UsageError
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
from llmframe.parts.build import assistant, image, system, tool_result, user
from llmframe.results import Run

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
    "Run",
    "StoreError",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "UsageError",
    "VideoPart",
    "__version__",
    "aextract",
    "arun",
    "assistant",
    "convert",
    "extract",
    "image",
    "open",
    "read_prompts",
    "run",
    "system",
    "to_models",
    "tool_result",
    "user",
    "validate",
]
