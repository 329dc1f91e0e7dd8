"""Transport failures in words, through both transports (aiohttp's and httpx's own).

Every failure is real: a closed port, a name under ``.invalid``, a loopback TLS server
with a certificate made here, a listener whose accept queue is full, a raw server that
hangs up mid-body, bodies in encodings we did or did not ask for.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import brotli
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.errors import GatewayError, GatewayTimeout, GatewayUnavailable, MalformedResponse
from bot.gateway.addresses import host_of
from bot.gateway.client import GatewayClient
from bot.gateway.decoding import undecodable_encoding
from bot.gateway.netguard import ensure_public_url
from bot.transport import AiohttpTransport
from bot.types import GatewayConfig, ImageRequest
from bot.workers import CpuPool
from tests.fakes.gateway import Reply, markdown_response, png_bytes

from .conftest import API_KEY

PNG = png_bytes(6, 4)
REQUEST = ImageRequest(model="gemini-2.5-flash-image", prompt="a lighthouse")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["aiohttp", "httpx"])
async def any_client(request, cpu_pool: CpuPool) -> AsyncIterator[GatewayClient]:
    """The client over the bot's transport, and over httpx's own (used behind a proxy)."""
    transport = AiohttpTransport() if request.param == "aiohttp" else None
    async with httpx.AsyncClient(transport=transport) as http:
        yield GatewayClient(http, cpu_pool, backoff_base=0.001)


def gateway(base_url: str, **kw) -> GatewayConfig:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10.0)
    return GatewayConfig(base_url=base_url, api_key=API_KEY, **kw)


async def failure(client: GatewayClient, config: GatewayConfig) -> GatewayError:
    # A safety bound so that a resolver that hangs fails the test instead of the suite.
    async with asyncio.timeout(60):
        with pytest.raises(GatewayError) as info:
            await client.generate(config, REQUEST)
    return info.value


async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None):
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":", 1)[1]))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_context() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as pem:
        pem.write(cert.public_bytes(serialization.Encoding.PEM))
        pem.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        pem.flush()
        context.load_cert_chain(pem.name)
    return context


# --------------------------------------------------------------------------- connecting


async def test_connection_refused_names_the_host(any_client):
    port = closed_port()
    exc = await failure(any_client, gateway(f"http://user:pw@127.0.0.1:{port}/v1?key=abc"))
    assert isinstance(exc, GatewayUnavailable) and exc.retryable
    assert str(exc) == f"The image service at 127.0.0.1:{port} refused the connection."


async def test_name_that_does_not_resolve(any_client):
    exc = await failure(any_client, gateway("https://imagine-gateway.invalid/v1"))
    assert isinstance(exc, GatewayUnavailable) and exc.retryable
    assert str(exc) == (
        "The image service's host name imagine-gateway.invalid does not resolve "
        "(DNS lookup failed)."
    )


async def test_name_that_does_not_resolve_before_the_ssrf_check():
    with pytest.raises(GatewayUnavailable) as info:
        await ensure_public_url("https://imagine-gateway.invalid/v1")
    assert str(info.value) == (
        "The image service's host name imagine-gateway.invalid does not resolve "
        "(DNS lookup failed)."
    )


async def test_untrusted_certificate_names_the_reason(any_client):
    async def handler(reader, writer):
        try:
            await read_request(reader)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        writer.close()

    server, port = await serve(handler, self_signed_context())
    async with server:
        exc = await failure(any_client, gateway(f"https://127.0.0.1:{port}/v1"))
    assert isinstance(exc, GatewayUnavailable) and exc.retryable
    assert str(exc) == (
        f"The secure (TLS) connection to the image service at 127.0.0.1:{port} failed: "
        "certificate verify failed: self-signed certificate."
    )


async def test_plain_http_server_behind_an_https_url(any_client):
    async def handler(reader, writer):
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server, port = await serve(handler)
    async with server:
        exc = await failure(any_client, gateway(f"https://127.0.0.1:{port}/v1"))
    assert isinstance(exc, GatewayUnavailable)
    prefix = f"The secure (TLS) connection to the image service at 127.0.0.1:{port} failed: "
    assert str(exc).startswith(prefix)
    reason = str(exc)[len(prefix) :]
    # OpenSSL's own short reason, in words: no brackets, no file names, no class names.
    assert reason.endswith(".") and "[" not in reason and "_ssl.c" not in reason
    assert "SSL" not in reason and len(reason) > 5


async def test_host_that_never_accepts_is_a_connect_timeout(any_client):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    # Fill the accept queue: the kernel then drops the client's SYN, as a black hole does.
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    try:
        exc = await failure(any_client, gateway(f"http://127.0.0.1:{port}/v1", timeout=1.0))
    finally:
        for sock in (*fillers, listener):
            sock.close()
    assert isinstance(exc, GatewayTimeout) and exc.retryable
    assert str(exc) == (
        f"The image service at 127.0.0.1:{port} did not accept a connection within 0.5 seconds."
    )


async def test_answer_timeout_names_the_host(any_client, fake_gateway):
    fake_gateway.script(Reply(delay=30, body=markdown_response([PNG])))
    exc = await failure(any_client, gateway(fake_gateway.base_url, timeout=2.0))
    assert isinstance(exc, GatewayTimeout)
    assert str(exc) == (
        f"The image service at {host_of(fake_gateway.base_url)} took longer than 2 seconds "
        "to answer."
    )


# --------------------------------------------------------------------------- the answer


async def test_body_cut_off_mid_way_counts_the_bytes(any_client):
    sent = asyncio.Event()

    async def handler(reader, writer):
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n" + b'{"choices": [' + b" " * (12345 - 13)
        )
        await writer.drain()
        sent.set()
        # Let the client take in what arrived before the connection goes.
        await asyncio.sleep(0.5)
        writer.transport.abort()

    server, port = await serve(handler)
    async with server:
        exc = await failure(any_client, gateway(f"http://127.0.0.1:{port}/v1"))
    assert sent.is_set()
    assert isinstance(exc, GatewayUnavailable) and exc.retryable
    assert (
        str(exc) == f"The image service at 127.0.0.1:{port} cut its answer off after 12,345 bytes."
    )


async def test_hang_up_before_answering(any_client):
    async def handler(reader, writer):
        await read_request(reader)
        writer.close()

    server, port = await serve(handler)
    async with server:
        exc = await failure(any_client, gateway(f"http://127.0.0.1:{port}/v1"))
    assert isinstance(exc, GatewayUnavailable) and exc.retryable
    assert str(exc) == (
        f"The image service at 127.0.0.1:{port} closed the connection without answering."
    )


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
    ],
)
async def test_unrequested_encodings_decode(any_client, fake_gateway, encoding, encode):
    import orjson

    body = encode(orjson.dumps(markdown_response([PNG], "done")))
    fake_gateway.script(
        Reply(body=body, headers={"Content-Encoding": encoding}, content_type="application/json")
    )
    result = await any_client.generate(gateway(fake_gateway.base_url), REQUEST)
    assert [image.data for image in result.images] == [PNG]
    assert fake_gateway.requests[0].headers["accept-encoding"] == "identity"


async def test_zstd_decodes_when_installed(any_client, fake_gateway):
    zstandard = pytest.importorskip("zstandard")
    import orjson

    body = zstandard.ZstdCompressor().compress(orjson.dumps(markdown_response([PNG])))
    fake_gateway.script(
        Reply(body=body, headers={"Content-Encoding": "zstd"}, content_type="application/json")
    )
    result = await any_client.generate(gateway(fake_gateway.base_url), REQUEST)
    assert [image.data for image in result.images] == [PNG]


async def test_encoding_we_cannot_decode_is_named(any_client, fake_gateway):
    fake_gateway.script(
        Reply(
            body=b"\x1f\x9d\x90compressed-with-lzw",
            headers={"Content-Encoding": "compress"},
            content_type="application/json",
        )
    )
    exc = await failure(any_client, gateway(fake_gateway.base_url))
    assert isinstance(exc, MalformedResponse) and not exc.retryable
    assert str(exc) == (
        f"The image service at {host_of(fake_gateway.base_url)} sent its answer in the "
        "\u201ccompress\u201d encoding, which I cannot decode."
    )


async def test_corrupt_gzip_body(any_client, fake_gateway):
    body = gzip.compress(b'{"choices": []}')[:12] + b"\x00garbage\xff" * 8
    fake_gateway.script(
        Reply(body=body, headers={"Content-Encoding": "gzip"}, content_type="application/json")
    )
    exc = await failure(any_client, gateway(fake_gateway.base_url))
    assert isinstance(exc, MalformedResponse) and not exc.retryable
    assert str(exc) == (
        f"The image service at {host_of(fake_gateway.base_url)} sent a gzip body that could "
        "not be decoded."
    )


def test_encoding_labels():
    assert undecodable_encoding(None) is None
    assert undecodable_encoding("gzip, br") is None
    assert undecodable_encoding("identity") is None
    assert undecodable_encoding("UTF-8") is None  # a mislabel, not an encoding
    assert undecodable_encoding("gzip, x-gzip") == "x-gzip"
    assert undecodable_encoding(" Compress ") == "compress"


def test_host_of_never_carries_credentials_or_the_query():
    assert host_of("https://me:secret@gw.example:8443/v1/chat?key=abc") == "gw.example:8443"
    assert host_of("https://gw.example/v1") == "gw.example"
    assert host_of("http://[::1]:9/v1") == "[::1]:9"
