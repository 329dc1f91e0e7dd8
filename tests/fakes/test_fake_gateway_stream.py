"""The fake gateway's streams and transport faults, read with a raw aiohttp client.

The project's own SSE reader is not used here: these tests pin what crosses the wire,
so that tests of the reader can trust the fake.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import brotli
import pytest

from tests.fakes.gateway import (
    DONE,
    KEEPALIVE,
    TEXT_ONLY_ANSWER,
    FakeGateway,
    Reply,
    b64,
    chat_stream_events,
    choice_error,
    data_url,
    google_response,
    google_stream_events,
    images_response,
    markdown_response,
    openai_error,
    parts_response,
    png_bytes,
    sse_bytes,
    stream_error_event,
)

PNG = png_bytes(6, 6)
BIG_PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1200  # ~300 KB, base64 ~410 KB
PROMPT = {"model": "m", "messages": [{"role": "user", "content": "a cat"}]}
NATIVE = {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]}


@pytest.fixture
async def gw() -> AsyncIterator[FakeGateway]:
    async with FakeGateway() as fake:
        yield fake


@pytest.fixture
async def raw() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def post(
    session: aiohttp.ClientSession, url: str, body: Any
) -> tuple[aiohttp.ClientResponse, list[bytes]]:
    """The answer and its body exactly as the socket delivered it, read by read."""
    async with session.post(url, json=body) as response:
        reads = [piece async for piece in response.content.iter_any()]
    return response, reads


def parse_sse(data: bytes) -> list[Any]:
    """Blank-line separated events back to the builders' representation (no CR, one field)."""
    events: list[Any] = []
    for block in data.decode().split("\n\n")[:-1]:
        if block.startswith(":"):
            events.append(block)
        else:
            assert block.startswith("data: ") and "\n" not in block, block
            payload = block[len("data: ") :]
            events.append(payload if payload == DONE else json.loads(payload))
    return events


def data_events(events: list[Any]) -> list[dict]:
    return [e for e in events if isinstance(e, dict)]


def deltas(events: list[Any], key: str) -> list[Any]:
    return [
        e["choices"][0]["delta"][key]
        for e in data_events(events)
        if e["choices"] and key in e["choices"][0]["delta"]
    ]


# --------------------------------------------------------------------------- builders


def test_one_content_piece_is_one_line_holding_the_whole_markdown():
    completion = markdown_response([BIG_PNG], text="Here you go")
    events = chat_stream_events(completion)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert deltas(events, "content")[1:] == [f"Here you go\n\n![image]({data_url(BIG_PNG)})"]
    final, usage, done = events[-3:]
    assert (final["choices"][0]["finish_reason"], final["choices"][0]["delta"]) == ("stop", {})
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert done == DONE
    wire = sse_bytes(events)
    assert max(len(line) for line in wire.split(b"\n")) > len(b64(BIG_PNG))


def test_content_pieces_split_the_data_url_anywhere():
    completion = markdown_response([PNG])
    content = completion["choices"][0]["message"]["content"]
    pieces = deltas(chat_stream_events(completion, content_pieces=9), "content")[1:]
    assert len(pieces) == 9 and "".join(pieces) == content
    prefix = len("![image](data:")
    assert any(prefix < len("".join(pieces[: i + 1])) < len(content) - 1 for i in range(8))


@pytest.mark.parametrize("images_in", ["delta", "final", "content"])
def test_images_go_where_asked(images_in):
    completion = images_response([PNG, BIG_PNG], usage={"total_tokens": 7})
    events = chat_stream_events(completion, images_in=images_in, usage_chunk=False, done=False)
    urls = [data_url(PNG), data_url(BIG_PNG)]
    found = [i["image_url"]["url"] for group in deltas(events, "images") for i in group]
    content = "".join(deltas(events, "content"))
    if images_in == "content":
        assert found == [] and content == f"![image]({urls[0]})\n\n![image]({urls[1]})"
    else:
        assert found == urls and content == ""
        carrier = events[-1] if images_in == "final" else events[-2]
        assert carrier["choices"][0]["delta"]["images"][-1]["image_url"]["url"] == urls[-1]
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_content_parts_travel_as_arrays_in_deltas():
    completion = parts_response([PNG, BIG_PNG], text="two")
    events = chat_stream_events(completion, content_pieces=2)
    arrays = deltas(events, "content")[1:]
    assert all(isinstance(a, list) for a in arrays) and len(arrays) == 2
    assert sum(arrays, []) == completion["choices"][0]["message"]["content"]


def test_keepalives_and_choice_errors():
    events = chat_stream_events(choice_error("upstream died", 502), keepalives=3)
    assert events[:2] == [KEEPALIVE, KEEPALIVE] and events[3] == KEEPALIVE
    error = events[-3]
    assert error["error"] == {"code": 502, "message": "upstream died"}
    assert error["choices"][0]["finish_reason"] == "error"
    assert stream_error_event("x")["error"] == {"code": "server_error", "message": "x"}


def test_sse_bytes_wire_format():
    events = [KEEPALIVE, {"a": [1, "é"]}, DONE, b"event: odd\ndata: 1\n\n"]
    assert sse_bytes(events) == (
        b": OPENROUTER PROCESSING\n\n"
        b'data: {"a":[1,"\\u00e9"]}\n\ndata: [DONE]\n\nevent: odd\ndata: 1\n\n'
    )
    assert sse_bytes(events[:3], line_end="\r\n").count(b"\r\n\r\n") == 3


def test_google_stream_chunks_thoughts_first_signature_and_usage_last():
    response = google_response(
        [PNG], "A red square.", thought_images=[BIG_PNG], thought_signature="sig-1"
    )
    chunks = google_stream_events(response, text_pieces=3)
    parts = [c["candidates"][0]["content"]["parts"][0] for c in chunks]
    assert parts[0]["thought"] is True and parts[0]["inlineData"]["data"] == b64(BIG_PNG)
    texts = parts[1:4]
    assert "".join(p["text"] for p in texts) == "A red square."
    assert ["thoughtSignature" in p for p in texts] == [False, False, True]
    assert parts[4] == {
        "inlineData": {"mimeType": "image/png", "data": b64(PNG)},
        "thoughtSignature": "sig-1",
    }
    assert [("usageMetadata" in c, "modelVersion" in c) for c in chunks] == [(False, False)] * 4 + [
        (True, True)
    ]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    blocked = google_response(block_reason="SAFETY")
    assert google_stream_events(blocked) == [blocked]


# --------------------------------------------------------------------------- the wire


async def test_pieces_split_lines_and_events_and_reassemble(gw, raw):
    events = chat_stream_events(images_response([PNG]), content_pieces=3, keepalives=2)
    gw.script(Reply(sse=events, pieces=(1, 9), seed=7))
    response, reads = await post(raw, f"{gw.base_url}/chat/completions", PROMPT)
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Transfer-Encoding"] == "chunked"
    wire = b"".join(reads)
    assert wire == sse_bytes(events)
    assert parse_sse(wire) == events
    assert len(reads) > len(events) * 5
    assert any(not r.endswith(b"\n") for r in reads[:-1])
    assert wire.startswith(b": OPENROUTER PROCESSING\n\n") and wire.endswith(b"data: [DONE]\n\n")


async def test_long_single_line_event_arrives_in_many_pieces(gw, raw):
    events = chat_stream_events(markdown_response([BIG_PNG]))
    gw.script(Reply(sse=events, pieces=(512, 8192), seed=1))
    _, reads = await post(raw, f"{gw.base_url}/chat/completions", PROMPT)
    wire = b"".join(reads)
    (line,) = [line for line in wire.split(b"\n") if b64(BIG_PNG).encode() in line]
    spanned = [r for r in reads if r.strip(b"\n") and r.strip(b"\n") in line]
    assert len(spanned) > 20
    assert parse_sse(wire) == events


async def test_plain_json_in_pieces_with_crlf_and_labelled_json(gw, raw):
    body = images_response([PNG])
    gw.script(
        Reply(body=body, pieces=(1, 5), seed=2),
        Reply(sse=[body, DONE], content_type="application/json", line_end="\r\n"),
    )
    first, reads = await post(raw, f"{gw.base_url}/chat/completions", PROMPT)
    assert json.loads(b"".join(reads)) == body and len(reads) > 20
    assert int(first.headers["Content-Length"]) == len(b"".join(reads))
    second, reads = await post(raw, f"{gw.base_url}/chat/completions", PROMPT)
    assert second.headers["Content-Type"] == "application/json"
    assert b"".join(reads) == sse_bytes([body, DONE], line_end="\r\n")


@pytest.mark.parametrize("chunked", [False, True])
async def test_cut_after_fails_the_read_after_exactly_that_many_bytes(gw, raw, chunked):
    body = markdown_response([BIG_PNG])
    whole = json.dumps(body).encode()
    gw.script(Reply(body=body, cut_after=10_000, chunked=chunked, pieces=(100, 3000)))
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with raw.post(f"{gw.base_url}/chat/completions", json=PROMPT) as response:
            if chunked:
                assert response.headers["Transfer-Encoding"] == "chunked"
            else:
                assert int(response.headers["Content-Length"]) == len(whole)
            async for piece in response.content.iter_any():
                received += piece
    assert bytes(received) == whole[:10_000]
    (record,) = gw.streams
    assert (record.sent, record.aborted) == (10_000, True)


async def test_cut_mid_stream(gw, raw):
    events = chat_stream_events(markdown_response([BIG_PNG]), keepalives=1)
    gw.script(Reply(sse=events, cut_after=5000))
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with raw.post(f"{gw.base_url}/chat/completions", json=PROMPT) as response:
            async for piece in response.content.iter_any():
                received += piece
    assert bytes(received) == sse_bytes(events)[:5000]


DECODERS = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd-x": bytes,
    "compress": bytes,
}


@pytest.mark.parametrize("encoding", list(DECODERS))
async def test_encodings_decode_to_the_original(gw, raw, encoding):
    body = markdown_response([BIG_PNG])
    events = chat_stream_events(body, keepalives=1)
    gw.script(
        Reply(body=body, encoding=encoding),
        Reply(sse=events, encoding=encoding, pieces=(50, 700)),
    )
    for original in (json.dumps(body).encode(), sse_bytes(events)):
        response, reads = await post(raw, f"{gw.base_url}/chat/completions", PROMPT)
        assert response.headers["Content-Encoding"] == encoding
        wire = b"".join(reads)
        assert DECODERS[encoding](wire) == original
        if encoding in ("zstd-x", "compress"):
            assert wire == original
        else:
            assert len(wire) < len(original)


# --------------------------------------------------------------------------- modes


def image_of(events: list[Any]) -> bytes:
    content = "".join(deltas(events, "content"))
    prefix = "![image](data:image/png;base64,"
    assert content.startswith(prefix), content[:60]
    return base64.b64decode(content[len(prefix) : -1])


async def ask(raw: aiohttp.ClientSession, gw: FakeGateway, stream: bool) -> tuple[int, str, bytes]:
    response, reads = await post(
        raw, f"{gw.base_url}/chat/completions", {**PROMPT, "stream": stream}
    )
    return response.status, response.headers["Content-Type"].split(";")[0], b"".join(reads)


async def test_streaming_yes_streams_when_asked(gw, raw):
    status, ctype, wire = await ask(raw, gw, False)
    assert (status, ctype) == (200, "application/json")
    assert json.loads(wire) == markdown_response([gw.default_image], model="m")
    status, ctype, wire = await ask(raw, gw, True)
    assert (status, ctype) == (200, "text/event-stream")
    events = parse_sse(wire)
    assert events[-1] == DONE and image_of(events) == gw.default_image
    assert [r.streamed for r in gw.requests] == [False, True]


async def test_streaming_modes():
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        async with FakeGateway(streaming="no") as gw:
            status, _, wire = await ask(raw, gw, True)
            assert status == 400 and json.loads(wire) == openai_error("Streaming is not supported")
            response, _ = await post(
                raw, f"{gw.google_base_url}/models/m:streamGenerateContent?alt=sse", NATIVE
            )
            assert response.status == 404
            assert (await ask(raw, gw, False))[:2] == (200, "application/json")
        async with FakeGateway(streaming="only") as gw:
            status, ctype, wire = await ask(raw, gw, False)
            content = json.loads(wire)["choices"][0]["message"]["content"]
            assert (status, ctype, content) == (200, "application/json", TEXT_ONLY_ANSWER)
            status, ctype, wire = await ask(raw, gw, True)
            assert ctype == "text/event-stream" and image_of(parse_sse(wire)) == gw.default_image
        async with FakeGateway(streaming="always") as gw:
            status, ctype, wire = await ask(raw, gw, False)
            assert ctype == "text/event-stream" and image_of(parse_sse(wire)) == gw.default_image
            assert gw.requests[0].streamed is False
    with pytest.raises(ValueError):
        FakeGateway(streaming="sometimes")


async def test_scripted_reply_is_streamed_errors_are_not(gw, raw):
    gw.script(
        Reply(body=images_response([PNG])),
        Reply(status=429, body=openai_error("slow down", code=429), headers={"Retry-After": "3"}),
        Reply(sse=[*chat_stream_events(images_response([PNG]))[:2], stream_error_event("boom")]),
    )
    status, ctype, wire = await ask(raw, gw, True)
    assert ctype == "text/event-stream"
    assert parse_sse(wire) == chat_stream_events(images_response([PNG]))
    status, ctype, wire = await ask(raw, gw, True)
    assert (status, ctype, json.loads(wire)["error"]["message"]) == (
        429,
        "application/json",
        "slow down",
    )
    status, ctype, wire = await ask(raw, gw, False)
    events = parse_sse(wire)
    assert status == 200 and events[-1]["error"]["message"] == "boom"


async def test_native_stream_route_sse_and_json_array(gw, raw):
    expected = google_stream_events(google_response([gw.default_image]))
    base = f"{gw.google_base_url}/models/google/gemini-3-pro-image:streamGenerateContent"
    response, reads = await post(raw, f"{base}?alt=sse", NATIVE)
    assert response.headers["Content-Type"] == "text/event-stream"
    assert parse_sse(b"".join(reads)) == expected
    response, reads = await post(raw, base, NATIVE)
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(b"".join(reads)) == expected
    response, reads = await post(
        raw, base.replace("streamGenerateContent", "generateContent"), NATIVE
    )
    assert json.loads(b"".join(reads)) == google_response([gw.default_image])
    assert [(r.model, r.streamed, r.query) for r in gw.requests] == [
        ("google/gemini-3-pro-image", True, {"alt": "sse"}),
        ("google/gemini-3-pro-image", True, {}),
        ("google/gemini-3-pro-image", False, {}),
    ]


async def test_native_scripted_reply_streams_and_always_mode():
    body = google_response([PNG], "hi", thought_signature="s")
    async with aiohttp.ClientSession() as raw, FakeGateway(streaming="always") as gw:
        gw.script(Reply(body=body))
        response, reads = await post(raw, f"{gw.google_base_url}/models/m:generateContent", NATIVE)
        assert response.headers["Content-Type"] == "text/event-stream"
        assert parse_sse(b"".join(reads)) == google_stream_events(body)
