r"""The journal: an append-only JSON Lines file per segment, the run's crash-safety net.

Each finished response is one line, written with a single ``write`` and ended by ``\n``::

    {"v":1,"r":{<response>},"p":[{<part>},...]}

- ``r`` holds the `llmframe.schema.RESPONSES` columns by name, nulls left out (``step`` 0 and
  ``final`` true when the caller gives none).
  ``started_at``/``finished_at`` are integer microseconds since the Unix epoch (UTC) and
  ``options`` is JSON text, as in the Arrow column.
- ``p`` holds the response's parts in order (a part's index is its position): the flat
  `llmframe.schema.PART` fields by name, nulls left out. ``json`` and ``provider_data`` are JSON
  text, ``data`` is base64. ``response_id``, ``prompt_id``, ``model`` and ``step`` come from ``r``.

A record counts if and only if its line is complete: a last line without its ``\n`` (a write cut
short by SIGKILL, or the zeros a power loss leaves) is torn, ignored by readers and truncated
away by the segment's own writer when it resumes. A complete line that does not parse is
corruption, and is reported, never skipped.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmframe.errors import StoreError
from llmframe.parts.arrow import part_to_row
from llmframe.parts.types import Part
from llmframe.schema import RESPONSES, STATUSES
from llmframe.store.layout import fsync_dir

__all__ = ["JournalWriter", "Segment", "encode", "locate_corruption", "read_segment"]

VERSION = 1
_TIMESTAMPS = ("started_at", "finished_at")
_REQUIRED = ("response_id", "prompt_id", "model", "provider", "status", "attempts")
_INTS = ("step", "http_status", "attempts", "input_tokens", "output_tokens")
_INTS += ("reasoning_tokens", "cached_tokens")
_FLOATS = ("latency_ms", "ttft_ms")
_COLUMNS = frozenset(RESPONSES.names)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _microseconds(value: Any, name: str) -> int:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        msg = f"`{name}` must be a timezone-aware datetime, got {value!r}"
        raise StoreError(msg)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _check_value(name: str, value: Any) -> Any:
    if name in _TIMESTAMPS:
        return _microseconds(value, name)
    if name in _INTS:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif name == "final":
        ok = isinstance(value, bool)
    elif name in _FLOATS:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif name == "options":
        if not isinstance(value, str):
            try:
                return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                msg = f"`options` is not JSON-ready: {exc}"
                raise StoreError(msg) from None
        ok = True
    else:
        ok = isinstance(value, str)
    if not ok:
        msg = f"response column `{name}` has a {type(value).__name__}: {value!r}"
        raise StoreError(msg)
    return value


def _response_body(response: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [name for name in response if name not in _COLUMNS]
    if unknown:
        msg = f"unknown response column(s) {', '.join(f'`{n}`' for n in unknown)}"
        raise StoreError(msg)
    missing = [name for name in _REQUIRED if response.get(name) is None]
    if missing:
        msg = f"response lacks required column(s) {', '.join(f'`{n}`' for n in missing)}"
        raise StoreError(msg)
    if response["status"] not in STATUSES:
        msg = f"response `status` must be one of {', '.join(STATUSES)}: {response['status']!r}"
        raise StoreError(msg)
    body = {"step": 0, "final": True, **response}
    return {k: _check_value(k, v) for k, v in body.items() if v is not None}


def _part_body(part: Part) -> dict[str, Any]:
    row = part_to_row(part)
    body = {k: v for k, v in row.items() if v is not None}
    if "data" in body:
        body["data"] = base64.b64encode(body["data"]).decode("ascii")
    return body


def encode(response: Mapping[str, Any], parts: Sequence[Part]) -> bytes:
    """One finished response and its parts as a journal line; refuses a malformed response."""
    line = {"v": VERSION, "r": _response_body(response), "p": [_part_body(p) for p in parts]}
    try:
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError as exc:
        msg = f"response `{response['response_id']}` has text that is not valid Unicode: {exc}"
        raise StoreError(msg) from None
    except ValueError as exc:  # NaN or infinity
        msg = f"response `{response['response_id']}` is not valid JSON: {exc}"
        raise StoreError(msg) from None


def locate_corruption(data: bytes, path: Path) -> StoreError:
    """The error for the first complete line of `data` that is not a valid record."""
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            body = json.loads(line)
            valid = body["v"] == VERSION and isinstance(body["r"], dict)
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            msg = f"journal `{path}` line {number} is not a valid record"
            return StoreError(f"{msg}\nHint: move the file aside to resume without it.")
    return StoreError(f"journal `{path}` cannot be read")


@dataclass(frozen=True)
class Segment:
    """A journal file's complete lines (`data`), and whether a torn tail followed them."""

    path: Path
    data: bytes
    records: int
    torn: bool


def read_segment(path: Path) -> Segment:
    r"""Read a journal file; a last line without ``\n`` is torn and left out."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    return Segment(path, data[:end], data.count(b"\n", 0, end), torn=end < len(data))


class JournalWriter:
    """Appends lines to one segment; each line reaches the OS before `append` returns.

    `fsync` runs every `fsync_records` lines or `fsync_seconds` seconds, whichever comes first,
    and on `sync` and `close`.
    """

    def __init__(self, path: Path, *, fsync_records: int, fsync_seconds: float) -> None:
        self.path = path
        self.records = 0
        self._fsync_records = fsync_records
        self._fsync_seconds = fsync_seconds
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._dir_synced = False
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.size = os.fstat(self._fd).st_size
        except OSError as exc:
            msg = f"cannot open journal `{path}`: {exc.strerror or exc}"
            raise StoreError(msg) from exc

    def append(self, line: bytes) -> None:
        """Write one complete line; on failure nothing of it stays in the file."""
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self.size)
            except OSError:
                pass
            msg = f"cannot write journal `{self.path}`: {exc.strerror or exc}"
            raise StoreError(msg) from exc
        self.size += len(line)
        self.records += 1
        self._unsynced += 1
        if (
            self._unsynced >= self._fsync_records
            or time.monotonic() - self._last_sync >= self._fsync_seconds
        ):
            self.sync()

    def sync(self) -> None:
        """Make every appended line durable."""
        if self._unsynced or not self._dir_synced:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                msg = f"cannot sync journal `{self.path}`: {exc.strerror or exc}"
                raise StoreError(msg) from exc
            if not self._dir_synced:
                fsync_dir(self.path.parent)
                self._dir_synced = True
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close the file."""
        if self._fd < 0:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1
