"""Inputs (Discord attachments): validated and normalised by ``prepare_input``, made to fit
one request by ``fit_request``, and written into it by ``data_uri``."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Sequence

import pybase64
from PIL import Image, ImageOps, JpegImagePlugin

from bot.errors import ImageTooLarge, NotAnImage, RequestTooLarge
from bot.i18n import _
from bot.images.codec import normalise_mode, open_image
from bot.images.jpeg import layout
from bot.images.sniff import sniff_mime
from bot.limits import DEFAULT_MAX_INPUT_BYTES, MAX_INPUT_PIXELS
from bot.types import InputImage

# Formats a gateway takes as they are, so an image already in one of them can be
# passed through byte-identical.
_PASSTHROUGH_MIMES = ("image/png", "image/jpeg", "image/webp")
_PASSTHROUGH_MODES = ("RGB", "RGBA", "L")

_INPUT_JPEG_QUALITY = 90
_ALPHA_WEBP_QUALITY = 90
# Below this an input is no longer worth sending; refuse rather than send mush.
_MIN_IMAGE_EDGE = 64
_MAX_SHRINK_STEPS = 10

_DAMAGED = _("That image file is damaged or incomplete.")


def _encode(im: Image.Image, *, lossless_alpha: bool = True) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if im.mode == "RGBA":
        if lossless_alpha:
            im.save(buf, "PNG", compress_level=6)
            return buf.getvalue(), "image/png"
        im.save(buf, "WEBP", quality=_ALPHA_WEBP_QUALITY, method=1)
        return buf.getvalue(), "image/webp"
    im.save(buf, "JPEG", quality=_INPUT_JPEG_QUALITY, optimize=True)
    return buf.getvalue(), "image/jpeg"


def _encode_within(im: Image.Image, max_bytes: int) -> InputImage:
    """Encode, then downscale in steps until the bytes fit."""
    data, mime = _encode(im)
    if len(data) > max_bytes and im.mode == "RGBA":
        data, mime = _encode(im, lossless_alpha=False)
    for _step in range(_MAX_SHRINK_STEPS):
        if len(data) <= max_bytes:
            return InputImage(data=data, mime=mime, width=im.width, height=im.height)
        # Bytes scale roughly with pixels; aim a little under to avoid another round.
        scale = min(0.9, math.sqrt(max_bytes / len(data)) * 0.95)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        if min(size) < _MIN_IMAGE_EDGE:
            break
        im = im.resize(size, Image.Resampling.LANCZOS)
        data, mime = _encode(im, lossless_alpha=False)
    if len(data) <= max_bytes:
        return InputImage(data=data, mime=mime, width=im.width, height=im.height)
    raise ImageTooLarge(_("That image is too large, even after shrinking it."))


# A baseline JPEG decodes at 1/2 or 1/4 scale row by row, without the full bitmap ever
# existing, so one up to 8x the pixel cap (320 Mpx: a 200 MP phone photo is 200) is
# still taken, at a quarter of its size at most. A progressive or multi-scan JPEG is
# not: libjpeg keeps every full-size coefficient (2 bytes per pixel and component), so
# a 1.5 MB progressive file claiming 400 Mpx took 809 MB. Those keep the plain cap.
_JPEG_DRAFT_HEADROOM = 8


def _reducible(im: Image.Image, data: bytes) -> bool:
    """A single-scan baseline JPEG, which libjpeg can decode at reduced scale in rows."""
    if im.format != "JPEG" or im.info.get("progressive") or im.info.get("progression"):
        return False
    try:
        # Segment by segment from the start: an EXIF thumbnail (inside APP1) is skipped.
        sof, sos, _rest = layout(data)
        if sof < 0:
            return False  # not baseline (SOF0): progressive, lossless, arithmetic...
        # libjpeg keeps every full-size coefficient unless the first scan carries every
        # component of the frame (Ns == Nf): then there is no other scan to wait for.
        return data[sos + 4] == data[sof + 9]
    except (struct.error, IndexError):
        return False


def _open_reducible_jpeg(data: bytes) -> Image.Image:
    """A JPEG past Pillow's bomb check, opened (header only) for a reduced decode.

    Pillow applies its pixel cap in ``Image.open``; opening the JPEG plugin directly
    skips it, and ``prepare_input`` then sets a draft scale before anything decodes.
    """
    try:
        return JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    except Exception as exc:
        raise NotAnImage(_DAMAGED) from exc


def prepare_input(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
    max_pixels: int = MAX_INPUT_PIXELS,
) -> InputImage:
    """Validate one reference image and normalise it for the gateway.

    Raises NotAnImage for anything that is not a fully decodable PNG/JPEG/WEBP/GIF/HEIC,
    ImageTooLarge for pixel bombs or images that cannot be brought under ``max_bytes``.
    """
    if not data:
        raise NotAnImage(_("That file is empty."))
    mime = sniff_mime(data)
    if mime is None:
        raise NotAnImage()
    # The magic bytes say "image", so a file Pillow cannot parse is a broken one.
    try:
        im = open_image(data, NotAnImage, _DAMAGED)
    except ImageTooLarge:
        if mime != "image/jpeg":
            raise
        im = _open_reducible_jpeg(data)
    width, height = im.size
    if width <= 0 or height <= 0:
        raise NotAnImage()
    reduced = False
    pixels = width * height
    if max_pixels < pixels <= max_pixels * _JPEG_DRAFT_HEADROOM and _reducible(im, data):
        # Big phone photos: libjpeg decodes at 1/2 or 1/4 scale directly, so the
        # full-size bitmap never exists.
        for d in (2, 4):
            if -(-width // d) * -(-height // d) <= max_pixels:
                # Pillow picks its scale as size // requested: ask for the rounded-down size.
                im.draft(im.mode, (width // d, height // d))
                break
        reduced = im.size != (width, height)
        width, height = im.size
    if width * height > max_pixels:
        # Translators: {width} and {height} are pixels; {limit} a number of megapixels.
        raise ImageTooLarge(
            _(
                "That image is too large ({width}x{height}; the limit is {limit} megapixels).",
                width=width,
                height=height,
                limit=f"{max_pixels / 1_000_000:g}",
            )
        )
    try:
        im.seek(0)
        im.load()
    except Exception as exc:
        raise NotAnImage(_DAMAGED) from exc

    try:
        orientation = im.getexif().get(0x0112, 1)
    except (
        OSError,
        ValueError,
        SyntaxError,
        struct.error,
    ):  # broken EXIF: keep the image
        orientation = 1
    animated = getattr(im, "n_frames", 1) > 1
    if (
        mime in _PASSTHROUGH_MIMES
        and orientation in (1, None)
        and im.mode in _PASSTHROUGH_MODES
        and not animated
        and not reduced
        and len(data) <= max_bytes
    ):
        return InputImage(data=data, mime=mime, width=width, height=height)

    try:
        if orientation not in (1, None):
            im = ImageOps.exif_transpose(im)
        im = normalise_mode(im)
    except Exception as exc:
        raise NotAnImage(_DAMAGED) from exc
    return _encode_within(im, max_bytes)


def _request_bytes(image: InputImage) -> int:
    # data:<mime>;base64,<payload> plus the JSON quotes around it.
    return len(image.mime) + 15 + 4 * ((len(image.data) + 2) // 3)


def _shrink(image: InputImage, max_bytes: int) -> InputImage:
    """Re-encode (and downscale as needed) an already validated input to ``max_bytes``."""
    im = open_image(image.data, NotAnImage, _DAMAGED)
    im.load()
    return _encode_within(normalise_mode(im), max_bytes)


def fit_request(
    images: Sequence[InputImage], max_request_bytes: int, overhead_bytes: int = 0
) -> tuple[InputImage, ...]:
    """Shrink the largest images first until the base64 request fits ``max_request_bytes``."""
    images = tuple(images)
    budget = max_request_bytes - overhead_bytes
    if budget <= 0:
        raise RequestTooLarge()
    for _step in range(_MAX_SHRINK_STEPS):
        sizes = [_request_bytes(i) for i in images]
        if sum(sizes) <= budget:
            return images
        cap = _water_level(sizes, budget)
        # Raw bytes whose base64 fits the per-image cap, minus the URI prefix.
        raw_cap = int((cap - 40) * 3 / 4)
        if raw_cap < 4096:
            raise RequestTooLarge()
        try:
            images = tuple(
                _shrink(img, raw_cap) if size > cap else img
                for img, size in zip(images, sizes, strict=True)
            )
        except ImageTooLarge as exc:
            raise RequestTooLarge() from exc
    raise RequestTooLarge()


def _water_level(sizes: list[int], budget: int) -> int:
    """The per-image cap c with sum(min(s, c)) == budget: only the largest shrink."""
    ordered = sorted(sizes)
    remaining = budget
    for i, size in enumerate(ordered):
        share = remaining // (len(ordered) - i)
        if size > share:
            return share
        remaining -= size
    return ordered[-1]


def b64(data: bytes) -> str:
    """Standard base64 as str (SIMD via pybase64)."""
    return pybase64.b64encode_as_string(data)


def data_uri(image: InputImage) -> str:
    return f"data:{image.mime};base64,{b64(image.data)}"
