"""Photo-like gateway results, generated once and cached under ``bench/.cache/``.

A 4K fixture takes seconds to draw; the cache keeps repeated runs about the
pipeline, not about drawing. Bodies are rebuilt from the cached PNG each run
(base64 of 23 MB is tens of milliseconds) so the shapes never drift apart.
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
# The same two streamed (issue 10): new-api puts the whole Markdown image in one
# ``delta.content`` line, OpenRouter sends ``delta.images[]`` after a keep-alive comment.
# Each is timed against its non-streamed counterpart for the same image.
STREAM_SHAPES = ("sse-markdown", "sse-images")
NON_STREAMED = {"sse-markdown": "markdown", "sse-images": "images"}

MODEL = "gemini-3-pro-image-preview"


def _generator_tag() -> str:
    # Regenerate when make_photo_like changes, so a stale cache cannot fake a result.
    from tests import imaging

    return hashlib.sha256(inspect.getsource(imaging.make_photo_like).encode()).hexdigest()[:10]


def photo_png(size: Size, seed: int = 1) -> bytes:
    from tests.imaging import make_photo_like

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"photo-{size.width}x{size.height}-s{seed}-{_generator_tag()}.png"
    if path.exists():
        return path.read_bytes()
    data = make_photo_like(size.width, size.height, seed)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


USAGE = {"prompt_tokens": 12, "completion_tokens": 1290, "total_tokens": 1302}
TEXT = "Here is your image."


def content_type_for(shape: str) -> str:
    return "text/event-stream" if shape in STREAM_SHAPES else "application/json"


def _chunk(delta: dict | None, finish: str | None = None, **extra) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1764547200,
        "model": MODEL,
        "choices": choices,
        **extra,
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def sse_body(shape: str, png: bytes) -> bytes:
    """A streamed answer as the gateways named in STREAM_SHAPES send it."""
    from tests.fakes.gateway import data_url

    url = data_url(png)
    if shape == "sse-markdown":
        head = [_chunk({"role": "assistant", "content": f"{TEXT}\n\n![image]({url})"})]
    elif shape == "sse-images":
        image = {"type": "image_url", "image_url": {"url": url}}
        head = [
            b": OPENROUTER PROCESSING\n\n",
            _chunk({"role": "assistant", "content": "", "images": [image]}),
        ]
    else:
        raise ValueError(shape)
    tail = [_chunk({}, "stop"), _chunk(None, usage=USAGE), b"data: [DONE]\n\n"]
    return b"".join(head + tail)


def body_for(shape: str, png: bytes) -> bytes:
    """The response body exactly as the fake gateway sends it (its own builders)."""
    from tests.fakes.gateway import images_response, markdown_response

    if shape in STREAM_SHAPES:
        return sse_body(shape, png)
    usage = USAGE
    if shape == "markdown":
        body = markdown_response([png], TEXT, model=MODEL, usage=usage)
    elif shape == "images":
        body = images_response([png], model=MODEL, usage=usage)
    else:
        raise ValueError(shape)
    return orjson.dumps(body)
