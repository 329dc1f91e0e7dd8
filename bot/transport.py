"""httpx's client API over aiohttp's connection pool and C HTTP parser.

Measured on this machine, reading a 28 MB 4K answer through httpx's own transport
(httpcore + h11 + anyio) cost 90-120 ms of event-loop CPU: h11 copies every 64 KiB
chunk three times in Python and anyio pauses and resumes the socket around each
read. aiohttp's llhttp parser reads the same body for 15 ms, and a 2 MB 1K answer
for 1.4 ms instead of 10. aiohttp is already here (discord.py is built on it), so
this costs no new dependency; everything above the transport stays httpx: requests,
timeouts, redirects, content decoding, exceptions. (The gateway client reads raw bytes
and decodes them itself, in bounded pieces: see bot.gateway.decoding.)

httpx reads HTTP(S)_PROXY only when it picks its own transport, so with a proxy in
the environment ``http_client`` leaves it to httpx, proxies and all. That transport
ignores ``PUBLIC_ONLY``: behind a proxy, gateway names are still checked beforehand
(bot.gateway.netguard), but where a request connects is the proxy's business.

Two httpx timeouts are not enforced here: ``write`` (a server that stops reading an
upload) and ``pool`` (it is reported as a connect timeout); every caller bounds the
whole exchange with its own deadline anyway.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import ResolveResult
from yarl import URL

from bot.gateway.netguard import PUBLIC_ONLY, is_public_address
from bot.limits import MAX_HTTP_CONNECTIONS

# Sized from the in-flight limits (bot.limits.MAX_HTTP_CONNECTIONS says why), not
# httpx's 100: below the jobs a server may run at once, requests would queue for a
# connection after the admission said yes, and pay the gateway's latency twice. Every
# connection may stay open for reuse, as aiohttp keeps them (httpx's own keeps 20).
DEFAULT_LIMITS = httpx.Limits(
    max_connections=MAX_HTTP_CONNECTIONS, max_keepalive_connections=MAX_HTTP_CONNECTIONS
)
# aiohttp warns about bytes bodies over 1 MiB (one write of the whole body); larger
# request bodies (reference images) go in pieces of this size, each awaiting the
# socket's flow control.
SEND_PIECE_BYTES = 1024 * 1024
# aiohttp refuses a header line over 8190 bytes where httpx (h11) takes a header block
# of up to 16 KiB; a gateway's long cookie or trace header must not fail every request.
MAX_HEADER_LINE_BYTES = 16 * 1024
# Headers aiohttp would add on its own (a bytes body gets application/octet-stream):
# what goes on the wire is what httpx built, nothing more.
_NOT_OURS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


@contextlib.contextmanager
def _as_httpx(request: httpx.Request, *, connecting: bool) -> Iterator[None]:
    """aiohttp's exceptions as the httpx ones callers already handle."""
    try:
        yield
    except httpx.HTTPError:
        raise
    except (aiohttp.NonHttpUrlClientError, aiohttp.InvalidUrlClientError) as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except aiohttp.ClientConnectorError as exc:
        # Refused, DNS, TLS handshake: the cause (and its os_error) tells them apart
        # (bot.gateway.transport_errors). Before ValueError, which the certificate error
        # also is.
        raise httpx.ConnectError(str(exc), request=request) from exc
    except ValueError as exc:  # aiohttp refusing to build the request
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except (aiohttp.SocketTimeoutError, TimeoutError) as exc:
        # Checked after the connect timeout, of which both are parents.
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except aiohttp.ClientResponseError as exc:  # a malformed status line or headers
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except (aiohttp.ClientError, OSError) as exc:
        error = httpx.ConnectError if connecting else httpx.ReadError
        raise error(str(exc) or type(exc).__name__, request=request) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response, self._request = response, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx(self._request, connecting=False):
            # Whatever has arrived, in one piece: no re-chunking to a fixed size.
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # Keeps the connection only when the body was read to its end; a body abandoned
        # early (a size cap, an error) closes it rather than draining the rest.
        self._response.release()


async def _pieces(body: bytes) -> AsyncIterator[memoryview]:
    view = memoryview(body)
    for start in range(0, len(view), SEND_PIECE_BYTES):
        yield view[start : start + SEND_PIECE_BYTES]


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    # The overall deadline is the caller's (asyncio.timeout around the exchange).
    given = request.extensions.get("timeout", {})
    return aiohttp.ClientTimeout(
        total=None,
        connect=given.get("pool"),
        sock_connect=given.get("connect"),
        sock_read=given.get("read"),
    )


class _PublicOnlyResolver(aiohttp.ThreadedResolver):
    """The system resolver, minus every address that is not globally routable.

    aiohttp connects to IP literals without asking a resolver; those are judged by
    netguard before the request, and cannot change in between.
    """

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await super().resolve(host, port, family)
        public = [entry for entry in found if is_public_address(entry["host"])]
        if not public:
            raise OSError(f"{host} resolves to no public address")
        return public


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` for HTTP/1.1 over ``aiohttp.ClientSession``s.

    One session for ordinary requests and one for ``PUBLIC_ONLY`` ones, each made on
    first use, inside the running event loop, as aiohttp requires.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._limits = limits
        # Loading the CA bundle takes tens of ms: at start-up, not in a member's first job.
        self._ssl = ssl_context or httpx.create_ssl_context()
        # Two pools: connections made for public-only requests are never reused for
        # others, nor the other way round.
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def _open(self, public_only: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(public_only)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,  # 0: no limit, as None in httpx
                limit_per_host=0,  # a gateway gets one connection per job in flight
                keepalive_timeout=self._limits.keepalive_expiry,  # None: no expiry in both
                ssl=self._ssl,
                resolver=_PublicOnlyResolver() if public_only else None,
            )
            session = self._sessions[public_only] = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
                trust_env=False,  # httpx picks proxies; see the module docstring
                auto_decompress=False,  # decoded above, where the size cap is counted
                max_line_size=MAX_HEADER_LINE_BYTES,
                max_field_size=MAX_HEADER_LINE_BYTES,
            )
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open(bool(request.extensions.get(PUBLIC_ONLY)))
        body = await request.aread()
        # A streamed request body is buffered by now, so it goes with a Content-Length.
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() != b"transfer-encoding"
        ]
        with _as_httpx(request, connecting=True):
            response = await session.request(
                request.method,
                # httpx already turned a user:password@ into an Authorization header, and
                # aiohttp refuses to see both.
                URL(str(request.url), encoded=True).with_user(None),
                headers=headers,
                skip_auto_headers=_NOT_OURS,
                # httpx's Content-Length header stays, so pieces are not chunk-encoded.
                data=_pieces(body) if len(body) > SEND_PIECE_BYTES else body or None,
                allow_redirects=False,
                timeout=_timeout(request),
            )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def _proxied() -> bool:
    """Whether the environment names a proxy (the variables httpx itself reads)."""
    return any(scheme in urllib.request.getproxies() for scheme in ("http", "https", "all"))


def http_client(
    *, timeout: httpx.Timeout | float | None = 5.0, limits: httpx.Limits = DEFAULT_LIMITS
) -> httpx.AsyncClient:
    """The one way the bot and the CLI make their HTTP client."""
    if _proxied():
        return httpx.AsyncClient(timeout=timeout, limits=limits)
    return httpx.AsyncClient(
        timeout=timeout, limits=limits, transport=AiohttpTransport(limits=limits)
    )
