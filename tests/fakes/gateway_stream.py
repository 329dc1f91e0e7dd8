"""Streamed answers and transport faults for the fake gateway (``tests.fakes.gateway``).

Pure builders, usable without the server:

* ``chat_stream_events(completion, ...)``: a chat.completion body as the chunks a
  gateway streams (role delta, content pieces, ``delta.images``, finish chunk, usage
  chunk with ``choices: []``, keep-alive comments, ``[DONE]``).
* ``google_stream_events(response, ...)``: a native generateContent body as the
  ``GenerateContentResponse`` chunks of ``streamGenerateContent``.
* ``stream_error_event(message, code)``: OpenRouter's mid-stream error chunk.
* ``error_event(data)``: an ``event: error`` event (JSON or text), sent after 200.
* ``sse_bytes(events, line_end=...)``: events as the bytes on the wire.

An event is a dict or list (sent as ``data: {json}``), a str starting with ``:`` (a
comment line, e.g. ``KEEPALIVE``), any other str (sent as ``data: <str>``, e.g.
``DONE``), or bytes (written verbatim: for malformed or multi-field events).

The transport side (``encode_segments``, ``split_pieces``, ``send_segments``) writes a
body in pieces, compressed, or cut off mid-way; ``FakeGateway`` uses it for ``Reply``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import random
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import brotli
import zstandard
from aiohttp import web

SseEvent = Mapping[str, Any] | list[Any] | str | bytes

DONE = "[DONE]"
KEEPALIVE = ": OPENROUTER PROCESSING"
IMAGE_PLACEMENTS = ("delta", "final", "content")
DEFAULT_USAGE = {"prompt_tokens": 18, "completion_tokens": 1290, "total_tokens": 1308}


# --------------------------------------------------------------------------- chat


def _chunk_envelope(completion: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": completion.get("id", "chatcmpl-fake"),
        "object": "chat.completion.chunk",
        "created": completion.get("created", 1779703910),
        "model": completion.get("model", "gemini-2.5-flash-image"),
    }


def _split_even(seq: Any, pieces: int) -> list[Any]:
    """``seq`` in ``pieces`` consecutive slices of near-equal length (none empty)."""
    count = max(1, min(pieces, len(seq)))
    size, extra = divmod(len(seq), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(seq[start:end])
        start = end
    return out


def _data_url(image: bytes) -> str:
    mime = "image/jpeg" if image.startswith(b"\xff\xd8") else "image/png"
    return f"data:{mime};base64,{base64.b64encode(image).decode()}"


def _markdown(images: Sequence[Mapping[str, Any]]) -> str:
    return "\n\n".join(f"![image]({image['image_url']['url']})" for image in images)


def stream_error_event(
    message: str, code: int | str = "server_error", *, model: str = "gemini-2.5-flash-image"
) -> dict[str, Any]:
    """OpenRouter's error during a stream: top-level ``error`` and ``finish_reason: error``."""
    return {
        **_chunk_envelope({"model": model}),
        "provider": "fake",
        "error": {"code": code, "message": message},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }


def error_event(data: str | Mapping[str, Any]) -> bytes:
    """An event named ``error`` (``event: error``), its data JSON or plain text."""
    text = data if isinstance(data, str) else json.dumps(data)
    return f"event: error\ndata: {text}\n\n".encode()


def chat_stream_events(
    completion: Mapping[str, Any],
    *,
    content_pieces: int = 1,
    images_in: str = "delta",
    keepalives: int = 0,
    usage_chunk: bool = True,
    done: bool = True,
    envelope_first: bool = False,
    thoughts: Sequence[str] = (),
    thought_images: Sequence[bytes | str] = (),
) -> list[SseEvent]:
    """The chunks a gateway streams for ``completion`` (a chat.completion body).

    A string ``content`` goes out in ``content_pieces`` deltas of near-equal length, so
    a Markdown data URL is split anywhere; with 1 it is ONE ``data:`` line (new-api).
    A content-part array goes out as ``content_pieces`` deltas of consecutive parts.
    ``message.images`` go in one ``delta.images`` chunk each (``images_in="delta"``,
    OpenRouter), all on the finish chunk (``"final"``), or as Markdown appended to the
    content (``"content"``, relays that convert). Keep-alive comments come before the
    first chunk, the last of two or more right after the role delta. A choice holding
    ``error`` (``choice_error``) ends with ``stream_error_event`` instead of a finish.
    ``envelope_first`` sends a chunk with the envelope and no ``choices`` first, as
    some relays open a stream. ``thoughts`` (``delta.reasoning``) and ``thought_images``
    (``delta.images`` entries marked ``thought: true``, as relays that keep Gemini's flag
    send them) come first, each thought before its image, as the model thinks.
    """
    if images_in not in IMAGE_PLACEMENTS:
        raise ValueError(f"images_in must be one of {IMAGE_PLACEMENTS}")
    envelope = _chunk_envelope(completion)
    choice = completion["choices"][0]
    message = choice.get("message") or {}

    def chunk(delta: Mapping[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": 0, "delta": dict(delta), "finish_reason": finish_reason}
        if finish_reason is not None and "native_finish_reason" in choice:
            entry["native_finish_reason"] = choice["native_finish_reason"]
        return {**envelope, "choices": [entry]}

    early = keepalives - 1 if keepalives > 1 else max(0, keepalives)
    events: list[SseEvent] = [KEEPALIVE] * early
    if envelope_first:
        events.append(dict(envelope))
    events.append(chunk({"role": "assistant", "content": ""}))
    if keepalives > 1:
        events.append(KEEPALIVE)
    for words, image in itertools.zip_longest(thoughts, thought_images):
        if words is not None:
            events.append(chunk({"reasoning": words}))
        if image is not None:
            url = image if isinstance(image, str) else _data_url(image)
            thought = {"type": "image_url", "image_url": {"url": url}, "thought": True}
            events.append(chunk({"images": [thought]}))

    content = message.get("content")
    images = list(message.get("images") or [])
    if images_in == "content" and images:
        markdown = _markdown(images)
        if isinstance(content, list):
            content = [*content, {"type": "text", "text": markdown}]
        else:
            content = f"{content}\n\n{markdown}" if content else markdown
        images = []
    if content:
        events += [chunk({"content": piece}) for piece in _split_even(content, content_pieces)]
    if images_in == "delta":
        events += [chunk({"images": [image]}) for image in images]

    if choice.get("error"):
        error = choice["error"]
        events.append(
            stream_error_event(
                error.get("message", ""), error.get("code", "server_error"), model=envelope["model"]
            )
        )
    else:
        final = {"images": images} if images_in == "final" and images else {}
        events.append(chunk(final, choice.get("finish_reason") or "stop"))
    if usage_chunk:
        events.append(
            {**envelope, "choices": [], "usage": dict(completion.get("usage") or DEFAULT_USAGE)}
        )
    if done:
        events.append(DONE)
    return events


# --------------------------------------------------------------------------- google


def google_stream_events(
    response: Mapping[str, Any], *, text_pieces: int = 1
) -> list[dict[str, Any]]:
    """``response`` (a generateContent body) as ``streamGenerateContent`` chunks.

    One part per chunk, in the response's order (thoughts and interim thought images
    first, as ``google_response`` builds them); every text part split in ``text_pieces``
    with its ``thoughtSignature`` on the last piece (Gemini sends it late in a stream).
    The last chunk carries ``finishReason``, ``usageMetadata`` and ``modelVersion``. A
    blocked prompt (no candidates) is one chunk, as Gemini sends it.
    """
    candidates = response.get("candidates") or []
    if not candidates:
        return [dict(response)]
    candidate = candidates[0]
    parts: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        text = part.get("text")
        if not isinstance(text, str) or not text:
            parts.append(dict(part))
            continue
        pieces = _split_even(text, text_pieces)
        extra = {k: v for k, v in part.items() if k not in ("text", "thoughtSignature")}
        parts += [{"text": piece, **extra} for piece in pieces]
        if "thoughtSignature" in part:
            parts[-1]["thoughtSignature"] = part["thoughtSignature"]
    chunks: list[dict[str, Any]] = [
        {"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}]}
        for part in parts or [{"text": ""}]
    ]
    last = chunks[-1]
    if "finishReason" in candidate:
        last["candidates"][0]["finishReason"] = candidate["finishReason"]
    for key in ("usageMetadata", "modelVersion"):
        if key in response:
            last[key] = response[key]
    return chunks


# --------------------------------------------------------------------------- wire


def _event_bytes(event: SseEvent, line_end: str) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        line = event if event.startswith(":") else f"data: {event}"
    else:
        line = "data: " + json.dumps(event, separators=(",", ":"))
    return (line + line_end + line_end).encode()


def sse_bytes(events: Sequence[SseEvent], *, line_end: str = "\n") -> bytes:
    """``events`` as an SSE body: ``data: {json}`` and ``: comment`` each ending a blank line."""
    return b"".join(_event_bytes(event, line_end) for event in events)


def sse_segments(events: Sequence[SseEvent], *, line_end: str = "\n") -> list[bytes]:
    """One write per event, as a gateway flushes them."""
    return [_event_bytes(event, line_end) for event in events]


def json_array_segments(chunks: Sequence[Any]) -> list[bytes]:
    """``streamGenerateContent`` without ``alt=sse``: one JSON array, written chunk by chunk."""
    out = [b"[" + json.dumps(chunk).encode() for chunk in chunks[:1]]
    out += [b",\r\n" + json.dumps(chunk).encode() for chunk in chunks[1:]]
    return [*out, b"]"] if out else [b"[]"]


def encode_segments(segments: Sequence[bytes], encoding: str | None) -> list[bytes]:
    """Compress with a flush after every segment, as a proxy compressing a stream does.

    "gzip", "deflate" (zlib-wrapped, as HTTP means it), "br" and "zstd" (one frame,
    flushed block by block); any other encoding leaves the bytes as they are (a label
    the client cannot decode).
    """
    if encoding in ("gzip", "deflate"):
        zipper = zlib.compressobj(wbits=31 if encoding == "gzip" else 15)
        out = [zipper.compress(s) + zipper.flush(zlib.Z_SYNC_FLUSH) for s in segments]
        return [*out, zipper.flush()]
    if encoding == "br":
        compressor = brotli.Compressor()
        out = [compressor.process(s) + compressor.flush() for s in segments]
        return [*out, compressor.finish()]
    if encoding == "zstd":
        zstd = zstandard.ZstdCompressor().compressobj()
        out = [zstd.compress(s) + zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) for s in segments]
        return [*out, zstd.flush()]
    return list(segments)


def split_pieces(data: bytes, sizes: tuple[int, int], seed: int) -> list[bytes]:
    """``data`` in pieces of random length within ``sizes`` (inclusive), reproducibly."""
    low, high = sizes
    if not 1 <= low <= high:
        raise ValueError("pieces must be (low, high) with 1 <= low <= high")
    rng = random.Random(seed)
    out, at = [], 0
    while at < len(data):
        step = rng.randint(low, high)
        out.append(data[at : at + step])
        at += step
    return out


@dataclass
class StreamRecord:
    """How a streamed reply went: bytes written before the client hung up (or the cut)."""

    total: int
    sent: int = 0
    aborted: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around the writes: a hang-up or a short body marks it aborted; done either way."""
        try:
            yield
        except (ConnectionError, asyncio.CancelledError):
            self.aborted = True
            raise
        finally:
            self.aborted = self.aborted or self.sent < self.total
            self.done.set()


async def send_segments(
    request: web.Request,
    response: web.StreamResponse,
    segments: Sequence[bytes],
    record: StreamRecord,
    *,
    chunked: bool,
    cut_after: int | None = None,
    piece_delay: float = 0.0,
    hold_last: asyncio.Event | None = None,
) -> web.StreamResponse:
    """Write ``segments`` one write each, yielding between them; cut after ``cut_after`` bytes.

    A cut closes the socket once the bytes are out: no terminating chunk when
    ``chunked``, else fewer bytes than the Content-Length announced.
    """
    limit = cut_after if cut_after is not None and cut_after < record.total else None
    if chunked:
        response.enable_chunked_encoding()
    else:
        response.content_length = record.total
    with record.writing():
        await response.prepare(request)
        for index, segment in enumerate(segments):
            if hold_last is not None and index == len(segments) - 1:
                await hold_last.wait()
            if limit is not None:
                segment = segment[: max(0, limit - record.sent)]
                if not segment:
                    break
            await response.write(segment)
            record.sent += len(segment)
            # Two turns of the loop: in the first a client in this loop takes the piece
            # off the socket, in the second it reads it, before the next piece joins it.
            await asyncio.sleep(0)
            await asyncio.sleep(piece_delay)
        if limit is not None:
            record.aborted = True
            if request.transport is not None:
                request.transport.close()  # FIN after the buffered bytes: they all arrive
            return response
        await response.write_eof()
    return response
