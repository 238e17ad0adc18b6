"""Prompt ids: given by the user, or a stable hash of the messages."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from llmframe.parts.arrow import message_to_row
from llmframe.parts.types import Message

__all__ = ["digest", "hash_ids", "id_of"]


def _bytes_as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    msg = f"cannot hash a {type(value).__name__}"
    raise TypeError(msg)


def digest(conversation: Sequence[Message]) -> bytes:
    """The SHA-256 of a conversation's messages as canonical JSON."""
    rows = [message_to_row(message) for message in conversation]
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=_bytes_as_text)
    return hashlib.sha256(text.encode()).digest()


def hash_ids(conversations: Sequence[Sequence[Message]]) -> list[str]:
    """One id per conversation: 16 hex digits of a SHA-256 of its messages.

    The n-th repeat (n >= 1) of the same messages hashes the digest with n as well, so identical
    rows get distinct ids that stay the same from one read of the file to the next.
    """
    seen: Counter[bytes] = Counter()
    ids = []
    for conversation in conversations:
        found = digest(conversation)
        ids.append(id_of(found, seen[found]))
        seen[found] += 1
    return ids


def id_of(found: bytes, repeat: int = 0) -> str:
    """The id of the `repeat`-th repeat (0: the first) of messages whose digest is `found`."""
    if repeat:
        found = hashlib.sha256(found + f"#{repeat}".encode()).digest()
    return found.hex()[:16]
