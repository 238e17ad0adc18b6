"""The run directory: create, resume, compare, lock, journal recovery, kill safety, replacement."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from runfactory import T0, manifest, prompts, response

from llmframe.errors import RunLocked, RunMismatch, StoreError, UsageError
from llmframe.parts import ImagePart, JsonPart, TextPart
from llmframe.schema import MESSAGES, PARTS, RESPONSES
from llmframe.store import Manifest, RunStore, StoreOptions, open_run

TESTS = Path(__file__).parent


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def statuses(run: Path) -> dict[tuple[str, str], str]:
    table = open_run(run).responses()
    return {(r["prompt_id"], r["model"]): r["status"] for r in table.to_pylist()}


# -- creating and resuming -------------------------------------------------------------------


def test_new_run_holds_manifest_and_prompts(tmp_path: Path) -> None:
    run = tmp_path / "run"
    table = prompts(3, topic=["a", "b", "c"])
    with RunStore.create_or_resume(run, manifest(), table) as store:
        assert store.done() == set()
        batches = list(store.prompt_batches(2))
    assert [b.num_rows for b in batches] == [2, 1]
    assert batches[0].schema.field("messages").type == MESSAGES
    assert pa.Table.from_batches(batches).to_pylist() == table.to_pylist()
    stored = json.loads((run / "manifest.json").read_text())
    assert stored["format"] == 2
    assert stored["models"] == ["m1"]
    assert stored["options"] == {"temperature": 0.2, "max_tokens": 50}
    assert stored["input_fingerprint"] == "fp-1"
    assert Manifest.from_json((run / "manifest.json").read_text()) == manifest()
    assert pq.read_table(run / "prompts.parquet").to_pylist() == table.to_pylist()
    assert files(run / "journal") == files(run / "responses") == []


def test_resume_keeps_done_rows_and_adds_a_new_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(2)) as store:
        store.record(response("p0"), [TextPart(text="hi")])
        store.record(response("p1", status="error"), [])
    later = manifest(models=("m2", "m1"), created_at="2025-06-01T00:00:00+00:00")
    with RunStore.create_or_resume(run, later, None) as store:
        assert store.manifest.models == ("m1", "m2")
        assert store.manifest.created_at == "2025-01-01T00:00:00+00:00"
        assert store.done() == {("p0", "m1"), ("p1", "m1")}
        assert store.done(include_errors=False) == {("p0", "m1")}
        store.record(response("p0", "m2"), [TextPart(text="hello")])
    assert json.loads((run / "manifest.json").read_text())["models"] == ["m1", "m2"]
    with RunStore.create_or_resume(run, manifest(models=("m1",)), None) as store:
        assert store.manifest.models == ("m1", "m2")  # naming fewer models resumes those
        assert store.done() == {("p0", "m1"), ("p1", "m1"), ("p0", "m2")}


def test_a_different_run_is_refused_naming_each_difference(tmp_path: Path) -> None:
    run = tmp_path / "run"
    original = manifest(media_root="/data", schema={"type": "object"})
    with RunStore.create_or_resume(run, original, prompts(1)):
        pass
    before = (run / "manifest.json").read_bytes()
    other = manifest(
        input_fingerprint="fp-2",
        options={"temperature": 0.7, "max_tokens": 50, "seed": 1},
        base_url="http://localhost:8000/v1",
        media_root="/elsewhere",
        schema={"type": "array"},
        tools=[{"name": "search"}],
        models=("m1", "m9"),
    )
    with pytest.raises(RunMismatch) as info:
        RunStore.create_or_resume(run, other, prompts(1))
    assert info.value.differences == [
        "input: fingerprint fp-1 in the run, fp-2 now",
        "option `seed`: absent in the run, 1 now",
        "option `temperature`: 0.2 in the run, 0.7 now",
        'base_url: absent in the run, "http://localhost:8000/v1" now',
        'media_root: "/data" in the run, "/elsewhere" now',
        'schema `type`: "object" in the run, "array" now',
        'tools: absent in the run, [{"name":"search"}] now',
    ]
    assert all(line in str(info.value) for line in info.value.differences)
    assert (run / "manifest.json").read_bytes() == before
    # The refusal let go of the lock, and equal JSON values are not differences.
    options = {"max_tokens": 50, "temperature": 0.2}
    same = manifest(media_root="/data", schema={"type": "object"}, options=options)
    RunStore.create_or_resume(run, same, None).close()


def test_options_that_differ_only_in_json_type_are_different(tmp_path: Path) -> None:
    run = tmp_path / "run"
    RunStore.create_or_resume(run, manifest(options={"n": 1}), prompts(1)).close()
    with pytest.raises(RunMismatch, match=r"option `n`: 1 in the run, 1.0 now"):
        RunStore.create_or_resume(run, manifest(options={"n": 1.0}), None)
    with pytest.raises(RunMismatch, match=r"option `n`: 1 in the run, true now"):
        RunStore.create_or_resume(run, manifest(options={"n": True}), None)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"not an llmframe run.*notes\.txt"):
        RunStore.create_or_resume(tmp_path, manifest(), prompts(1))
    assert files(tmp_path) == ["notes.txt"]
    with pytest.raises(UsageError, match="new run and needs its prompts"):
        RunStore.create_or_resume(tmp_path / "new", manifest(), None)
    with pytest.raises(UsageError, match="invalid writer name"):
        RunStore.create_or_resume(tmp_path / "new", manifest(), prompts(1), writer="a/b")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"options": {"api_key": "sk-secret"}}, "`api_key`"),
        ({"options": {"headers": {"Authorization": "Bearer x"}}}, "`headers.Authorization`"),
        ({"options": {"extra": [{"openai_api_key": "x"}]}}, "`extra[0].openai_api_key`"),
        ({"base_url": "https://user:pw@example.com/v1"}, "`base_url`"),
    ],
)
def test_credentials_are_never_stored(changes: dict[str, object], named: str) -> None:
    with pytest.raises(UsageError, match="refusing to store credentials") as info:
        manifest(**changes)
    assert named in str(info.value)
    assert "sk-secret" not in str(info.value)


def test_manifest_with_max_tokens_is_not_a_secret() -> None:
    assert manifest(options={"max_tokens": 5, "token_budget": 9}).options["max_tokens"] == 5


# -- the lock --------------------------------------------------------------------------------

_OPEN_IN_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from runfactory import manifest
from llmframe.errors import RunLocked
from llmframe.store import RunStore
for writer in ("w0", "w1"):
    try:
        RunStore.create_or_resume(Path({run!r}), manifest(), None, writer=writer).close()
    except RunLocked as exc:
        print(writer, "refused:", exc)
    else:
        print(writer, "opened")
"""


def test_a_second_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(1)):
        code = _OPEN_IN_CHILD.format(tests=str(TESTS), run=str(run))
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
    refused, other = result.stdout.splitlines()
    assert refused.startswith("w0 refused: the run `")
    assert f"in use by another process (pid {os.getpid()})" in refused
    assert other == "w1 opened"  # another writer has a lock of its own


def test_the_lock_is_refused_in_process_too_and_released_on_close(tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = RunStore.create_or_resume(run, manifest(), prompts(1))
    with pytest.raises(RunLocked):
        RunStore.create_or_resume(run, manifest(), None)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.record(response("p0"), [])
    RunStore.create_or_resume(run, manifest(), None).close()


# -- recording -------------------------------------------------------------------------------


def test_record_is_visible_before_compaction_and_after(tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = RunStore.create_or_resume(run, manifest(models=("m1", "m2")), prompts(3))
    store.record(response("p0", seconds=1), [TextPart(text="a"), JsonPart(value={"k": [1, 2]})])
    store.record(response("p1", "m2", "error", seconds=2), [])
    store.record(response("p2", "m1", "invalid", seconds=3), [JsonPart(value="x")])
    assert store.done() == {("p0", "m1"), ("p1", "m2"), ("p2", "m1")}
    assert store.done(include_errors=False) == {("p0", "m1"), ("p2", "m1")}
    assert files(run / "responses") == []
    assert len(files(run / "journal")) == 1
    pending = open_run(run)
    assert statuses(run) == {("p0", "m1"): "ok", ("p1", "m2"): "error", ("p2", "m1"): "invalid"}
    assert pending.parts().column("json").to_pylist() == [None, '{"k":[1,2]}', '"x"']
    store.close()
    assert files(run / "journal") == []
    assert files(run / "responses") == files(run / "parts") == ["w0-00000001.parquet"]
    stored = pq.read_table(run / "responses" / "w0-00000001.parquet")
    assert stored.schema.equals(RESPONSES)
    assert stored.column("finished_at").to_pylist()[1] == T0 + dt.timedelta(seconds=2)
    assert stored.column("http_status").to_pylist() == [None, 429, None]
    assert pq.read_table(run / "parts" / "w0-00000001.parquet").schema.equals(PARTS)
    assert open_run(run).parts().column("json").to_pylist() == [None, '{"k":[1,2]}', '"x"']


def test_bytes_and_options_survive_the_journal(tmp_path: Path) -> None:
    run = tmp_path / "run"
    image = bytes(range(256)) * 3
    store = RunStore.create_or_resume(run, manifest(), prompts(1))
    parts = [ImagePart(data=image, mime_type="image/png"), TextPart(text="naïve ✓")]
    store.record(response("p0", options={"temperature": 0.2}), parts)
    for when in ("pending", "compacted"):
        table = open_run(run).parts()
        assert table.column("data").to_pylist() == [image, None], when
        assert table.column("text").to_pylist() == [None, "naïve ✓"], when
        assert open_run(run).responses().column("options").to_pylist() == ['{"temperature":0.2}']
        store.compact()
    store.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown response column(s) `colour`"),
        ({"provider": None}, "lacks required column(s) `provider`"),
        ({"status": "fine"}, "`status` must be one of ok, error, invalid"),
        ({"finished_at": dt.datetime(2025, 1, 1)}, "`finished_at` must be a timezone-aware"),
        ({"attempts": "1"}, "column `attempts` has a str"),
        ({"latency_ms": float("nan")}, "not valid JSON"),
        ({"error_message": "bad \ud800"}, "not valid Unicode"),
    ],
)
def test_a_malformed_response_is_refused_and_not_written(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    with RunStore.create_or_resume(tmp_path / "run", manifest(), prompts(1)) as store:
        with pytest.raises(StoreError) as info:
            store.record(response("p0", **change), [])
        assert message in str(info.value)
        assert store.done() == set()
    assert open_run(tmp_path / "run").responses().num_rows == 0


def test_a_response_id_is_recorded_once(tmp_path: Path) -> None:
    with RunStore.create_or_resume(tmp_path / "run", manifest(), prompts(2)) as store:
        store.record(response("p0", response_id="same"), [])
        with pytest.raises(StoreError, match="`same` was already recorded"):
            store.record(response("p1", response_id="same"), [])
        assert store.done() == {("p0", "m1")}


def test_segments_rotate_and_compact_periodically(tmp_path: Path) -> None:
    run = tmp_path / "run"
    options = StoreOptions(segment_records=3)
    store = RunStore.create_or_resume(run, manifest(), prompts(7), options=options)
    for i in range(7):
        store.record(response(f"p{i}"), [TextPart(text=str(i))])
    assert files(run / "responses") == ["w0-00000001.parquet", "w0-00000002.parquet"]
    assert files(run / "journal") == ["w0-00000003.jsonl"]
    assert len(open_run(run).responses()) == 7
    store.close()
    assert len(files(run / "responses")) == 3
    parts = open_run(run).parts()
    assert parts.column("text").to_pylist() == [str(i) for i in range(7)]


def test_two_writers_share_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = RunStore.create_or_resume(run, manifest(), prompts(4))
    second = RunStore.create_or_resume(run, manifest(), None, writer="w1")
    first.record(response("p0"), [])
    second.record(response("p1"), [])
    first.record(response("p2"), [])
    assert statuses(run).keys() == {("p0", "m1"), ("p1", "m1"), ("p2", "m1")}
    first.close()
    second.close()
    assert files(run / "responses") == ["w0-00000001.parquet", "w1-00000001.parquet"]
    with RunStore.create_or_resume(run, manifest(), None, writer="w2") as third:
        assert third.done() == {("p0", "m1"), ("p1", "m1"), ("p2", "m1")}


# -- crashes ---------------------------------------------------------------------------------

_RECORD_AND_DIE = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from runfactory import manifest, response
from llmframe.parts import TextPart
from llmframe.store import RunStore
store = RunStore.create_or_resume(Path({run!r}), manifest(), None)
for i in range(3):
    store.record(response(f"p{{i}}", response_id=f"r{{i}}"), [TextPart(text=f"t{{i}}")])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_torn_last_line_is_ignored_then_cut_away(tmp_path: Path) -> None:
    run = tmp_path / "run"
    RunStore.create_or_resume(run, manifest(), prompts(4)).close()
    code = _RECORD_AND_DIE.format(tests=str(TESTS), run=str(run))
    died = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert died.returncode == -signal.SIGKILL
    [journal] = (run / "journal").iterdir()
    whole = journal.read_bytes()
    assert whole.count(b"\n") == 3
    with journal.open("ab") as file:  # what a write cut short by the kill leaves
        file.write(whole.splitlines(keepends=True)[0][:40])
    assert sorted(open_run(run).responses().column("response_id").to_pylist()) == ["r0", "r1", "r2"]
    assert journal.read_bytes().startswith(whole)  # a reader changes nothing
    with RunStore.create_or_resume(run, manifest(), None) as store:
        assert store.done() == {("p0", "m1"), ("p1", "m1"), ("p2", "m1")}
        assert files(run / "journal") == []  # recovered and compacted at once
        store.record(response("p3", response_id="r3"), [TextPart(text="t3")])
    assert open_run(run).parts().column("text").to_pylist() == ["t0", "t1", "t2", "t3"]


def test_a_corrupt_line_inside_the_journal_is_reported(tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = RunStore.create_or_resume(run, manifest(), prompts(3))
    store.record(response("p0"), [])
    store.record(response("p1"), [])
    [journal] = (run / "journal").iterdir()
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + b'{"v":1,"r":\n' + lines[1])
    with pytest.raises(StoreError, match=r"w0-00000001\.jsonl` line 2 is not a valid record"):
        open_run(run).responses()
    with pytest.raises(StoreError, match="line 2"):
        store.compact()


def test_journal_of_a_segment_already_compacted_is_removed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = RunStore.create_or_resume(run, manifest(), prompts(2))
    store.record(response("p0", response_id="r0"), [TextPart(text="x")])
    journal = run / "journal" / "w0-00000001.jsonl"
    saved = journal.read_bytes()
    store.close()
    journal.write_bytes(saved)  # as if killed between the Parquet rename and the unlink
    assert open_run(run).responses().column("response_id").to_pylist() == ["r0"]
    with RunStore.create_or_resume(run, manifest(), None) as store:
        assert files(run / "journal") == []
        assert store.done() == {("p0", "m1")}
    assert open_run(run).parts().column("text").to_pylist() == ["x"]


_KILL_CHILD = """
import datetime as dt, random, sys, uuid
from pathlib import Path
sys.path.insert(0, {tests!r})
from runfactory import manifest, response
from llmframe.parts import TextPart
from llmframe.store import RunStore, StoreOptions
rng = random.Random({seed})
keys = {{(f"p{{i}}", m) for i in range({prompts}) for m in ("m1", "m2")}}
options = StoreOptions(segment_records=2, fsync_records=3)
print("ready", flush=True)
while True:
    run = Path({run!r})
    store = RunStore.create_or_resume(run, manifest(models=("m1", "m2")), None, options=options)
    todo = sorted(keys - store.done(include_errors=False))
    if not todo:
        store.close()
        print("finished", flush=True)
        break
    for prompt_id, model in todo[:7]:
        rid = uuid.uuid4().hex
        status = "error" if rng.random() < 0.3 else "ok"
        print("start", prompt_id, model, rid, flush=True)
        row = response(prompt_id, model, status, response_id=rid)
        row["finished_at"] = dt.datetime.now(dt.timezone.utc)
        store.record(row, [TextPart(text=rid)])
        print("done", prompt_id, model, rid, flush=True)
    store.close()
"""


def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    count = 30
    RunStore.create_or_resume(run, manifest(models=("m1", "m2")), prompts(count)).close()
    rng = random.Random(20250102)
    events: list[list[str]] = []
    for attempt in range(5):
        code = _KILL_CHILD.format(tests=str(TESTS), run=str(run), seed=attempt, prompts=count)
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        final = attempt == 4
        if not final:
            try:
                child.wait(rng.uniform(0.02, 0.4))
            except subprocess.TimeoutExpired:
                child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
        events += [line.split() for line in out.splitlines()]
        if final:
            assert child.returncode == 0
            assert events[-1] == ["finished"]
    # For each key: the last record whose record() returned, and any started after it.
    allowed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for event in events:
        if event[0] == "start":
            allowed[(event[1], event[2])].add(event[3])
        elif event[0] == "done":
            allowed[(event[1], event[2])] = {event[3]}
    responses = pq.read_table(run / "responses")
    rows = responses.select(["prompt_id", "model", "response_id", "status"]).to_pylist()
    keys = [(r["prompt_id"], r["model"]) for r in rows]
    assert len(keys) == len(set(keys)) == 2 * count  # each pair exactly once, on disk
    assert {r["status"] for r in rows} == {"ok"}
    for row in rows:
        assert row["response_id"] in allowed[(row["prompt_id"], row["model"])]
    parts = pq.read_table(run / "parts").select(["response_id", "text"]).to_pylist()
    assert sorted(p["response_id"] for p in parts) == sorted(r["response_id"] for r in rows)
    assert all(p["text"] == p["response_id"] for p in parts)
    for name in files(run / "responses"):
        assert pq.read_table(run / "responses" / name).schema.equals(RESPONSES)
        assert pq.read_table(run / "parts" / name).schema.equals(PARTS)
    assert files(run / "parts") == files(run / "responses")
    assert files(run / "journal") == []
    assert sum(e[0] == "done" for e in events) > 2 * count  # errors were retried


class Crash(BaseException):
    """The process died: raised instead of the intercepted call."""


class CrashAt:
    """Fault injection at the OS boundary: die at the n-th file operation on a run folder.

    ``os.open``, ``write``, ``fsync``, ``replace``, ``unlink``, ``truncate`` and ``ftruncate``
    under `root` are counted; the n-th raises `Crash` (a write first writes half its bytes, a
    torn line), every later one raises too, and `kill` closes what the process had open, as
    the kernel would. The code under test runs unchanged.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = str(root)
        self.real = {name: getattr(os, name) for name in self.NAMES}
        self.fds: set[int] = set()
        self.calls = 0
        self.at = 0
        self.dead = False
        for name in self.NAMES:
            monkeypatch.setattr(os, name, getattr(self, name))

    NAMES = ("open", "close", "write", "fsync", "replace", "unlink", "truncate", "ftruncate")

    def arm(self, at: int) -> None:
        self.calls, self.at, self.dead = 0, at, False

    def _step(self, ours: bool) -> bool:
        if not ours:
            return False
        if self.dead:
            raise Crash
        self.calls += 1
        self.dead = self.calls == self.at
        return self.dead

    def _path(self, path: object) -> bool:
        return str(path).startswith(self.root)

    def kill(self) -> None:
        for fd in self.fds:
            self.real["close"](fd)
        self.fds.clear()
        self.at, self.dead = 0, False

    def open(self, path: object, flags: int, mode: int = 0o777, **kwargs: object) -> int:
        if self._step(self._path(path)):
            raise Crash
        fd = self.real["open"](path, flags, mode, **kwargs)
        if self._path(path):
            self.fds.add(fd)
        return fd

    def close(self, fd: int) -> None:
        if fd in self.fds:
            self.fds.discard(fd)
        elif self.dead:
            return
        self.real["close"](fd)

    def write(self, fd: int, data: bytes) -> int:
        if self._step(fd in self.fds):
            self.real["write"](fd, bytes(data)[: len(data) // 2])
            raise Crash
        return self.real["write"](fd, data)

    def fsync(self, fd: int) -> None:
        if self._step(fd in self.fds):
            raise Crash
        self.real["fsync"](fd)

    def ftruncate(self, fd: int, length: int) -> None:
        if self._step(fd in self.fds):
            raise Crash
        self.real["ftruncate"](fd, length)

    def replace(self, source: object, target: object) -> None:
        if self._step(self._path(target)):
            raise Crash
        self.real["replace"](source, target)

    def unlink(self, path: object, *args: object, **kwargs: object) -> None:
        if self._step(self._path(path)):
            raise Crash
        self.real["unlink"](path, *args, **kwargs)

    def truncate(self, path: object, length: int) -> None:
        if self._step(self._path(path)):
            raise Crash
        self.real["truncate"](path, length)


def _winners(table: pa.Table) -> dict[tuple[str, str], str]:
    return {(r["prompt_id"], r["model"]): r["response_id"] for r in table.to_pylist()}


def test_a_crash_at_every_file_operation_is_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = tmp_path / "template"
    both = manifest(models=("m1", "m2"))
    with RunStore.create_or_resume(template, both, prompts(3)) as store:
        store.record(response("p0", "m1", "error", response_id="e0"), [TextPart(text="e0")])
        store.record(response("p1", response_id="ok1"), [TextPart(text="ok1")])
    new = [("p0", "m1", "a"), ("p2", "m1", "b"), ("p0", "m2", "c")]
    options = StoreOptions(segment_records=2, fsync_records=1)
    crash = CrashAt(monkeypatch, tmp_path / "run")
    for at in range(1, 500):
        run = tmp_path / f"run{at:03d}"
        shutil.copytree(template, run)
        returned = []
        crash.arm(at)
        try:
            store = RunStore.create_or_resume(run, both, None, options=options)
            for prompt_id, model, rid in new:
                row = response(prompt_id, model, seconds=60, response_id=rid)
                store.record(row, [TextPart(text=rid)])
                returned.append((prompt_id, model, rid))
            store.close()
        except Crash:
            crash.kill()
            finished = False
        else:
            crash.kill()
            finished = True
        seen = _winners(open_run(run).responses())  # the killed run, as a reader sees it
        for prompt_id, model, rid in returned:
            assert seen[(prompt_id, model)] == rid, at
        assert seen[("p1", "m1")] == "ok1", at
        assert seen[("p0", "m1")] in {"e0", "a"}, at
        RunStore.create_or_resume(run, both, None).close()
        on_disk = pq.read_table(run / "responses")
        assert _winners(on_disk) == seen, at  # recovery changes nothing a reader saw
        assert on_disk.num_rows == len(seen), at  # and leaves each pair once in the files
        parts = pq.read_table(run / "parts").select(["response_id", "text"]).to_pylist()
        assert sorted(p["text"] for p in parts) == sorted(seen.values()), at
        assert files(run / "journal") == [], at
        assert files(run / "parts") == files(run / "responses"), at
        if finished:
            break
    assert finished
    assert at > 30  # the scenario crossed many crash points


# -- replacing error rows --------------------------------------------------------------------


def test_retry_replaces_the_error_row_in_the_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(3)) as store:
        store.record(response("p0", "m1", "error", response_id="e0"), [TextPart(text="bad")])
        store.record(response("p1", response_id="ok1"), [TextPart(text="one")])
        store.record(response("p2", "m1", "error", response_id="e2"), [])
    store = RunStore.create_or_resume(run, manifest(), None)
    assert store.done(include_errors=False) == {("p1", "m1")}
    store.record(response("p0", seconds=60, response_id="ok0"), [TextPart(text="zero")])
    # Before compaction the newer journal record already wins over the Parquet row.
    assert statuses(run) == {("p0", "m1"): "ok", ("p1", "m1"): "ok", ("p2", "m1"): "error"}
    store.close()
    assert files(run / "responses") == ["w0-00000002.parquet", "w0-00000003.parquet"]
    table = pq.read_table(run / "responses")
    assert sorted(table.column("response_id").to_pylist()) == ["e2", "ok0", "ok1"]
    assert sorted(pq.read_table(run / "parts").column("text").to_pylist()) == ["one", "zero"]
    with RunStore.create_or_resume(run, manifest(), None) as store:
        store.record(response("p2", seconds=60, response_id="ok2"), [])
    # w0-3 (ok1, e2) is rewritten as w0-5 (ok1); ok2 is in w0-4.
    assert files(run / "responses") == [f"w0-0000000{i}.parquet" for i in (2, 4, 5)]
    assert sorted(pq.read_table(run / "responses").column("response_id").to_pylist()) == [
        "ok0",
        "ok1",
        "ok2",
    ]


def test_the_latest_finished_record_wins_then_the_later_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(2)) as store:
        store.record(response("p0", seconds=5, response_id="late"), [])
        store.record(response("p0", seconds=1, response_id="early"), [])
        store.record(response("p1", seconds=1, response_id="first"), [])
        store.record(response("p1", seconds=1, response_id="second"), [])
    ids = pq.read_table(run / "responses").column("response_id").to_pylist()
    assert sorted(ids) == ["late", "second"]


def test_a_purge_cut_short_is_finished_by_the_next_writer(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create_or_resume(run, manifest(), prompts(2)) as store:
        store.record(response("p0", "m1", "error", response_id="e0"), [TextPart(text="bad")])
        store.record(response("p1", response_id="ok1"), [TextPart(text="one")])
    old = {d: (run / d / "w0-00000001.parquet").read_bytes() for d in ("responses", "parts")}
    with RunStore.create_or_resume(run, manifest(), None) as store:
        store.record(response("p0", seconds=9, response_id="ok0"), [TextPart(text="zero")])
    # As if killed after the rewritten copy was written but before the old files were removed:
    for folder, data in old.items():
        (run / folder / "w0-00000001.parquet").write_bytes(data)
    assert statuses(run) == {("p0", "m1"): "ok", ("p1", "m1"): "ok"}
    assert sorted(open_run(run).parts().column("text").to_pylist()) == ["one", "zero"]
    RunStore.create_or_resume(run, manifest(), None).close()
    assert sorted(pq.read_table(run / "responses").column("response_id").to_pylist()) == [
        "ok0",
        "ok1",
    ]
    assert sorted(pq.read_table(run / "parts").column("text").to_pylist()) == ["one", "zero"]
