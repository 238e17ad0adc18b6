"""An incremental, pure decoder for server-sent events (``text/event-stream``).

Follows the WHATWG HTML Living Standard, section 9.2 "Server-sent events", "Interpreting an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
the bytes are UTF-8 (decoded with replacement, one leading BOM ignored); a line ends in CRLF, LF
or CR, and a CR that ends one chunk followed by an LF that starts the next is one line end; a
line starting with ``:`` is a comment; ``data:`` lines are joined with line feeds; ``event:``,
``id:`` (unless it holds NUL; it persists across events, as the spec's "last event ID buffer")
and ``retry:`` (ASCII digits only) are kept; one space after the colon is stripped; a blank line
dispatches the event, and an event without data is not dispatched. The "feed bytes, get events"
shape follows openai-python's ``SSEDecoder`` (``openai/_streaming.py``); no code is copied.

Two choices where the spec leaves the consumer free or would lose data:

- ``retry`` is the reconnection time, not part of an event; it is attached to the next event that
  is dispatched, so a ``retry:`` line in a data-less block is not lost.
- At the end of input the spec discards a pending event. `SseDecoder.finish` dispatches it instead
  (a server that omits the final blank line loses nothing); a stream cut mid-event still fails
  loudly in the provider's parser, as unparseable JSON or a missing finish.
"""

from __future__ import annotations

import codecs
import re

from llmframe.providers.base import SseEvent

__all__ = ["SseDecoder"]

_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


class SseDecoder:
    """Bytes in, events out; holds only the incomplete line and event between calls."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False
        self._skip_lf = False
        self._partial: list[str] = []
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, data: bytes) -> list[SseEvent]:
        """Decode `data` (any slice of the stream) and return the events it completes."""
        return self._lines(self._decoder.decode(data))

    def finish(self) -> list[SseEvent]:
        """End of input: the events still pending, including one not closed by a blank line."""
        events = self._lines(self._decoder.decode(b"", final=True))
        if self._partial:
            line = "".join(self._partial)
            self._partial = []
            if line:
                self._line(line)
        event = self._dispatch()
        return [*events, event] if event else events

    def _lines(self, text: str) -> list[SseEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix(_BOM)
        if self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        pieces = _LINE_END.split(text)
        if len(pieces) == 1:
            self._partial.append(text)
            return []
        self._skip_lf = text.endswith("\r")
        pieces[0] = "".join(self._partial) + pieces[0]
        self._partial = [pieces[-1]] if pieces[-1] else []
        events = []
        for line in pieces[:-1]:
            if line:
                self._line(line)
            else:
                event = self._dispatch()
                if event:
                    events.append(event)
        return events

    def _line(self, line: str) -> None:
        if line.startswith(":"):
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._last_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Any other field is ignored, as the spec says.

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        retry, self._retry = self._retry, None
        return SseEvent(data="\n".join(data), event=event or None, id=self._last_id, retry=retry)
