"""Images for tests and the bench: photo-like pictures made from a seed, and PSNR.

Not runtime code, so it lives outside ``bot/``; the bench imports it from here as it
already imports the fake gateway from ``tests/``.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from bot.images.codec import has_alpha, psnr_images


def psnr(a: bytes, b: bytes) -> float:
    """Peak signal-to-noise ratio in dB between two encoded images of the same size."""
    ia = Image.open(io.BytesIO(a))
    ib = Image.open(io.BytesIO(b))
    mode = "RGBA" if (has_alpha(ia) or has_alpha(ib)) else "RGB"
    return psnr_images(ia.convert(mode), ib.convert(mode))


def _noise(size: tuple[int, int], rng: random.Random, amplitude: float) -> Image.Image:
    """Deterministic centred noise (128 +/- amplitude), seedable unlike effect_noise."""
    raw = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    lut = [max(0, min(255, round(128 + (v - 127.5) * amplitude / 127.5))) for v in range(256)]
    return raw.point(lut)


def _stretch(band: Image.Image, rng: random.Random) -> Image.Image:
    lo, hi = rng.randint(0, 90), rng.randint(150, 255)
    return band.point([lo + v * (hi - lo) // 255 for v in range(256)])


def make_photo_like(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG with photo-like statistics: gradients, soft and hard edges, texture, grain."""
    rng = random.Random(seed)
    # Structure is drawn at low resolution and scaled up, like the smooth parts of a photo.
    lw, lh = max(16, width // 8), max(16, height // 8)
    grad = Image.linear_gradient("L").resize((lw, lh))
    rad = Image.radial_gradient("L").resize((lw, lh))
    bands = [
        _stretch(grad.rotate(rng.uniform(0, 360), Image.Resampling.BILINEAR), rng) for _ in range(3)
    ]
    low = Image.merge("RGB", bands)
    low = Image.blend(low, Image.merge("RGB", [rad, rad.rotate(90), grad]), 0.25)
    draw = ImageDraw.Draw(low)
    for _ in range(24):
        x0, y0 = rng.randrange(lw), rng.randrange(lh)
        x1, y1 = x0 + rng.randrange(lw // 3 + 1), y0 + rng.randrange(lh // 3 + 1)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            pts = [(rng.randrange(lw), rng.randrange(lh)) for _ in range(rng.randint(3, 6))]
            draw.polygon(pts, fill=colour)
    low = low.filter(ImageFilter.GaussianBlur(1.2))
    img = low.resize((width, height), Image.Resampling.BICUBIC)

    # Hard edges at full resolution: architecture, text, horizons.
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.rectangle(
                (
                    x0,
                    y0,
                    x0 + rng.randrange(width // 6 + 1),
                    y0 + rng.randrange(height // 6 + 1),
                ),
                fill=colour,
            )
        else:
            draw.line(
                (x0, y0, rng.randrange(width), rng.randrange(height)),
                fill=colour,
                width=max(1, width // 400),
            )

    # Texture at two scales (foliage, fabric, clouds), present only in some regions
    # so that smooth areas like sky stay smooth, then fine grain (sensor noise).
    size = (width, height)
    fine = _noise((max(8, width // 3), max(8, height // 3)), rng, 70)
    fine = fine.filter(ImageFilter.GaussianBlur(1.0)).resize(size, Image.Resampling.BICUBIC)
    coarse = _noise((max(8, width // 24), max(8, height // 24)), rng, 90)
    coarse = coarse.filter(ImageFilter.GaussianBlur(1.0)).resize(size, Image.Resampling.BICUBIC)
    texture = ImageChops.add(fine, coarse, scale=1.0, offset=-128)
    mask = _noise((max(4, width // 256), max(4, height // 256)), rng, 127)
    mask = mask.point(lambda v: 0 if v < 100 else min(255, (v - 100) * 4))
    mask = mask.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.BoxBlur(2))
    flat = Image.new("L", size, 128)
    texture = Image.composite(texture, flat, mask)
    grain = _noise(size, rng, 7)
    luma = ImageChops.add(texture, grain, scale=1.0, offset=-128)
    bands = [ImageChops.add(b, luma, scale=1.0, offset=-128) for b in img.split()]
    img = Image.merge("RGB", bands)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def differs_outside(a: bytes, b: bytes, box: tuple[int, int, int, int]) -> tuple | None:
    """Where two encoded images of one size differ outside ``box``: a bounding box, or None."""
    ia, ib = Image.open(io.BytesIO(a)), Image.open(io.BytesIO(b))
    assert ia.size == ib.size, (ia.size, ib.size)
    mode = "RGBA" if (has_alpha(ia) or has_alpha(ib)) else "RGB"
    diff = ImageChops.difference(ia.convert(mode), ib.convert(mode))
    diff.paste(0, box)  # the region itself may differ
    return diff.getbbox()


def shifted(data: bytes, size: tuple[int, int] | None = None, by: int = 60) -> bytes:
    """The image with every colour shifted (and resized to ``size``): what a model that
    repaints everything returns."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im = im.point(lambda v: (v + by) % 256)
    if size is not None:
        im = im.resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()
