"""Advisory file locks (``flock``), released by the kernel when their process dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from llmframe.errors import RunLocked, StoreError

__all__ = ["FileLock"]


class FileLock:
    """An exclusive lock on a file that records the holder's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd >= 0

    def acquire(self, *, wait: bool = False, what: str = "run") -> None:
        """Take the lock, waiting for it or refusing with the holder's pid."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            msg = f"cannot open lock file `{self.path}`: {exc.strerror or exc}"
            raise StoreError(msg) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            msg = (
                f"the {what} is in use by another process (pid {holder}); "
                "wait for it to finish or stop it"
            )
            raise RunLocked(msg) from None
        except OSError as exc:
            os.close(fd)
            msg = f"cannot lock `{self.path}`: {exc.strerror or exc}"
            raise StoreError(msg) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (idempotent)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
