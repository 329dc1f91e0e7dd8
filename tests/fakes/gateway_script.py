"""What a test scripts for the fake gateway (``Reply``) and what it records (``RecordedRequest``).

Re-exported by ``tests.fakes.gateway``; the server there sends each ``Reply`` as
``body_bytes`` or, streamed, as ``as_events`` gives it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.gateway_stream import (
    SseEvent,
    chat_stream_events,
    google_stream_events,
)


@dataclass
class Reply:
    """One scripted answer.

    ``body``: dict/list (sent as JSON), str or bytes (sent as is). ``stream``: total
    bytes to send in ``chunk``-sized pieces instead of ``body`` (a large answer); see
    ``FakeGateway.streams`` for how much got through. ``delay`` seconds before
    answering (cut short when the fake closes); ``hold``: not before this event is set.

    ``sse``: send these events (see ``gateway_stream``) as ``text/event-stream``, one
    write per event, ``line_end`` ending each line; ``content_type`` relabels it
    (LiteLLM: ``application/json``). ``pieces=(low, high)``: write the body instead in
    random pieces of that many bytes (``seed`` makes them reproducible), yielding after
    each (plus ``piece_delay`` seconds, for a client in another process).
    ``cut_after``: close the socket after that many body bytes (as sent, compressed
    if ``encoding``). ``encoding``: "gzip", "deflate", "br" or "zstd" compresses the body and
    sets Content-Encoding whatever the request accepted; any other value only sets
    the header. ``chunked``: chunked framing (default for streams) or Content-Length
    (default otherwise; with ``cut_after`` it announces the whole body).
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    hold: asyncio.Event | None = None
    stream: int | None = None
    chunk: int = 64 * 1024
    sse: Sequence[SseEvent] | None = None
    line_end: str = "\n"
    pieces: tuple[int, int] | None = None
    seed: int = 0
    piece_delay: float = 0.0
    # The last write waits for it: a test holds a stream open until the client did something.
    hold_last: asyncio.Event | None = None
    cut_after: int | None = None
    encoding: str | None = None
    chunked: bool | None = None

    @property
    def plain(self) -> bool:
        """Nothing asks for the piece writer: one ordinary response."""
        return (
            self.sse is None
            and self.pieces is None
            and self.cut_after is None
            and self.encoding is None
            and self.chunked is None
        )


Script = Reply | Callable[["RecordedRequest"], Reply]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = field(repr=False)
    json: Any = field(default=None, repr=False)
    images: list[bytes] = field(default_factory=list, repr=False)
    query: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        if isinstance(self.json, dict) and "model" in self.json:
            return self.json["model"]
        if "/models/" in self.path and ":" in self.path.rsplit("/models/", 1)[-1]:
            return self.path.split("/models/", 1)[1].rsplit(":", 1)[0]
        return None

    @property
    def streamed(self) -> bool:
        """The request asked for a stream (``"stream": true`` or ``:streamGenerateContent``)."""
        if self.path.endswith(":streamGenerateContent"):
            return True
        return isinstance(self.json, dict) and self.json.get("stream") is True


def as_events(reply: Reply, shape: str | None) -> list[Any] | None:
    """A success body as the chunks a gateway streaming in ``shape`` sends; else None."""
    body = reply.body
    if shape is None or reply.status >= 400 or not isinstance(body, dict):
        return None
    if shape == "chat":
        return chat_stream_events(body) if "choices" in body else None
    if "candidates" in body or "promptFeedback" in body:
        return google_stream_events(body)
    return None


def body_bytes(reply: Reply) -> tuple[bytes, str]:
    """``reply.body`` as sent without streaming, and its Content-Type."""
    body = reply.body
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), reply.content_type or "application/json"
    if isinstance(body, str):
        return body.encode(), reply.content_type or "text/plain"
    return body or b"", reply.content_type or "application/octet-stream"


def _decode_data_uri(url: Any) -> bytes | None:
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return None
    try:
        return base64.b64decode(url.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def request_images(payload: Any) -> list[bytes]:
    """Input images of a chat or native request body, decoded, in order."""
    found: list[bytes] = []
    if not isinstance(payload, dict):
        return found
    for message in payload.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                data = _decode_data_uri(url)
                if data is not None:
                    found.append(data)
    for content in payload.get("contents") or []:
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            inline = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                found.append(base64.b64decode(inline["data"]))
    return found
