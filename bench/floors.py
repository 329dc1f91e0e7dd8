"""Section 5's floors: the least a job's data can cost one process, timed in the same run.

``job_cpu_floor``: orjson + pybase64 decode of the answer (libraries the bot ships)
and the multipart body of the upload built from the image, nothing else: no Discord,
no HTTP, no storage. What the bot's main process spends beyond it per job is the
price of everything else it does (see docs/performance.md for the breakdown).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pybase64

from bench.baselines import image_base64
from bench.stats import median
from bot.discord_bot.uploads import UploadBytes


def _image_of(body: bytes) -> bytes:
    message = orjson.loads(body)["choices"][0]["message"]
    return pybase64.b64decode(image_base64(message), validate=True)


class _Collect:
    """An aiohttp stream writer that keeps the bytes (the copy a socket send makes)."""

    def __init__(self) -> None:
        self.out = bytearray()

    async def write(self, chunk: Any) -> None:
        self.out += chunk


async def _multipart(image: bytes) -> int:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", '{"content":"**Imagine** · a lighthouse at dusk"}')
    form.add_field(
        "files[0]", UploadBytes(image), filename="imagine-1-1.png", content_type="image/png"
    )
    writer = _Collect()
    await form().write(writer)  # type: ignore[arg-type]
    return len(writer.out)


async def job_cpu_floor(body: bytes, reps: int = 7) -> float:
    """Median CPU seconds of decoding ``body``'s image and building its upload."""
    samples = []
    for _ in range(reps):
        t = time.process_time()
        await _multipart(_image_of(body))
        samples.append(time.process_time() - t)
    return median(samples) or 0.0
