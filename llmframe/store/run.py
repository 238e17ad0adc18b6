"""`RunStore`: one writer's handle on a run directory (create or resume, record, compact, close)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llmframe._atomic import atomic_path
from llmframe.errors import RunMismatch, StoreError, UsageError
from llmframe.io.parquet import batches
from llmframe.parts.types import Part
from llmframe.schema import MESSAGES
from llmframe.store.chains import step_histories
from llmframe.store.journal import JournalWriter, encode, read_segment
from llmframe.store.keyfilter import KeyFilter
from llmframe.store.layout import (
    RunLayout,
    check_writer,
    copy_file,
    fsync_dir,
    parse_segment,
    read_parquet,
    same_prompts,
    segment_name,
    write_deduplicated,
    write_parquet,
)
from llmframe.store.lock import FileLock
from llmframe.store.manifest import Manifest, differences
from llmframe.store.snapshot import last_of_each, take_snapshot
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


class ChainState(NamedTuple):
    """The latest recorded step of a (prompt, model) chain (a tuple: a million are cheap)."""

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
        self._latest: pa.Table | None = None
        """Each chain's latest step (prompt_id, model, step, status, final), read from the files
        when asked for and kept until the next record: no per-record memory."""
        self._done: tuple[pa.Table | None, set[tuple[str, str]]] | None = None
        self._clean_at_open = False
        """The files held each key once when this writer opened the run (see `close`)."""
        self._at_open: list[str] = []
        self._session: list[str] = []
        """Segments this writer committed since it opened the run."""
        self._keys = KeyFilter()
        self._maybe_repeated: set[tuple[str, str, int]] = set()
        self._next_seq = 1
        self._open = False

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def create_or_resume(
        cls,
        path: Path,
        manifest: Manifest,
        prompts: pa.Table | Path | None,
        *,
        writer: str = "w0",
        options: StoreOptions | None = None,
    ) -> RunStore:
        """Create a run at `path`, or resume the one there if `manifest` matches it.

        A new run stores `manifest` and `prompts` (a table, or a Parquet file of one to copy
        in). An existing run must have the same input,
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
            recovered = store._recover()
            opened = take_snapshot(layout)
            store._at_open = list(opened.committed)
            empty = not opened.committed and opened.pending_responses.num_rows == 0
            store._clean_at_open = not recovered and (opened.clean or empty)
        except BaseException:
            store._lock.release()
            raise
        store._open = True
        return store

    def _recover(self) -> bool:
        """Bring this writer's files to a clean state after a crash, and pick the next seq.

        True if a crash had left journal records to compact.
        """
        layout, writer = self._layout, self.writer
        for folder in (layout.responses_dir, layout.parts_dir):
            for entry in os.listdir(folder):
                if _is_temporary(entry) and entry.startswith(f".{writer}-"):
                    _remove(folder / entry)
        committed = set(layout.committed(writer))
        journals = layout.journals(writer)
        recovered = False
        for name in journals:
            if name in committed:
                _remove(layout.journal(name))
            else:
                self._compact_segment(name, recovering=True)
                recovered = True
        committed = set(layout.committed(writer))
        for name in layout.segments(layout.parts_dir, ".parquet", writer):
            if name not in committed:  # a purge cut short; its responses file is gone
                _remove(layout.parts(name))
        names = [*journals, *committed]
        self._next_seq = 1 + max((parse_segment(n)[1] for n in names), default=0)
        return recovered

    # -- writing -----------------------------------------------------------------------------

    def done(self, *, include_errors: bool = True) -> set[tuple[str, str]]:
        """The (prompt_id, model) chains that finished; without errors if not `include_errors`.

        Asked twice in a row (with and without errors) on a run without error rows, the second
        answer is the first set again, not a second pass over a million chains.
        """
        latest = self._chain_table()
        keep = latest.column("final")
        if not include_errors:
            keep = pc.and_(keep, pc.not_equal(latest.column("status"), "error"))
        count = pc.sum(keep).as_py() or 0
        with self._mutex:
            cached, self._done = self._done, None
        if cached is not None and cached[0] is latest and len(cached[1]) == count:
            return cached[1]  # one filter selects a subset of the other: the same rows
        chosen = latest.filter(keep)
        found = set(
            zip(
                chosen.column("prompt_id").to_pylist(),
                chosen.column("model").to_pylist(),
                strict=True,
            )
        )
        with self._mutex:
            self._done = (latest, set(found))
        return found

    def chains(self) -> dict[tuple[str, str], ChainState]:
        """(prompt_id, model) -> the state of its latest step, for every chain recorded."""
        latest = self._chain_table()
        columns = [latest.column(name).to_pylist() for name in ChainState._fields]
        prompt_ids, models = latest.column("prompt_id"), latest.column("model")
        keys = zip(prompt_ids.to_pylist(), models.to_pylist(), strict=True)
        states = map(ChainState._make, zip(*columns, strict=True))  # tuple.__new__, in C
        return dict(zip(keys, states, strict=True))

    def continuing(self, *, retry_errors: bool) -> dict[tuple[str, str], int]:
        """(prompt_id, model) -> the step a new invocation continues that chain at.

        A chain whose latest step went on to tools continues at the next step; with
        `retry_errors`, one whose last step failed after the first does that step again (a
        failed first step is simply sent again). What ``{k: v for k, v in chains() if k not in
        done}`` gives, without a Python object per chain: resuming a finished run of a million
        prompts finds none in a tenth of a second.
        """
        latest = self._chain_table()
        final, step = latest.column("final"), latest.column("step")
        keep = pc.invert(final)
        if retry_errors:
            failed = pc.and_(pc.equal(latest.column("status"), "error"), pc.greater(step, 0))
            keep = pc.or_(keep, pc.and_(final, failed))
        chosen = latest.filter(keep)
        starts = pc.add(
            chosen.column("step"), pc.cast(pc.invert(chosen.column("final")), pa.int32())
        )
        keys = zip(
            chosen.column("prompt_id").to_pylist(), chosen.column("model").to_pylist(), strict=True
        )
        return dict(zip(keys, starts.to_pylist(), strict=True))

    def _chain_table(self) -> pa.Table:
        """Each chain's latest step, from the files and the journal (kept until a record)."""
        with self._mutex:
            if self._latest is None:
                # sorted by prompt, model, step: a chain's last row is its latest step
                latest = take_snapshot(self._layout).latest()
                latest = latest.filter(last_of_each(latest, ("prompt_id", "model")))
                names = ["prompt_id", "model", "step", "status", "final"]
                latest = latest.select(names).combine_chunks()
                # labels as plain strings: a dictionary column's to_pylist is 15x slower
                status = latest.column("status").cast(pa.string())
                self._latest = latest.set_column(3, "status", status)
            return self._latest

    def histories(self, starts: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], list[Any]]:
        """The messages of each chain's steps before its start step (to resume it)."""
        return step_histories(take_snapshot(self._layout), starts)

    def record(self, response: Mapping[str, Any], parts: Sequence[Part]) -> None:
        """Journal one finished response and its parts; in the OS's hands when this returns.

        `response` maps `RESPONSES` column names to values (timestamps as aware datetimes,
        ``options`` as JSON text or a JSON-ready value); ``response_id`` must be new.
        """
        line = encode(response, parts)
        with self._mutex:
            self._check_open()
            response_id = response["response_id"]
            if response_id in self._segment_ids:
                msg = f"response_id `{response_id}` was already recorded"
                raise StoreError(msg)
            journal = self._journal or self._start_segment()
            journal.append(line)
            self._segment_ids.add(response_id)
            self._latest = self._done = None
            key = (response["prompt_id"], response["model"], response.get("step", 0))
            if self._keys.add(key):
                self._maybe_repeated.add(key)
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
                if self._may_hold_replaced():
                    self._purge_replaced()
                    self._vouch(everything=True)
                else:
                    self._vouch(everything=False)
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
            for batch in batches(file, batch_size, columns=wanted):
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

    def _may_hold_replaced(self) -> bool:
        """Whether a record may have replaced another (then `_purge_replaced` reads every key).

        Not if the files held each key once when this writer opened the run, and this writer
        recorded nothing, or recorded into an empty run no key twice (a Bloom filter over its
        keys, each "maybe" checked in its files): a new run of a million prompts closes without
        ranking a million keys.
        """
        if not self._clean_at_open:
            return True
        if not self._session:
            return False
        if self._at_open:
            return True  # records may replace rows from before; the purge checks each one
        return self._repeated_in_session()

    def _repeated_in_session(self) -> bool:
        """Whether a key the filter flagged appears twice in this writer's new segments."""
        if not self._maybe_repeated:
            return False
        prompt_ids = pa.array(sorted({key[0] for key in self._maybe_repeated}), pa.string())
        seen: set[tuple[str, str, int]] = set()
        for name in self._session:
            table = read_parquet(self._layout.responses(name), ["prompt_id", "model", "step"])
            table = table.filter(pc.is_in(table.column("prompt_id"), value_set=prompt_ids))
            for key in zip(*(table.column(i).to_pylist() for i in range(3)), strict=True):
                if key in self._maybe_repeated and key in seen:
                    return True
                seen.add(key)
        return False

    def _vouch(self, *, everything: bool) -> None:
        """Write ``deduplicated.json`` if the committed files hold each key once, surely.

        After a purge (`everything`) that is so when this writer wrote every file; else when
        the files are those it found clean plus its own, and no other writer has records
        pending.
        """
        snapshot = take_snapshot(self._layout)
        if snapshot.pending_responses.num_rows or snapshot.clean:
            return
        committed = list(snapshot.committed)
        if everything:
            ours = all(parse_segment(name)[0] == self.writer for name in committed)
        else:
            ours = set(committed) == {*self._at_open, *self._session}
        if ours:
            write_deduplicated(self._layout, committed)

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
            if not recovering:
                self._session.append(name)
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


def _settle_manifest(
    layout: RunLayout, manifest: Manifest, prompts: pa.Table | Path | None
) -> Manifest:
    """Create the run, or check `manifest` against the stored one; the manifest to use."""
    if layout.manifest.exists():
        stored = Manifest.from_json(
            layout.manifest.read_text(encoding="utf-8"), source=str(layout.manifest)
        )
        if (
            stored.input_fingerprint != manifest.input_fingerprint
            and isinstance(prompts, Path)
            and layout.prompts.exists()
            and same_prompts(prompts, layout.prompts)
        ):
            # the same prompts under a fingerprint another llmframe version computed: adopt ours
            stored = replace(stored, input_fingerprint=manifest.input_fingerprint)
            _write_text(layout.manifest, stored.to_json())
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
    names = pq.read_schema(prompts).names if isinstance(prompts, Path) else prompts.column_names
    missing = [name for name in ("id", "messages") if name not in names]
    if missing:
        msg = f"prompts table lacks column(s) {', '.join(f'`{m}`' for m in missing)}"
        raise UsageError(msg)
    if isinstance(prompts, Path):
        copy_file(prompts, layout.prompts)
    else:
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
