"""Bytes to text for the text formats, with the line of any invalid UTF-8."""

from __future__ import annotations

from llmframe.errors import InputError

__all__ = ["decode_utf8"]


def decode_utf8(data: bytes, file: str) -> str:
    """Decode UTF-8 (a leading BOM is dropped); name the line and byte of invalid data."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        msg = f"invalid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise InputError(msg, file=file, row=f"line {line}") from None
