r"""An incremental, pure decoder for a streamed JSON array: bytes in, one event per element out.

Gemini's ``streamGenerateContent`` without ``alt=sse`` answers with one pretty-printed JSON array
that grows as the model writes (``[{...}\n,\n{...}\n]``). `JsonArrayDecoder` hands each element
on as soon as its closing brace arrives, as the text of an `SseEvent`, so a provider's stream
parser reads it exactly as it reads an SSE ``data:`` line. The bytes are UTF-8 (decoded with
replacement; one leading BOM ignored); only the nesting of ``{}``/``[]`` outside strings is
tracked, so an element is never parsed here, only cut out.

Nothing is dropped and nothing is raised: the decoder only frames. A body that is not an array
(a bare ``{"error": ...}`` object) is one event at `finish`; an element cut short by the end of
input, or text after the closing ``]``, is an event of its own too, so the parser refuses it
loudly as JSON that does not parse. Commas between elements are not checked, for the same reason.
"""

from __future__ import annotations

import codecs
import re
from typing import Literal

from llmframe.providers.base import SseEvent

__all__ = ["JsonArrayDecoder"]

_BOM = "\ufeff"
_WHITESPACE = " \t\r\n"
_IN_STRING = re.compile(r'["\\]')
_OUTSIDE = re.compile(r'["\\{}\[\],]')


class JsonArrayDecoder:
    """Bytes in, elements out; holds only the element being read between calls."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False
        self._state: Literal["start", "between", "element", "after", "whole"] = "start"
        self._element: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, data: bytes) -> list[SseEvent]:
        """Decode `data` (any slice of the body) and return the elements it completes."""
        return self._text(self._decoder.decode(data))

    def finish(self) -> list[SseEvent]:
        """End of input: an unfinished element, a body that was not an array, or trailing text."""
        events = self._text(self._decoder.decode(b"", final=True))
        if self._state in ("element", "after", "whole"):
            event = self._emit()
            if event is not None:
                events.append(event)
        return events

    def _text(self, text: str) -> list[SseEvent]:
        if text and not self._started:
            self._started = True
            text = text.removeprefix(_BOM)
        events: list[SseEvent] = []
        position = 0
        while position < len(text):
            state = self._state
            if state == "start" or state == "between":
                position = _skip_whitespace(text, position)
                if position == len(text):
                    break
                char = text[position]
                if state == "start" and char == "[":
                    self._state = "between"
                    position += 1
                elif state == "start":
                    self._state = "whole"
                elif char == ",":
                    position += 1
                elif char == "]":
                    self._state = "after"
                    position += 1
                else:
                    self._state = "element"
            elif state == "element":
                position = self._scan(text, position, events)
            else:  # "after" or "whole": keep everything, for `finish`
                self._element.append(text[position:])
                break
        return events

    def _scan(self, text: str, position: int, events: list[SseEvent]) -> int:
        """Read element text from `position`; return where the element (or `text`) ended."""
        start = position
        while True:
            if self._escaped:
                self._escaped = False
                position += 1
                if position >= len(text):
                    break
            pattern = _IN_STRING if self._in_string else _OUTSIDE
            match = pattern.search(text, position)
            if match is None:
                position = len(text)
                break
            char, position = match[0], match.end()
            if char == "\\":
                self._escaped = True
                if position >= len(text):
                    break
            elif char == '"':
                self._in_string = not self._in_string
            elif char in "{[":
                self._depth += 1
            elif self._depth > 0 and char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self._element.append(text[start:position])
                    events.append(self._done("between"))
                    return position
            elif self._depth == 0 and char in ",]":  # a scalar element ends at the separator
                self._element.append(text[start : position - 1])
                events.append(self._done("after" if char == "]" else "between"))
                return position
        self._element.append(text[start:position])
        return position

    def _done(self, state: Literal["between", "after"]) -> SseEvent:
        event = self._emit()
        self._state = state
        return event or SseEvent(data="")

    def _emit(self) -> SseEvent | None:
        text = "".join(self._element).strip(_WHITESPACE)
        self._element = []
        self._depth, self._in_string, self._escaped = 0, False, False
        return SseEvent(data=text) if text else None


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position
