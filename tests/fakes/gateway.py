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

The builders, re-exported here (from ``gateway_shapes``: ``markdown_response``,
``parts_response``, ``images_response``, ``google_response``, the error bodies; from
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

``Reply`` and ``RecordedRequest`` live in ``gateway_script``, re-exported here too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

# What a test scripts and what the fake records.
from tests.fakes.gateway_script import (
    RecordedRequest,
    Reply,
    Script,
    as_events,
    body_bytes,
    request_images,
)

# The answer builders too.
from tests.fakes.gateway_shapes import (
    ImageRef,  # noqa: F401
    array_error,  # noqa: F401
    b64,  # noqa: F401
    chat_completion,  # noqa: F401
    choice_error,  # noqa: F401
    data_url,  # noqa: F401
    google_error,
    google_response,
    images_response,  # noqa: F401
    inline_part,  # noqa: F401
    jpeg_bytes,  # noqa: F401
    markdown_response,
    moderation_error,  # noqa: F401
    openai_error,
    parts_response,  # noqa: F401
    png_bytes,
    retry_info,  # noqa: F401
    sniff,
)

# The streaming builders are re-exported: tests import every builder from here.
from tests.fakes.gateway_stream import (
    DONE,  # noqa: F401
    KEEPALIVE,  # noqa: F401
    SseEvent,  # noqa: F401
    StreamRecord,
    chat_stream_events,  # noqa: F401
    encode_segments,
    error_event,  # noqa: F401
    google_stream_events,  # noqa: F401
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

# --------------------------------------------------------------------------- server


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
        # Requests whose client closed the connection while their answer was held.
        self.hung_up: list[RecordedRequest] = []
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

    async def wait_for_hang_ups(self, count: int) -> list[RecordedRequest]:
        """Wait until ``count`` held requests were hung up by the client."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.hung_up) >= count)
        return self.hung_up[:count]

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
            waits.append(asyncio.ensure_future(_hung_up(request)))
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            if waits[2].done() and not waits[2].cancelled():
                async with self._arrived:
                    self.hung_up.append(recorded)
                    self._arrived.notify_all()
                return web.Response(status=499)
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
        events = as_events(reply, stream_shape) if reply.sse is None else None
        if reply.plain and events is None:
            data, content_type = body_bytes(reply)
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
            data, content_type = body_bytes(reply)
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
            hold_last=reply.hold_last,
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


async def _hung_up(request: web.Request) -> None:
    """Return once the client closed the connection (aiohttp leaves the handler running)."""
    # aiohttp gives a handler no connection-lost event (handler cancellation is off).
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
