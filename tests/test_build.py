"""Builders (`llmframe.parts.build`): each gives the hand-built pydantic object, refuses loose input
it cannot place, and builds conversations that survive Arrow unchanged."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from strategies import json_values

from llmframe._mime import sniff_mime_type
from llmframe.errors import MediaPathError, UsageError
from llmframe.io.media import MediaRoot, inline_media
from llmframe.parts.arrow import messages_from_arrow, messages_to_arrow
from llmframe.parts.build import (
    assistant,
    audio,
    developer,
    document,
    image,
    system,
    tool_call,
    tool_result,
    user,
    video,
)
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
from llmframe.providers._openai_request import wire_messages

PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)
JPEG = b"\xff\xd8\xff\xe0" + bytes(8)
GIF87 = b"GIF87a" + bytes(8)
GIF89 = b"GIF89a" + bytes(8)
WEBP = b"RIFF\x24\0\0\0WEBPVP8 "
WAV = b"RIFF\x24\0\0\0WAVEfmt "
MP3_ID3 = b"ID3\x04\0\0\0\0\0\0"
MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(8)
PDF = b"%PDF-1.7\n"


def text(value: str) -> TextPart:
    return TextPart(text=value)


# Messages ------------------------------------------------------------------------------------

MESSAGE_CASES = [
    (lambda: system("Be brief."), Message(role="system", parts=[text("Be brief.")])),
    (lambda: developer("Use metric."), Message(role="developer", parts=[text("Use metric.")])),
    (
        lambda: user("Describe this", image("cat.png")),
        Message(
            role="user",
            parts=[text("Describe this"), ImagePart(uri="cat.png", mime_type="image/png")],
        ),
    ),
    (
        lambda: user("a", text("b"), "c"),
        Message(role="user", parts=[text("a"), text("b"), text("c")]),
    ),
    (
        lambda: system("Grade this:", document("rubric.pdf")),
        Message(
            role="system",
            parts=[
                text("Grade this:"),
                DocumentPart(uri="rubric.pdf", mime_type="application/pdf"),
            ],
        ),
    ),
    (
        lambda: assistant(
            ReasoningPart(text="hmm"),
            "Checking.",
            tool_call("weather", {"city": "Oslo"}, id="c1"),
        ),
        Message(
            role="assistant",
            parts=[
                ReasoningPart(text="hmm"),
                text("Checking."),
                ToolCallPart(name="weather", tool_call_id="c1", arguments={"city": "Oslo"}),
            ],
        ),
    ),
    (
        lambda: assistant(RefusalPart(text="No."), JsonPart(value={"ok": False})),
        Message(role="assistant", parts=[RefusalPart(text="No."), JsonPart(value={"ok": False})]),
    ),
]


@pytest.mark.parametrize(("build", "expected"), MESSAGE_CASES)
def test_message_builders_give_the_hand_built_message(
    build: Callable[[], Message], expected: Message
) -> None:
    assert build() == expected


def test_parts_are_kept_as_given() -> None:
    part = ImagePart(data=PNG, mime_type="image/png", provider_data={"provider": "openai"})
    assert user(part).parts[0] is part


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("21 °C", ToolResultPart(tool_call_id="c1", text="21 °C")),
        ("", ToolResultPart(tool_call_id="c1", text="")),
        ({"temp_c": 21.5}, ToolResultPart(tool_call_id="c1", value={"temp_c": 21.5})),
        ([1, "two", None], ToolResultPart(tool_call_id="c1", value=[1, "two", None])),
        ((1, (2, 3)), ToolResultPart(tool_call_id="c1", value=[1, [2, 3]])),
        (0, ToolResultPart(tool_call_id="c1", value=0)),
        (False, ToolResultPart(tool_call_id="c1", value=False)),
        (None, ToolResultPart(tool_call_id="c1")),
    ],
)
def test_tool_result(result: Any, expected: ToolResultPart) -> None:
    assert tool_result("c1", result) == Message(role="tool", parts=[expected])


def test_tool_result_keeps_the_tool_name() -> None:
    expected = ToolResultPart(tool_call_id="c1", name="weather", value={"t": 1})
    assert tool_result("c1", {"t": 1}, name="weather") == Message(role="tool", parts=[expected])


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: tool_call("now"), ToolCallPart(name="now", arguments={})),
        (lambda: tool_call("now", None, id="c9"), ToolCallPart(name="now", tool_call_id="c9")),
        (
            lambda: tool_call("f", {"xs": (1, 2), "n": {"m": None}}),
            ToolCallPart(name="f", arguments={"xs": [1, 2], "n": {"m": None}}),
        ),
    ],
)
def test_tool_call(build: Callable[[], ToolCallPart], expected: ToolCallPart) -> None:
    assert build() == expected


# Media ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: image("cat.png"), ImagePart(uri="cat.png", mime_type="image/png")),
        (
            lambda: image(Path("img") / "cat.JPG"),
            ImagePart(uri="img/cat.JPG", mime_type="image/jpeg"),
        ),
        (lambda: image(PurePosixPath("a/b.gif")), ImagePart(uri="a/b.gif", mime_type="image/gif")),
        (lambda: image("scan"), ImagePart(uri="scan")),
        (
            lambda: image("scan", mime_type="image/tiff"),
            ImagePart(uri="scan", mime_type="image/tiff"),
        ),
        (
            lambda: image("https://example.com/cat.jpg?size=2#top"),
            ImagePart(uri="https://example.com/cat.jpg?size=2#top", mime_type="image/jpeg"),
        ),
        (
            lambda: image("data:image/png;base64,iVBORw0KGgo="),
            ImagePart(uri="data:image/png;base64,iVBORw0KGgo=", mime_type="image/png"),
        ),
        (
            lambda: image("data:;base64,iVBORw0KGgo=", mime_type="image/png"),
            ImagePart(uri="data:;base64,iVBORw0KGgo=", mime_type="image/png"),
        ),
        (lambda: image(PNG), ImagePart(data=PNG, mime_type="image/png")),
        (lambda: image(bytearray(JPEG)), ImagePart(data=JPEG, mime_type="image/jpeg")),
        (lambda: image(PNG, mime_type="image/apng"), ImagePart(data=PNG, mime_type="image/apng")),
        (lambda: audio("q.mp3"), AudioPart(uri="q.mp3", mime_type="audio/mpeg")),
        (lambda: audio(WAV), AudioPart(data=WAV, mime_type="audio/wav")),
        (
            lambda: audio("https://example.com/q.mp3"),
            AudioPart(uri="https://example.com/q.mp3", mime_type="audio/mpeg"),
        ),
        (
            lambda: audio("clip.webm", mime_type="audio/webm"),
            AudioPart(uri="clip.webm", mime_type="audio/webm"),
        ),
        (lambda: video("clip.mp4"), VideoPart(uri="clip.mp4", mime_type="video/mp4")),
        (
            lambda: video(b"\0\0\0\x20ftypisom", mime_type="video/mp4"),
            VideoPart(data=b"\0\0\0\x20ftypisom", mime_type="video/mp4"),
        ),
        (lambda: document("r.pdf"), DocumentPart(uri="r.pdf", mime_type="application/pdf")),
        (
            lambda: document(PDF, name="Q3.pdf"),
            DocumentPart(data=PDF, name="Q3.pdf", mime_type="application/pdf"),
        ),
        (
            lambda: document(b"notes", mime_type="text/plain"),
            DocumentPart(data=b"notes", mime_type="text/plain"),
        ),
        (lambda: document("photo.png"), DocumentPart(uri="photo.png", mime_type="image/png")),
    ],
)
def test_media_builders_give_the_hand_built_part(build: Callable[[], Any], expected: Any) -> None:
    built = build()
    assert built == expected
    assert type(built) is type(expected)


def test_paths_are_checked_against_the_media_root_only_when_run(tmp_path: Path) -> None:
    part = image("../outside.png")  # no file, outside any root: fine at build time
    assert part == ImagePart(uri="../outside.png", mime_type="image/png")
    with pytest.raises(MediaPathError, match="escapes the media root"):
        inline_media([user("Look", part)], MediaRoot(tmp_path))


def test_a_built_path_is_inlined_under_the_media_root(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "cat.png").write_bytes(PNG)
    (message,) = inline_media([user(image(Path("img") / "cat.png"))], MediaRoot(tmp_path))
    assert message == user(ImagePart(data=PNG, mime_type="image/png"))


# Bytes sniffing ------------------------------------------------------------------------------

SNIFFED = [
    (PNG, "image/png"),
    (JPEG, "image/jpeg"),
    (GIF87, "image/gif"),
    (GIF89, "image/gif"),
    (WEBP, "image/webp"),
    (PDF, "application/pdf"),
    (WAV, "audio/wav"),
    (MP3_ID3, "audio/mpeg"),
    (MP3_FRAME, "audio/mpeg"),
    (b"\xff\xf3\x90\x64", "audio/mpeg"),
    (b"\xff\xf2\x90\x64", "audio/mpeg"),
]


@pytest.mark.parametrize(("data", "mime_type"), SNIFFED)
def test_sniff_mime_type(data: bytes, mime_type: str) -> None:
    assert sniff_mime_type(data) == mime_type


@pytest.mark.parametrize(
    "data",
    [
        b"plain text",
        b"\x89PNG\r\n",  # a cut-off PNG signature
        b"RIFF\x24\0\0\0AVI LIST",  # RIFF, but neither WebP nor WAVE
        b"RIFFWEBP",  # the form type must be at offset 8
        b"GIF88a",
        b"\xff\xf1\x50\x80",  # AAC (ADTS), not MP3
        b"\0\0\0\x20ftypisom",
        b"",
    ],
)
def test_sniff_mime_type_refuses_other_bytes(data: bytes) -> None:
    assert sniff_mime_type(data) is None


@pytest.mark.parametrize(("data", "mime_type"), SNIFFED)
def test_bytes_builders_sniff_the_media_type(data: bytes, mime_type: str) -> None:
    builder = {"image": image, "audio": audio, "application": document}[mime_type.split("/")[0]]
    assert builder(data).mime_type == mime_type


def test_the_openai_wire_sniffs_with_the_same_sniffer() -> None:
    (message,) = wire_messages([Message(role="user", parts=[AudioPart(data=MP3_FRAME)])])
    assert message["content"][0]["input_audio"]["format"] == "mp3"


# Errors --------------------------------------------------------------------------------------


def raises(message: str) -> str:
    return re.escape(message)


ERRORS: list[tuple[Callable[[], Any], str]] = [
    (lambda: user(), "`user()` needs at least one text or part"),
    (lambda: system(), "`system()` needs at least one text or part"),
    (lambda: user("a", 3), "`user()` argument 2 has type int; expected text or a part"),
    (lambda: user(None), "`user()` argument 1 has type NoneType"),
    (lambda: user({"type": "text", "text": "a"}), "argument 1 has type dict"),
    (lambda: user(["a", "b"]), "argument 1 has type list; expected text or a part. Hint: unpack"),
    (lambda: user("a", "  "), "`user()` argument 2 is empty text"),
    (lambda: assistant(""), "`assistant()` argument 1 is empty text"),
    (
        lambda: user(tool_result("c1", "x")),
        "`user()` argument 1 is a tool message, not text or a part. "
        "Hint: list messages side by side: `[user(...), tool_result(...)]`",
    ),
    (lambda: assistant(user("x")), "Hint: list messages side by side: `[assistant(...), user"),
    (
        lambda: user(ToolResultPart(tool_call_id="c1", text="x")),
        "`user()` argument 1 is a tool_result part, which user messages cannot hold. "
        "Hint: a tool result is a message of its own: `tool_result(call_id, result)`",
    ),
    (
        lambda: assistant(ToolResultPart(tool_call_id="c1", text="x")),
        "which assistant messages cannot hold. Hint: a tool result is a message of its own",
    ),
    (
        lambda: user("a", tool_call("f")),
        "`user()` argument 2 is a tool_call part, which user messages cannot hold. "
        "Hint: tool calls belong in `assistant(...)`",
    ),
    (lambda: system(tool_call("f")), "argument 1 is a tool_call part, which system messages"),
    (lambda: user(ReasoningPart(text="r")), "a reasoning part, which user messages cannot hold"),
    (lambda: developer(RefusalPart(text="no")), "refusal part, which developer messages"),
    (lambda: user(JsonPart(value=1)), "json part, which user messages cannot hold. Hint: only a"),
    # tool_result
    (
        lambda: tool_result("", "x"),
        "`tool_result()` `call_id` must be a non-empty string, got empty",
    ),
    (lambda: tool_result(7, "x"), "`call_id` must be a non-empty string, got type int"),
    (lambda: tool_result("c", "x", name=" "), "`tool_result()` `name` must be a non-empty string"),
    (lambda: tool_result("c", {1, 2}), "`result` has type set, which is not a JSON value"),
    (lambda: tool_result("c", {"a": [1, b"x"]}), "`result['a'][1]` has type bytes"),
    (lambda: tool_result("c", {1: "a"}), "`result` has the key 1, but JSON keys are strings"),
    (lambda: tool_result("c", float("nan")), "`result` holds nan, which JSON cannot represent"),
    (lambda: tool_result("c", [float("inf")]), "`result[0]` holds inf"),
    # tool_call
    (lambda: tool_call(""), "`tool_call()` `name` must be a non-empty string, got empty text"),
    (lambda: tool_call("f", id=""), "`tool_call()` `id` must be a non-empty string"),
    (lambda: tool_call("f", [1]), "`tool_call()` `arguments` has type list, not a JSON object"),
    (lambda: tool_call("f", '{"a": 1}'), "`arguments` has type str, not a JSON object"),
    (lambda: tool_call("f", {"when": object()}), "`arguments['when']` has type object"),
    # media
    (lambda: image(3), "`image()` `source` has type int. Hint: pass a path"),
    (lambda: image(""), "`image()` got an empty path"),
    (lambda: image(b""), "`image()` got empty bytes"),
    (lambda: image(b"\0\1\2"), "`image()` cannot tell the media type of these bytes"),
    (lambda: document(b"notes"), 'Hint: pass `mime_type`, e.g. `document(data, mime_type="...")`'),
    (lambda: image("s3://bucket/cat.png"), "`image()` cannot take `s3://bucket/cat.png`"),
    (lambda: image("file:///tmp/cat.png"), "`image()` cannot take `file:///tmp/cat.png`"),
    (lambda: image("data:image/png;base64,@@"), "malformed data: URL: the data is not valid"),
    (lambda: image("data:image/png;base64"), "malformed data: URL: no `,`"),
    (
        lambda: image("data:image/png;base64,iVBORw0KGgo=", mime_type="image/jpeg"),
        "`mime_type` 'image/jpeg' contradicts the data: URL's 'image/png'",
    ),
    (lambda: image("cat", mime_type="png"), "`image()` `mime_type` 'png' is not a media type"),
    (lambda: image(PNG, mime_type=""), "`mime_type` '' is not a media type"),
    (
        lambda: image("song.mp3"),
        "`image()` got audio/mpeg media. Hint: use `audio(...)`, "
        "or pass `mime_type` if it really is image",
    ),
    (lambda: image(PDF), "`image()` got application/pdf media. Hint: use `document(...)`, or"),
    (lambda: audio(PNG), "`audio()` got image/png media. Hint: use `image(...)`, or pass"),
    (lambda: audio("clip.webm"), "`audio()` got video/webm media. Hint: use `video(...)`"),
    (lambda: video("cat.png"), "`video()` got image/png media"),
    (lambda: document(PDF, name=""), "`document()` `name` must be a non-empty string"),
]


@pytest.mark.parametrize(("call", "message"), ERRORS)
def test_errors(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(UsageError, match=raises(message)):
        call()


def test_an_explicit_mime_type_of_another_kind_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        image("a", mime_type="audio/wav")
    assert str(info.value) == "`image()` got audio/wav media. Hint: use `audio(...)`"


# Arrow round trip ----------------------------------------------------------------------------


def _built_conversation() -> list[Message]:
    return [
        system("You are a weather bot.", document(PDF, name="manual.pdf")),
        developer("Answer in metric units."),
        user(
            "What is in these, and what's the weather in Oslo?",
            image("photos/cat.png"),
            image("https://example.com/dog.jpg"),
            image("data:image/png;base64,iVBORw0KGgo="),
            audio(WAV),
            video("clip.mp4"),
            document("https://example.com/report.pdf", name="report.pdf"),
        ),
        assistant(
            ReasoningPart(text="Call the tool."),
            "Let me check.",
            tool_call("weather", {"city": "Oslo", "days": [1, 2], "hourly": False}, id="c1"),
            tool_call("now", id="c2"),
        ),
        tool_result("c1", {"temp_c": 21.5, "sky": None}, name="weather"),
        tool_result("c2", "12:00"),
        tool_result("c3", None),
        assistant("21.5 °C at noon.", JsonPart(value={"temp_c": 21.5})),
    ]


def _assert_round_trip(conversation: list[Message]) -> None:
    (back,) = messages_from_arrow(messages_to_arrow([conversation]))
    assert back == conversation
    # JSON text tells 1 from 1.0 from true, which `==` does not
    assert [m.model_dump_json() for m in back] == [m.model_dump_json() for m in conversation]


def test_a_built_conversation_survives_arrow_unchanged() -> None:
    _assert_round_trip(_built_conversation())


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_tool_result_survives_arrow_unchanged(value: Any) -> None:
    message = tool_result("c1", value)
    (part,) = message.parts
    assert isinstance(part, ToolResultPart)
    assert (part.text, part.value) == ((value, None) if isinstance(value, str) else (None, value))
    _assert_round_trip([message])


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_tool_call_arguments_survive_arrow_unchanged(value: Any) -> None:
    call = tool_call("f", {"x": value}, id="c1")
    assert call.arguments == {"x": value}
    _assert_round_trip([assistant(call)])
