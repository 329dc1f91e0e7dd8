"""The two yardsticks of issue 5, timed in the same process as the project's path.

- floor: ``json.loads`` + ``base64.b64decode`` of the body, nothing else; no
  pipeline can be cheaper than reading its input.
- typical bot: the official openai SDK against the fake gateway, the image pulled
  out of ``message.content`` (Markdown) or ``model_extra["images"]``, decoded,
  opened with Pillow and, when over the limit, saved as JPEG at falling quality
  until it fits: what most open-source bots do, on the event loop.
"""

from __future__ import annotations

import base64
import io
import json
import re

from PIL import Image

from bench.targets import UPLOAD_LIMIT_BYTES

_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\((data:image/[a-z]+;base64,[^)]+)\)")
# A common fallback ladder in bots that re-encode to fit Discord's cap.
_TYPICAL_QUALITIES = (95, 90, 85, 80, 75, 70, 60, 50)


def image_base64(message: dict) -> str:
    """The base64 of the first image in a chat completion's message (either shape)."""
    if message.get("images"):
        url = message["images"][0]["image_url"]["url"]
    else:
        content = message["content"]
        start = content.index("base64,")
        url = content[start : content.index(")", start)]
    return url[url.index(",") + 1 :]


def floor(body: bytes) -> bytes:
    """json.loads + b64decode: the least any parser must do with this body."""
    return base64.b64decode(image_base64(json.loads(body)["choices"][0]["message"]))


def reference_decode(png: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


def reference_encode(im: Image.Image, quality: int, subsampling: int) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def extract_from_sdk(completion) -> str:
    """The data URL from an openai ChatCompletion, as a typical bot finds it."""
    message = completion.choices[0].message
    extra = message.model_extra or {}
    images = extra.get("images") or []
    if images:
        return images[0]["image_url"]["url"]
    match = _MARKDOWN_IMAGE.search(message.content or "")
    if match is None:
        raise ValueError("no image in the response")
    return match.group(1)


def typical_fit(url: str, limit: int = UPLOAD_LIMIT_BYTES) -> bytes:
    raw = base64.b64decode(url.split(",", 1)[1])
    im = Image.open(io.BytesIO(raw))
    im.load()  # typical bots "verify" by decoding
    if len(raw) <= limit:
        return raw
    rgb = im.convert("RGB")
    for quality in _TYPICAL_QUALITIES:
        buf = io.BytesIO()
        rgb.save(buf, "JPEG", quality=quality)
        if buf.tell() <= limit:
            return buf.getvalue()
    raise ValueError("could not fit the limit")


async def sdk_generate(client, model: str, prompt: str) -> bytes:
    completion = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        extra_body={"modalities": ["image", "text"]},
    )
    return typical_fit(extract_from_sdk(completion))
