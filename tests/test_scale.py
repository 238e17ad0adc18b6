"""What lets a run scale to a million prompts (issue 9), checked on small inputs.

Inputs are normalised a chunk at a time (the chunks must add up to the whole table), text
prompts are built as Arrow columns (they must equal the general path's), the prompts wait in a
temporary file fingerprinted chunk by chunk, and a run closed clean says so in
``deduplicated.json`` so readers skip the dedupe rule.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from runfactory import manifest, prompts, response
from strategies import texts

import llmframe
from llmframe import _launch, query
from llmframe.errors import InputError, InvalidInput
from llmframe.io import ReadOptions
from llmframe.io.detect import read_source
from llmframe.io.ids import digest, hash_ids
from llmframe.io.normalize import PromptScan, fix_repeats, normalize
from llmframe.io.source import ArrowSource, ParquetSource, RecordSource
from llmframe.io.spool import PromptSpool
from llmframe.io.textprompts import text_digest, text_messages
from llmframe.parts import Message, TextPart
from llmframe.parts.arrow import messages_from_arrow, messages_to_arrow
from llmframe.runner import RunOptions
from llmframe.store import RunStore, open_run
from llmframe.store.keyfilter import KeyFilter
from llmframe.store.lock import FileLock


def _conversation(system: str | None, user: str) -> list[Message]:
    head = [Message(role="system", parts=[TextPart(text=system)])] if system is not None else []
    return [*head, Message(role="user", parts=[TextPart(text=user)])]


def _scan(source: object, rows: int, **options: object) -> pa.Table:
    scan = PromptScan(source, ReadOptions(**options), rows=rows)  # type: ignore[arg-type]
    tables = list(scan)
    return pa.concat_tables(fix_repeats(tables, scan.repeated))


# -- text prompts as Arrow columns ----------------------------------------------------------


@given(st.lists(st.tuples(st.none() | texts, texts), min_size=1, max_size=8))
def test_text_prompts_equal_the_general_path(rows: list[tuple[str | None, str]]) -> None:
    systems = [system for system, _ in rows]
    users = [user for _, user in rows]
    conversations = [_conversation(s, u) for s, u in rows]
    fast = text_messages(systems, pa.array(users, pa.string()))
    fast.validate(full=True)
    assert fast.type == messages_to_arrow(conversations).type
    assert messages_from_arrow(fast) == conversations
    assert [text_digest(s, u) for s, u in rows] == [digest(c) for c in conversations]


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
def test_chunks_add_up_to_the_whole_table(rows: int) -> None:
    table = pa.table(
        {
            "prompt": ["a", "b ü", "a", "c", "a", "b ü", "d"],
            "system": [None, "be brief", None, "", None, "be brief", "x"],
            "topic": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    source = ArrowSource("t.parquet", "parquet", table)
    whole = _scan(source, rows, system="default")
    conversations = [
        _conversation(s or "default", u)
        for s, u in zip(table["system"].to_pylist(), table["prompt"].to_pylist(), strict=True)
    ]
    assert whole.column("id").to_pylist() == hash_ids(conversations)  # repeats numbered
    assert messages_from_arrow(whole.column("messages")) == conversations
    assert whole.column("topic").to_pylist() == [1, 2, 3, 4, 5, 6, 7]


def test_json_records_keep_one_column_type_across_chunks() -> None:
    records = [{"prompt": f"q{i}", "extra": i if i < 4 else {"k": i}} for i in range(6)]
    source = RecordSource("r.jsonl", "jsonl", records, lines=list(range(1, 7)))
    chunked, whole = _scan(source, 2), _scan(source, 100)
    assert chunked.equals(whole)  # a JSON-text column in every chunk, not ints in some
    assert chunked.schema.field("extra").type == whole.schema.field("extra").type


def test_a_duplicate_id_in_another_chunk_names_both_rows() -> None:
    table = pa.table({"id": ["x", "y", "z", "x"], "prompt": ["a", "b", "", "d"]})
    with pytest.raises(InvalidInput) as raised:
        _scan(ArrowSource("t.csv", "csv", table), 1)
    assert [str(p) for p in raised.value.problems] == [
        "t.csv: row 3: column `prompt`: empty text",
        "t.csv: row 4: column `id`: duplicate id `x` (first at row 1)",
    ]


def test_a_text_column_of_another_type_is_read_row_by_row() -> None:
    table = pa.table({"prompt": pa.array(["a", "b"]).dictionary_encode()})
    whole = _scan(ArrowSource("t.parquet", "parquet", table), 10)
    assert messages_from_arrow(whole.column("messages")) == [
        _conversation(None, "a"),
        _conversation(None, "b"),
    ]
    with pytest.raises(InputError, match="row 2: column `prompt`: expected text, got int"):
        _scan(ArrowSource("t.parquet", "parquet", pa.table({"prompt": [None, 7]})), 10)


# -- Parquet read a chunk at a time, fingerprints ---------------------------------------------


def test_parquet_chunks_have_exact_sizes_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    table = pa.table({"id": [f"p{i}" for i in range(23)], "prompt": [f"q{i}" for i in range(23)]})
    pq.write_table(table, path, row_group_size=5)
    source = read_source(path)
    assert isinstance(source, ParquetSource)
    chunks = list(source.chunks(7))
    assert [c.num_rows for c in chunks] == [7, 7, 7, 2]
    assert chunks[2].row_label(0) == "row 15"
    assert pa.concat_tables(c.table for c in chunks).equals(table)


def _fingerprint(path: Path) -> str:
    spool = PromptSpool()
    try:
        for prompts_chunk in PromptScan(read_source(path), ReadOptions(), rows=4):
            spool.write(prompts_chunk)
        return spool.close()
    finally:
        spool.discard()


def test_the_fingerprint_does_not_depend_on_how_the_file_is_laid_out(tmp_path: Path) -> None:
    table = pa.table({"prompt": [f"q{i}" for i in range(11)], "n": list(range(11))})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=3)
    pq.write_table(table, tmp_path / "b.parquet")
    pq.write_table(table.slice(1), tmp_path / "c.parquet")
    a, b, c = (_fingerprint(tmp_path / f"{n}.parquet") for n in "abc")
    assert a == b != c


def _request(source: Path, out: Path, **read: object) -> _launch.RunRequest:
    return _launch.RunRequest(
        source=source,
        models=["echo"],
        out=out,
        read=ReadOptions(**read),  # type: ignore[arg-type]
        model_options={},
        options=RunOptions(),
    )


def test_prepare_spools_and_always_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spools = tmp_path / "tmp"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ["hi", "yo", "hi"]))
    request = _request(good, tmp_path / "run")
    assert [b["prompt_id"] for b in _launch.dry_run(request)] == hash_ids(
        [_conversation(None, p) for p in ["hi", "yo", "hi"]]
    )
    assert list(spools.iterdir()) == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": ""}) + "\n")
    with pytest.raises(InputError, match="empty text"):
        _launch.prepare(_request(bad, tmp_path / "run"))
    assert list(spools.iterdir()) == []
    run = llmframe.run(str(good), model="echo", out=str(tmp_path / "run"), progress=False)
    assert list(spools.iterdir()) == []
    assert sorted(run.outputs()["prompt_id"].to_list()) == sorted(
        hash_ids([_conversation(None, p) for p in ["hi", "yo", "hi"]])
    )
    assert normalize(read_source(good), ReadOptions()).num_rows == 3


# -- a run closed clean ----------------------------------------------------------------------


def test_a_clean_close_vouches_for_the_files_and_readers_trust_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(3)) as store:
        for i in range(3):
            store.record(response(f"p{i}"), [TextPart(text=f"a{i}")])
    listed = json.loads((run / "deduplicated.json").read_text())["segments"]
    assert list(listed) == [p.stem for p in sorted((run / "responses").iterdir())]
    snapshot = open_run(run).snapshot()
    assert snapshot.clean
    assert query.sql(run, "select count(*) as n from responses").to_pylist() == [{"n": 3}]
    assert sorted(open_run(run).parts().column("text").to_pylist()) == ["a0", "a1", "a2"]
    with RunStore.create_or_resume(run, manifest(), None) as store:  # a resume adding nothing
        assert store.done() == {("p0", "m1"), ("p1", "m1"), ("p2", "m1")}
    assert open_run(run).snapshot().clean


def test_a_key_recorded_twice_is_purged_before_the_run_is_vouched_for(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(2)) as store:
        store.record(response("p0", status="error", seconds=1), [])
        store.record(response("p1"), [TextPart(text="one")])
        store.record(response("p0", seconds=2), [TextPart(text="zero")])
    rows = pa.concat_tables(pq.read_table(p) for p in (run / "responses").iterdir())
    assert sorted(rows.column("prompt_id").to_pylist()) == ["p0", "p1"]  # the error row is gone
    assert open_run(run).snapshot().clean


def test_another_writer_makes_the_vouching_stale(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(2)) as store:
        store.record(response("p0", status="error", seconds=1), [])
    other = RunStore.create_or_resume(run, manifest(), None, writer="w1")
    other.record(response("p0", seconds=2), [TextPart(text="zero")])
    assert not open_run(run).snapshot().clean  # a journal record pending
    other.compact()
    assert not open_run(run).snapshot().clean  # a segment the list does not name
    statuses = query.sql(run, "select status from responses").column("status").to_pylist()
    assert statuses == ["ok"]
    other.close()


def test_the_key_filter_never_forgets_and_rarely_imagines() -> None:
    keys = KeyFilter()
    added = [(f"p{i}", "m", 0) for i in range(200_000)]
    assert not any(keys.add(key) for key in added[:1000])
    flagged = sum(keys.add(key) for key in added[1000:])
    assert flagged < 0.01 * len(added)
    assert all(keys.add(key) for key in added[::997])


@pytest.mark.parametrize("retry_errors", [False, True])
def test_continuing_is_what_the_runner_computes_from_chains(
    tmp_path: Path, retry_errors: bool
) -> None:
    steps = {  # prompt -> (step, status, final) recorded in order
        "p0": [(0, "ok", False)],
        "p1": [(0, "ok", True)],
        "p2": [(0, "error", True)],
        "p3": [(0, "ok", False), (1, "error", True)],
        "p4": [(0, "ok", False), (1, "ok", False)],
    }
    with RunStore.create_or_resume(tmp_path / "run", manifest(), prompts(5)) as store:
        for prompt_id, records in steps.items():
            for step, status, final in records:
                store.record(response(prompt_id, status=status, step=step, final=final), [])
        done = store.done(include_errors=not retry_errors)
        expected = {
            key: state.step if state.final else state.step + 1
            for key, state in store.chains().items()
            if key not in done
        }
        expected = {key: start for key, start in expected.items() if start > 0}
        assert store.continuing(retry_errors=retry_errors) == expected
        assert expected == (
            {("p0", "m1"): 1, ("p3", "m1"): 1, ("p4", "m1"): 2}
            if retry_errors
            else {("p0", "m1"): 1, ("p4", "m1"): 2}
        )


def test_a_killed_run_s_spool_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a spool no process holds, and not a brand-new one, is removed."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale, held, young = (tmp_path / f"llmframe-prompts-{name}" for name in ("a", "b", "c"))
    for folder in (stale, held, young):
        folder.mkdir()
        (folder / "prompts.parquet").write_bytes(b"PAR1")
    hour_ago = time.time() - 3600
    for folder in (stale, held):
        os.utime(folder, (hour_ago, hour_ago))
    holder = FileLock(held / "lock")  # a live run's (another process's, as far as flock sees)
    holder.acquire()
    try:
        spool = PromptSpool()
        assert not stale.exists()
        assert held.exists()
        assert young.exists()  # its process may not have locked it yet
        spool.discard()
    finally:
        holder.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == [held.name, young.name]
