"""DuckDB views over a run: finished, in progress (journal only) and mixed; SQL and formats."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from runfactory import manifest, prompts, response

import llmframe
from llmframe import query
from llmframe.errors import UsageError
from llmframe.parts import (
    ImagePart,
    JsonPart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCallPart,
)
from llmframe.parts.arrow import messages_from_arrow
from llmframe.store import RunStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
ANSWERS = {
    ("p0", "m1"): [
        ReasoningPart(text="think"),
        TextPart(text="Hel"),
        TextPart(text="lo"),
        JsonPart(value={"x": 1}),
    ],
    ("p1", "m1"): [ImagePart(data=PNG, mime_type="image/png"), TextPart(text="an image")],
    ("p1", "m2"): [ToolCallPart(name="search", arguments={"q": "x"}, tool_call_id="c1")],
    ("p2", "m1"): [JsonPart(value="oops")],
}


def _records() -> list[tuple[dict[str, object], list[object]]]:
    """In recording order; the p1/m2 error is replaced by a later ok record."""
    return [
        (response("p1", "m2", "error", seconds=1), []),
        (response("p0", "m1", seconds=2, output_tokens=7), ANSWERS[("p0", "m1")]),
        (response("p0", "m2", "error", seconds=3), []),
        (response("p1", "m1", seconds=4), ANSWERS[("p1", "m1")]),
        (response("p2", "m1", "invalid", seconds=5), ANSWERS[("p2", "m1")]),
        (response("p1", "m2", seconds=6), ANSWERS[("p1", "m2")]),
    ]


@pytest.fixture(params=["compacted", "pending", "mixed"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A run with every record compacted, all still in the journal, or some of each."""
    path = tmp_path / "run"
    table = prompts(3, topic=["a", "b", "c"], status=["x", "y", "z"])
    store = RunStore.create_or_resume(path, manifest(models=("m1", "m2")), table)
    for index, (row, parts) in enumerate(_records()):
        store.record(row, parts)
        if request.param == "mixed" and index == 2:
            store.compact()
    if request.param == "compacted":
        store.close()
    assert (len(list((path / "journal").iterdir())) == 0) == (request.param == "compacted")
    yield path
    store.close()


def test_responses_and_parts_hold_the_latest_record_per_pair(run: Path) -> None:
    rows = query.sql(run, "SELECT prompt_id, model, status FROM responses ORDER BY ALL")
    assert rows.to_pylist() == [
        {"prompt_id": "p0", "model": "m1", "status": "ok"},
        {"prompt_id": "p0", "model": "m2", "status": "error"},
        {"prompt_id": "p1", "model": "m1", "status": "ok"},
        {"prompt_id": "p1", "model": "m2", "status": "ok"},
        {"prompt_id": "p2", "model": "m1", "status": "invalid"},
    ]
    parts = query.sql(
        run, "SELECT prompt_id, model, part_index, type FROM parts ORDER BY ALL"
    ).to_pylist()
    assert [(p["prompt_id"], p["model"], p["part_index"], p["type"]) for p in parts] == [
        ("p0", "m1", 0, "reasoning"),
        ("p0", "m1", 1, "text"),
        ("p0", "m1", 2, "text"),
        ("p0", "m1", 3, "json"),
        ("p1", "m1", 0, "image"),
        ("p1", "m1", 1, "text"),
        ("p1", "m2", 0, "tool_call"),
        ("p2", "m1", 0, "json"),
    ]
    image = query.sql(run, "SELECT data, mime_type FROM parts WHERE type = 'image'")
    assert image.to_pylist() == [{"data": PNG, "mime_type": "image/png"}]
    call = query.sql(
        run, "SELECT name, tool_call_id, json->>'q' AS q FROM parts WHERE name IS NOT NULL"
    )
    assert call.to_pylist() == [{"name": "search", "tool_call_id": "c1", "q": "x"}]


def test_outputs_has_one_row_per_response_with_text_json_and_user_columns(run: Path) -> None:
    table = query.sql(run, "SELECT * FROM outputs")
    assert table.column_names == [
        "prompt_id",
        "model",
        "status",
        "text",
        "json",
        "finish_reason",
        "error_type",
        "error_message",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cached_tokens",
        "latency_ms",
        "ttft_ms",
        "topic",
        "input_status",
    ]
    assert table.schema.field("json").type == pa.json_(pa.string())
    picked = table.select(["prompt_id", "model", "status", "text", "json", "topic"])
    assert [tuple(row.values()) for row in picked.to_pylist()] == [
        ("p0", "m1", "ok", "Hello", '{"x":1}', "a"),
        ("p0", "m2", "error", None, None, "a"),
        ("p1", "m1", "ok", "an image", None, "b"),
        ("p1", "m2", "ok", None, None, "b"),
        ("p2", "m1", "invalid", None, '"oops"', "c"),
    ]
    assert table.column("input_status").to_pylist() == ["x", "x", "y", "y", "z"]
    assert table.column("error_message").to_pylist()[1] == "slow down"
    assert table.column("output_tokens").to_pylist() == [7, 5, 5, 5, 5]
    assert table.column("latency_ms").to_pylist() == [250.0] * 5


def test_conversations_append_the_assistant_message_for_ok_responses(
    run: Path, tmp_path: Path
) -> None:
    table = query.sql(run, "SELECT * FROM conversations")
    assert table.column_names == ["id", "messages", "model", "topic", "status"]
    pairs = [("p0", "m1"), ("p1", "m1"), ("p1", "m2")]
    ids, models = table.column("id").to_pylist(), table.column("model").to_pylist()
    assert list(zip(ids, models, strict=True)) == pairs
    conversations = messages_from_arrow(table.column("messages"))
    assert len(conversations) == len(pairs)
    for conversation, (prompt_id, model) in zip(conversations, pairs, strict=True):
        question = Message(role="user", parts=[TextPart(text=f"q{prompt_id[1:]}")])
        answer = Message(role="assistant", parts=ANSWERS[(prompt_id, model)])
        assert conversation == [question, answer]
    # Ready for the next turn: llmframe reads it back as prompts.
    exported = tmp_path / "next.parquet"
    pq.write_table(query.sql(run, "SELECT * FROM conversations WHERE model = 'm1'"), exported)
    again = llmframe.read_prompts(exported)
    assert again.column("id").to_pylist() == ["p0", "p1"]
    assert again.column("model").to_pylist() == ["m1", "m1"]
    assert messages_from_arrow(again.column("messages"))[1][1].parts[0] == ImagePart(
        data=PNG, mime_type="image/png"
    )


def test_prompts_view_is_the_prompts_file(run: Path) -> None:
    table = query.sql(run, "SELECT id, topic, len(messages) AS turns FROM prompts")
    assert table.to_pylist() == [
        {"id": "p0", "topic": "a", "turns": 1},
        {"id": "p1", "topic": "b", "turns": 1},
        {"id": "p2", "topic": "c", "turns": 1},
    ]


def test_a_run_without_responses_has_empty_views(tmp_path: Path) -> None:
    path = tmp_path / "run"
    RunStore.create_or_resume(path, manifest(), prompts(2)).close()
    con = query.connect(path)
    try:
        for view in ("responses", "parts", "outputs", "conversations"):
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view
        assert con.execute("SELECT count(*) FROM prompts").fetchone() == (2,)
        names = [row[0] for row in con.execute("DESCRIBE outputs").fetchall()]
        assert names[:5] == ["prompt_id", "model", "status", "text", "json"]
    finally:
        con.close()


def test_bad_sql_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "run"
    RunStore.create_or_resume(path, manifest(), prompts(1)).close()
    with pytest.raises(UsageError, match=r"SQL failed.*nope"):
        query.sql(path, "SELECT * FROM nope")
    with pytest.raises(llmframe.StoreError, match="not an llmframe run"):
        query.sql(tmp_path, "SELECT 1")


# -- formats ---------------------------------------------------------------------------------

SMALL = pa.table(
    {
        "id": ["p0", "p1"],
        "n": [1, None],
        "j": pa.array(['{"a":[1,2]}', None], pa.json_(pa.string())),
    }
)


def test_csv_and_json_to_a_file_and_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.csv"
    query.format_result(SMALL, "csv", target)
    assert target.read_text() == 'id,n,j\np0,1,"{""a"":[1,2]}"\np1,,\n'
    query.format_result(SMALL, "json")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "p0", "n": 1, "j": {"a": [1, 2]}},
        {"id": "p1", "n": None, "j": None},
    ]


def test_parquet_keeps_the_arrow_types_and_needs_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    query.format_result(SMALL, "parquet", target)
    assert pq.read_table(target).equals(SMALL)
    with pytest.raises(UsageError, match="needs an output file"):
        query.format_result(SMALL, "parquet")
    with pytest.raises(UsageError, match="unknown format `xml`"):
        query.format_result(SMALL, "xml")  # type: ignore[arg-type]


def test_table_shows_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query.format_result(SMALL, "table")
    shown = capsys.readouterr().out
    assert "p0" in shown
    assert '{"a":[1,2]}' in shown
    many = pa.table({"i": list(range(100))})
    target = tmp_path / "all.txt"
    query.format_result(many, "table", target)
    assert re.search(r"│ +50 │", target.read_text())  # a file gets every row
    query.format_result(many, "table", max_rows=10)
    shown = capsys.readouterr().out
    assert re.search(r"│ +99 │", shown)  # the first and last rows are shown...
    assert not re.search(r"│ +50 │", shown)  # ...the middle ones are not


def test_sums_come_back_as_integers(run: Path) -> None:
    table = query.sql(
        run,
        "SELECT count(*) AS n, sum(attempts) AS a, sum(attempts) * 10e20::HUGEINT AS big "
        "FROM responses",
    )
    assert table.schema.field("a").type == pa.int64()
    row = table.to_pylist()[0]
    assert row["a"] >= row["n"] >= 1
    assert row["big"] == row["a"] * 10**21
