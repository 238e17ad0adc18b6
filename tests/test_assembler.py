"""The shared part assembler: vendor-keyed deltas become parts, joined once, nothing lost."""

from __future__ import annotations

import pytest

from llmframe.errors import UnexpectedResponse
from llmframe.parts.types import (
    ImagePart,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
)
from llmframe.providers._assembler import PartAssembler
from llmframe.providers.base import (
    MediaDelta,
    PartDelta,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
)


def assemble(*deltas: PartDelta, provider: str = "test") -> list[Part]:
    assembler = PartAssembler(provider)
    for delta in deltas:
        assembler.add(delta)
    return assembler.parts()


def test_nothing_in_nothing_out() -> None:
    assert assemble() == []


def test_interleaved_keys_become_parts_in_order_of_first_appearance() -> None:
    parts = assemble(
        ReasoningDelta(key="r", text="Let "),
        TextDelta(key="t", text="The "),
        ToolCallDelta(key="c1", call_id="id1", name="f", arguments='{"a"'),
        ReasoningDelta(key="r", text="me think."),
        TextDelta(key="t", text="answer."),
        RefusalDelta(key="no", text="But not "),
        ToolCallDelta(key="c1", arguments=": 1}"),
        RefusalDelta(key="no", text="that."),
    )
    assert parts == [
        ReasoningPart(text="Let me think."),
        TextPart(text="The answer."),
        ToolCallPart(name="f", tool_call_id="id1", arguments={"a": 1}),
        RefusalPart(text="But not that."),
    ]


def test_a_signature_is_kept_as_provider_data_with_the_provider_name() -> None:
    parts = assemble(
        ReasoningDelta(key="r", text="Hm."),
        ReasoningDelta(key="r", signature="sig"),
        ReasoningDelta(key="r", signature="sig"),  # repeated as is: fine
        ReasoningDelta(key="blob", signature="enc"),
        provider="anthropic",
    )
    assert parts == [
        ReasoningPart(text="Hm.", provider_data={"provider": "anthropic", "signature": "sig"}),
        ReasoningPart(text=None, provider_data={"provider": "anthropic", "signature": "enc"}),
    ]


def test_a_second_different_signature_is_refused() -> None:
    assembler = PartAssembler("anthropic")
    assembler.add(ReasoningDelta(key="r", signature="one"))
    with pytest.raises(UnexpectedResponse, match="different signature"):
        assembler.add(ReasoningDelta(key="r", signature="two"))


def test_tool_call_id_and_name_are_taken_when_first_given() -> None:
    parts = assemble(
        ToolCallDelta(key="0", arguments=""),
        ToolCallDelta(key="0", call_id="first", name="lookup"),
        ToolCallDelta(key="0", call_id="second", name="lookup_again", arguments="{}"),
    )
    assert parts == [ToolCallPart(name="lookup", tool_call_id="first", arguments={})]


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        ([], ToolCallPart(name="f", arguments={})),
        (["  ", "\n"], ToolCallPart(name="f", arguments={})),
        (["[1,", " 2]"], ToolCallPart(name="f", arguments=[1, 2])),
        (['{"x": ', "NaN}"], ToolCallPart(name="f", raw_arguments='{"x": NaN}')),
        (['{"x": '], ToolCallPart(name="f", raw_arguments='{"x": ')),
    ],
)
def test_arguments_are_parsed_or_kept_raw(fragments: list[str], expected: ToolCallPart) -> None:
    deltas = [
        ToolCallDelta(key="0", name="f"),
        *(ToolCallDelta(key="0", arguments=f) for f in fragments),
    ]
    assert assemble(*deltas) == [expected]


def test_a_tool_call_without_a_name_is_refused() -> None:
    with pytest.raises(UnexpectedResponse, match="tool call `0` never got a name"):
        assemble(ToolCallDelta(key="0", call_id="c", arguments="{}"))


def test_one_key_cannot_carry_two_kinds_of_delta() -> None:
    assembler = PartAssembler("test")
    assembler.add(TextDelta(key="k", text="a"))
    with pytest.raises(UnexpectedResponse, match="two kinds"):
        assembler.add(RefusalDelta(key="k", text="b"))


def test_media_deltas_become_one_image_per_key_their_bytes_concatenated() -> None:
    parts = assemble(
        MediaDelta(key="a", mime_type="image/png", data=b"\x89PN"),
        TextDelta(key="t", text="Here."),
        MediaDelta(key="a", mime_type=None, data=b"G"),
        MediaDelta(key="b", mime_type=None, data=b"\xff\xd8"),
    )
    assert parts == [
        ImagePart(data=b"\x89PNG", mime_type="image/png"),
        TextPart(text="Here."),
        ImagePart(data=b"\xff\xd8"),
    ]


def test_media_with_two_mime_types_or_no_bytes_is_refused() -> None:
    assembler = PartAssembler("test")
    assembler.add(MediaDelta(key="a", mime_type="image/png", data=b"x"))
    with pytest.raises(UnexpectedResponse, match="second, different MIME type"):
        assembler.add(MediaDelta(key="a", mime_type="image/jpeg", data=b"y"))
    with pytest.raises(UnexpectedResponse, match="no bytes"):
        assemble(MediaDelta(key="a", mime_type="image/png", data=b""))
