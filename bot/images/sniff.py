"""What an image really is, from its magic bytes: no decoder runs on what this refuses."""

from __future__ import annotations

import struct

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _ftyp_mime(data: bytes) -> str | None:
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    (box_size,) = struct.unpack(">I", data[0:4])
    major = data[8:12]
    end = min(len(data), max(box_size, 16))
    brands = {major} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _AVIF_BRANDS:
        return None
    if brands & _HEIC_BRANDS:
        return "image/heic"
    if brands & _AVIF_BRANDS:
        return None
    if brands & _HEIF_BRANDS:
        return "image/heif"
    return None


def sniff_mime(data: bytes) -> str | None:
    """The real image format from the magic bytes, or None when it is none we accept."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return _ftyp_mime(data)
