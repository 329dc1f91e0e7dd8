"""Photo-like gateway results, generated once and cached under ``bench/.cache/``.

A 4K fixture takes seconds to draw; the cache keeps repeated runs about the
pipeline, not about drawing. Bodies are rebuilt from the cached PNG each run
(base64 of 23 MB is tens of milliseconds) so the two shapes never drift apart.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from pathlib import Path

import orjson

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


@dataclass(frozen=True)
class Size:
    label: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


SIZES = (
    Size("1K", 1024, 1024),
    Size("2K", 2048, 2048),
    Size("4K", 4096, 4096),
    Size("4K-16:9", 5504, 3072),
)
BY_LABEL = {s.label: s for s in SIZES}

# The two shapes issue 5 names: Markdown data URL in message.content (plain
# OpenAI-style gateways) and OpenRouter's message.images[].
SHAPES = ("markdown", "images")

MODEL = "gemini-3-pro-image-preview"


def _generator_tag() -> str:
    # Regenerate when make_photo_like changes, so a stale cache cannot fake a result.
    from bot import images

    return hashlib.sha256(inspect.getsource(images.make_photo_like).encode()).hexdigest()[:10]


def photo_png(size: Size, seed: int = 1) -> bytes:
    from bot.images import make_photo_like

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"photo-{size.width}x{size.height}-s{seed}-{_generator_tag()}.png"
    if path.exists():
        return path.read_bytes()
    data = make_photo_like(size.width, size.height, seed)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def body_for(shape: str, png: bytes) -> bytes:
    """The response body exactly as the fake gateway sends it (its own builders)."""
    from tests.fakes.gateway import images_response, markdown_response

    usage = {"prompt_tokens": 12, "completion_tokens": 1290, "total_tokens": 1302}
    if shape == "markdown":
        body = markdown_response([png], "Here is your image.", model=MODEL, usage=usage)
    elif shape == "images":
        body = images_response([png], model=MODEL, usage=usage)
    else:
        raise ValueError(shape)
    return orjson.dumps(body)
