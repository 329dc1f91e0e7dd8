"""Small images made here, and hostile files built by hand, for the bot.images tests."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image: the classic decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def heic_bytes() -> bytes | None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        return encode(Image.new("RGB", (64, 48), (200, 30, 30)), "HEIF")
    except (
        ImportError,
        KeyError,
        OSError,
        ValueError,
    ):  # no HEVC encoder in this build
        return None
