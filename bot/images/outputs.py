"""Outputs (what the gateway returned): checked cheaply by ``inspect_output`` and, only
when over Discord's upload cap, re-encoded once by ``fit_for_upload`` at a quality
planned on a sample of the image."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Sequence

from PIL import Image

from bot.errors import ImageTooLarge, MalformedResponse
from bot.i18n import _
from bot.images.codec import normalise_mode, open_image, psnr_images, save
from bot.images.jpeg import save_jpeg
from bot.images.sniff import sniff_mime
from bot.limits import DISCORD_UPLOAD_LIMIT, MAX_INPUT_PIXELS
from bot.types import GeneratedImage

BROKEN_OUTPUT = _("The image service returned a broken image.")
_TOO_LARGE_OUTPUT = _("The generated image is too large to upload.")


def _looks_complete(data: bytes, mime: str) -> bool:
    """Cheap end-of-file checks that catch truncated downloads without decoding."""
    tail = data[-64:]
    if mime == "image/png":
        return b"IEND" in tail
    if mime == "image/jpeg":
        # Some encoders pad after EOI; look a little further back than the last 2 bytes.
        return b"\xff\xd9" in data[-1024:]
    if mime == "image/webp":
        (riff_size,) = struct.unpack("<I", data[4:8])
        return len(data) >= riff_size + 8
    if mime == "image/gif":
        return tail.rstrip(b"\x00").endswith(b";")
    return True


def inspect_output(data: bytes) -> GeneratedImage:
    """Real format and dimensions of a gateway image, read from headers only."""
    mime = sniff_mime(data)
    if mime is None or not _looks_complete(data, mime):
        raise MalformedResponse(BROKEN_OUTPUT)
    try:
        im = open_image(data, MalformedResponse, BROKEN_OUTPUT)
    except ImageTooLarge as exc:
        raise MalformedResponse(BROKEN_OUTPUT) from exc
    width, height = im.size
    if width <= 0 or height <= 0:
        raise MalformedResponse(BROKEN_OUTPUT)
    return GeneratedImage(data=data, mime=mime, width=width, height=height)


# fit_for_upload models the image instead of encoding and retrying: it JPEG-encodes
# a mosaic of full-resolution tiles (about 2% of the pixels: 9 tiles at 4K) at a few
# qualities, then encodes the whole image once. On six photo-like 4K results (three
# seeds, square and 16:9) the 9-tile mosaic predicted the 4:4:4 PSNR within 0.4 dB
# and the size 0-8% high (the safe side), as well as 16 tiles did (0.3 dB, 1-7%) at
# half the cost per probe. Measured on this machine (4096x4096
# photo-like PNG): WEBP q90 took 0.8-2.1 s and was no smaller than JPEG 4:4:4 q93
# (0.1 s, libjpeg-turbo), so JPEG it is for opaque images.
_JPEG_QUALITIES = (70, 75, 80, 85, 88, 90, 92, 93, 94, 95, 96, 97)
_WEBP_QUALITIES = (50, 60, 70, 75, 80, 85, 90, 95)
# The goal is >= 40 dB at the original size. The tile model's 4:4:4 PSNR was within
# 0.4 dB of the whole image's on those six results, so 42 dB keeps a margin of
# several times that error. More
# only adds bytes to upload: q97 (45 dB) is 8.5 MB where q96 (43.4 dB) is 7.6 MB, for
# the same encode time. Subsampled 4:2:2/4:2:0 would encode 25-35% faster, but on the
# same images their estimates were off by up to 2 dB either way and their true PSNR
# at q97 ranged 38.7-43.9 dB, so they remain the fallback for tight bytes only.
_GOOD_PSNR = 42.0
_SIZE_SAFETY = 0.95  # aim this far below the cap, in case an estimate runs low
_TILE = 192  # a multiple of 16, so JPEG/VP8 blocks never straddle two tiles
_SAMPLE_FRACTION = 0.018


def _sample(im: Image.Image) -> Image.Image:
    """A mosaic of full-resolution tiles spread over the image (real detail per pixel)."""
    pixels = im.width * im.height
    count = max(4, min(16, round(pixels * _SAMPLE_FRACTION / (_TILE * _TILE))))
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    if cols * _TILE * 2 > im.width or rows * _TILE * 2 > im.height:
        return im  # small image: the whole of it is the cheapest honest sample
    mosaic = Image.new(im.mode, (cols * _TILE, rows * _TILE))
    for r in range(rows):
        for c in range(cols):
            # Centres of a regular grid, so edges, sky and texture are all represented.
            x0 = (2 * c + 1) * im.width // (2 * cols) - _TILE // 2
            y0 = (2 * r + 1) * im.height // (2 * rows) - _TILE // 2
            mosaic.paste(im.crop((x0, y0, x0 + _TILE, y0 + _TILE)), (c * _TILE, r * _TILE))
    return mosaic


def _sample_psnr(sample: Image.Image, encoded: bytes) -> float:
    decoded = Image.open(io.BytesIO(encoded)).convert(sample.mode)
    return psnr_images(sample, decoded)


class _Model:
    """Size and PSNR of one encoder setting, predicted from the sample mosaic."""

    def __init__(self, sample: Image.Image, pixels: int, fmt: str) -> None:
        self.sample, self.fmt = sample, fmt
        self.scale = pixels / (sample.width * sample.height)
        self._cache: dict[tuple[int, int], bytes] = {}

    def encoded(self, quality: int, variant: int) -> bytes:
        key = (quality, variant)
        if key not in self._cache:
            self._cache[key] = save(self.sample, self.fmt, quality, variant)
        return self._cache[key]

    def size(self, quality: int, variant: int) -> float:
        return len(self.encoded(quality, variant)) * self.scale

    def psnr(self, quality: int, variant: int) -> float:
        return _sample_psnr(self.sample, self.encoded(quality, variant))


def _best_fitting(model: _Model, qualities: Sequence[int], variant: int, budget: float):
    """Index of the highest quality predicted to fit (size grows with quality)."""
    lo, hi = 0, len(qualities) - 1
    # Most 4K results fit at the top quality; checking it first saves the search.
    if model.size(qualities[hi], variant) <= budget:
        return hi
    if model.size(qualities[lo], variant) > budget:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if model.size(qualities[mid], variant) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _cheapest_good(model: _Model, qualities: Sequence[int], variant: int, top: int) -> int:
    """Lowest quality index up to ``top`` (known good) whose predicted PSNR is _GOOD_PSNR.

    Results over the upload cap are detailed images whose threshold sits a step or two
    below the top quality, so the search gallops down from there (2-3 probes where a
    bisection of the whole range takes 4).
    """
    good, bad, step = top, -1, 1
    while good - step > bad:
        if model.psnr(qualities[good - step], variant) >= _GOOD_PSNR:
            good, step = good - step, step * 2
        else:
            bad = good - step
            break
    while good - bad > 1:
        mid = (good + bad) // 2
        if model.psnr(qualities[mid], variant) >= _GOOD_PSNR:
            good = mid
        else:
            bad = mid
    return good


def _plan(model: _Model, qualities: Sequence[int], variants: Sequence[int], budget: float):
    """(quality, variant): smallest predicted-transparent setting that fits, else best PSNR."""
    candidates = []
    for variant in variants:
        top = _best_fitting(model, qualities, variant, budget)
        if top is None:
            continue
        best_psnr = model.psnr(qualities[top], variant)
        if best_psnr >= _GOOD_PSNR:
            q = qualities[_cheapest_good(model, qualities, variant, top)]
            # Only transparent candidates reach here first (4:4:4 is tried first and
            # at these rates beats 4:2:0), so stop looking.
            return q, variant
        candidates.append((best_psnr, qualities[top], variant))
    if not candidates:
        return qualities[0], variants[-1]
    _size, quality, variant = max(candidates)
    return quality, variant


def fit_for_upload(
    image: GeneratedImage, limit_bytes: int = DISCORD_UPLOAD_LIMIT
) -> GeneratedImage:
    """Make a generated image fit the upload cap with one well-chosen encode, same size."""
    if len(image.data) <= limit_bytes:
        return image
    im = open_image(image.data, MalformedResponse, BROKEN_OUTPUT)
    if im.width * im.height > MAX_INPUT_PIXELS:
        # Far beyond any model's output (4K is 17 Mpx): not worth a worker's memory.
        raise MalformedResponse(_TOO_LARGE_OUTPUT)
    try:
        im.load()
    except Exception as exc:
        raise MalformedResponse(BROKEN_OUTPUT) from exc
    extra = {k: im.info[k] for k in ("exif", "icc_profile") if im.info.get(k)}
    im = normalise_mode(im)
    qualities: Sequence[int]
    variants: Sequence[int]
    if im.mode == "RGBA":
        fmt, mime, qualities, variants = "WEBP", "image/webp", _WEBP_QUALITIES, (0,)
    else:
        # variants are JPEG chroma subsampling: 4:4:4 first, 4:2:0 when bytes are tight.
        fmt, mime, qualities, variants = "JPEG", "image/jpeg", _JPEG_QUALITIES, (0, 2)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
    model = _Model(_sample(im), im.width * im.height, fmt)
    budget = limit_bytes * _SIZE_SAFETY
    quality, variant = _plan(model, qualities, variants, budget)

    def encode(quality: int, variant: int) -> bytes:
        if fmt == "JPEG":
            return save_jpeg(im, quality, variant, extra)
        return save(im, fmt, quality, variant, **extra)

    data = encode(quality, variant)
    lower = [q for q in qualities if q < quality]
    if len(data) > limit_bytes and lower:
        # The model missed: scale it by what it got wrong and encode once more.
        budget *= budget / len(data)
        quality, variant = _plan(model, lower, variants, budget)
        data = encode(quality, variant)
    if len(data) > limit_bytes:
        data = _last_resort(im, fmt, limit_bytes, extra)
    return GeneratedImage(data=data, mime=mime, width=im.width, height=im.height)


def _last_resort(im: Image.Image, fmt: str, limit_bytes: int, extra: dict) -> bytes:
    # Content the model could not predict twice (never seen in practice): walk down
    # the qualities rather than fail to deliver the user's image.
    for quality in (60, 45, 30, 15):
        data = save(im, fmt, quality, 2, **extra)
        if len(data) <= limit_bytes:
            return data
    raise MalformedResponse(_TOO_LARGE_OUTPUT)
