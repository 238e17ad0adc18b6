"""Media references: where a part's `uri` may point, checked before anything is sent.

A `uri` is a path relative to the media root, an ``http(s)://`` URL, or a ``data:`` URL. Paths
that leave the media root (``..``, absolute paths outside it, symlinks out of it) are refused, so
a table cannot send a system file to a provider; so are paths to anything but a regular file (a
folder, a FIFO, a socket, a device), which are never opened. URLs are passed on, never fetched.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import re
import stat
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmframe.errors import InputError, MediaPathError
from llmframe.parts.types import AudioPart, DocumentPart, ImagePart, MediaPart, Message, VideoPart

__all__ = [
    "DataUrl",
    "MediaRoot",
    "inline_media",
    "is_local_path",
    "map_media",
    "parse_data_url",
    "rebase_path",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_DATA_URL = re.compile(r"^data:(?P<header>[^,]*),(?P<payload>.*)$", re.DOTALL)
_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


@dataclass(frozen=True)
class DataUrl:
    """A parsed ``data:`` URL."""

    mime_type: str | None
    data: bytes


def parse_data_url(uri: str) -> DataUrl:
    """Parse and check a ``data:[<mime>][;base64],<payload>`` URL."""
    match = _DATA_URL.match(uri)
    if match is None:
        msg = "malformed data: URL: no `,` between the header and the data"
        raise MediaPathError(msg)
    params = match["header"].split(";")
    mime_type = params[0] or None
    if mime_type is not None and "/" not in mime_type:
        msg = f"malformed data: URL: `{mime_type}` is not a media type"
        raise MediaPathError(msg)
    payload = match["payload"]
    if "base64" in params[1:]:
        try:
            data = base64.b64decode(payload, validate=True)
        except binascii.Error:
            msg = "malformed data: URL: the data is not valid base64"
            raise MediaPathError(msg) from None
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if not data:
        msg = "malformed data: URL: no data"
        raise MediaPathError(msg)
    return DataUrl(mime_type, data)


@dataclass(frozen=True)
class MediaRoot:
    """The folder local media paths must stay inside."""

    root: Path

    def check(self, uri: str) -> tuple[str, str | None]:
        """Check a media `uri`; return it normalised, with the media type it implies (if any)."""
        if uri.startswith("data:"):
            return uri, parse_data_url(uri).mime_type
        scheme = _SCHEME.match(uri)
        if scheme and scheme[1].lower() in ("http", "https"):
            parsed = urllib.parse.urlsplit(uri)
            if not parsed.netloc:
                msg = f"malformed URL `{uri}`: no host"
                raise MediaPathError(msg)
            return uri, mimetypes.guess_type(parsed.path)[0]
        if scheme and len(scheme[1]) > 1:
            msg = (
                f"unsupported URI scheme `{scheme[1]}:` in `{uri}`. "
                "Hint: use a path under the media root, an https:// URL or a data: URL"
            )
            raise MediaPathError(msg)
        return self._check_path(uri)

    def _check_path(self, uri: str) -> tuple[str, str | None]:
        if not uri.strip():
            msg = "empty media path"
            raise MediaPathError(msg)
        if "\0" in uri:  # no file has one; os calls would raise ValueError on it
            msg = f"media path {uri!r} holds a NUL character"
            raise MediaPathError(msg)
        root = os.path.realpath(self.root)
        candidate = os.path.normpath(os.path.join(self.root, uri))
        relative = os.path.relpath(candidate, os.path.normpath(self.root))
        real = os.path.realpath(candidate)
        if relative.split(os.sep)[0] == ".." or os.path.commonpath([root, real]) != root:
            msg = (
                f"media path `{uri}` escapes the media root `{os.path.abspath(self.root)}`. "
                "Hint: keep media under the input's folder or pass `--media-root`"
            )
            raise MediaPathError(msg)
        if os.path.isdir(real):
            msg = f"media path `{uri}` is a folder, not a file"
            raise MediaPathError(msg)
        if not os.path.isfile(real):
            raise MediaPathError(self._not_a_file(uri, candidate, real))
        normalised = Path(relative).as_posix()
        return normalised, mimetypes.guess_type(normalised)[0]

    def _not_a_file(self, uri: str, candidate: str, real: str) -> str:
        """Why `uri`, inside the root but not a regular file, is refused (nothing is opened)."""
        try:
            mode = os.stat(real).st_mode
        except OSError:
            if os.path.lexists(candidate):
                return f"media path `{uri}` is a broken symbolic link (no target, or a loop)"
            return (
                f"media file `{uri}` not found under the media root `{os.path.abspath(self.root)}`"
            )
        kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
        return f"media path `{uri}` is {kind}, not a regular file"


def is_local_path(uri: str) -> bool:
    """Whether a `uri` is a local path (not a data: or other URL)."""
    scheme = _SCHEME.match(uri)
    return scheme is None or len(scheme[1]) == 1


def rebase_path(uri: str, old_root: Path, new_root: Path) -> str:
    """A local path relative to `old_root`, made relative to `new_root`.

    Where the file is not under `new_root` the absolute path is returned: reading the table then
    needs a ``--media-root`` that contains it, which is the safe default.
    """
    absolute = os.path.normpath(os.path.join(os.path.abspath(old_root), uri))
    relative = os.path.relpath(absolute, os.path.abspath(new_root))
    if relative.split(os.sep)[0] == "..":
        return Path(absolute).as_posix()
    return Path(relative).as_posix()


def map_media(
    messages: Sequence[Message], change: Callable[[MediaPart], MediaPart]
) -> list[Message]:
    """Apply `change` to every media part that has a `uri`; errors name the message and part."""
    out = []
    for m_index, message in enumerate(messages):
        parts = list(message.parts)
        for p_index, part in enumerate(parts):
            if isinstance(part, (ImagePart, AudioPart, VideoPart, DocumentPart)) and part.uri:
                try:
                    parts[p_index] = change(part)
                except InputError as exc:
                    exc.where[:0] = [f"message {m_index + 1}", f"part {p_index + 1}"]
                    raise
        same = all(a is b for a, b in zip(parts, message.parts, strict=True))
        out.append(message if same else Message(role=message.role, parts=parts))
    return out


def inline_media(messages: Sequence[Message], media: MediaRoot | None) -> list[Message]:
    """Local media paths become inline bytes, read under the media root (checked again here)."""

    def inline(part: MediaPart) -> MediaPart:
        if part.uri is None or not is_local_path(part.uri):
            return part
        if media is None:
            msg = f"media path `{part.uri}` needs a media root"
            raise MediaPathError(msg)
        uri, mime_type = media.check(part.uri)
        data = (media.root / uri).read_bytes()
        update = {"uri": None, "data": data, "mime_type": part.mime_type or mime_type}
        return part.model_copy(update=update)

    return map_media(messages, inline)
