"""bot.transport against a raw HTTP/1.1 server on 127.0.0.1 that scripts every byte.

What the server read off the socket is what is asserted: the transport must put on
the wire exactly the request httpx built, hand back exactly what the server sent,
and fail with the httpx exceptions the gateway client maps to user messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from bot.limits import MAX_SERVER_JOBS
from bot.transport import http_client


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Conn:
    """One accepted connection, as a handler sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    stopping: asyncio.Event

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def stall(self) -> None:
        """Send nothing more until the client hangs up or the test ends."""
        hung_up = asyncio.ensure_future(self.reader.read(1))
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait((hung_up, stop), return_when=asyncio.FIRST_COMPLETED)
        hung_up.cancel()
        stop.cancel()


Handler = Callable[[Seen, Conn], Awaitable[None]]


@dataclass
class RawServer:
    handler: Handler
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = Conn(reader, writer, self.stopping)
        try:
            while not self.stopping.is_set():
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [
                    (k.strip(), v.strip()) for k, v in (x.split(":", 1) for x in lines[1:] if x)
                ]
                length = int(dict((k.lower(), v) for k, v in headers).get("content-length", 0))
                seen = Seen(method, target, headers, await reader.readexactly(length))
                self.requests.append(seen)
                await self.handler(seen, conn)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            writer.close()


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    server = RawServer(handler)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        try:
            yield server
        finally:
            server.stopping.set()


def response(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers, "", ""]
    return "\r\n".join(head).encode() + body


async def test_request_and_response_cross_the_wire_unchanged() -> None:
    payload = os.urandom(3 * 1024 * 1024)
    answer = os.urandom(5 * 1024 * 1024)

    async def handler(seen: Seen, conn: Conn) -> None:
        data = response("201 Created", answer, "X-Multi: a", "X-Multi: b")
        for i in range(0, len(data), 700_000):  # several writes: the body arrives in pieces
            conn.write(data[i : i + 700_000])
            await conn.writer.drain()

    async with raw_server(handler) as server, http_client() as http:
        request = http.build_request(
            "POST",
            f"{server.url}/v1/chat%2Fcompletions?a=1&b=%20",
            content=payload,
            headers=[("X-Tag", "one"), ("X-Tag", "two"), ("Authorization", "Bearer k")],
        )
        got = await http.send(request)

    seen = server.requests[0]
    assert (seen.method, seen.target) == ("POST", "/v1/chat%2Fcompletions?a=1&b=%20")
    assert seen.body == payload
    # Exactly httpx's headers, as spelled and ordered: none dropped, none added (no Content-Type).
    assert [(k.encode(), v.encode()) for k, v in seen.headers] == request.headers.raw
    assert got.status_code == 201 and got.reason_phrase == "Created"
    assert got.headers.get_list("x-multi") == ["a", "b"]
    assert got.content == answer


async def test_a_streamed_request_body_is_sent_with_its_length() -> None:
    async def handler(seen: Seen, conn: Conn) -> None:
        conn.write(response("200 OK", b"ok"))

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"first ", b"second"):
            yield part

    async with raw_server(handler) as server, http_client() as http:
        await http.post(server.url, content=parts())

    seen = server.requests[0]
    assert seen.body == b"first second"
    assert not any(k.lower() == "transfer-encoding" for k, _ in seen.headers)


async def test_gzip_is_decoded_by_httpx() -> None:
    document = {"choices": [{"message": {"content": "x" * 100_000}}]}

    async def handler(seen: Seen, conn: Conn) -> None:
        packed = gzip.compress(json.dumps(document).encode())
        conn.write(response("200 OK", packed, "Content-Encoding: gzip"))

    async with raw_server(handler) as server, http_client() as http:
        got = await http.get(server.url)
    assert got.json() == document


async def test_a_long_response_header_is_accepted_as_httpx_would() -> None:
    trace = "t" * 12_000  # past aiohttp's default 8190, within h11's 16 KiB

    async def handler(seen: Seen, conn: Conn) -> None:
        conn.write(response("200 OK", b"ok", f"X-Trace: {trace}"))

    async with raw_server(handler) as server, http_client() as http:
        got = await http.get(server.url)
    assert got.headers["x-trace"] == trace and got.content == b"ok"


async def test_connections_are_kept_alive_between_requests() -> None:
    async def handler(seen: Seen, conn: Conn) -> None:
        conn.write(response("200 OK", seen.target.encode()))

    async with raw_server(handler) as server, http_client() as http:
        bodies = [(await http.get(f"{server.url}/{i}")).content for i in range(3)]
    assert bodies == [b"/0", b"/1", b"/2"]
    assert server.connections == 1


async def test_a_body_abandoned_early_closes_its_connection() -> None:
    async def handler(seen: Seen, conn: Conn) -> None:
        if seen.target == "/huge":
            # Announces 50 MB, sends 1 MB, then waits: the client must hang up, not drain.
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
            conn.write(b"\0" * 1024 * 1024)
            await conn.stall()
        else:
            conn.write(response("200 OK", b"small"))

    async with raw_server(handler) as server, http_client() as http:
        async with http.stream("GET", f"{server.url}/huge") as got:
            async for _ in got.aiter_bytes():
                break
        await asyncio.wait_for(server.closed.wait(), 30)
        assert (await http.get(f"{server.url}/next")).content == b"small"
    assert server.connections == 2


async def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with http_client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_stalled_body_is_a_read_timeout() -> None:
    async def handler(seen: Seen, conn: Conn) -> None:
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf")
        await conn.stall()

    async with (
        raw_server(handler) as server,
        http_client(timeout=httpx.Timeout(5, read=0.2)) as http,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url)


async def test_a_body_cut_short_is_a_read_error() -> None:
    async def handler(seen: Seen, conn: Conn) -> None:
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await conn.writer.drain()
        conn.writer.close()

    async with raw_server(handler) as server, http_client() as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.get(server.url)
    assert not isinstance(caught.value, httpx.TimeoutException)


async def test_a_server_hanging_up_without_an_answer_is_a_protocol_error() -> None:
    async def handler(seen: Seen, conn: Conn) -> None:
        conn.writer.transport.abort()

    async with raw_server(handler) as server, http_client() as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.post(server.url, content=b"{}")


async def test_a_url_that_is_not_http_is_unsupported() -> None:
    async with http_client() as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/image.png")


async def test_credentials_in_the_url_go_as_basic_auth_only() -> None:
    async def handler(seen: Seen, conn: Conn) -> None:
        conn.write(response("200 OK", b"ok"))

    async with raw_server(handler) as server, http_client() as http:
        got = await http.get(f"http://user:pw@127.0.0.1:{server.port}/x")

    assert got.content == b"ok"
    seen = server.requests[0]
    assert seen.target == "/x"
    assert ("Authorization", "Basic dXNlcjpwdw==") in seen.headers  # base64 of user:pw


async def test_a_proxy_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async def proxy(seen: Seen, conn: Conn) -> None:
        conn.write(response("200 OK", b"via the proxy"))

    async with raw_server(proxy) as server:
        for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", server.url)
        async with http_client() as http:
            got = await http.get("http://origin.invalid/image.png")

    assert got.content == b"via the proxy"
    assert server.requests[0].target == "http://origin.invalid/image.png"  # a proxy request


async def test_public_only_requests_never_connect_to_a_private_address() -> None:
    from bot.transport import PUBLIC_ONLY

    async def handler(seen: Seen, conn: Conn) -> None:
        conn.write(response("200 OK", b"internal"))

    async with raw_server(handler) as server, http_client() as http:
        url = f"http://localhost:{server.port}/"  # a name: resolved when connecting
        assert (await http.get(url)).content == b"internal"
        with pytest.raises(httpx.ConnectError):
            await http.get(url, extensions={PUBLIC_ONLY: True})
    assert len(server.requests) == 1


async def test_the_pool_holds_every_job_a_server_may_run_at_once() -> None:
    """No connection cap below the in-flight limits: each request has its own, at once."""
    wanted = MAX_SERVER_JOBS + 1  # above httpx's default of 100, which once capped it
    everyone_in = asyncio.Event()

    async def handler(seen: Seen, conn: Conn) -> None:
        if len(server.requests) >= wanted:
            everyone_in.set()
        await everyone_in.wait()  # nobody is answered before every request is in
        conn.write(response("200 OK", b"ok"))

    async with raw_server(handler) as server, http_client() as http:
        async with asyncio.timeout(30):
            answers = await asyncio.gather(*(http.get(f"{server.url}/{i}") for i in range(wanted)))

    assert [a.text for a in answers] == ["ok"] * wanted
    assert server.connections == wanted
