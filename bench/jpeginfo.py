"""Which quality and chroma subsampling a JPEG was saved with (for the reference encode)."""

from __future__ import annotations

import functools
import io

from PIL import Image, JpegImagePlugin


@functools.cache
def _tables() -> dict[tuple, int]:
    probe = Image.new("RGB", (16, 16), (120, 80, 40))
    out = {}
    for quality in range(1, 101):
        buf = io.BytesIO()
        probe.save(buf, "JPEG", quality=quality)
        with Image.open(buf) as im:
            out[_key(im.quantization)] = quality  # type: ignore[attr-defined]
    return out


def _key(quantization: dict) -> tuple:
    return tuple(tuple(quantization[k]) for k in sorted(quantization))


def jpeg_settings(data: bytes) -> tuple[int | None, int | None]:
    """(quality, subsampling) as Pillow's ``save`` takes them; None when not a libjpeg table."""
    with Image.open(io.BytesIO(data)) as im:
        if im.format != "JPEG":
            return None, None
        quality = _tables().get(_key(im.quantization))  # type: ignore[attr-defined]
        subsampling = JpegImagePlugin.get_sampling(im)
    return quality, (subsampling if subsampling >= 0 else None)
