"""An incremental, pure decoder for newline-delimited JSON (``application/x-ndjson``).

Each line is one event, handed on as ``SseEvent(data=line)`` so NDJSON streams (Ollama) go through
the same `StreamDecoder` contract as server-sent events; the provider's parser reads the JSON. The
rules (https://github.com/ndjson/ndjson-spec): a line ends in LF, and a CR before it is dropped, so
CRLF works too, also when the CR and the LF arrive in different chunks. Lines are split on bytes
before decoding, which is safe because no UTF-8 sequence holds the LF byte; each line is decoded
as UTF-8 with replacement, as the SSE decoder does. One leading BOM is ignored.

Blank (whitespace-only) lines carry nothing and are skipped. At the end of input `finish` hands
on a last line that has no line end, so a server that omits the final LF loses nothing; a stream
cut mid-line still fails loudly in the provider's parser, as JSON that does not parse.
"""

from __future__ import annotations

from llmframe.providers.base import SseEvent

__all__ = ["NdjsonDecoder"]

_BOM = b"\xef\xbb\xbf"


class NdjsonDecoder:
    """Bytes in, one event per complete line out; holds only the incomplete line between calls."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._started = False

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume `data` (any slice of the stream); return the events of the lines it completes."""
        self._buffer += data
        if not self._started:
            if len(self._buffer) < len(_BOM) and _BOM.startswith(self._buffer):
                return []  # maybe a BOM split across chunks; wait for more
            self._started = True
            if self._buffer.startswith(_BOM):
                del self._buffer[: len(_BOM)]
        end = self._buffer.rfind(b"\n")
        if end < 0:
            return []
        complete = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return [event for line in complete.split(b"\n") if (event := _event(line))]

    def finish(self) -> list[SseEvent]:
        """End of input: the last line, if it had no line end."""
        line = bytes(self._buffer)
        self._buffer.clear()
        if not self._started:
            self._started = True
            line = line.removeprefix(_BOM)
        event = _event(line)
        return [event] if event else []


def _event(line: bytes) -> SseEvent | None:
    line = line.removesuffix(b"\r")
    if not line.strip():
        return None
    return SseEvent(data=line.decode("utf-8", errors="replace"))
