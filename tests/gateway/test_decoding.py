"""Compressed answers: decoded a bounded piece at a time, refused as they pass the cap.

The bombs here are 512 MiB of zeros in a few KB to a few hundred KB; the client's cap
is 16 MiB. Peak memory is what tracemalloc saw allocated while the answer was read
(bytes objects, whoever made them: the decoders build theirs as Python bytes).
"""

from __future__ import annotations

import functools
import gzip
import itertools
import random
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import httpx
import orjson
import pytest
import zstandard

from bot.errors import ResponseTooLarge
from bot.gateway.client import GatewayClient
from bot.gateway.decoding import PIECE_BYTES, ZSTD_SLICE_BYTES, BodyDecoder
from bot.types import GatewayConfig, ImageRequest
from tests.fakes.gateway import FakeGateway, Reply, chat_stream_events, markdown_response, png_bytes

PNG = png_bytes(6, 4)
REQUEST = ImageRequest(model="gemini-2.5-flash-image", prompt="a lighthouse")
CAP = 16 * 1024 * 1024
BOMB_MIB = 512
# A zstd block is at most 128 KiB decoded from 4 bytes: 32 KiB per byte fed.
ZSTD_PIECE_BOUND = ZSTD_SLICE_BYTES * 32 * 1024
ENCODINGS = ("gzip", "deflate", "br", "zstd")


def _compress(encoding: str, blocks: int, block: bytes) -> bytes:
    if encoding in ("gzip", "deflate"):
        zipper = zlib.compressobj(9, wbits=31 if encoding == "gzip" else 15)
        out = [zipper.compress(block) for _ in range(blocks)]
        return b"".join([*out, zipper.flush()])
    if encoding == "br":
        compressor = brotli.Compressor(quality=1)
        out = [compressor.process(block) for _ in range(blocks)]
        return b"".join([*out, compressor.finish()])
    compressobj = zstandard.ZstdCompressor(level=3).compressobj()
    out = [compressobj.compress(block) for _ in range(blocks)]
    return b"".join([*out, compressobj.flush()])


@functools.cache
def bomb(encoding: str) -> bytes:
    """512 MiB of zeros, compressed."""
    return _compress(encoding, BOMB_MIB, bytes(1024 * 1024))


def encode(encoding: str, data: bytes) -> bytes:
    return _compress(encoding, 1, data)


def gateway(base_url: str) -> GatewayConfig:
    return GatewayConfig(base_url=base_url, api_key="k", max_retries=0, timeout=30.0)


@pytest.fixture
def capped(make_client: Callable[..., GatewayClient]) -> GatewayClient:
    return make_client(max_response_bytes=CAP)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_bomb_is_refused_before_it_inflates(capped, encoding):
    body = bomb(encoding)
    async with FakeGateway() as fake:
        fake.script(
            Reply(
                body=body, headers={"Content-Encoding": encoding}, content_type="application/json"
            )
        )
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge) as info:
                await capped.generate(gateway(fake.base_url), REQUEST)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert str(info.value) == "The image service sent more data than I accept."
    # The old reader inflated a whole network chunk at once: 512 MiB for zstd and br.
    assert peak < 64 * 1024 * 1024, f"{peak / 2**20:.0f} MiB allocated reading a {encoding} bomb"


async def test_compressed_bytes_that_decode_to_nothing_still_count(capped):
    # A zstd skippable frame (magic, length, then bytes a decoder throws away), with no
    # Content-Length to give its size away.
    size = CAP + 1024
    body = (0x184D2A50).to_bytes(4, "little") + size.to_bytes(4, "little") + bytes(size)
    async with FakeGateway() as fake:
        fake.script(Reply(body=body, headers={"Content-Encoding": "zstd"}, chunked=True))
        with pytest.raises(ResponseTooLarge) as info:
            await capped.generate(gateway(fake.base_url), REQUEST)
    assert str(info.value) == "The image service sent more data than I accept."


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_no_decoder_call_yields_more_than_its_bound(encoding):
    bound = ZSTD_PIECE_BOUND if encoding == "zstd" else PIECE_BYTES
    pieces = list(itertools.islice(BodyDecoder(encoding).feed(bomb(encoding)), 20))
    assert len(pieces) == 20
    assert max(map(len, pieces)) <= bound
    assert all(not piece.strip(b"\0") for piece in pieces)


@pytest.mark.parametrize("encoding", [*ENCODINGS, "gzip, br", "deflate, zstd"])
def test_any_split_decodes_to_the_same_bytes(encoding):
    rng = random.Random(7)
    data = rng.randbytes(300_000) + bytes(3 * PIECE_BYTES) + b"tail"
    wire = data
    for applied in encoding.split(", "):
        wire = encode(applied, wire)
    for seed in range(3):
        rng = random.Random(seed)
        decoder = BodyDecoder(encoding)
        out: list[bytes] = []
        at = 0
        while at < len(wire):
            step = rng.randint(1, 70_000)
            out.extend(decoder.feed(wire[at : at + step]))
            at += step
        out.extend(decoder.flush())
        assert b"".join(out) == data


def test_deflate_without_its_zlib_wrapper_decodes():
    raw = zlib.compressobj(wbits=-15)
    wire = raw.compress(b"some raw deflate") + raw.flush()
    decoder = BodyDecoder("deflate")
    assert b"".join([*decoder.feed(wire), *decoder.flush()]) == b"some raw deflate"


def test_truncated_zstd_is_a_decoding_error():
    wire = encode("zstd", random.Random(1).randbytes(10_000))[:-100]
    decoder = BodyDecoder("zstd")
    list(decoder.feed(wire))
    with pytest.raises(httpx.DecodingError):
        list(decoder.flush())


def test_several_zstd_frames_decode_in_order():
    wire = encode("zstd", b"first ") + encode("zstd", b"second")
    decoder = BodyDecoder("zstd")
    assert b"".join([*decoder.feed(wire), *decoder.flush()]) == b"first second"


@pytest.mark.parametrize("encoding", [*ENCODINGS, "gzip, br"])
async def test_compressed_answer_decodes_to_the_image(client, fake_gateway, gateway_for, encoding):
    body = orjson.dumps(markdown_response([PNG], "done"))
    for applied in encoding.split(", "):
        body = encode(applied, body)
    fake_gateway.script(
        Reply(body=body, headers={"Content-Encoding": encoding}, content_type="application/json")
    )
    result = await client.generate(gateway_for(), REQUEST)
    assert [image.data for image in result.images] == [PNG]
    assert result.text == "done"


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_compressed_stream_in_odd_pieces_decodes(client, fake_gateway, gateway_for, encoding):
    events = chat_stream_events(markdown_response([PNG], "streamed"), content_pieces=5)
    fake_gateway.script(Reply(sse=events, encoding=encoding, pieces=(1, 40), seed=3))
    result = await client.generate(gateway_for(), REQUEST)
    assert [image.data for image in result.images] == [PNG]
    assert result.text == "streamed"


async def test_every_request_asks_for_no_compression(client, fake_gateway, gateway_for):
    url = fake_gateway.host_image(PNG)
    fake_gateway.script(Reply(body=markdown_response([url])))
    result = await client.generate(gateway_for(), REQUEST)
    await client.list_models(gateway_for())
    assert [image.data for image in result.images] == [PNG]
    paths = [(r.path, r.headers["accept-encoding"]) for r in fake_gateway.requests]
    assert paths == [
        ("/v1/chat/completions", "identity"),
        ("/hosted/img0.png", "identity"),
        ("/v1/models", "identity"),
    ]


def test_gzip_module_and_our_decoder_agree():
    data = b"x" * 5000 + random.Random(3).randbytes(5000)
    decoder = BodyDecoder("gzip")
    assert b"".join([*decoder.feed(gzip.compress(data)), *decoder.flush()]) == data
