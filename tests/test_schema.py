"""The Arrow contract: schema.arrow agrees with schema.py and shows DESIGN.md section 1."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from llmframe import schema
from llmframe.cli import main

PART_FIELDS = [
    "type",
    "text",
    "json",
    "mime_type",
    "uri",
    "data",
    "tool_call_id",
    "name",
    "provider_data",
]


def test_schema_file_matches_code() -> None:
    on_disk = ipc.read_schema(str(schema.SCHEMA_PATH))
    assert on_disk.equals(schema.contract(), check_metadata=True)
    assert schema.SCHEMA_PATH.read_bytes() == schema.contract_bytes()


def test_generator_writes_the_same_bytes(tmp_path: pytest.TempPathFactory) -> None:
    target = tmp_path / "schema.arrow"
    subprocess.run([sys.executable, "-m", "llmframe.schema", str(target)], check=True)
    assert target.read_bytes() == schema.SCHEMA_PATH.read_bytes()


def _prompts_fields() -> pa.StructType:
    return ipc.read_schema(str(schema.SCHEMA_PATH)).field("prompts").type


def test_schema_file_shows_the_part_and_message() -> None:
    prompts = _prompts_fields()
    message = prompts.field("messages").type.value_type
    assert [f.name for f in message] == ["role", "parts"]
    assert message.field("role").type == pa.dictionary(pa.int8(), pa.string())
    part = message.field("parts").type.value_type
    assert [f.name for f in part] == PART_FIELDS
    assert part.field("json").type == pa.json_(pa.string())
    assert part.field("data").type == pa.binary()
    assert not part.field("type").nullable
    assert [f.name for f in prompts][:2] == ["id", "messages"]


def test_schema_file_holds_the_three_tables_and_closed_sets() -> None:
    on_disk = ipc.read_schema(str(schema.SCHEMA_PATH))
    assert on_disk.names == ["prompts", "responses", "parts"]
    parts_columns = [f.name for f in on_disk.field("parts").type]
    assert parts_columns == [
        "response_id",
        "prompt_id",
        "model",
        "step",
        "part_index",
        *PART_FIELDS,
    ]
    responses_columns = {f.name for f in on_disk.field("responses").type}
    assert {"status", "latency_ms", "ttft_ms", "input_tokens", "finish_reason"} <= responses_columns
    assert json.loads(on_disk.metadata[b"llmframe.part_types"]) == list(schema.PART_TYPES)
    assert json.loads(on_disk.metadata[b"llmframe.roles"]) == list(schema.ROLES)


def test_schema_command_prints_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["schema"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("prompts:", "responses:", "parts:", "tool_call_id: string", "mime_type: string"):
        assert name in out


def test_schema_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["schema", "--json", "--table", "prompts"])
    assert exit_info.value.code == 0
    described = json.loads(capsys.readouterr().out)
    assert list(described["tables"]) == ["prompts"]
    messages = described["tables"]["prompts"][1]
    parts = messages["item"]["fields"][1]["item"]["fields"]
    assert [p["name"] for p in parts] == PART_FIELDS
    assert parts[2]["type"] == "arrow.json"


def test_schema_command_rejects_unknown_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["schema", "--table", "nope"])
    assert exit_info.value.code == 2
    assert "unknown table `nope`" in capsys.readouterr().err
