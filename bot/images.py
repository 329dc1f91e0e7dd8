"""Pure Pillow functions, bytes in, bytes out.

Every public function here is synchronous, top-level and picklable: callers run them
in ``bot.workers.CpuPool`` because Pillow's codecs hold the GIL for long stretches.

Two directions:
- inputs (Discord attachments) are validated and normalised by ``prepare_input`` and
  made to fit one request by ``fit_request``;
- outputs (what the gateway returned) are checked cheaply by ``inspect_output`` and,
  only when over Discord's upload cap, re-encoded once by ``fit_for_upload``.
"""

from __future__ import annotations

import io
import math
import os
import random
import struct
import tempfile
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pybase64
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps, JpegImagePlugin

from bot.errors import ImageTooLarge, MalformedResponse, NotAnImage, RequestTooLarge
from bot.gateway.models import GeneratedImage, InputImage

# Decompression bombs: the largest Gemini output is 5504x3072 (17 Mpx) and most phone
# photos are 12-50 Mpx, so 40 Mpx refuses nothing real while keeping one decoded
# image under ~160 MB (bigger JPEGs, 108 and 200 MP photos, are decoded at reduced
# scale: see _open_reducible_jpeg). Pillow's own cap (89 Mpx, error at 2x) is lowered
# to match, so a bomb that slips past our own check still stops inside Pillow.
MAX_INPUT_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS

# Per-file inline limit documented by Vertex for Gemini inputs.
DEFAULT_MAX_INPUT_BYTES = 7_000_000
# Discord's upload limit for bots without a boosted server: 10 MiB per message.
DISCORD_UPLOAD_LIMIT = 10 * 1024 * 1024

# Pillow format names we are willing to parse at all; anything else is refused
# before a decoder runs (fewer parsers exposed to hostile files).
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "HEIF")
# Formats a gateway takes as they are, so an image already in one of them can be
# passed through byte-identical.
_PASSTHROUGH_MIMES = ("image/png", "image/jpeg", "image/webp")
_PASSTHROUGH_MODES = ("RGB", "RGBA", "L")

_INPUT_JPEG_QUALITY = 90
_ALPHA_WEBP_QUALITY = 90
# Below this an input is no longer worth sending; refuse rather than send mush.
_MIN_IMAGE_EDGE = 64
_MAX_SHRINK_STEPS = 10

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}

_BROKEN_OUTPUT = "The image service returned a broken image."
_TOO_LARGE_OUTPUT = "The generated image is too large to upload."
_DAMAGED = "That image file is damaged or incomplete."

_heif_registered = False


def _register_heif() -> None:
    # Lazy: pillow-heif loads libheif, which most requests never need.
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


# --------------------------------------------------------------------------- sniffing


def _ftyp_mime(data: bytes) -> str | None:
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    (box_size,) = struct.unpack(">I", data[0:4])
    major = data[8:12]
    end = min(len(data), max(box_size, 16))
    brands = {major} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _AVIF_BRANDS:
        return None
    if brands & _HEIC_BRANDS:
        return "image/heic"
    if brands & _AVIF_BRANDS:
        return None
    if brands & _HEIF_BRANDS:
        return "image/heif"
    return None


def sniff_mime(data: bytes) -> str | None:
    """The real image format from the magic bytes, or None when it is none we accept."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return _ftyp_mime(data)


# --------------------------------------------------------------------------- helpers


def _open(data: bytes, error: type[Exception], message: str | None = None) -> Image.Image:
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
        raise ImageTooLarge(
            f"That image is too large (over {MAX_INPUT_PIXELS // 1_000_000} megapixels)."
        ) from exc
    except Exception as exc:  # Pillow raises a zoo: OSError, SyntaxError, ValueError...
        raise (error(message) if message else error()) from exc


def _has_alpha(im: Image.Image) -> bool:
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return True
    return "transparency" in im.info


def _normalise_mode(im: Image.Image) -> Image.Image:
    """RGBA when there is real transparency, else RGB (grayscale stays L)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit samples: scale to 8 bits; a plain convert would clip to white.
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif im.mode == "F":
        im = im.point(lambda v: v * 255).convert("L")
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        if rgba.getchannel("A").getextrema() != (255, 255):
            return rgba
        return rgba.convert("RGB")
    if im.mode in ("RGB", "L"):
        return im
    return im.convert("RGB")


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
    for _ in range(_MAX_SHRINK_STEPS):
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
    raise ImageTooLarge("That image is too large, even after shrinking it.")


# --------------------------------------------------------------------------- inputs

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
        sof, sos, _ = _layout(data)
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
        raise NotAnImage("That file is empty.")
    mime = sniff_mime(data)
    if mime is None:
        raise NotAnImage()
    # The magic bytes say "image", so a file Pillow cannot parse is a broken one.
    try:
        im = _open(data, NotAnImage, _DAMAGED)
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
        raise ImageTooLarge(
            f"That image is too large ({width}x{height}; the limit is "
            f"{max_pixels / 1_000_000:g} megapixels)."
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
        im = _normalise_mode(im)
    except Exception as exc:
        raise NotAnImage(_DAMAGED) from exc
    return _encode_within(im, max_bytes)


def _request_bytes(image: InputImage) -> int:
    # data:<mime>;base64,<payload> plus the JSON quotes around it.
    return len(image.mime) + 15 + 4 * ((len(image.data) + 2) // 3)


def _shrink(image: InputImage, max_bytes: int) -> InputImage:
    """Re-encode (and downscale as needed) an already validated input to ``max_bytes``."""
    im = _open(image.data, NotAnImage, _DAMAGED)
    im.load()
    return _encode_within(_normalise_mode(im), max_bytes)


def fit_request(
    images: Sequence[InputImage], max_request_bytes: int, overhead_bytes: int = 0
) -> tuple[InputImage, ...]:
    """Shrink the largest images first until the base64 request fits ``max_request_bytes``."""
    images = tuple(images)
    budget = max_request_bytes - overhead_bytes
    if budget <= 0:
        raise RequestTooLarge()
    for _ in range(_MAX_SHRINK_STEPS):
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


# --------------------------------------------------------------------------- outputs


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
        raise MalformedResponse(_BROKEN_OUTPUT)
    try:
        im = _open(data, MalformedResponse, _BROKEN_OUTPUT)
    except ImageTooLarge as exc:
        raise MalformedResponse(_BROKEN_OUTPUT) from exc
    width, height = im.size
    if width <= 0 or height <= 0:
        raise MalformedResponse(_BROKEN_OUTPUT)
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


def _encoder_kwargs(fmt: str, quality: int, variant: int) -> dict:
    if fmt == "JPEG":
        return {"quality": quality, "subsampling": variant}
    # method 1: measured 2-3x faster than the default 4 for a few % more bytes;
    # method 0 is faster still but blew up to 1 byte/pixel on some alpha planes.
    return {"quality": quality, "method": 1}


def _save(im: Image.Image, fmt: str, quality: int, variant: int, **extra) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **_encoder_kwargs(fmt, quality, variant), **extra)
    return buf.getvalue()


# The final full-size JPEG encode is the one step of a 4K fit that can use both cores:
# the top and bottom halves are encoded at once in two threads and their entropy-coded
# data joined at a restart marker. The halves are split on a multiple of 8 MCU rows
# with a restart marker every MCU row, so the bottom half's markers (RST0, RST1, ...)
# continue the top half's count modulo 8 as they are; restarts only reset the DC
# predictor, so the pixels are exactly those of a single encode. Pillow releases the
# GIL while encoding only into a real file descriptor, hence memfd (BytesIO does not).
# Measured on 4096x4096, q97: 4:4:4 116 -> 70 ms, 4:2:0 84 -> 44 ms.
_SPLIT_UNIT = 128  # 8 MCU rows at the tallest MCU (16 px, 4:2:0)
_SPLIT_MIN_PIXELS = 4_000_000  # below this, threads cost more than they save
_SOF0 = b"\xff\xc0"
_SOS = b"\xff\xda"
_EOI = b"\xff\xd9"


def _save_to_fd(
    im: Image.Image, box: tuple[int, int, int, int], quality: int, variant: int, extra: dict
) -> bytes:
    im = im.crop(box)  # here, so that the two halves are also cut in parallel
    fd = os.memfd_create("jpeg") if hasattr(os, "memfd_create") else None
    with open(fd, "w+b") if fd is not None else tempfile.TemporaryFile() as f:
        im.save(f, "JPEG", quality=quality, subsampling=variant, restart_marker_rows=1, **extra)
        f.seek(0)
        return f.read()


def _layout(jpeg: bytes) -> tuple[int, int, int]:
    """Offsets of the SOF0 segment (-1 if none), of the first SOS segment, and of the
    entropy-coded data after it."""
    pos, sof = 2, -1
    while True:
        marker = jpeg[pos : pos + 2]
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        if marker == _SOF0:
            sof = pos
        if marker == _SOS:
            return sof, pos, pos + 2 + length
        pos += 2 + length


def _save_jpeg(im: Image.Image, quality: int, variant: int, extra: dict) -> bytes:
    split = round(im.height / 2 / _SPLIT_UNIT) * _SPLIT_UNIT
    if im.width * im.height < _SPLIT_MIN_PIXELS or not 0 < split < im.height:
        return _save(im, "JPEG", quality, variant, **extra)
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(_save_to_fd, im, (0, split, im.width, im.height), quality, variant, {})
        head = _save_to_fd(im, (0, 0, im.width, split), quality, variant, extra)
        tail = later.result()
    sof, _, _ = _layout(head)
    if sof < 0 or head[sof + 5 : sof + 7] != struct.pack(">H", split):
        return _save(im, "JPEG", quality, variant, **extra)  # not the baseline layout expected
    # The top half's headers with the full height, its data, the marker closing its last
    # restart interval (a multiple of 8 intervals: always RST7), the bottom half's data.
    return b"".join(
        (
            head[: sof + 5],
            struct.pack(">H", im.height),
            head[sof + 7 : head.rindex(_EOI)],
            b"\xff\xd7",
            tail[_layout(tail)[2] :],
        )
    )


def _sample_psnr(sample: Image.Image, encoded: bytes) -> float:
    decoded = Image.open(io.BytesIO(encoded)).convert(sample.mode)
    return _psnr_images(sample, decoded)


class _Model:
    """Size and PSNR of one encoder setting, predicted from the sample mosaic."""

    def __init__(self, sample: Image.Image, pixels: int, fmt: str) -> None:
        self.sample, self.fmt = sample, fmt
        self.scale = pixels / (sample.width * sample.height)
        self._cache: dict[tuple[int, int], bytes] = {}

    def encoded(self, quality: int, variant: int) -> bytes:
        key = (quality, variant)
        if key not in self._cache:
            self._cache[key] = _save(self.sample, self.fmt, quality, variant)
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
    _, quality, variant = max(candidates)
    return quality, variant


def fit_for_upload(
    image: GeneratedImage, limit_bytes: int = DISCORD_UPLOAD_LIMIT
) -> GeneratedImage:
    """Make a generated image fit the upload cap with one well-chosen encode, same size."""
    if len(image.data) <= limit_bytes:
        return image
    im = _open(image.data, MalformedResponse, _BROKEN_OUTPUT)
    if im.width * im.height > MAX_INPUT_PIXELS:
        # Far beyond any model's output (4K is 17 Mpx): not worth a worker's memory.
        raise MalformedResponse(_TOO_LARGE_OUTPUT)
    try:
        im.load()
    except Exception as exc:
        raise MalformedResponse(_BROKEN_OUTPUT) from exc
    extra = {k: im.info[k] for k in ("exif", "icc_profile") if im.info.get(k)}
    im = _normalise_mode(im)
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
            return _save_jpeg(im, quality, variant, extra)
        return _save(im, fmt, quality, variant, **extra)

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
        data = _save(im, fmt, quality, 2, **extra)
        if len(data) <= limit_bytes:
            return data
    raise MalformedResponse(_TOO_LARGE_OUTPUT)


# --------------------------------------------------------------------------- measuring


def psnr(a: bytes, b: bytes) -> float:
    """Peak signal-to-noise ratio in dB between two encoded images of the same size."""
    ia = Image.open(io.BytesIO(a))
    ib = Image.open(io.BytesIO(b))
    mode = "RGBA" if (_has_alpha(ia) or _has_alpha(ib)) else "RGB"
    return _psnr_images(ia.convert(mode), ib.convert(mode))


def _psnr_images(ia: Image.Image, ib: Image.Image) -> float:
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
