"""Write-then-rename, so that an output file is either whole or absent."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from llmframe.errors import StoreError

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` only if the block succeeds.

    A failure to create the folder, write or rename (the target is a folder, the disk is full,
    no permission) is raised as `StoreError` naming `target`, and leaves no temporary file.
    """
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, target)
    except OSError as exc:
        msg = f"cannot write `{target}`: {exc.strerror or exc}"
        raise StoreError(msg) from exc
    finally:
        with suppress(OSError):  # already gone, or its folder never existed
            temporary.unlink()
