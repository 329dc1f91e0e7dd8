"""Interim thought images made small, for the progress message (in a CPU worker).

A thought image can be as large as a result (tens of MB of base64 at 4K): decoding it
is worker work. The preview is a JPEG of at most ``PREVIEW_SIDE`` pixels a side, a few
tens of KB, so it crosses back through the pool's pipe and up to Discord cheaply.
"""

from __future__ import annotations

import io

from PIL import Image

from bot.errors import MalformedResponse
from bot.images.codec import open_image
from bot.limits import MAX_INPUT_PIXELS

# Big enough to judge a composition in Discord's embed, small enough to upload in ms.
PREVIEW_SIDE = 320
PREVIEW_QUALITY = 80


def preview_jpeg(data: bytes, side: int = PREVIEW_SIDE) -> bytes | None:
    """``data`` (an encoded image) as a JPEG at most ``side`` px a side; None if unreadable."""
    try:
        im = open_image(data, MalformedResponse)
        if im.width * im.height > MAX_INPUT_PIXELS:
            return None
        if im.format == "JPEG":
            im.draft("RGB", (side, side))  # the decoder scales by 1/2..1/8 for free
        im.thumbnail((side, side), Image.Resampling.BILINEAR)
        if im.mode != "RGB":
            im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=PREVIEW_QUALITY)
        return buf.getvalue()
    except Exception:  # a broken draft is no reason to fail the job: no preview
        return None
