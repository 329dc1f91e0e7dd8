"""A loopback fake image gateway: real HTTP on 127.0.0.1, scripted answers.

Serves what the seed gateways serve (see ``shared/seeds`` and
``shared/docs/gateway-dialects.md``):

* ``POST /v1/chat/completions``
* ``POST /v1beta/models/{model}:generateContent`` (``model`` may hold a slash)
* ``POST /v1beta/models/{model}:streamGenerateContent`` (SSE with ``?alt=sse``, else one
  JSON array of chunks, as Google answers)
* ``GET /v1/models`` and ``GET /v1beta/models``
* ``GET /hosted/{name}`` for images registered with ``host_image`` (hosted-URL answers)

A test scripts the next answers with ``script(Reply(...), ...)``: any status, headers,
body, delay, or a body streamed in chunks. Unscripted generations get a small PNG in
the Markdown shape (chat) or the native shape (google). Every request is recorded
with its JSON body and its input images decoded. Requests a real gateway would refuse
(not JSON, no ``messages`` / ``contents``, wrong key when ``api_key`` is set) are
refused here too, so a broken client cannot pass by accident.

Streaming, as real gateways do it (``FakeGateway(streaming=...)``):

* ``"yes"`` (default): a chat request with ``"stream": true`` and the native
  ``:streamGenerateContent`` route get a stream; everything else plain JSON.
* ``"no"``: ``stream: true`` gets 400 "Streaming is not supported" and the native
  stream route 404 (seed 001's gateway).
* ``"only"``: a request that does not ask for a stream gets a text-only answer (no
  image; gateways that deliver images only when streaming); streamed ones as "yes".
* ``"always"``: every generation is streamed, ``stream: false`` or not (OpenRouter,
  some one-api deployments).

A scripted ``Reply`` whose ``body`` is a chat.completion (or generateContent) dict
with a status below 400 is turned into chunks (``chat_stream_events`` /
``google_stream_events``) when the answer is streamed; error bodies, str and bytes
go out unchanged. ``Reply(sse=[...])`` sends exactly those events, streamed or not.
``RecordedRequest.streamed`` tells whether a request asked for a stream.

Transport faults, on any reply (see ``Reply``): ``pieces=(low, high)`` writes the body
in random pieces that split lines and events anywhere; ``cut_after=n`` closes the
socket after n body bytes; ``encoding`` compresses the body (gzip, deflate, br, zstd) or
labels it with an encoding nobody can decode; ``chunked`` picks the framing. Every
such reply leaves a ``StreamRecord`` in ``streams``. (``Reply(stream=n)``, the large
filler body, ignores them.) A piece costs two turns of the event loop: keep the
range in proportion to the body (``(1, 16)`` for a few KB, ``(512, 8192)`` for MBs).

The module-level builders (``markdown_response``, ``parts_response``,
``images_response``, ``google_response``, the error bodies; and, from
``gateway_stream``, ``chat_stream_events``, ``google_stream_events``,
``stream_error_event``, ``error_event``, ``sse_bytes``, ``DONE``, ``KEEPALIVE``) make every response
shape the client must accept; use them with or without the server.

    async with FakeGateway() as gw:
        gw.script(Reply(body=images_response([png_bytes()])))
        ...  # point the client at gw.base_url (chat) or gw.google_base_url (google)
        assert gw.requests[0].images == [...]

    gw.script(Reply(sse=[*chat_stream_events(images_response([png]))[:-2],
                         stream_error_event("Provider disconnected")],
                    pieces=(1, 64), content_type="application/json"))
    gw.script(Reply(body=markdown_response([png]), encoding="br", cut_after=500))
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# The streaming builders are re-exported: tests import every builder from here.
from tests.fakes.gateway_stream import (
    DONE,  # noqa: F401
    KEEPALIVE,  # noqa: F401
    SseEvent,
    StreamRecord,
    chat_stream_events,
    encode_segments,
    error_event,  # noqa: F401
    google_stream_events,
    json_array_segments,
    send_segments,
    split_pieces,
    sse_bytes,  # noqa: F401
    sse_segments,
    stream_error_event,  # noqa: F401
)

DEFAULT_MODELS = (
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
    "google/gemini-3-pro-image",
)
# Gemini 3 Pro answers up to ~30 MB of JSON for a 4K PNG; the default aiohttp cap is 1 MiB.
CLIENT_MAX_SIZE = 128 * 1024 * 1024

ImageRef = bytes | str  # image bytes, or a ready URL / data URI / bare base64 string


# --------------------------------------------------------------------------- images


def png_bytes(
    width: int = 8, height: int = 8, color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(
    width: int = 8, height: int = 8, color: tuple[int, int, int] = (40, 40, 200)
) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "application/octet-stream"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url(data: bytes, mime: str | None = None) -> str:
    return f"data:{mime or sniff(data)};base64,{b64(data)}"


def _ref(image: ImageRef, mime: str | None) -> str:
    return image if isinstance(image, str) else data_url(image, mime)


# --------------------------------------------------------------------------- chat shapes


def chat_completion(
    message: Mapping[str, Any],
    *,
    finish_reason: str | None = "stop",
    native_finish_reason: str | None = None,
    model: str = "gemini-2.5-flash-image",
    usage: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A chat.completion envelope around one assistant message."""
    choice: dict[str, Any] = {"index": 0, "message": dict(message), "finish_reason": finish_reason}
    if native_finish_reason is not None:
        choice["native_finish_reason"] = native_finish_reason
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1779703910,
        "model": model,
        "choices": [choice],
    }
    if usage is not None:
        body["usage"] = dict(usage)
    return body


def markdown_response(
    images: Sequence[ImageRef] = (), text: str = "", *, mime: str | None = None, **kw: Any
) -> dict[str, Any]:
    """Seed 000: ``content`` is a string with ``![image](data:...)`` and optional text."""
    pieces = [text] if text else []
    pieces += [f"![image]({_ref(image, mime)})" for image in images]
    return chat_completion({"role": "assistant", "content": "\n\n".join(pieces)}, **kw)


def parts_response(
    images: Sequence[ImageRef] = (), text: str = "", *, mime: str | None = None, **kw: Any
) -> dict[str, Any]:
    """Seed 001: ``content`` is an array of ``text`` and ``image_url`` parts."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts += [{"type": "image_url", "image_url": {"url": _ref(image, mime)}} for image in images]
    return chat_completion({"role": "assistant", "content": parts}, **kw)


def images_response(
    images: Sequence[ImageRef] = (), text: str | None = None, *, mime: str | None = None, **kw: Any
) -> dict[str, Any]:
    """Seed 002: ``message.images[].image_url.url`` with ``content`` null (or text)."""
    message = {
        "role": "assistant",
        "content": text,
        "images": [
            {"type": "image_url", "image_url": {"url": _ref(image, mime)}} for image in images
        ],
    }
    return chat_completion(message, **kw)


# --------------------------------------------------------------------------- google shape


def inline_part(data: bytes, mime: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime or sniff(data), "data": b64(data)}, **extra}


def google_response(
    images: Sequence[bytes] = (),
    text: str = "",
    *,
    thought_images: Sequence[bytes] = (),
    thought_signature: str | Sequence[str] | None = None,
    parts: Sequence[Mapping[str, Any]] | None = None,
    finish_reason: str | None = "STOP",
    usage: Mapping[str, int] | None = None,
    model_version: str | None = "gemini-3-pro-image-preview",
    block_reason: str | None = None,
) -> dict[str, Any]:
    """Native generateContent answer.

    Interim thought images come first with ``thought: true``; then the text and the
    final images. ``thought_signature`` (one string for all, or one per final part)
    goes on every non-thought part, as Gemini 3 does. ``parts`` replaces all of that
    verbatim. ``block_reason`` gives a prompt-blocked answer with no candidates.
    """
    body: dict[str, Any] = {}
    if block_reason is not None:
        body["promptFeedback"] = {"blockReason": block_reason}
    else:
        if parts is None:
            built: list[dict[str, Any]] = [inline_part(t, thought=True) for t in thought_images]
            final: list[dict[str, Any]] = [{"text": text}] if text else []
            final += [inline_part(image) for image in images]
            if thought_signature is not None:
                signatures = (
                    itertools.repeat(thought_signature)
                    if isinstance(thought_signature, str)
                    else iter(thought_signature)
                )
                final = [
                    {**part, "thoughtSignature": sig}
                    for part, sig in zip(final, signatures, strict=False)
                ]
            parts = built + final
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
        if finish_reason is not None:
            candidate["finishReason"] = finish_reason
        body["candidates"] = [candidate]
    body["usageMetadata"] = dict(
        usage or {"promptTokenCount": 18, "candidatesTokenCount": 1290, "totalTokenCount": 1308}
    )
    if model_version:
        body["modelVersion"] = model_version
    return body


# --------------------------------------------------------------------------- error shapes


def openai_error(
    message: str,
    *,
    code: int | str | None = None,
    type: str = "invalid_request_error",
    **extra: Any,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code, **extra}}


def google_error(
    code: int, message: str, status: str, details: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = [dict(d) for d in details]
    return {"error": error}


def array_error(code: int, message: str, status: str) -> list[dict[str, Any]]:
    """Google's OpenAI-compatibility layer: the error object inside a JSON array."""
    return [google_error(code, message, status)]


def choice_error(message: str, code: int = 502, **kw: Any) -> dict[str, Any]:
    """OpenRouter's mid-generation error: status 200, ``choices[0].error``."""
    body = chat_completion({"role": "assistant", "content": ""}, finish_reason="error", **kw)
    body["choices"][0]["error"] = {"code": code, "message": message}
    return body


def moderation_error(
    reasons: Sequence[str], message: str = "Your input was flagged by moderation"
) -> dict[str, Any]:
    """OpenRouter's 403 moderation block."""
    return {
        "error": {
            "code": 403,
            "message": message,
            "metadata": {
                "reasons": list(reasons),
                "flagged_input": "a picture of...",
                "provider_name": "fake",
                "model_slug": "google/gemini-3-pro-image",
            },
        }
    }


def retry_info(seconds: float) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"}


# --------------------------------------------------------------------------- server


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


def _as_events(reply: Reply, shape: str | None) -> list[Any] | None:
    """A success body as the chunks a gateway streaming in ``shape`` sends; else None."""
    body = reply.body
    if shape is None or reply.status >= 400 or not isinstance(body, dict):
        return None
    if shape == "chat":
        return chat_stream_events(body) if "choices" in body else None
    if "candidates" in body or "promptFeedback" in body:
        return google_stream_events(body)
    return None


def _body_bytes(reply: Reply) -> tuple[bytes, str]:
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


STREAMING_MODES = ("yes", "no", "only", "always")
# What an "only" gateway says to a request that did not ask for a stream.
TEXT_ONLY_ANSWER = "Here is the image you asked for."


class FakeGateway:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Iterable[str] = DEFAULT_MODELS,
        client_max_size: int = CLIENT_MAX_SIZE,
        streaming: str = "yes",
    ) -> None:
        if streaming not in STREAMING_MODES:
            raise ValueError(f"streaming must be one of {STREAMING_MODES}")
        self.streaming = streaming
        self.api_key = api_key
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self.streams: list[StreamRecord] = []
        self.hosted: dict[str, tuple[bytes, str, int]] = {}
        self.default_image = png_bytes(16, 16)
        self._script: list[Script] = []
        self._client_max_size = client_max_size
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()

    # -- lifecycle

    async def start(self) -> FakeGateway:
        app = web.Application(client_max_size=self._client_max_size)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1beta/models/{tail:.+}", self._native)
        app.router.add_get("/v1/models", self._list_openai)
        app.router.add_get("/v1beta/models", self._list_google)
        app.router.add_get("/hosted/{name}", self._hosted)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGateway:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def google_base_url(self) -> str:
        return f"{self.root_url}/v1beta"

    # -- scripting

    def script(self, *replies: Script) -> None:
        """Queue the next answers to generation requests (chat and native alike)."""
        self._script.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._script)

    def host_image(self, data: bytes, mime: str | None = None, *, status: int = 200) -> str:
        name = f"img{len(self.hosted)}.{(mime or sniff(data)).rsplit('/', 1)[-1]}"
        self.hosted[name] = (data, mime or sniff(data), status)
        return f"{self.root_url}/hosted/{name}"

    async def wait_for_requests(self, count: int) -> list[RecordedRequest]:
        """Wait until ``count`` requests have been recorded (bound it with asyncio.timeout)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests[:count]

    # -- handlers

    async def _record(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=payload,
            images=request_images(payload),
            query=dict(request.query),
        )
        async with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()
        return recorded

    def _key_ok(self, recorded: RecordedRequest) -> bool:
        if self.api_key is None:
            return True
        headers = recorded.headers
        return (
            headers.get("authorization") == f"Bearer {self.api_key}"
            or headers.get("x-goog-api-key") == self.api_key
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if not self._key_ok(recorded):
            return web.json_response(
                openai_error("Invalid API key", code="invalid_api_key"), status=401
            )
        payload = recorded.json
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("messages"), list)
            or not payload.get("model")
        ):
            return web.json_response(openai_error("messages and model are required"), status=400)
        if payload.get("stream") and self.streaming == "no":
            return web.json_response(openai_error("Streaming is not supported"), status=400)
        streamed = bool(payload.get("stream")) or self.streaming == "always"
        if self.streaming == "only" and not streamed:
            body = markdown_response(text=TEXT_ONLY_ANSWER, model=payload["model"])
        else:
            body = markdown_response([self.default_image], model=payload["model"])
        return await self._answer(request, recorded, Reply(body=body), "chat" if streamed else None)

    async def _native(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        method = request.match_info["tail"].rsplit(":", 1)[-1]
        if method not in ("generateContent", "streamGenerateContent") or (
            method == "streamGenerateContent" and self.streaming == "no"
        ):
            raise web.HTTPNotFound()
        if not self._key_ok(recorded):
            return web.json_response(
                google_error(
                    401, "API key not valid. Please pass a valid API key.", "UNAUTHENTICATED"
                ),
                status=401,
            )
        payload = recorded.json
        if not isinstance(payload, dict) or not isinstance(payload.get("contents"), list):
            return web.json_response(
                google_error(400, "contents is required", "INVALID_ARGUMENT"), status=400
            )
        streamed = method == "streamGenerateContent" or self.streaming == "always"
        if self.streaming == "only" and not streamed:
            default = Reply(body=google_response(text=TEXT_ONLY_ANSWER))
        else:
            default = Reply(body=google_response([self.default_image]))
        as_array = method == "streamGenerateContent" and request.query.get("alt") != "sse"
        shape = None if not streamed else "google-array" if as_array else "google"
        return await self._answer(request, recorded, default, shape)

    async def _answer(
        self,
        request: web.Request,
        recorded: RecordedRequest,
        default: Reply,
        stream_shape: str | None = None,
    ) -> web.StreamResponse:
        """Send the next scripted reply (or ``default``); ``stream_shape`` streams it."""
        reply = self._script.pop(0) if self._script else default
        if callable(reply):
            reply = reply(recorded)
        if reply.hold is not None:
            waits = [asyncio.ensure_future(e.wait()) for e in (reply.hold, self._closing)]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            if self._closing.is_set():
                return web.json_response(openai_error("shutting down", code=503), status=503)
        if reply.delay:
            try:
                await asyncio.wait_for(self._closing.wait(), reply.delay)
            except TimeoutError:
                pass
            if self._closing.is_set():
                return web.json_response(openai_error("shutting down", code=503), status=503)
        if reply.stream is not None:
            return await self._stream(request, reply)
        events = _as_events(reply, stream_shape) if reply.sse is None else None
        if reply.plain and events is None:
            data, content_type = _body_bytes(reply)
            headers = {"Content-Type": content_type, **reply.headers}
            return web.Response(status=reply.status, body=data, headers=headers)
        return await self._write(request, reply, events, stream_shape == "google-array")

    async def _write(
        self, request: web.Request, reply: Reply, events: list[Any] | None, as_array: bool
    ) -> web.StreamResponse:
        """The piece writer: streamed shapes, random pieces, compression, cuts."""
        streaming = True
        content_type = reply.content_type
        if reply.sse is not None:
            segments = sse_segments(reply.sse, line_end=reply.line_end)
        elif events is not None and as_array:
            segments = json_array_segments(events)
            content_type = content_type or "application/json"
        elif events is not None:
            segments = sse_segments(events, line_end=reply.line_end)
        else:
            streaming = False
            data, content_type = _body_bytes(reply)
            segments = [data]
        headers = {"Content-Type": content_type or "text/event-stream", **reply.headers}
        if streaming:
            headers.setdefault("Cache-Control", "no-cache")
        if reply.encoding is not None:
            headers["Content-Encoding"] = reply.encoding
            segments = encode_segments(segments, reply.encoding)
        if reply.pieces is not None:
            segments = split_pieces(b"".join(segments), reply.pieces, reply.seed)
        record = StreamRecord(total=sum(map(len, segments)))
        self.streams.append(record)
        return await send_segments(
            request,
            web.StreamResponse(status=reply.status, headers=headers),
            segments,
            record,
            chunked=streaming if reply.chunked is None else reply.chunked,
            cut_after=reply.cut_after,
            piece_delay=reply.piece_delay,
        )

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        assert reply.stream is not None
        record = StreamRecord(total=reply.stream)
        self.streams.append(record)
        response = web.StreamResponse(
            status=reply.status,
            headers={"Content-Type": reply.content_type or "application/json", **reply.headers},
        )
        with record.writing():
            await response.prepare(request)
            piece = b" " * reply.chunk
            while record.sent < record.total and not self._closing.is_set():
                n = min(reply.chunk, record.total - record.sent)
                await response.write(piece[:n])
                record.sent += n
            await response.write_eof()
        return response

    async def _list_openai(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if not self._key_ok(recorded):
            return web.json_response(
                openai_error("Invalid API key", code="invalid_api_key"), status=401
            )
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models],
            }
        )

    async def _list_google(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if not self._key_ok(recorded):
            return web.json_response(
                google_error(401, "API key not valid.", "UNAUTHENTICATED"), status=401
            )
        return web.json_response({"models": [{"name": f"models/{m}"} for m in self.models]})

    async def _hosted(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        entry = self.hosted.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        data, mime, status = entry
        return web.Response(status=status, body=data, content_type=mime)
