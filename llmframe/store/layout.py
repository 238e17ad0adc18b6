"""Where things live in a run directory, and durable file operations on it.

```
RUN/
  manifest.json                  what was run (`llmframe.store.manifest`)
  prompts.parquet                the normalised prompts
  journal/<writer>-<seq>.jsonl   journal segments (`llmframe.store.journal`)
  responses/<writer>-<seq>.parquet
  parts/<writer>-<seq>.parquet
  locks/<writer>.lock            held by the live process writing as <writer>
  .lock                          held briefly while a run is created or its manifest updated
  deduplicated.json              the committed files as a closing writer left them, each
                                 (prompt_id, model, step) once (`read_deduplicated`)
```

A segment's name, ``<writer>-<seq>`` with an 8-digit sequence, is shared by its journal file
and the two Parquet files compacted from it. ``responses/<name>.parquet`` is the commit point:
once it exists, the segment is compacted (its ``parts`` file is written first) and its journal
file is obsolete.

``deduplicated.json`` lists each committed segment with the size of its responses file. While
the committed files are exactly those (and no journal holds records), readers may take every
row as it is and skip the dedupe rule; any new, removed or rewritten segment makes the list
stale, and it is ignored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llmframe._atomic import atomic_path
from llmframe.errors import StoreError, UsageError
from llmframe.io.parquet import batches

__all__ = [
    "RunLayout",
    "check_writer",
    "copy_file",
    "fsync_dir",
    "parse_segment",
    "read_deduplicated",
    "read_parquet",
    "same_prompts",
    "segment_name",
    "write_deduplicated",
    "write_parquet",
]

_WRITER = re.compile(r"[A-Za-z0-9_]{1,64}")
_SEGMENT = re.compile(r"([A-Za-z0-9_]{1,64})-(\d{8,})")


def check_writer(writer: str) -> str:
    """Return `writer` if it is a valid writer name (letters, digits, ``_``; up to 64)."""
    if not _WRITER.fullmatch(writer):
        msg = f"invalid writer name `{writer}`: use 1 to 64 letters, digits or `_`"
        raise UsageError(msg)
    return writer


def segment_name(writer: str, seq: int) -> str:
    """The name shared by a segment's journal and Parquet files."""
    return f"{writer}-{seq:08d}"


def parse_segment(name: str) -> tuple[str, int]:
    """``(writer, seq)`` of a segment name."""
    match = _SEGMENT.fullmatch(name)
    if not match:
        msg = f"`{name}` is not a segment name (`<writer>-<seq>`)"
        raise StoreError(msg)
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory."""

    root: Path

    @property
    def manifest(self) -> Path:
        """``manifest.json``."""
        return self.root / "manifest.json"

    @property
    def prompts(self) -> Path:
        """``prompts.parquet``."""
        return self.root / "prompts.parquet"

    @property
    def journal_dir(self) -> Path:
        """``journal/``."""
        return self.root / "journal"

    @property
    def responses_dir(self) -> Path:
        """``responses/``."""
        return self.root / "responses"

    @property
    def parts_dir(self) -> Path:
        """``parts/``."""
        return self.root / "parts"

    @property
    def run_lock(self) -> Path:
        """``.lock``: held while a run is created or its manifest changes."""
        return self.root / ".lock"

    @property
    def deduplicated(self) -> Path:
        """``deduplicated.json``: the committed files, when they hold each key once."""
        return self.root / "deduplicated.json"

    def writer_lock(self, writer: str) -> Path:
        """``locks/<writer>.lock``: held by the process writing as `writer`."""
        return self.root / "locks" / f"{writer}.lock"

    def journal(self, name: str) -> Path:
        """A segment's journal file."""
        return self.journal_dir / f"{name}.jsonl"

    def responses(self, name: str) -> Path:
        """A segment's responses file."""
        return self.responses_dir / f"{name}.parquet"

    def parts(self, name: str) -> Path:
        """A segment's parts file."""
        return self.parts_dir / f"{name}.parquet"

    def make_dirs(self) -> None:
        """Create the run's folders."""
        for folder in (self.journal_dir, self.responses_dir, self.parts_dir, self.root / "locks"):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                msg = f"cannot create `{folder}`: {exc.strerror or exc}"
                raise StoreError(msg) from exc

    def segments(self, folder: Path, suffix: str, writer: str | None = None) -> list[str]:
        """Segment names in `folder` with `suffix`, sorted; only `writer`'s when given."""
        try:
            entries = os.listdir(folder)
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if not entry.endswith(suffix):
                continue
            name = entry[: -len(suffix)]
            match = _SEGMENT.fullmatch(name)
            if match and (writer is None or match.group(1) == writer):
                names.append(name)
        return sorted(names)

    def committed(self, writer: str | None = None) -> list[str]:
        """Compacted segments: those whose responses file exists."""
        return self.segments(self.responses_dir, ".parquet", writer)

    def journals(self, writer: str | None = None) -> list[str]:
        """Segments that still have a journal file."""
        return self.segments(self.journal_dir, ".jsonl", writer)


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a created, renamed or removed file) durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory fds; nothing more can be done
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read one Parquet file (faster than `pq.read_table`, which plans a dataset)."""
    with pq.ParquetFile(path) as file:
        return file.read(columns=columns)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write a table durably: whole or absent, and on disk before this returns."""
    _durably(path, lambda temporary: pq.write_table(table, temporary, compression="zstd"))


def copy_file(source: Path, path: Path) -> None:
    """Copy a file durably: whole or absent, and on disk before this returns."""
    _durably(path, lambda temporary: shutil.copyfile(source, temporary))


def _durably(path: Path, write: Callable[[Path], object]) -> None:
    """`write` a temporary file, fsync it, rename it to `path` and fsync the folder."""
    with atomic_path(path) as temporary:
        write(temporary)
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_dir(path.parent)


def _sizes(layout: RunLayout, names: list[str]) -> dict[str, int] | None:
    try:
        return {name: os.stat(layout.responses(name)).st_size for name in names}
    except OSError:  # removed meanwhile: the caller's listing is stale
        return None


def read_deduplicated(layout: RunLayout, committed: list[str]) -> bool:
    """Whether ``deduplicated.json`` vouches for exactly these committed segments, unchanged."""
    try:
        listed = json.loads(layout.deduplicated.read_text(encoding="utf-8"))["segments"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(listed, dict) and listed == _sizes(layout, committed)


def write_deduplicated(layout: RunLayout, committed: list[str]) -> None:
    """Record that these committed segments hold each (prompt_id, model, step) once."""
    sizes = _sizes(layout, committed)
    if sizes is None:
        return
    with atomic_path(layout.deduplicated) as temporary:
        temporary.write_text(json.dumps({"segments": sizes}, indent=1) + "\n", encoding="utf-8")


def _plain(data_type: pa.DataType) -> pa.DataType:
    """`data_type` with dictionaries decoded and extension types as their storage."""
    if isinstance(data_type, pa.BaseExtensionType):
        return _plain(data_type.storage_type)
    if pa.types.is_dictionary(data_type):
        return _plain(data_type.value_type)
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_plain(f.type)) for f in data_type.fields])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_plain(data_type.value_type)))
    return data_type


def _slices(file: pq.ParquetFile, rows: int) -> Iterator[pa.Table]:
    """The file's rows in tables of exactly `rows` (the last may be shorter), values decoded."""
    schema = pa.schema([f.with_type(_plain(f.type)) for f in file.schema_arrow])
    pending: list[pa.Table] = []
    count = 0
    for batch in batches(file, rows):
        pending.append(pa.Table.from_batches([batch]).cast(schema))
        count += batch.num_rows
        while count >= rows:
            table = pa.concat_tables(pending)
            yield table.slice(0, rows)
            pending, count = [table.slice(rows)], count - rows
    if count:
        yield pa.concat_tables(pending)


def same_prompts(one: Path, other: Path, rows: int = 65_536) -> bool:
    """Whether two prompts files hold the same rows (whatever their encodings and row groups)."""
    try:
        with pq.ParquetFile(one) as a, pq.ParquetFile(other) as b:
            if a.metadata.num_rows != b.metadata.num_rows or a.schema_arrow.names != (
                b.schema_arrow.names
            ):
                return False
            for left, right in zip(_slices(a, rows), _slices(b, rows), strict=True):
                if not left.equals(right):
                    return False
    except (OSError, pa.ArrowException, ValueError):
        return False
    return True
