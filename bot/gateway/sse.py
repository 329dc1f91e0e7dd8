"""An incremental Server-Sent-Events decoder, following the WHATWG event-stream rules.

Pure and I/O-free: feed it bytes as they arrive, in pieces of any size, and it returns
the events completed so far; the same bytes give the same events however they are
split. Lines end in ``\\n``, ``\\r\\n`` or ``\\r`` (a ``\\r\\n`` may straddle two pieces);
one leading UTF-8 BOM is dropped; ``:`` lines are comments; ``data`` lines of one event
are joined with ``\\n``; ``id`` persists across events and ``retry`` sets ``retry``.

Lines may be tens of MB long (a whole image in one ``data:`` line): each piece is
scanned once with ``bytes.find`` and an unfinished line is appended to a buffer, so the
work stays linear in the bytes fed, never re-scanning what was buffered.

Unlike a browser, ``close`` also dispatches an event that lacks its final blank line:
gateways cut streams short, and a last image is worth keeping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

BOM = b"\xef\xbb\xbf"
# A body that is an event stream whatever its label: optional BOM and blank space, then a
# field or a comment. JSON, HTML and images never start this way.
_STREAM_HEAD = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*(?::|data:|event:|id:|retry:)")
_JSON_HEAD = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*[\[{]")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its type (``message`` unless named), data and last event id."""

    event: str
    data: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class RawSSEEvent:
    """An event whose data is still its UTF-8 bytes, for orjson to read without a copy."""

    event: str
    data: bytes | memoryview
    id: str | None = None


E = TypeVar("E", SSEEvent, RawSSEEvent)


def _text_event(event: str, pieces: list[memoryview], id: str | None) -> SSEEvent:
    texts = [str(piece, "utf-8", "replace") for piece in pieces]
    return SSEEvent(event, texts[0] if len(texts) == 1 else "\n".join(texts), id)


def _raw_event(event: str, pieces: list[memoryview], id: str | None) -> RawSSEEvent:
    return RawSSEEvent(event, pieces[0] if len(pieces) == 1 else b"\n".join(pieces), id)


def looks_like_event_stream(body: bytes, content_type: str | None = None) -> bool:
    """Whether ``body`` is an event stream: by how it starts, or by its label unless it is JSON."""
    if _STREAM_HEAD.match(body):
        return True
    label = (content_type or "").split(";", 1)[0].strip().lower()
    return label == "text/event-stream" and not _JSON_HEAD.match(body)


def _text(buffer: bytes | bytearray, start: int, end: int) -> str:
    return str(memoryview(buffer)[start:end], "utf-8", "replace")


class _Decoder(Generic[E]):
    """The event-stream rules, whatever the events are made of."""

    def __init__(self, make: Callable[[str, list[memoryview], str | None], E]) -> None:
        self._make: Callable[[str, list[memoryview], str | None], E] = make
        self.retry: int | None = None  # the last ``retry`` field, in milliseconds
        self._pending = bytearray()  # the unfinished last line
        self._head = b""  # the first bytes, held until a BOM can be told apart
        self._started = False
        self._after_cr = False  # the last piece ended in \r: a leading \n belongs to it
        # Views of the data lines: a line can be tens of MB, and a slice would copy it.
        # They point into bytes no one changes (``feed`` copies anything mutable).
        self._data: list[memoryview] = []
        self._event = ""
        self._id: str | None = None
        self._events: list[E] = []

    def feed(self, chunk: bytes) -> list[E]:
        """The events that ``chunk`` completes."""
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
        if not self._started:
            self._head += chunk
            if len(self._head) < len(BOM) and BOM.startswith(self._head):
                return []
            chunk = self._head[len(BOM) :] if self._head.startswith(BOM) else self._head
            self._head = b""
            self._started = True
        if not chunk:
            return []
        start = 0
        if self._after_cr:
            self._after_cr = False
            if chunk[0] == 0x0A:
                start = 1
        self._scan(chunk, start)
        events, self._events = self._events, []
        return events

    def close(self) -> list[E]:
        """The events still pending when the stream ends, the unterminated last one too."""
        if not self._started:  # fewer bytes than a BOM, but not one: they are text
            self._started = True
            head, self._head = self._head, b""
            self._scan(head, 0)
        if self._pending:
            line, self._pending = self._pending, bytearray()
            self._line(line, 0, len(line))
        self._after_cr = False
        self._dispatch()
        events, self._events = self._events, []
        return events

    def _scan(self, chunk: bytes, start: int) -> None:
        size = len(chunk)
        lf = chunk.find(b"\n", start)
        cr = chunk.find(b"\r", start)
        while lf >= 0 or cr >= 0:
            if cr >= 0 and (lf < 0 or cr < lf):
                end = cr
                if cr + 1 < size:
                    after = cr + 2 if chunk[cr + 1] == 0x0A else cr + 1
                else:
                    after = size
                    self._after_cr = True
            else:
                end, after = lf, lf + 1
            if self._pending:
                self._pending += memoryview(chunk)[start:end]
                line, self._pending = self._pending, bytearray()
                self._line(line, 0, len(line))
            else:
                self._line(chunk, start, end)
            start = after
            # Each position is searched once: only a terminator already passed is looked
            # for again, from here on.
            if 0 <= lf < start:
                lf = chunk.find(b"\n", start)
            if 0 <= cr < start:
                cr = chunk.find(b"\r", start)
        if start < size:
            self._pending += memoryview(chunk)[start:]

    def _line(self, buffer: bytes | bytearray, start: int, end: int) -> None:
        if start == end:
            self._dispatch()
            return
        if buffer[start] == 0x3A:  # ":" a comment, such as a keep-alive
            return
        colon = buffer.find(b":", start, end)
        if colon < 0:
            name, value_start = bytes(buffer[start:end]), end
        else:
            name, value_start = bytes(buffer[start:colon]), colon + 1
            if value_start < end and buffer[value_start] == 0x20:
                value_start += 1
        if name == b"data":
            self._data.append(memoryview(buffer)[value_start:end])
        elif name == b"event":
            self._event = _text(buffer, value_start, end)
        elif name == b"id":
            value = _text(buffer, value_start, end)
            if "\0" not in value:
                self._id = value
        elif name == b"retry":
            digits = bytes(buffer[value_start:end])
            if digits.isdigit():
                self.retry = int(digits)

    def _dispatch(self) -> None:
        if self._data:
            self._events.append(self._make(self._event or "message", self._data, self._id))
        self._data = []
        self._event = ""


class SSEDecoder(_Decoder[SSEEvent]):
    """Bytes in, ``SSEEvent`` objects out, one stream per decoder."""

    def __init__(self) -> None:
        super().__init__(_text_event)


class RawSSEDecoder(_Decoder[RawSSEEvent]):
    """Bytes in, ``RawSSEEvent`` objects (data left as bytes) out."""

    def __init__(self) -> None:
        super().__init__(_raw_event)


def decode_events(body: bytes) -> list[SSEEvent]:
    """Every event of a whole stream."""
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.close()


def decode_raw_events(body: bytes) -> list[RawSSEEvent]:
    """Every event of a whole stream, data as bytes (the parser's path: no text copy)."""
    decoder = RawSSEDecoder()
    return decoder.feed(body) + decoder.close()
