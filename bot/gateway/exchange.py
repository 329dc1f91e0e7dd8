"""One HTTP exchange with a gateway: within the timeout, the size cap and the network guard.

The body is read raw and decoded here, a bounded piece at a time, so that a compressed
answer is refused as it grows past the cap; transport failures become the project's
errors with words (``bot.gateway.transport_errors``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, BinaryIO

import httpx

from bot.errors import GatewayRejected, ResponseTooLarge
from bot.gateway.addresses import gateway_address
from bot.gateway.decoding import BodyDecoder, undecodable_encoding
from bot.gateway.netguard import PUBLIC_ONLY, Resolver, ensure_public_url
from bot.gateway.transport_errors import encoding_error, transport_error
from bot.i18n import _
from bot.types import GatewayConfig

log = logging.getLogger(__name__)

# Nothing compressed, please: images barely compress, and decoding gzip costs the event
# loop ~130 ms for a 28 MB answer (brotli ~90) that arrives uncompressed for ~20. A body
# compressed anyway is still decoded, a bounded piece at a time (bot.gateway.decoding).
ACCEPT_ENCODING = "identity"
# Connecting (TCP and TLS) takes well under a second on a sane network; past this the
# host is not going to accept.
MAX_CONNECT_SECONDS = 30.0
# Decoded bytes after which one network chunk's decoding gives the event loop a turn.
YIELD_EVERY_BYTES = 8 * 1024 * 1024


# Where a body goes: a file, or what opens one once the response's headers are in.
Sink = BinaryIO | Callable[[httpx.Headers], BinaryIO]


def declared_length(headers: httpx.Headers) -> int | None:
    """The body's Content-Length, when the response declares one."""
    declared = headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


def retry_after_header(headers: httpx.Headers) -> str | None:
    """Retry-After, or OpenRouter-style ``retry-after-ms`` in seconds."""
    value = headers.get("retry-after")
    if value is None and headers.get("retry-after-ms"):
        try:
            return str(float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            return None
    return value


async def fetch(
    http: httpx.AsyncClient,
    gateway: GatewayConfig,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    cap: int,
    *,
    resolve: Resolver | None = None,
    sink: Sink | None = None,
) -> tuple[int, httpx.Headers, bytes]:
    """Status, headers and body of one exchange, within the timeout and the size cap.

    With ``sink`` the body is written there chunk by chunk and ``b""`` returned (a
    callable sink is called with the response's headers for the file). Private
    addresses are refused unless the gateway allows them (``resolve`` answers for DNS).
    """
    extensions: dict[str, Any] = {}
    if not gateway.allow_private_network:
        await ensure_public_url(url, resolve=resolve)
        extensions[PUBLIC_ONLY] = True  # and checked again on the addresses connected to
    started = time.monotonic()
    # Shorter than the whole attempt, so that a host that never accepts is told apart
    # from one that accepted and then took too long.
    connect = min(MAX_CONNECT_SECONDS, gateway.timeout / 2)
    response: httpx.Response | None = None
    try:
        async with asyncio.timeout(gateway.timeout):
            async with http.stream(
                method,
                url,
                headers=headers,
                content=body,
                timeout=httpx.Timeout(gateway.timeout, connect=connect),
                extensions=extensions,
            ) as response:
                encoding = undecodable_encoding(response.headers.get("content-encoding"))
                if encoding is not None:
                    raise encoding_error(url, encoding)
                if callable(sink):
                    sink = sink(response.headers)
                data = await read_capped(response, cap, sink)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise GatewayRejected(_("The gateway base URL is not a valid http(s) URL.")) from exc
    except (TimeoutError, httpx.TransportError, httpx.DecodingError) as exc:
        raise transport_error(
            exc,
            url,
            timeout=gateway.timeout,
            connect_timeout=connect,
            received=None if response is None else response.num_bytes_downloaded,
            content_encoding=None if response is None else response.headers.get("content-encoding"),
        ) from exc
    log.debug(
        "%s %s -> %d, %d bytes in %.2fs",
        method,
        gateway_address(url),
        response.status_code,
        sink.tell() if sink is not None and not callable(sink) else len(data),
        time.monotonic() - started,
    )
    return response.status_code, response.headers, data


async def _aiter(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def read_capped(response: httpx.Response, cap: int, sink: BinaryIO | None = None) -> bytes:
    """The body, decoded, abandoned (connection closed unread) as soon as it passes ``cap``.

    The raw bytes are decoded here, not by httpx, in bounded pieces each counted before
    it is kept: a compressed body is refused as it grows past the cap, not after a
    whole network chunk of it has been inflated. With ``sink``, pieces are written
    there (a page-cache write of one piece is microseconds) instead of being gathered,
    and ``b""`` is returned.
    """
    declared = declared_length(response.headers)
    if declared is not None and declared > cap:
        raise ResponseTooLarge()
    # A response built with its body (httpx.MockTransport) was read, and decoded, already.
    given = response.is_stream_consumed
    decoder = BodyDecoder(None if given else response.headers.get("content-encoding"))
    chunks: list[bytes] = []
    size = 0
    unyielded = 0

    def keep(piece: bytes) -> None:
        nonlocal size
        size += len(piece)
        if size > cap:
            raise ResponseTooLarge()
        if sink is None:
            chunks.append(piece)
        else:
            sink.write(piece)

    async for raw in _aiter([response.content]) if given else response.aiter_raw():
        if response.num_bytes_downloaded > cap:  # compressed bytes that decode to little
            raise ResponseTooLarge()
        for piece in decoder.feed(raw):
            keep(piece)
            # A network chunk that inflates to many pieces lets the loop run between them.
            unyielded += len(piece)
            if unyielded >= YIELD_EVERY_BYTES:
                unyielded = 0
                await asyncio.sleep(0)
        unyielded = 0
    for piece in decoder.flush():
        keep(piece)
    return b"".join(chunks)
