"""Conversions over the shipped examples: every reader, the writers, and the round trips."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import llmframe
from llmframe.cli import main
from llmframe.parts.arrow import messages_from_arrow
from llmframe.parts.longform import long_to_nested, nested_to_long
from llmframe.parts.types import AudioPart, DocumentPart, ImagePart, ToolCallPart, ToolResultPart

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/ under a fresh folder, which is also the working directory."""
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=shutil.ignore_patterns("bad"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chat_round_trip_through_parquet_gives_back_every_conversation(workdir: Path) -> None:
    assert run_cli("convert", "examples/chat.jsonl", "out.parquet") == 0
    assert run_cli("validate", "out.parquet") == 0
    assert run_cli("convert", "out.parquet", "examples/back.jsonl") == 0
    original = read_jsonl(workdir / "examples/chat.jsonl")
    assert read_jsonl(workdir / "examples/back.jsonl") == original


def test_media_paths_follow_the_output_folder(workdir: Path) -> None:
    assert run_cli("convert", "examples/chat.jsonl", "out.parquet") == 0
    assert run_cli("convert", "out.parquet", "back.jsonl") == 0
    back = {record["id"]: record for record in read_jsonl(workdir / "back.jsonl")}
    urls = [part["image_url"]["url"] for part in back["chat-005"]["messages"][0]["content"][1::2]]
    assert urls == ["examples/images/cat.png", "examples/images/chart.png"]
    assert all((workdir / url).is_file() for url in urls)


def test_user_columns_survive_into_parquet(workdir: Path) -> None:
    llmframe.convert("examples/chat.jsonl", "out.parquet")
    table = pq.read_table("out.parquet")
    assert table.column_names == ["id", "messages", "source", "tags"]
    assert table.schema.field("tags").type == pa.list_(pa.string())
    original = read_jsonl(workdir / "examples/chat.jsonl")
    assert table.column("tags").to_pylist() == [r["tags"] for r in original]
    assert table.column("source").to_pylist() == [r["source"] for r in original]
    assert table.schema.metadata[b"llmframe.table"] == b"prompts"


def test_duckdb_and_polars_read_the_prompts(workdir: Path) -> None:
    llmframe.convert("examples/chat.jsonl", "out.parquet")
    turns = duckdb.sql("select id, len(messages) as n from 'out.parquet' order by id").fetchall()
    assert turns[7] == ("chat-008", 4)
    arguments = duckdb.sql(
        """
        select p.json ->> '$.city' as city, typeof(p.json) as kind
        from (select unnest(m.parts) as p from (select unnest(messages) as m from 'out.parquet'))
        where p.type = 'tool_call' order by city
        """
    ).fetchall()
    assert arguments == [("Oslo", "JSON"), ("Paris", "JSON"), ("Tokyo", "JSON")]
    frame = pl.read_parquet("out.parquet")
    assert frame.height == 14
    assert frame["id"].to_list()[0] == "chat-001"


def test_chat_parts_are_typed(workdir: Path) -> None:
    table = llmframe.read_prompts("examples/chat.jsonl")
    conversations = dict(
        zip(table["id"].to_pylist(), messages_from_arrow(table["messages"]), strict=True)
    )
    images = [p for p in conversations["chat-005"][0].parts if isinstance(p, ImagePart)]
    assert [(i.uri, i.mime_type) for i in images] == [
        ("images/cat.png", "image/png"),
        ("images/chart.png", "image/png"),
    ]
    assert images[1].provider_data == {"provider": "openai", "detail": "low"}
    data_image = conversations["chat-007"][0].parts[0]
    assert isinstance(data_image, ImagePart)
    assert data_image.uri.startswith("data:image/png;base64,")
    assert data_image.mime_type == "image/png"
    call = conversations["chat-008"][1].parts[0]
    assert isinstance(call, ToolCallPart)
    assert (call.name, call.tool_call_id) == ("get_weather", "call_7QxW2mZkP1")
    assert call.arguments == {"city": "Paris", "unit": "celsius"}
    result = conversations["chat-008"][2].parts[0]
    assert isinstance(result, ToolResultPart)
    assert result.tool_call_id == "call_7QxW2mZkP1"
    audio = conversations["chat-010"][0].parts[1]
    assert isinstance(audio, AudioPart)
    assert audio.data[:4] == b"RIFF"
    assert audio.mime_type == "audio/wav"
    document = conversations["chat-011"][1].parts[0]
    assert isinstance(document, DocumentPart)
    assert (document.name, document.mime_type) == ("invoice.pdf", "application/pdf")
    refusal = conversations["chat-012"][1]
    assert [p.type for p in refusal.parts] == ["refusal"]


def test_long_form_has_one_row_per_part_and_comes_back(workdir: Path) -> None:
    table = llmframe.read_prompts("examples/chat.jsonl")
    summary = llmframe.validate("examples/chat.jsonl")
    long = nested_to_long(table.select(["id", "messages"]))
    assert long.num_rows == summary.parts == 43
    assert long.filter(pa.compute.equal(long["type"], "tool_call")).num_rows == 3
    back = long_to_nested(long)
    assert back["id"].to_pylist() == table["id"].to_pylist()
    assert messages_from_arrow(back["messages"]) == messages_from_arrow(table["messages"])


def test_our_own_parquet_reads_back_identically(workdir: Path) -> None:
    llmframe.convert("examples/chat.jsonl", "examples/ours.parquet")
    first = llmframe.read_prompts("examples/chat.jsonl")
    again = llmframe.read_prompts("examples/ours.parquet")
    assert again.to_pylist() == first.to_pylist()


def test_sharegpt_maps_speakers_to_roles(workdir: Path) -> None:
    table = llmframe.read_prompts("examples/sharegpt.json")
    assert table.column_names == ["id", "messages", "source"]
    assert table["id"].to_pylist()[0] == "sg-0001"
    roles = [[m.role for m in c] for c in messages_from_arrow(table["messages"])]
    assert roles[1][0] == "system"
    assert set(r for conversation in roles for r in conversation) == {"system", "user", "assistant"}
    original = json.loads((workdir / "examples/sharegpt.json").read_text())
    texts = [m.parts[0].text for m in messages_from_arrow(table["messages"])[0]]
    assert texts == [turn["value"] for turn in original[0]["conversations"]]


def test_hf_parquet_with_id_column(workdir: Path) -> None:
    table = llmframe.read_prompts("examples/hf_chat.parquet", id_column="prompt_id")
    source = pq.read_table(workdir / "examples/hf_chat.parquet")
    assert table["id"].to_pylist() == source["prompt_id"].to_pylist()
    assert table.column_names == ["id", "messages", "prompt_id", "category"]
    first = messages_from_arrow(table["messages"])[0]
    expected = source["messages"][0].as_py()
    assert [(m.role, m.parts[0].text) for m in first] == [
        (m["role"], m["content"]) for m in expected
    ]


def test_template_over_csv_columns(workdir: Path) -> None:
    template = "Classify the sentiment of this review of {product}: {review}"
    table = llmframe.read_prompts(
        "examples/reviews.csv", template=template, system="Answer in one word."
    )
    assert table.column_names == ["id", "messages", "product", "rating", "review"]
    assert table.schema.field("rating").type == pa.int64()
    row = table.slice(3, 1).to_pylist()[0]
    conversation = messages_from_arrow(table.slice(3, 1)["messages"])[0]
    assert [m.role for m in conversation] == ["system", "user"]
    assert conversation[0].parts[0].text == "Answer in one word."
    user_text = conversation[1].parts[0].text
    assert user_text == template.format(product=row["product"], review=row["review"])
    assert row["product"] == "USB-C cable, 2 m (braided)"


def test_prompt_column_with_system_and_hashed_ids(workdir: Path) -> None:
    table = llmframe.read_prompts("examples/prompts.jsonl")
    assert table.column_names == ["id", "messages", "topic", "difficulty"]
    conversations = messages_from_arrow(table["messages"])
    assert [m.role for m in conversations[0]] == ["system", "user"]
    assert [m.role for m in conversations[1]] == ["user"]
    ids = table["id"].to_pylist()
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert llmframe.read_prompts("examples/prompts.jsonl")["id"].to_pylist() == ids


def test_identical_rows_get_distinct_stable_ids(tmp_path: Path) -> None:
    path = tmp_path / "dupes.jsonl"
    path.write_text(
        '{"prompt": "same"}\n{"prompt": "other"}\n{"prompt": "same"}\n{"prompt": "same"}\n'
    )
    ids = llmframe.read_prompts(path)["id"].to_pylist()
    assert len(set(ids)) == 4
    assert llmframe.read_prompts(path)["id"].to_pylist() == ids
    path.write_text('{"prompt": "same"}\n')
    assert llmframe.read_prompts(path)["id"].to_pylist() == ids[:1]


def test_gzip_tsv_and_single_object_inputs(tmp_path: Path) -> None:
    rows = '{"prompt": "a", "n": 1}\n{"prompt": "b", "n": 2}\n'
    (tmp_path / "p.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
    assert llmframe.read_prompts(tmp_path / "p.jsonl.gz")["n"].to_pylist() == [1, 2]
    (tmp_path / "p.tsv").write_text("prompt\tn\nhello, world\t3\n")
    assert llmframe.read_prompts(tmp_path / "p.tsv")["n"].to_pylist() == [3]
    (tmp_path / "one.json").write_text('{\n  "prompt": "only",\n  "n": 4\n}\n')
    summary = llmframe.validate(tmp_path / "one.json")
    assert (summary.format, summary.rows) == ("json", 1)
    (tmp_path / "noext").write_text('{"prompt": "x"}\n')
    assert llmframe.validate(tmp_path / "noext").format == "jsonl"


def test_our_schema_as_json_lines(tmp_path: Path) -> None:
    record = {
        "id": "x",
        "messages": [
            {"role": "user", "parts": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "parts": [
                    {"type": "json", "json": {"a": [1, 2]}},
                    {"type": "tool_call", "name": "f", "tool_call_id": "c", "json": {"q": 1}},
                ],
            },
        ],
    }
    path = tmp_path / "ours.jsonl"
    path.write_text(json.dumps(record) + "\n")
    conversation = messages_from_arrow(llmframe.read_prompts(path)["messages"])[0]
    assert conversation[1].parts[0].value == {"a": [1, 2]}
    assert conversation[1].parts[1].arguments == {"q": 1}


def test_system_flag_prepends_only_where_missing(workdir: Path) -> None:
    table = llmframe.read_prompts("examples/chat.jsonl", system="Be brief.")
    conversations = dict(
        zip(table["id"].to_pylist(), messages_from_arrow(table["messages"]), strict=True)
    )
    assert conversations["chat-001"][0].parts[0].text == "Be brief."
    assert conversations["chat-002"][0].parts[0].text.startswith("You are a helpful assistant")
    assert sum(m.role == "system" for m in conversations["chat-002"]) == 1


def test_per_row_overrides_become_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    rows = [
        {"prompt": "a", "model": "openai/gpt-4o-mini", "options": {"temperature": 0.2}, "tag": "t"},
        {"prompt": "b", "model": None, "options": None, "tag": "u"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = llmframe.read_prompts(path)
    assert table.column_names == ["id", "messages", "model", "options", "tag"]
    assert table.schema.field("options").type == pa.json_(pa.string())
    assert table["model"].to_pylist() == ["openai/gpt-4o-mini", None]
    llmframe.convert(path, tmp_path / "o.parquet")
    llmframe.convert(tmp_path / "o.parquet", tmp_path / "back.jsonl")
    back = read_jsonl(tmp_path / "back.jsonl")
    assert [(r["model"], r["options"], r["tag"]) for r in back] == [
        (r["model"], r["options"], r["tag"]) for r in rows
    ]


def test_json_user_columns_come_back_exactly(tmp_path: Path) -> None:
    rows = [
        {"prompt": "a", "meta": {"x": 1}, "score": 1, "flag": True, "big": 2**70, "plain": "p"},
        {
            "prompt": "b",
            "meta": {"y": [1, "two"]},
            "score": 2.5,
            "flag": False,
            "big": 1,
            "plain": None,
        },
    ]
    path = tmp_path / "u.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = llmframe.read_prompts(path)
    assert table.schema.field("plain").type == pa.string()
    assert table.schema.field("flag").type == pa.bool_()
    for mixed in ("meta", "score", "big"):
        assert table.schema.field(mixed).type == pa.json_(pa.string()), mixed
    llmframe.convert(path, tmp_path / "u.parquet")
    llmframe.convert(tmp_path / "u.parquet", tmp_path / "back.jsonl")
    back = (tmp_path / "back.jsonl").read_text().splitlines()
    assert [
        {k: v for k, v in json.loads(line).items() if k not in ("id", "messages")} for line in back
    ] == [{k: v for k, v in r.items() if k != "prompt"} for r in rows]
    assert '"score":1,' in back[0]
