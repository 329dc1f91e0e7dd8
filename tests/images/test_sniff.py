"""bot.images.sniff: the type of an image from its bytes, whatever it claims."""

from __future__ import annotations

import struct

import pytest
from PIL import Image

from bot.images import sniff
from tests.images.files import encode


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
    ],
)
def test_sniff_mime_recognises_each_format_from_bytes(fmt: str, mime: str) -> None:
    assert sniff.sniff_mime(encode(Image.new("RGB", (8, 8), "red"), fmt)) == mime


def test_sniff_mime_reads_heif_brands() -> None:
    def ftyp(major: bytes, *compat: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compat)
        return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00" * 16

    assert sniff.sniff_mime(ftyp(b"heic", b"mif1", b"heic")) == "image/heic"
    assert sniff.sniff_mime(ftyp(b"mif1", b"mif1", b"heic")) == "image/heic"
    assert sniff.sniff_mime(ftyp(b"mif1", b"mif1")) == "image/heif"
    assert sniff.sniff_mime(ftyp(b"avif", b"mif1", b"avif")) is None
    assert sniff.sniff_mime(ftyp(b"isom", b"mp41")) is None  # an MP4 video


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"%PDF-1.7\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"BM" + b"\0" * 60,
    ],
)
def test_sniff_mime_refuses_non_images(data: bytes) -> None:
    assert sniff.sniff_mime(data) is None
