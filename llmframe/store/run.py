"""`RunStore`: one writer's handle on a run directory (create or resume, record, compact, close)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llmframe._atomic import atomic_path
from llmframe.errors import RunMismatch, StoreError, UsageError
from llmframe.parts.types import Part
from llmframe.schema import MESSAGES
from llmframe.store.chains import step_histories
from llmframe.store.journal import JournalWriter, encode, read_segment
from llmframe.store.layout import (
    RunLayout,
    check_writer,
    fsync_dir,
    parse_segment,
    read_parquet,
    segment_name,
    write_parquet,
)
from llmframe.store.lock import FileLock
from llmframe.store.manifest import Manifest, differences
from llmframe.store.snapshot import Snapshot, take_snapshot
from llmframe.store.tables import segment_tables

__all__ = ["ChainState", "RunStore", "StoreOptions"]

# What a run folder may hold before its manifest exists (a creation cut short).
_CREATION_LEFTOVERS = frozenset(
    {".lock", "locks", "prompts.parquet", "journal", "responses", "parts"}
)


@dataclass(frozen=True)
class StoreOptions:
    """When a writer rotates its journal segment and when it fsyncs."""

    segment_records: int = 10_000
    """Start a new segment (and compact the old one) after this many records..."""
    segment_bytes: int = 64 * 2**20
    """...or once a segment holds this many bytes."""
    fsync_records: int = 1_000
    """Fsync the journal after this many records..."""
    fsync_seconds: float = 1.0
    """...or when this much time has passed since the last fsync, at the next record."""


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        msg = f"cannot remove `{path}`: {exc.strerror or exc}"
        raise StoreError(msg) from exc


@dataclass(frozen=True)
class ChainState:
    """The latest recorded step of a (prompt, model) chain."""

    step: int
    status: str
    final: bool


class RunStore:
    """A run directory opened for writing by one writer; see `create_or_resume`."""

    def __init__(
        self, layout: RunLayout, manifest: Manifest, writer: str, options: StoreOptions
    ) -> None:
        self.path = layout.root
        self.manifest = manifest
        self.writer = writer
        self._layout = layout
        self._options = options
        self._lock = FileLock(layout.writer_lock(writer))
        self._mutex = threading.Lock()
        self._journal: JournalWriter | None = None
        self._closed_segments: list[str] = []
        self._segment_ids: set[str] = set()
        self._index: dict[tuple[str, str], ChainState] = {}
        self._next_seq = 1
        self._open = False

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def create_or_resume(
        cls,
        path: Path,
        manifest: Manifest,
        prompts: pa.Table | None,
        *,
        writer: str = "w0",
        options: StoreOptions | None = None,
    ) -> RunStore:
        """Create a run at `path`, or resume the one there if `manifest` matches it.

        A new run stores `manifest` and `prompts`. An existing run must have the same input,
        options, base URL, schema, tools and media root (else `RunMismatch` naming each
        difference); new models are added to its manifest. The writer's lock is taken (else
        `RunLocked`) and its journal recovered: a torn last line is cut off, and leftover
        segments are compacted.
        """
        layout = RunLayout(Path(path))
        store = cls(layout, manifest, check_writer(writer), options or StoreOptions())
        _refuse_foreign(layout)  # before a lock file is made in someone else's folder
        try:
            layout.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create run folder `{path}`: {exc.strerror or exc}"
            raise StoreError(msg) from exc
        store._lock.acquire(what=f"run `{path}`")
        try:
            run_lock = FileLock(layout.run_lock)
            run_lock.acquire(wait=True)
            try:
                store.manifest = _settle_manifest(layout, manifest, prompts)
            finally:
                run_lock.release()
            layout.make_dirs()
            store._recover()
            store._index = _load_index(take_snapshot(layout))
        except BaseException:
            store._lock.release()
            raise
        store._open = True
        return store

    def _recover(self) -> None:
        """Bring this writer's files to a clean state after a crash, and pick the next seq."""
        layout, writer = self._layout, self.writer
        for folder in (layout.responses_dir, layout.parts_dir):
            for entry in os.listdir(folder):
                if _is_temporary(entry) and entry.startswith(f".{writer}-"):
                    _remove(folder / entry)
        committed = set(layout.committed(writer))
        journals = layout.journals(writer)
        for name in journals:
            if name in committed:
                _remove(layout.journal(name))
            else:
                self._compact_segment(name, recovering=True)
        committed = set(layout.committed(writer))
        for name in layout.segments(layout.parts_dir, ".parquet", writer):
            if name not in committed:  # a purge cut short; its responses file is gone
                _remove(layout.parts(name))
        names = [*journals, *committed]
        self._next_seq = 1 + max((parse_segment(n)[1] for n in names), default=0)

    # -- writing -----------------------------------------------------------------------------

    def done(self, *, include_errors: bool = True) -> set[tuple[str, str]]:
        """The (prompt_id, model) chains that finished; without errors if not `include_errors`."""
        with self._mutex:
            return {
                key
                for key, state in self._index.items()
                if state.final and (include_errors or state.status != "error")
            }

    def chains(self) -> dict[tuple[str, str], ChainState]:
        """(prompt_id, model) -> the state of its latest step, for every chain recorded."""
        with self._mutex:
            return dict(self._index)

    def histories(self, starts: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], list[Any]]:
        """The messages of each chain's steps before its start step (to resume it)."""
        return step_histories(take_snapshot(self._layout), starts)

    def record(self, response: Mapping[str, Any], parts: Sequence[Part]) -> None:
        """Journal one finished response and its parts; in the OS's hands when this returns.

        `response` maps `RESPONSES` column names to values (timestamps as aware datetimes,
        ``options`` as JSON text or a JSON-ready value); ``response_id`` must be new.
        """
        line = encode(response, parts)
        key = (response["prompt_id"], response["model"])
        state = ChainState(response.get("step", 0), response["status"], response.get("final", True))
        with self._mutex:
            self._check_open()
            response_id = response["response_id"]
            if response_id in self._segment_ids:
                msg = f"response_id `{response_id}` was already recorded"
                raise StoreError(msg)
            journal = self._journal or self._start_segment()
            journal.append(line)
            self._segment_ids.add(response_id)
            if key not in self._index or state.step >= self._index[key].step:
                self._index[key] = state
            options = self._options
            if journal.records >= options.segment_records or journal.size >= options.segment_bytes:
                self._rotate()
                self._compact_closed()

    def sync(self) -> None:
        """Make the records journaled so far durable (else the next fsync is at a later record)."""
        with self._mutex:
            if self._journal is not None:
                self._journal.sync()

    def compact(self) -> None:
        """Close the current segment and compact every closed one into Parquet."""
        with self._mutex:
            self._check_open()
            self._rotate()
            self._compact_closed()

    def close(self) -> None:
        """Compact everything, drop rows replaced by newer ones, release the lock (idempotent)."""
        with self._mutex:
            if not self._open:
                return
            self._open = False
            try:
                self._rotate()
                self._compact_closed()
                self._purge_replaced()
            finally:
                if self._journal is not None:  # only after a failure above
                    with contextlib.suppress(OSError, StoreError):
                        self._journal.close()
                self._lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def prompt_batches(
        self, batch_size: int, *, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The run's prompts in record batches of up to `batch_size` rows.

        With `columns`, only those of them the prompts have are read (``id`` and ``model`` to
        plan a run without decoding every conversation).
        """
        try:
            file = pq.ParquetFile(self._layout.prompts)
        except OSError as exc:
            msg = f"cannot read `{self._layout.prompts}`: {exc}"
            raise StoreError(msg) from exc
        with file:
            names = file.schema_arrow.names
            wanted = None if columns is None else [c for c in names if c in columns]
            for batch in file.iter_batches(batch_size=batch_size, columns=wanted):
                # Parquet renames list items (`element`); give back the MESSAGES type exactly.
                index = batch.schema.get_field_index("messages")
                if index < 0:
                    yield batch
                    continue
                columns = batch.columns
                columns[index] = columns[index].cast(MESSAGES)
                schema = batch.schema.set(index, batch.schema.field(index).with_type(MESSAGES))
                yield pa.RecordBatch.from_arrays(columns, schema=schema)

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self._open:
            msg = f"the run store for `{self.path}` is closed"
            raise StoreError(msg)

    def _start_segment(self) -> JournalWriter:
        name = segment_name(self.writer, self._next_seq)
        self._next_seq += 1
        self._journal = JournalWriter(
            self._layout.journal(name),
            fsync_records=self._options.fsync_records,
            fsync_seconds=self._options.fsync_seconds,
        )
        return self._journal

    def _rotate(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._closed_segments.append(self._journal.path.stem)
            self._journal = None
            self._segment_ids = set()

    def _compact_closed(self) -> None:
        while self._closed_segments:
            self._compact_segment(self._closed_segments[0])
            self._closed_segments.pop(0)

    def _compact_segment(self, name: str, *, recovering: bool = False) -> None:
        """Journal segment -> parts file, then responses file (the commit), then no journal."""
        layout = self._layout
        journal = layout.journal(name)
        segment = read_segment(journal)
        if recovering and segment.torn:
            os.truncate(journal, len(segment.data))
        if segment.records:
            tables = segment_tables(segment)
            write_parquet(tables.parts, layout.parts(name))
            write_parquet(tables.responses, layout.responses(name))
        _remove(journal)
        fsync_dir(layout.journal_dir)

    def _purge_replaced(self) -> None:
        """Rewrite this writer's files without the rows a newer record replaced.

        A file keeps its name only while unchanged: the kept rows go to a new segment, then
        the old responses file (the commit point) and parts file are removed.
        """
        snapshot = take_snapshot(self._layout)
        committed = set(snapshot.committed)
        layout = self._layout
        for name, response_ids in sorted(snapshot.replaced().items()):
            if name not in committed or parse_segment(name)[0] != self.writer:
                continue
            drop = pa.array(response_ids, pa.string())
            responses = read_parquet(layout.responses(name))
            keep = pc.invert(pc.is_in(responses.column("response_id"), drop))
            if pc.any(keep).as_py():
                parts = read_parquet(layout.parts(name))
                parts = parts.filter(pc.invert(pc.is_in(parts.column("response_id"), drop)))
                new = segment_name(self.writer, self._next_seq)
                self._next_seq += 1
                write_parquet(parts, layout.parts(new))
                write_parquet(responses.filter(keep), layout.responses(new))
            _remove(layout.responses(name))
            fsync_dir(layout.responses_dir)
            _remove(layout.parts(name))


def _settle_manifest(layout: RunLayout, manifest: Manifest, prompts: pa.Table | None) -> Manifest:
    """Create the run, or check `manifest` against the stored one; the manifest to use."""
    if layout.manifest.exists():
        stored = Manifest.from_json(
            layout.manifest.read_text(encoding="utf-8"), source=str(layout.manifest)
        )
        found = differences(stored, manifest)
        if found:
            msg = "\n".join(
                [
                    f"`{layout.root}` holds a run made with other settings:",
                    *(f"  {line}" for line in found),
                    "Hint: choose a new output folder (or run folder, `--run-dir` for "
                    "`extract`), or repeat the original command.",
                ]
            )
            raise RunMismatch(msg, differences=found)
        if not layout.prompts.exists():
            msg = f"run `{layout.root}` has no prompts.parquet; it cannot be resumed"
            raise StoreError(msg)
        merged = stored.with_models(manifest.models)
        if merged is not stored:
            _write_text(layout.manifest, merged.to_json())
        return merged
    _refuse_foreign(layout)
    if prompts is None:
        msg = f"`{layout.root}` is a new run and needs its prompts"
        raise UsageError(msg)
    missing = [name for name in ("id", "messages") if name not in prompts.column_names]
    if missing:
        msg = f"prompts table lacks column(s) {', '.join(f'`{m}`' for m in missing)}"
        raise UsageError(msg)
    write_parquet(prompts, layout.prompts)
    _write_text(layout.manifest, manifest.to_json())  # last: its presence makes the run
    return manifest


def _refuse_foreign(layout: RunLayout) -> None:
    """Refuse a folder that holds something other than a run (or a run's first steps)."""
    if not layout.root.is_dir() or layout.manifest.exists():
        return
    foreign = [
        entry
        for entry in os.listdir(layout.root)
        if entry not in _CREATION_LEFTOVERS and not _is_temporary(entry)
    ]
    for folder in (layout.journal_dir, layout.responses_dir, layout.parts_dir):
        if folder.is_dir() and any(not _is_temporary(e) for e in os.listdir(folder)):
            foreign.append(folder.name)
    if foreign:
        msg = (
            f"`{layout.root}` is not empty and is not an llmframe run (no manifest.json; "
            f"found {', '.join(sorted(foreign)[:5])})\nHint: choose a new output folder."
        )
        raise StoreError(msg)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    fsync_dir(path.parent)


def _load_index(snapshot: Snapshot) -> dict[tuple[str, str], ChainState]:
    """(prompt_id, model) -> the state of its latest step, from the files."""
    latest = snapshot.latest()  # sorted by prompt, model, step: the last of each chain wins
    names = ("prompt_id", "model", "step", "status", "final")
    columns = [latest.column(name).to_pylist() for name in names]
    return {
        (prompt_id, model): ChainState(step, status, final)
        for prompt_id, model, step, status, final in zip(*columns, strict=True)
    }
