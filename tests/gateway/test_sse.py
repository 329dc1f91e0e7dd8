"""The event-stream decoder on every WHATWG rule, split anywhere."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.gateway.sse import (
    RawSSEDecoder,
    SSEDecoder,
    SSEEvent,
    decode_events,
    decode_raw_events,
    looks_like_event_stream,
)


def fed(body: bytes, sizes: list[int] | None = None, decoder=None):
    """The events of ``body`` fed in pieces of ``sizes`` (cycled), then closed."""
    decoder = decoder or SSEDecoder()
    events: list[SSEEvent] = []
    at, turn = 0, 0
    sizes = sizes or [len(body) or 1]
    while at < len(body):
        size = sizes[turn % len(sizes)]
        events += decoder.feed(body[at : at + size])
        at, turn = at + size, turn + 1
    return events + decoder.close()


def msg(data: str, event: str = "message", id: str | None = None) -> SSEEvent:
    return SSEEvent(event, data, id)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol):
    body = eol.join([b"data: one", b"", b"data: two", b"data: three", b"", b""])
    assert decode_events(body) == [msg("one"), msg("two\nthree")]


@pytest.mark.parametrize("split", range(1, 12))
def test_crlf_split_across_pieces_is_one_line_end(split):
    body = b"data: a\r\n\r\ndata: b\r\n\r\n"
    assert fed(body, [split]) == [msg("a"), msg("b")]
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the \n only ends the same line, not a blank one
    assert decoder.feed(b"\r\n") == [msg("a")]


def test_bom_is_dropped_once_even_when_split():
    body = b"\xef\xbb\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n"
    assert fed(body, [1]) == [msg("x")]  # the second BOM starts an unknown field name
    assert fed(b"\xef\xbb\xbfdata: x\n\n", [2]) == [msg("x")]
    assert decode_events(b"\xef\xbbdata: x\n\n") == []  # a broken BOM is part of the name
    assert decode_events(b"\xef") == []


def test_comments_and_keepalives_are_skipped():
    body = b": OPENROUTER PROCESSING\n\n:\n\ndata: {}\n: between lines\ndata: more\n\n"
    assert decode_events(body) == [msg("{}\nmore")]


def test_one_space_after_the_colon_is_dropped():
    body = b"data:a\n\ndata: b\n\ndata:  c\n\ndata:\n\ndata\n\n"
    assert decode_events(body) == [msg("a"), msg("b"), msg(" c"), msg(""), msg("")]


def test_event_id_and_retry_fields():
    decoder = SSEDecoder()
    body = (
        b"event: error\nid: 7\ndata: x\n\n"
        b"data: y\n\n"  # the type resets, the id persists
        b"id: 8\0\nretry: 1500\ndata: z\n\n"  # an id with NUL is ignored
        b"retry: soon\nid\ndata: w\n\n"  # a bad retry is ignored; a bare id empties it
        b"event: lonely\n\ndata: v\n\n"  # an event without data dispatches nothing
        b"unknown: q\ndata : not data\n\n"
    )
    assert fed(body, decoder=decoder) == [
        msg("x", "error", "7"),
        msg("y", id="7"),
        msg("z", id="7"),
        msg("w", id=""),
        msg("v", id=""),
    ]
    assert decoder.retry == 1500


def test_close_flushes_an_unterminated_last_event():
    assert decode_events(b"data: a\n\ndata: last") == [msg("a"), msg("last")]
    assert decode_events(b"data: a\ndata: b\n") == [msg("a\nb")]
    assert decode_events(b"data: cut\r") == [msg("cut")]
    assert decode_events(b"") == [] and decode_events(b": only a comment") == []


def test_done_marker_is_an_ordinary_event():
    assert decode_events(b"data: {}\n\ndata: [DONE]\n\n") == [msg("{}"), msg("[DONE]")]


def test_invalid_utf8_is_replaced_not_fatal():
    assert decode_events(b"data: \xff\xfeok\xe2\x82\n\n") == [msg("\ufffd\ufffdok\ufffd")]
    assert decode_events("data: é ✓\n\n".encode()) == [msg("é ✓")]


def test_raw_events_keep_the_bytes():
    body = b'event: e\nid: 1\ndata: {"a":\ndata: 1}\n\ndata: \xc3\xa9\n\n'
    raw = decode_raw_events(body)
    assert [(e.event, bytes(e.data), e.id) for e in raw] == [
        ("e", b'{"a":\n1}', "1"),
        ("message", "é".encode(), "1"),
    ]


def test_a_2mb_line_fed_one_byte_at_a_time():
    # A whole image in one data line: a quadratic decoder would not finish this.
    payload = base64.b64encode(random.Random(1).randbytes(1_500_000)).decode()
    body = f'data: {{"choices":[{{"delta":{{"content":"{payload}"}}}}]}}\r\n\r\n'.encode()
    assert len(body) > 2_000_000
    decoder = SSEDecoder()
    events = []
    for at in range(len(body)):
        events += decoder.feed(body[at : at + 1])
    events += decoder.close()
    assert events == decode_events(body)
    assert len(events) == 1 and payload in events[0].data


def test_mutable_pieces_are_copied():
    decoder = SSEDecoder()
    piece = bytearray(b"data: first")
    assert decoder.feed(piece) == []
    piece[:] = b"XXXXXXXXXXX"
    assert decoder.feed(bytearray(b"\n\n")) == [msg("first")]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"data: {}\n\n", None, True),
        (b"\xef\xbb\xbf\r\n  : keep-alive\n", "application/json", True),
        (b"event: x\n", "text/plain", True),
        (b"id: 1\n", None, True),
        (b"retry: 5\n", None, True),
        (b"", "text/event-stream; charset=utf-8", True),
        (b"garbage", "Text/Event-Stream", True),
        (b'{"choices": []}', "text/event-stream", False),  # mislabelled JSON stays JSON
        (b'  [{"error": {}}]', "text/event-stream", False),
        (b'{"choices": []}', "application/json", False),
        (b"<html>502</html>", "text/html", False),
        (b"\x89PNG\r\n", "image/png", False),
        (b"database: x", None, False),
    ],
)
def test_a_stream_is_recognised_by_label_or_body(body, content_type, expected):
    assert looks_like_event_stream(body, content_type) is expected


TOKENS = st.sampled_from(
    [
        b"data:",
        b"data: ",
        b"event: e",
        b"id: 1",
        b"id: \0",
        b"retry: 10",
        b": c",
        b":",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\xef\xbb\xbf",
        b"\xe2\x82",
        b"{}",
        b"[DONE]",
        b" ",
    ]
)
STREAMS = st.lists(TOKENS | st.binary(max_size=8), max_size=40).map(b"".join) | st.binary(
    max_size=200
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STREAMS, st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_split_anywhere_gives_the_same_events(body, sizes):
    whole = decode_events(body)
    assert fed(body, sizes) == whole
    raw = fed(body, sizes, RawSSEDecoder())
    assert [(e.event, str(e.data, "utf-8", "replace"), e.id) for e in raw] == [
        (e.event, e.data, e.id) for e in whole
    ]
