"""What a CPU worker loads before its first job: the response parsers and Pillow's codecs."""

from __future__ import annotations

import io

from PIL import Image

import bot.gateway.parsing  # noqa: F401  (imported for its cost, paid at start-up)
from bot.images.outputs import inspect_output


def warm_up_worker() -> None:
    """Import the heavy modules and let Pillow register its formats (~10 ms the first time)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 120, 40)).save(buf, "PNG")
    inspect_output(buf.getvalue())
