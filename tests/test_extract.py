"""`llmframe extract` and `llmframe.extract`: typed columns, validation, repair turns, resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clirun import cli
from openai_server import Fault, OpenAIServer
from pydantic import BaseModel

import llmframe
from llmframe._launch import RunRequest, launch
from llmframe.extraction.answer import AnswerChecker, repair_message
from llmframe.extraction.contract import JsonRequest, OutputSchema, ask_for_json
from llmframe.io import ReadOptions
from llmframe.parts.types import JsonPart, Message, RefusalPart, TextPart, ToolCallPart
from llmframe.providers import get_provider
from llmframe.query import sql
from llmframe.runner import RunOptions, RunSummary

REVIEW_DSL = (
    "sentiment enum(pos|neg|neutral), score int, confidence float, topics list[str], spam bool"
)


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text(
        "review,stars\n"
        '"Great phone, the battery lasts two days and the camera is sharp.",5\n'
        '"Broke after a week. Support never answered. Avoid.",1\n'
        '"It\'s fine. Does the job, nothing special.",3\n',
        encoding="utf-8",
    )
    return path


def _extract(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, _, err = cli(capsys, "extract", *args)
    return code, err


def test_the_issue_example_gives_typed_columns_next_to_the_users(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"
    code, err = _extract(
        capsys, str(reviews), "--column", "review", "--schema", REVIEW_DSL,
        "--model", "echo", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "3 rows (3 ok, 0 invalid, 0 error)" in err
    table = pq.read_table(out)
    types = {f.name: f.type for f in table.schema}
    assert types["review"] == pa.string()
    assert types["stars"] == pa.int64()
    assert types["score"] == pa.int64()
    assert types["confidence"] == pa.float64()
    assert types["topics"] == pa.list_(pa.field("element", pa.string(), nullable=False))
    assert types["spam"] == pa.bool_()
    assert types["sentiment"] == pa.dictionary(pa.int32(), pa.string())
    assert table.column_names[:2] == ["review", "stars"]
    assert table.column_names[-4:] == ["_status", "_error", "_model", "_id"]
    rows = table.to_pylist()
    assert [r["stars"] for r in rows] == [5, 1, 3]  # the input's order
    for row in rows:
        assert row["_status"] == "ok"
        assert row["_error"] is None
        assert row["_model"] == "echo"
        assert row["sentiment"] in ("pos", "neg", "neutral")
        assert row["topics"]
        assert all(t in row["review"] for t in row["topics"])
    # the JSON answers are stored as json parts, queryable in the run
    run = tmp_path / "out.run"
    found = sql(run, "select count(*) as n from parts where type = 'json'").to_pylist()
    assert found == [{"n": 3}]


def test_a_nested_object_is_a_struct_and_dates_are_dates(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "product": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                "required": ["name"],
            },
            "bought": {"type": "string", "format": "date"},
            "seen": {"type": "string", "format": "date-time"},
            "note": {"type": ["string", "null"]},
        },
        "required": ["product", "bought"],
    }
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    out = tmp_path / "nested.parquet"
    code, err = _extract(
        capsys, str(reviews), "--column", "review", "--schema", str(path), "-m", "echo",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    table = pq.read_table(out)
    product = table.schema.field("product").type
    assert pa.types.is_struct(product)
    assert {f.name: f.type for f in product} == {"name": pa.string(), "price": pa.float64()}
    assert table.schema.field("bought").type == pa.date32()
    assert table.schema.field("seen").type == pa.timestamp("us", tz="UTC")
    validator = jsonschema.Draft202012Validator(schema)
    answers = sql(tmp_path / "nested.run", "select json from parts where type = 'json'")
    for text in answers.column("json").to_pylist():
        validator.validate(json.loads(text))
    assert all(r["product"]["name"] for r in table.to_pylist())


def test_print_schema_and_bad_schemas_exit_2_writing_nothing(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path
) -> None:
    code, out, _ = cli(capsys, "extract", "--schema", "name, age int", "--print-schema")
    assert code == 0
    assert json.loads(out)["properties"]["age"] == {"type": "integer"}
    target = tmp_path / "o.parquet"
    for schema, words in [
        ("name, age integr", "integr"),
        ('{"type": "array"}', "object with `properties`"),
        ('{"type": "object", "properties": {"a": {"$ref": "http://x/y"}}}', "$ref"),
    ]:
        code, err = _extract(
            capsys, str(reviews), "--column", "review", "--schema", schema, "-m", "echo",
            "--out", str(target),
        )  # fmt: skip
        assert code == 2, err
        assert words in err
    assert not target.exists()
    assert not (tmp_path / "o.run").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--column", "nope"], "no column `nope`"),
        (["--column", "review", "--template", "{review}"], "not both"),
        (["--column", "review", "-o", 'response_format={"type":"text"}'], "response_format"),
        (["--column", "review", "--repair", "-1"], "--repair"),
    ],
)
def test_bad_usage_exits_2_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    target = tmp_path / "o.parquet"
    code, err = _extract(
        capsys, str(reviews), "--schema", REVIEW_DSL, "-m", "echo", "--out", str(target), *args
    )
    assert code == 2, err
    assert words in err
    assert not target.exists()
    assert not (tmp_path / "o.run").exists()


def test_out_must_be_parquet(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path
) -> None:
    code, err = _extract(
        capsys, str(reviews), "--column", "review", "--schema", REVIEW_DSL, "-m", "echo",
        "--out", str(tmp_path / "o.csv"),
    )  # fmt: skip
    assert code == 2
    assert ".parquet" in err
    assert list(tmp_path.iterdir()) == [reviews]


def _loopback(server: OpenAIServer, reviews: Path, out: Path, *more: str) -> list[str]:
    return [
        str(reviews), "--column", "review",
        "--schema", "sentiment enum(pos|neg|neutral), score int",
        "-m", "openai/test-model", "--base-url", server.base_url, "--out", str(out),
        "--retry-wait", "0.01", *more,
    ]  # fmt: skip


def test_an_invalid_answer_gets_a_repair_turn_with_the_error(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    bad = '{"sentiment": "great", "score": "high"}'
    openai_server.plan(Fault("reply", content=bad), request=1)
    out = tmp_path / "o.parquet"
    code, err = _extract(capsys, *_loopback(openai_server, reviews, out, "--concurrency", "1"))
    assert code == 0, err
    assert "1 repair turns" in err
    assert openai_server.count == 4  # 3 rows, one of them asked twice
    repair = openai_server.requests[1].body
    assert repair["response_format"]["json_schema"]["strict"] is True
    messages = repair["messages"]
    assert messages[-2] == {"role": "assistant", "content": bad}
    assert "'great' is not one of" in messages[-1]["content"]
    assert "at `score`" in messages[-1]["content"]
    assert all(r["_status"] == "ok" for r in pq.read_table(out).to_pylist())
    totals = sql(tmp_path / "o.run", "select sum(attempts) as a from responses").to_pylist()
    assert totals == [{"a": 4}]


@pytest.mark.parametrize("stream", [True, False])
def test_still_invalid_after_repairs_is_status_invalid_with_the_raw_text_kept(
    capsys: pytest.CaptureFixture[str],
    reviews: Path,
    tmp_path: Path,
    openai_server: OpenAIServer,
    stream: bool,
) -> None:
    openai_server.plan(Fault("reply", content="I think it is positive."), times=None)
    out = tmp_path / "o.parquet"
    more = ["--repair", "2"] + ([] if stream else ["--no-stream"])
    code, err = _extract(capsys, *_loopback(openai_server, reviews, out, *more))
    assert code == 1, err
    assert "0 ok, 0 errors, 3 invalid (6 repair turns)" in err
    assert "3 rows (0 ok, 3 invalid, 0 error)" in err
    assert openai_server.count == 9
    rows = pq.read_table(out).to_pylist()
    assert all(r["_status"] == "invalid" and r["sentiment"] is None for r in rows)
    assert all("not JSON" in r["_error"] for r in rows)
    texts = sql(tmp_path / "o.run", "select text, status from outputs").to_pylist()
    assert texts == [{"text": "I think it is positive.", "status": "invalid"}] * 3
    # rerunning resumes: an invalid answer was paid for, so it is not asked again
    code, err = _extract(capsys, *_loopback(openai_server, reviews, out, *more))
    assert code == 1
    assert openai_server.count == 9


def test_fenced_json_and_strict_nulls_are_accepted_without_repair(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    fenced = 'Here you go:\n```json\n{"sentiment": "pos", "score": 4, "note": null}\n```'
    openai_server.plan(Fault("reply", content=fenced), times=None)
    out = tmp_path / "o.parquet"
    args = _loopback(openai_server, reviews, out)
    args[args.index("--schema") + 1] = "sentiment enum(pos|neg|neutral), score int, note? str"
    code, err = _extract(capsys, *args)
    assert code == 0, err
    assert openai_server.count == 3
    sent = openai_server.requests[0].body["response_format"]["json_schema"]["schema"]
    assert sent["required"] == ["sentiment", "score", "note"]  # strict: optional -> nullable
    rows = pq.read_table(out).to_pylist()
    assert [(r["sentiment"], r["score"], r["note"]) for r in rows] == [("pos", 4, None)] * 3


def test_repair_zero_sends_one_request_per_row(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    openai_server.plan(Fault("reply", content="{}"), times=None)
    out = tmp_path / "o.parquet"
    code, _ = _extract(capsys, *_loopback(openai_server, reviews, out, "--repair", "0"))
    assert code == 1
    assert openai_server.count == 3
    errors = {r["_error"] for r in pq.read_table(out).to_pylist()}
    assert errors == {"'sentiment' is a required property; 'score' is a required property"}


def test_failed_requests_are_error_rows_and_the_rest_is_kept(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    openai_server.plan("bad_request", prompt="Broke after a week. Support never answered. Avoid.")
    out = tmp_path / "o.parquet"
    code, _err = _extract(capsys, *_loopback(openai_server, reviews, out))
    assert code == 1
    rows = pq.read_table(out).to_pylist()
    assert [r["_status"] for r in rows] == ["ok", "error", "ok"]
    assert "Bad request" in rows[1]["_error"]
    assert rows[1]["review"].startswith("Broke")


def test_multi_gives_one_row_per_item_with_the_source_columns(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.parquet"
    code, err = _extract(
        capsys, str(reviews), "--column", "review", "--schema", "name, mentioned bool",
        "-m", "echo", "--out", str(out), "--multi",
    )  # fmt: skip
    assert code == 0, err
    table = pq.read_table(out)
    assert table.column_names == [
        "review", "stars", "name", "mentioned", "_status", "_error", "_model", "_id", "_item"
    ]  # fmt: skip
    rows = table.to_pylist()
    assert len(rows) >= 3
    by_source: dict[str, list[int]] = {}
    for row in rows:
        by_source.setdefault(row["_id"], []).append(row["_item"])
        assert isinstance(row["mentioned"], bool)
        assert row["_status"] == "ok"
    assert all(items == list(range(len(items))) for items in by_source.values())
    assert len(by_source) == 3


def test_dry_run_shows_the_structured_output_request(
    capsys: pytest.CaptureFixture[str], reviews: Path
) -> None:
    code, out, _ = cli(
        capsys, "extract", str(reviews), "--column", "review", "--schema", "a int",
        "-m", "echo", "--dry-run",
    )  # fmt: skip
    assert code == 0
    body = json.loads(out[: out.index("\n}\n") + 2])["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][1]["content"].startswith("Great phone")


class Review(BaseModel):
    """One product review."""

    sentiment: str
    score: int
    topics: list[str]
    summary: str | None = None


def test_python_extract_returns_a_typed_polars_frame_and_models(tmp_path: Path) -> None:
    frame = llmframe.extract(
        pl.DataFrame({"text": ["The screen is bright.", "Too loud, returned it."], "n": [1, 2]}),
        Review,
        model="echo",
        column="text",
        run_dir=tmp_path / "run",
        progress=False,
    )
    assert isinstance(frame, pl.DataFrame)
    assert frame.schema["score"] == pl.Int64
    assert frame.schema["topics"] == pl.List(pl.String)
    assert frame["n"].to_list() == [1, 2]
    models = llmframe.to_models(frame, Review)
    assert all(isinstance(m, Review) for m in models)
    assert [m.score for m in models if m] == frame["score"].to_list()
    again = llmframe.extract(
        pl.DataFrame({"text": ["The screen is bright.", "Too loud, returned it."], "n": [1, 2]}),
        Review,
        model="echo",
        column="text",
        run_dir=tmp_path / "run",
        progress=False,
    )
    assert again.equals(frame)


def test_python_extract_with_a_dsl_and_out_writes_parquet(tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    frame = llmframe.extract(["I paid 12 dollars."], "price float, currency", model="echo", out=out)
    assert pq.read_table(out).num_rows == frame.height == 1
    assert (tmp_path / "o.run" / "manifest.json").exists()


# -- answers -------------------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "when": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": "string"},
    },
    "required": ["when", "day"],
}


WHEN, DAY = "2024-01-02T03:04:05Z", "2024-01-02"


@pytest.mark.parametrize(
    "parts",
    [
        [TextPart(text=json.dumps({"when": WHEN, "day": DAY}))],
        [TextPart(text=f'```\n{{"when": "2024-01-02T03:04:05+01:00", "day": "{DAY}"}}\n```')],
        [TextPart(text=f'Sure! {{"when": "2024-01-02 03:04:05", "day": "{DAY}"}} Done.')],
        [JsonPart(value={"when": WHEN, "day": DAY, "note": None})],
        [ToolCallPart(name="x", arguments={"when": WHEN, "day": DAY})],
    ],
)
def test_valid_answers_in_every_form(parts: list[Any]) -> None:
    verdict = AnswerChecker(SCHEMA).check(parts)
    assert verdict.ok, verdict.error
    assert verdict.value["day"] == "2024-01-02"
    assert "note" not in verdict.value


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([TextPart(text="")], "the answer is empty"),
        ([TextPart(text="no JSON here")], "not JSON"),
        ([RefusalPart(text="I can't help with that.")], "the model refused: I can't"),
        (
            [TextPart(text='{"when": "yesterday", "day": "2024-13-01"}')],
            "at `day`: '2024-13-01' is not a 'date'",
        ),
        (
            [TextPart(text=json.dumps({"when": WHEN, "day": DAY, "tags": [1]}))],
            "at `tags[0]`: 1 is not of type 'string'",
        ),
        ([ToolCallPart(name="x", raw_arguments="{oops")], "not JSON: '{oops'"),
    ],
)  # fmt: skip
def test_invalid_answers_say_what_and_where(parts: list[Any], words: str) -> None:
    verdict = AnswerChecker(SCHEMA).check(parts)
    assert not verdict.ok
    assert words in (verdict.error or "")
    assert verdict.error in repair_message(verdict.error or "")


def test_a_provider_without_a_native_mode_gets_instructions() -> None:
    class Plain:
        name = "plain"
        api = "plain"

    output = OutputSchema(schema={"type": "object", "properties": {"a": {"type": "integer"}}})
    asking = ask_for_json(Plain(), output)  # type: ignore[arg-type]
    assert asking.options == {}
    assert asking.instructions
    assert '"a":{"type":"integer"}' in asking.instructions
    conversation = [
        Message(role="system", parts=[TextPart(text="Be brief.")]),
        Message(role="user", parts=[TextPart(text="hi")]),
    ]
    messages, options = asking.apply(conversation, {"temperature": 0})
    assert options == {"temperature": 0}
    assert [p.text for p in messages[0].parts] == [asking.instructions, "Be brief."]  # type: ignore[union-attr]
    messages, _ = asking.apply(conversation[1:], {})
    assert [m.role for m in messages] == ["system", "user"]
    native = ask_for_json(get_provider("openai"), output)
    assert isinstance(native, JsonRequest)
    assert native.instructions is None
    assert "response_format" in native.options


def test_column_works_for_run_validate_and_convert_too(
    capsys: pytest.CaptureFixture[str], reviews: Path, tmp_path: Path
) -> None:
    code, _, err = cli(
        capsys,
        "run",
        str(reviews),
        "--column",
        "review",
        "-m",
        "echo",
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 0, err
    rows = sql(tmp_path / "r", "select text, stars, review from outputs").to_pylist()
    assert [r["text"] for r in rows] == [f"echo: {r['review']}" for r in rows]
    assert [r["stars"] for r in rows] == [5, 1, 3]
    code, _, err = cli(capsys, "validate", str(reviews), "--column", "review")
    assert code == 0, err
    code, _, err = cli(capsys, "validate", str(reviews))
    assert code == 2
    assert "--column NAME" in err
    target = tmp_path / "p.parquet"
    code, _, err = cli(capsys, "convert", str(reviews), str(target), "--column", "review")
    assert code == 0, err
    assert llmframe.read_prompts(target).column_names == ["id", "messages", "review", "stars"]


class Recorder:
    """A `Progress` that keeps what it is told."""

    def __init__(self) -> None:
        self.total = -1
        self.last: RunSummary | None = None

    def start(self, total: int) -> None:
        self.total = total

    def update(self, summary: RunSummary) -> None:
        self.last = summary

    def stop(self) -> None:
        pass


def test_progress_counts_invalid_rows_as_done(
    reviews: Path, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    openai_server.plan(Fault("reply", content="nope"), times=None)
    request = RunRequest(
        source=reviews,
        models=["openai/m"],
        out=tmp_path / "run",
        read=ReadOptions(column="review"),
        model_options={},
        options=RunOptions(),
        base_url=openai_server.base_url,
        output=OutputSchema(schema={"type": "object", "properties": {"a": {"type": "integer"}}}),
    )
    recorder = Recorder()
    summary = asyncio.run(launch(request, progress=recorder))
    assert recorder.last is summary
    assert summary.done == recorder.total == 3
    assert (summary.invalid, summary.repairs, summary.ok) == (3, 3, 0)


def test_a_row_schema_column_is_asked_for_and_checked(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    prompts = tmp_path / "p.jsonl"
    rows = [{"prompt": "count", "schema": schema}, {"prompt": "plain"}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    openai_server.plan(Fault("reply", content='{"n": "many"}'), prompt="count", times=1)
    run = llmframe.run(
        prompts, model="openai/m", base_url=openai_server.base_url, out=tmp_path / "r",
        progress=False,
    )  # fmt: skip
    bodies = {r.prompt: r.body for r in openai_server.requests}
    assert bodies["count"]["response_format"]["json_schema"]["schema"]["required"] == ["n"]
    assert "response_format" not in bodies["plain"]
    rows_out = run.sql("select prompt_id, status, json from outputs order by text").fetchall()
    statuses = sorted(status for _, status, _ in rows_out)
    assert statuses == ["ok", "ok"]
    assert openai_server.count == 3  # the bad answer got its repair turn
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "schema": {"type": "nope"}}) + "\n")
    with pytest.raises(llmframe.InputError, match=r"bad.jsonl: line 1: column `schema`"):
        llmframe.run(bad, model="echo", out=tmp_path / "r2", progress=False)
    assert not (tmp_path / "r2").exists()
