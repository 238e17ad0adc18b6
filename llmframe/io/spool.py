"""Normalised prompts written to a temporary Parquet file as they are read, and fingerprinted.

A run's input is read a chunk at a time (`llmframe.io.normalize.PromptScan`) and checked before
anything is written to the run, so the chunks wait here, in a private temporary folder, until
the run directory takes the file (`llmframe.store.RunStore.create_or_resume`) or the run is
refused. Memory holds one chunk, whatever the size of the input.

The fingerprint that tells whether a run may be resumed with this input is the SHA-256 of each
chunk's Arrow IPC stream, in order (chunks of `llmframe.io.normalize.CHUNK_ROWS` rows).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llmframe.errors import StoreError
from llmframe.io.parquet import batches
from llmframe.store.lock import FileLock

__all__ = ["PromptSpool", "chunk_digest", "sweep_stale"]

_BATCH = 4096
Change = Callable[[Iterable[pa.Table]], Iterable[pa.Table]]


def chunk_digest(table: pa.Table) -> bytes:
    """The bytes a chunk adds to the fingerprint: its IPC stream (one record batch)."""
    table = table.combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).digest()


def _spool_error(exc: Exception) -> StoreError:
    reason = getattr(exc, "strerror", None) or exc
    msg = (
        f"cannot write the prompts to a temporary file in `{tempfile.gettempdir()}`: {reason}\n"
        "Hint: set TMPDIR to a folder with room for them"
    )
    return StoreError(msg)


_PREFIX = "llmframe-prompts-"
_LOCK = "lock"
_GRACE = 600
"""Seconds an unlocked spool folder is left alone: its process may not have locked it yet."""


def sweep_stale(folder: str | None = None) -> None:
    """Remove the spools no process holds (a run killed before it cleaned up).

    A live spool holds an exclusive lock on its ``lock`` file for its whole life, which any
    process sharing the folder sees (a pid would not be, from another pid namespace).
    """
    folder = folder or tempfile.gettempdir()
    try:
        entries = [Path(folder) / e for e in os.listdir(folder) if e.startswith(_PREFIX)]
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            if now - entry.stat().st_mtime < _GRACE:
                continue
            lock = FileLock(entry / _LOCK)
            lock.acquire(what="prompt spool")
        except (OSError, StoreError):  # held by a live run, or not ours to touch
            continue
        lock.release()
        shutil.rmtree(entry, ignore_errors=True)


class PromptSpool:
    """A temporary Parquet file of prompts, written a chunk at a time; `discard` removes it.

    Its folder is locked while it lives, so that a run killed before it removed its spool has
    it removed by a later one (`sweep_stale`).
    """

    def __init__(self) -> None:
        sweep_stale()
        try:
            self._folder = Path(tempfile.mkdtemp(prefix=_PREFIX))
        except OSError as exc:
            raise _spool_error(exc) from exc
        self._lock = FileLock(self._folder / _LOCK)
        self._lock.acquire(what="prompt spool")
        self.path = self._folder / "prompts.parquet"
        self.rows = 0
        self.schema: pa.Schema | None = None
        self._hash = hashlib.sha256()
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        """Append one chunk (every chunk has the first one's schema)."""
        self._hash.update(chunk_digest(table))
        try:
            if self._writer is None:
                self.schema = table.schema
                self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self._writer.write_table(table, row_group_size=table.num_rows or None)
        except (OSError, pa.ArrowException) as exc:
            raise _spool_error(exc) from exc
        self.rows += table.num_rows

    def close(self) -> str:
        """Finish the file; the fingerprint (hex)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException) as exc:
                raise _spool_error(exc) from exc
            self._writer = None
        return self._hash.hexdigest()

    def _read(self, path: Path, rows: int) -> Iterator[pa.Table]:
        """A written file again, `rows` at a time, with the schema it was written with."""
        assert self.schema is not None
        pending: list[pa.RecordBatch] = []
        count = 0
        with pq.ParquetFile(path) as file:
            for batch in batches(file, _BATCH):
                pending.append(batch)
                count += batch.num_rows
                if count >= rows:
                    table = pa.Table.from_batches(pending)
                    yield table.slice(0, rows).cast(self.schema)
                    rest = table.slice(rows)
                    pending, count = rest.to_batches(), rest.num_rows
        if count:
            yield pa.Table.from_batches(pending).cast(self.schema)

    def rewrite(self, change: Change, rows: int) -> None:
        """Pass the chunks (of `rows` rows) through `change` into a new file and fingerprint."""
        self.close()
        before = self.path.with_name("before.parquet")
        self.path.rename(before)
        self._hash, self.rows = hashlib.sha256(), 0
        for table in change(self._read(before, rows)):
            self.write(table)
        before.unlink()

    def head(self, rows: int) -> pa.Table:
        """The first `rows` prompts."""
        assert self.schema is not None
        with pq.ParquetFile(self.path) as file:
            batch = next(batches(file, max(rows, 1)), None)
        if batch is None:
            return self.schema.empty_table()
        return pa.Table.from_batches([batch]).slice(0, rows).cast(self.schema)

    def discard(self) -> None:
        """Remove the file and its folder (idempotent)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass
            self._writer = None
        shutil.rmtree(self._folder, ignore_errors=True)
        self._lock.release()
