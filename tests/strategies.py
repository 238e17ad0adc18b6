"""Hypothesis strategies for llmframe's data: every Part type, messages, conversations, prompts.

Text is any Unicode except lone surrogates (category ``Cs``, which no UTF-8 file or Arrow string
can hold), with emoji, CJK, combining marks and brace look-alikes mixed in on purpose. JSON values
are nested, include integers far beyond int64, and never NaN or infinity (not JSON).

``openai_records`` generates OpenAI chat JSONL records in exactly the canonical form that
`llmframe.io.openai_chat` documents, so that reading and writing them back must be the identity.
"""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

from llmframe import _json
from llmframe.parts.types import (
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
from llmframe.schema import ROLES

__all__ = [
    "TRICKY_SNIPPETS",
    "binaries",
    "conversations",
    "json_values",
    "messages",
    "openai_conversations",
    "openai_records",
    "parts",
    "plain_templates",
    "provider_data",
    "template_texts",
    "texts",
    "unique_ids",
]

TRICKY_SNIPPETS: tuple[str, ...] = (
    "",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\u2028",
    "\ufeff",
    "\u200b",
    '"',
    "\\",
    "😀",
    "👩\u200d👩\u200d👧",
    "🇯🇵",
    "漢字",
    "한국어",
    "𠀋",
    "e\u0301",
    "\u0301",
    "a\u0308\u0323",
    "{x}",
    "{0.__class__}",
    "{{",
    "}}",
    "null",
)

_CHARS = st.characters(exclude_categories=("Cs",))

texts: st.SearchStrategy[str] = st.one_of(
    st.text(_CHARS, max_size=12),
    st.lists(st.sampled_from(TRICKY_SNIPPETS) | st.text(_CHARS, max_size=3), max_size=5).map(
        "".join
    ),
)
"""Any text without lone surrogates, often mixing in emoji, CJK and combining marks."""

optional_texts = st.none() | texts

binaries: st.SearchStrategy[bytes] = st.binary(max_size=48)

_big_ints = st.integers(min_value=2**63, max_value=2**200) | st.integers(
    min_value=-(2**200), max_value=-(2**63) - 1
)
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    _big_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)

_nested_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def _large_json(size: int, leaf: Any) -> Any:
    """A value nested `size` levels deep beside a wide array and object (cheap to generate)."""
    deep: Any = leaf
    for level in range(size):
        deep = [deep] if level % 2 else {"k": deep}
    wide = {f"key {i}": i * 2**61 for i in range(size)}
    return {"deep": deep, "wide": [leaf] * (size * 8), "object": wide}


@st.composite
def _json_values(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return _large_json(draw(st.integers(10, 80)), draw(_json_scalars))
    return draw(_nested_json)


json_values: st.SearchStrategy[Any] = _json_values()
"""Any JSON value: nested lists and objects (now and then large and deep), big integers, no NaN
or infinity."""

provider_data: st.SearchStrategy[dict[str, Any]] = st.builds(
    lambda provider, extra: {**({"provider": provider} if provider else {}), **extra},
    st.none() | st.sampled_from(["openai", "anthropic", "gemini"]) | texts,
    st.dictionaries(
        texts.filter(lambda key: key != "provider"),
        st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=2), max_leaves=3),
        max_size=2,
    ),
)
"""A provider_data object, usually naming its provider."""

optional_provider_data = st.none() | provider_data

_mime_types = (
    st.none()
    | st.sampled_from(["image/png", "audio/wav", "audio/mpeg", "video/mp4", "application/pdf"])
    | texts
)

_uris = (
    st.sampled_from(
        [
            "cat.png",
            "media/dir with space/猫.jpg",
            "https://example.com/a.png",
            "data:image/png;base64,iVBORw0KGgo=",
        ]
    )
    | texts
)

_MEDIA_CLASSES = {"image": ImagePart, "audio": AudioPart, "video": VideoPart}


@st.composite
def _media_parts(draw: st.DrawFn, kind: str) -> Any:
    """A media part: `uri`, `data` or non-empty `provider_data`, as the model requires."""
    uri = draw(st.none() | _uris)
    data = draw(st.none() | binaries)
    extra = draw(optional_provider_data)
    if uri is None and data is None and not extra:
        # Pick which of the three carries the content so each is exercised alone.
        choice = draw(st.sampled_from(["uri", "data", "provider_data"]))
        if choice == "uri":
            uri = draw(_uris)
        elif choice == "data":
            data = draw(binaries)
        else:
            extra = {"provider": "openai", "file_id": draw(texts)}
    fields = {"uri": uri, "data": data, "mime_type": draw(_mime_types), "provider_data": extra}
    if kind == "document":
        return DocumentPart(name=draw(optional_texts), **fields)
    return _MEDIA_CLASSES[kind](**fields)


@st.composite
def _tool_calls(draw: st.DrawFn) -> ToolCallPart:
    name, call_id, extra = draw(texts), draw(optional_texts), draw(optional_provider_data)
    if draw(st.booleans()):
        return ToolCallPart(
            name=name, tool_call_id=call_id, arguments=draw(json_values), provider_data=extra
        )
    return ToolCallPart(
        name=name, tool_call_id=call_id, raw_arguments=draw(texts), provider_data=extra
    )


_text_parts = st.builds(TextPart, text=texts, provider_data=optional_provider_data)
_reasoning_parts = st.builds(
    ReasoningPart, text=optional_texts, provider_data=optional_provider_data
)
_refusal_parts = st.builds(RefusalPart, text=texts, provider_data=optional_provider_data)
_tool_results = st.builds(
    ToolResultPart,
    tool_call_id=texts,
    name=optional_texts,
    text=optional_texts,
    value=json_values,
    provider_data=optional_provider_data,
)
_json_parts = st.builds(JsonPart, value=json_values, provider_data=optional_provider_data)

PART_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "text": _text_parts,
    "image": _media_parts("image"),
    "audio": _media_parts("audio"),
    "video": _media_parts("video"),
    "document": _media_parts("document"),
    "tool_call": _tool_calls(),
    "tool_result": _tool_results,
    "json": _json_parts,
    "reasoning": _reasoning_parts,
    "refusal": _refusal_parts,
}
"""One strategy per part type, keyed like `llmframe.schema.PART_TYPES`."""

parts: st.SearchStrategy[Any] = st.one_of(*PART_STRATEGIES.values())
"""Any Part, of any type."""

messages: st.SearchStrategy[Message] = st.builds(
    Message, role=st.sampled_from(ROLES), parts=st.lists(parts, min_size=1, max_size=3)
)
"""Any Message: any role with one to three parts of any type."""

conversations: st.SearchStrategy[list[Message]] = st.lists(messages, min_size=1, max_size=3)
"""One prompt's messages (at least one)."""

unique_ids = st.lists(texts, unique=True, max_size=4)
"""Distinct conversation ids, possibly empty strings and any Unicode."""


# OpenAI chat, canonical form -----------------------------------------------------------------

_call_ids = texts.filter(bool)
_hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True)
_url_paths = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=12
).filter(lambda path: "#" not in path and "?" not in path)
_https_urls = st.builds(
    lambda scheme, host, path, ext: f"{scheme}://{host}/{path}{ext}",
    st.sampled_from(["https", "http"]),
    _hosts,
    _url_paths,
    st.sampled_from(["", ".png", ".jpg", ".webp", ".gif", ".bin"]),
)


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


_nonempty_bytes = st.binary(min_size=1, max_size=48)
_image_data_urls = st.builds(
    _data_url, st.sampled_from(["image/png", "image/jpeg", "image/webp"]), _nonempty_bytes
)
_file_data_urls = st.builds(
    _data_url, st.sampled_from(["application/pdf", "text/plain"]), _nonempty_bytes
)


@st.composite
def _openai_image(draw: st.DrawFn) -> dict[str, Any]:
    image: dict[str, Any] = {"url": draw(_https_urls | _image_data_urls)}
    detail = draw(st.none() | st.sampled_from(["auto", "low", "high"]))
    if detail is not None:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


_openai_audio = st.builds(
    lambda data, fmt: {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt},
    },
    binaries,
    st.sampled_from(["wav", "mp3", "flac", "ogg"]),
)


@st.composite
def _openai_file(draw: st.DrawFn) -> dict[str, Any]:
    file: dict[str, Any] = {}
    filename = draw(optional_texts)
    file_data = draw(st.none() | _file_data_urls)
    file_id = draw(st.none() | texts)
    if file_data is None and file_id is None:
        file_data = draw(_file_data_urls)
    # The writer's key order: filename, file_data, file_id.
    for key, value in (("filename", filename), ("file_data", file_data), ("file_id", file_id)):
        if value is not None:
            file[key] = value
    return {"type": "file", "file": file}


_openai_text_item = st.builds(lambda text: {"type": "text", "text": text}, texts)
_openai_refusal_item = st.builds(lambda text: {"type": "refusal", "refusal": text}, texts)


def _not_single(kind: str) -> Any:
    """A content list is canonical unless it is exactly one item of `kind` (written otherwise)."""
    return lambda items: not (len(items) == 1 and items[0]["type"] == kind)


_user_content = texts | st.lists(
    _openai_text_item | _openai_image() | _openai_audio | _openai_file(), min_size=1, max_size=4
).filter(_not_single("text"))


@st.composite
def _openai_arguments(draw: st.DrawFn) -> str:
    """Compact JSON arguments, or text that is not JSON (kept verbatim as `raw_arguments`)."""
    if draw(st.integers(0, 4)):
        return _json.dumps(draw(json_values))

    def not_json(text: str) -> bool:
        if not text.strip():
            return False  # blank arguments are read as `{}`
        try:
            _json.loads(text)
        except ValueError:
            return True
        return False

    return draw(texts.filter(not_json))


@st.composite
def _openai_tool_call(draw: st.DrawFn) -> dict[str, Any]:
    call: dict[str, Any] = {}
    call_id = draw(st.none() | texts)
    if call_id is not None:
        call["id"] = call_id
    function = {"name": draw(texts), "arguments": draw(_openai_arguments())}
    return {**call, "type": "function", "function": function}


@st.composite
def _openai_assistant(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    kind = draw(st.sampled_from(["none", "string", "list", "refusal"]))
    if kind == "string":
        message["content"] = draw(texts)
    elif kind == "list":
        items = st.lists(_openai_text_item | _openai_refusal_item, min_size=1, max_size=4)
        message["content"] = draw(items.filter(_not_single("text")).filter(_not_single("refusal")))
    else:
        message["content"] = None
        if kind == "refusal":
            message["refusal"] = draw(texts)
    reasoning = draw(optional_texts)
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    calls = draw(st.lists(_openai_tool_call(), max_size=3))
    if calls:
        message["tool_calls"] = calls
    if kind == "none" and reasoning is None and not calls:
        message["content"] = draw(texts)  # an assistant message needs some content
    return message


@st.composite
def _openai_tool(draw: st.DrawFn) -> dict[str, Any]:
    message = {"role": "tool", "tool_call_id": draw(_call_ids), "content": draw(texts)}
    name = draw(optional_texts)
    if name is not None:
        message["name"] = name
    return message


_openai_plain = st.builds(
    lambda role, content: {"role": role, "content": content},
    st.sampled_from(["system", "developer", "user"]),
    _user_content,
)

openai_messages: st.SearchStrategy[dict[str, Any]] = st.one_of(
    _openai_plain, _openai_assistant(), _openai_tool()
)
"""One OpenAI chat message in canonical form, of any role."""

openai_conversations = st.lists(openai_messages, min_size=1, max_size=5)


@st.composite
def openai_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """JSONL records: unique ``id``, canonical ``messages``, then two user columns."""
    ids = draw(st.lists(texts.filter(bool), unique=True, min_size=1, max_size=4))
    records = []
    for record_id in ids:
        record = {"id": record_id, "messages": draw(openai_conversations)}
        record["note"] = draw(optional_texts)
        record["count"] = draw(st.none() | st.integers() | _big_ints)
        records.append(record)
    return records


# Templates -------------------------------------------------------------------------------------

_TEMPLATE_CHARS = (*"{}{}.[]!:0123456789 ", "r", "s", "a", "b", "x", "_", "é", "猫", "\u0301")
_PLAIN_FIELDS = ("a", "b", "x", "_", "review", "é", "猫", " a", "a b", "0a")
_POSITIONAL_FIELDS = ("", " ", "0", "12", "٣")
_EXPRESSION_TAILS = (
    *(".__class__", ".real", "[0]", "[a]", "]", "!r", "!s", "!a", "!x"),
    *(":>10", ":{b}", ":{{", "!r:5", ".a[0]!r:>3", "{", "!", "!r!s", ":}"),
)

_char_soup = st.lists(st.sampled_from(_TEMPLATE_CHARS), max_size=16).map("".join)


def _escaped(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


_literals = st.lists(
    st.sampled_from(["{{", "}}", ".", "[0]", "!r", ":>5", " ", "x"]) | texts, max_size=3
).map(lambda pieces: _escaped("".join(pieces)))


@st.composite
def _fielded_templates(draw: st.DrawFn) -> str:
    pieces = []
    for _ in range(draw(st.integers(0, 3))):
        # Mostly well-formed literals and fields, so that one odd piece decides the outcome.
        odd_literal, odd_field, odd_tail = (draw(st.integers(0, 3)) == 0 for _ in range(3))
        pieces.append(draw(_char_soup if odd_literal else _literals))
        name = draw(st.sampled_from(_POSITIONAL_FIELDS if odd_field else _PLAIN_FIELDS))
        tail = st.sampled_from(_EXPRESSION_TAILS) if odd_tail else st.sampled_from(["", ":"])
        pieces.append(f"{{{name}{draw(tail)}}}")
    pieces.append(draw(_literals))
    return "".join(pieces)


template_texts: st.SearchStrategy[str] = st.one_of(_char_soup, _fielded_templates())
"""Any template text: random braces, dots, brackets, conversions, specs and digits."""


@st.composite
def plain_templates(draw: st.DrawFn) -> str:
    """Templates that must be accepted: plain named fields between escaped literal text."""
    pieces = []
    for _ in range(draw(st.integers(1, 4))):
        pieces.append(draw(_literals))
        name, empty_spec = draw(st.sampled_from(_PLAIN_FIELDS)), draw(st.sampled_from(["", ":"]))
        pieces.append(f"{{{name}{empty_spec}}}")
    pieces.append(draw(_literals))
    return "".join(pieces)
