"""Decoding and encoding shared by both directions: one guarded way to open, one to save.

Importing this lowers Pillow's own decompression-bomb cap to ours (see bot.limits).
"""

from __future__ import annotations

import io
import math
import warnings

from PIL import Image, ImageChops

from bot.errors import ImageTooLarge
from bot.i18n import Message, _
from bot.images.sniff import sniff_mime
from bot.limits import MAX_INPUT_PIXELS

# Pillow's own cap (89 Mpx, error at 2x) is lowered to ours, so a bomb that slips past
# our own check still stops inside Pillow.
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS

# Pillow format names we are willing to parse at all; anything else is refused
# before a decoder runs (fewer parsers exposed to hostile files).
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "HEIF")

_heif_registered = False


def _register_heif() -> None:
    # Lazy: pillow-heif loads libheif, which most requests never need.
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def open_image(data: bytes, error: type[Exception], message: Message | None = None) -> Image.Image:
    """Open lazily (header only); bombs become ImageTooLarge, junk becomes ``error``."""
    mime = sniff_mime(data)
    if mime is None:
        raise error(message) if message else error()
    if mime in ("image/heic", "image/heif"):
        _register_heif()
    try:
        with warnings.catch_warnings():
            # Callers check the declared size against their own cap; Pillow's hard
            # error at twice its (lowered) cap stays as the backstop.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        # Translators: {limit} is a number of megapixels.
        raise ImageTooLarge(
            _(
                "That image is too large (over {limit} megapixels).",
                limit=MAX_INPUT_PIXELS // 1_000_000,
            )
        ) from exc
    except Exception as exc:  # Pillow raises a zoo: OSError, SyntaxError, ValueError...
        raise (error(message) if message else error()) from exc


def has_alpha(im: Image.Image) -> bool:
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return True
    return "transparency" in im.info


def normalise_mode(im: Image.Image) -> Image.Image:
    """RGBA when there is real transparency, else RGB (grayscale stays L)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit samples: scale to 8 bits; a plain convert would clip to white.
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif im.mode == "F":
        im = im.point(lambda v: v * 255).convert("L")
    if has_alpha(im):
        rgba = im.convert("RGBA")
        if rgba.getchannel("A").getextrema() != (255, 255):
            return rgba
        return rgba.convert("RGB")
    if im.mode in ("RGB", "L"):
        return im
    return im.convert("RGB")


def _encoder_kwargs(fmt: str, quality: int, variant: int) -> dict:
    if fmt == "JPEG":
        return {"quality": quality, "subsampling": variant}
    # method 1: measured 2-3x faster than the default 4 for a few % more bytes;
    # method 0 is faster still but blew up to 1 byte/pixel on some alpha planes.
    return {"quality": quality, "method": 1}


def save(im: Image.Image, fmt: str, quality: int, variant: int, **extra) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **_encoder_kwargs(fmt, quality, variant), **extra)
    return buf.getvalue()


def psnr_images(ia: Image.Image, ib: Image.Image) -> float:
    if ia.size != ib.size or ia.mode != ib.mode:
        raise ValueError(f"images differ: {ia.mode} {ia.size} vs {ib.mode} {ib.size}")
    mode = ia.mode
    hist = ImageChops.difference(ia, ib).histogram()
    squared = 0
    for band in range(len(mode)):
        counts = hist[band * 256 : (band + 1) * 256]
        squared += sum(c * v * v for v, c in enumerate(counts))
    mse = squared / (ia.width * ia.height * len(mode))
    if mse == 0:
        return math.inf
    return 10 * math.log10(255 * 255 / mse)
