"""The HTML a notebook shows for a `llmframe.results.Run`: its summary and first rows.

Every value from the run (model text, errors, column values, paths) is HTML-escaped. Images
become thumbnails only from bytes already at hand: a part's inline ``data``, a ``data:`` URL,
or a small local file under the run's media root (checked as the runner checks it). An
``https://`` image is shown as a link, never as an ``<img>``, so opening a notebook makes no
request the user did not ask for. Only raster types a browser shows inertly are inlined.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmframe.errors import LlmframeError, MediaPathError
from llmframe.io.media import MediaRoot, is_local_path, parse_data_url
from llmframe.results import format_ms

if TYPE_CHECKING:
    from llmframe.results import RunStats

__all__ = ["MAX_THUMBNAIL_BYTES", "render", "render_error", "thumbnail"]

MAX_THUMBNAIL_BYTES = 256 * 1024
"""Images larger than this are named, not inlined, so a notebook stays small."""

_MAX_IMAGES = 4
_TEXT_CHARS = 200
_SHOWN_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_HTTP = re.compile(r"^https?://", re.IGNORECASE)
_STYLE = (
    "<style scoped>.llmframe-run table{border-collapse:collapse;margin:4px 0;font-size:12px}"
    ".llmframe-run th,.llmframe-run td{padding:2px 8px;text-align:left;vertical-align:top}"
    "</style>"
)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _size(count: int) -> str:
    return f"{count / 1024:,.0f} KiB" if count >= 1024 else f"{count} B"


def _note(text: str) -> str:
    return f'<span style="color:#888">[{_e(text)}]</span>'


def _img(data: bytes, mime_type: str | None, title: str) -> str:
    if mime_type not in _SHOWN_TYPES:
        return _note(f"{title}: {mime_type or 'unknown type'}, {_size(len(data))}")
    if len(data) > MAX_THUMBNAIL_BYTES:
        return _note(f"{title}: {mime_type}, {_size(len(data))}, too large to preview")
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<img src="data:{mime_type};base64,{encoded}" title="{_e(title)}" '
        'style="max-height:64px;max-width:128px;margin-right:4px">'
    )


def _local(uri: str, mime_type: str | None, title: str, media_root: str | None) -> str:
    if media_root is None:
        return _note(f"{title}: {uri} (no media root)")
    try:
        relative, guessed = MediaRoot(Path(media_root)).check(uri)
        path = Path(media_root) / relative
        size = path.stat().st_size
        if size > MAX_THUMBNAIL_BYTES:
            return _note(f"{title}: {uri}, {_size(size)}, too large to preview")
        data = path.read_bytes()
    except (MediaPathError, OSError):
        return _note(f"{title}: {uri} (not readable)")
    return _img(data, mime_type or guessed, title)


def thumbnail(part: Mapping[str, Any], title: str, media_root: str | None) -> str:
    """An image part as an ``<img>`` from bytes at hand, a link, or a bracketed note."""
    data, uri, mime_type = part.get("data"), part.get("uri"), part.get("mime_type")
    if data is not None:
        return _img(data, mime_type, title)
    if not uri:
        return _note(f"{title}: no data")
    if uri.startswith("data:"):
        try:
            parsed = parse_data_url(uri)
        except MediaPathError:
            return _note(f"{title}: malformed data: URL")
        return _img(parsed.data, parsed.mime_type or mime_type, title)
    if _HTTP.match(uri):
        shown = uri if len(uri) <= 60 else uri[:57] + "..."
        return (
            f'<a href="{_e(uri)}" target="_blank" rel="noopener noreferrer" '
            f'title="{_e(title)}">{_e(shown)}</a>'
        )
    if is_local_path(uri):
        return _local(uri, mime_type, title, media_root)
    return _note(f"{title}: {uri.split(':', 1)[0]}: URL not shown")


def _images(images: Sequence[tuple[str, Mapping[str, Any]]], media_root: str | None) -> str:
    shown = [
        thumbnail(part, f"{origin} image {index}", media_root)
        for index, (origin, part) in enumerate(images[:_MAX_IMAGES], 1)
    ]
    if len(images) > _MAX_IMAGES:
        shown.append(_note(f"{len(images) - _MAX_IMAGES} more"))
    return " ".join(shown)


def _truncated(text: str | None) -> str:
    if text is None:
        return ""
    return text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS] + "..."


def _row_cells(row: Mapping[str, Any], media_root: str | None, with_images: bool) -> list[str]:
    if row["status"] == "error":
        text = _e(_truncated(f"{row['error_type']}: {row['error_message'] or ''}"))
        text = f'<span style="color:#b00">{text}</span>'
    else:
        text = _e(_truncated(row["text"]))
    cells = [
        _e(row["prompt_id"]),
        _e(row["model"]),
        _e(row["status"]),
        f'<div style="white-space:pre-wrap;max-width:40em">{text}</div>',
        _e(row["input_tokens"]),
        _e(row["output_tokens"]),
        format_ms(row["latency_ms"]),
    ]
    if with_images:
        cells.append(_images(row["images"], media_root))
    return cells


def render(
    path: Path,
    stats: RunStats,
    rows: Sequence[Mapping[str, Any]],
    *,
    extra: Sequence[tuple[str, str]] = (),
    media_root: str | None,
) -> str:
    """The summary (and `extra` label/value pairs) as a table; `rows` of ``outputs`` below."""
    summary = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in [*stats.describe(), *extra]
    )
    with_images = any(row["images"] for row in rows)
    headers = ["prompt_id", "model", "status", "text", "in", "out", "latency ms"]
    headers += ["images"] if with_images else []
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c}</td>" for c in _row_cells(row, media_root, with_images))
        + "</tr>"
        for row in rows
    )
    more = stats.total - len(rows)
    tail = f"<p>{more:,} more row(s) in <code>outputs</code></p>" if more > 0 else ""
    return (
        f'<div class="llmframe-run">{_STYLE}<p><b>llmframe run</b> <code>{_e(path)}</code></p>'
        f"<table>{summary}</table>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"{tail}</div>"
    )


def render_error(path: Path | str | os.PathLike[str], error: LlmframeError) -> str:
    """What is shown when the run cannot be read."""
    return (
        f'<div class="llmframe-run"><p><b>llmframe run</b> <code>{_e(path)}</code>: '
        f"{_e(error)}</p></div>"
    )
