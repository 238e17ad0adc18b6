"""Media types told from content: the one magic-byte sniffer, for builders and wire formats."""

from __future__ import annotations

__all__ = ["sniff_mime_type"]

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mpeg"),
    # MP3 without an ID3 tag starts with an MPEG-1/2 Layer III frame header
    (b"\xff\xfb", "audio/mpeg"),
    (b"\xff\xf3", "audio/mpeg"),
    (b"\xff\xf2", "audio/mpeg"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav"}


def sniff_mime_type(data: bytes) -> str | None:
    """The media type of PNG, JPEG, GIF, WebP, PDF, WAV or MP3 bytes; None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    return next((mime for magic, mime in _MAGIC if data.startswith(magic)), None)
