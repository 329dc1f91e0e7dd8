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
import random
import struct
import warnings
from typing import Sequence

import pybase64
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from bot.errors import ImageTooLarge, MalformedResponse, NotAnImage, RequestTooLarge
from bot.gateway.models import GeneratedImage, InputImage

# Decompression bombs: the largest Gemini output is 5504x3072 (17 Mpx) and phone
# photos are 12-50 Mpx, so 40 Mpx refuses nothing real while keeping one decoded
# image under ~160 MB. Pillow's own cap (89 Mpx, error at 2x) is lowered to match,
# so a bomb that slips past our own check still stops inside Pillow.
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
    end = min(len(data), box_size if box_size >= 16 else 16)
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
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
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
        im.save(buf, "WEBP", quality=_ALPHA_WEBP_QUALITY, method=4)
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
    im = _open(data, NotAnImage)
    width, height = im.size
    if width <= 0 or height <= 0:
        raise NotAnImage()
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"That image is too large ({width}x{height}; the limit is "
            f"{max_pixels / 1_000_000:g} megapixels)."
        )
    try:
        im.seek(0)
        im.load()
    except Exception as exc:
        raise NotAnImage("That image file is damaged or incomplete.") from exc

    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block is not worth refusing the image for
        orientation = 1
    animated = getattr(im, "n_frames", 1) > 1
    if (
        mime in _PASSTHROUGH_MIMES
        and orientation in (1, None)
        and im.mode in _PASSTHROUGH_MODES
        and not animated
        and len(data) <= max_bytes
    ):
        return InputImage(data=data, mime=mime, width=width, height=height)

    try:
        if orientation not in (1, None):
            im = ImageOps.exif_transpose(im)
        im = _normalise_mode(im)
    except Exception as exc:
        raise NotAnImage("That image file is damaged or incomplete.") from exc
    return _encode_within(im, max_bytes)


def _request_bytes(image: InputImage) -> int:
    # data:<mime>;base64,<payload> plus the JSON quotes around it.
    return len(image.mime) + 15 + 4 * ((len(image.data) + 2) // 3)


def _shrink(image: InputImage, max_bytes: int) -> InputImage:
    im = _open(image.data, NotAnImage)
    im.load()
    im = _normalise_mode(im)
    # Force at least one re-encode even when the current bytes would "fit" a
    # re-encode at full size is not guaranteed smaller: go straight to the target.
    return _encode_within(im, max_bytes)


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
                for img, size in zip(images, sizes)
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


# JPEG qualities fit_for_upload may choose from; 4:4:4 keeps chroma edges crisp.
_JPEG_QUALITIES = (97, 95, 93, 91, 89, 87, 85, 82, 78, 74, 70)
_SIZE_SAFETY = 0.93  # aim below the cap: the estimate is good to a few percent


def _sample_tiles(im: Image.Image, tile: int = 256, count: int = 12) -> list[Image.Image]:
    """Full-resolution tiles spread over the image (keeps the real detail per pixel)."""
    if im.width <= tile * 2 or im.height <= tile * 2:
        return [im]
    rng = random.Random(im.width * 7919 + im.height)
    cols = rows = math.ceil(math.sqrt(count))
    tiles = []
    for r in range(rows):
        for c in range(cols):
            x0 = (im.width - tile) * c // max(1, cols - 1)
            y0 = (im.height - tile) * r // max(1, rows - 1)
            x0 = min(im.width - tile, max(0, x0 + rng.randint(-tile // 4, tile // 4)))
            y0 = min(im.height - tile, max(0, y0 + rng.randint(-tile // 4, tile // 4)))
            tiles.append(im.crop((x0, y0, x0 + tile, y0 + tile)))
    return tiles


def _jpeg_bytes(im: Image.Image, quality: int, subsampling: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def _estimate_jpeg_bpp(tiles: list[Image.Image], quality: int, subsampling: int) -> float:
    pixels = sum(t.width * t.height for t in tiles)
    # Each tile carries its own ~600-byte header; subtract it so small samples
    # do not overstate the cost of the whole image.
    size = sum(max(0, len(_jpeg_bytes(t, quality, subsampling)) - 600) for t in tiles)
    return size * 8 / pixels


def fit_for_upload(image: GeneratedImage, limit_bytes: int = DISCORD_UPLOAD_LIMIT) -> GeneratedImage:
    """Make a generated image fit Discord's cap with one well-chosen encode, dimensions kept."""
    if len(image.data) <= limit_bytes:
        return image
    im = _open(image.data, MalformedResponse, _BROKEN_OUTPUT)
    try:
        im.load()
    except Exception as exc:
        raise MalformedResponse(_BROKEN_OUTPUT) from exc
    im = _normalise_mode(im)
    if im.mode == "RGBA":
        return _fit_alpha(im, limit_bytes)
    if im.mode != "L":
        im = im.convert("RGB")
    pixels = im.width * im.height
    tiles = _sample_tiles(im)
    budget_bpp = limit_bytes * _SIZE_SAFETY * 8 / pixels
    quality, subsampling = _pick_jpeg(tiles, budget_bpp)
    data = _jpeg_bytes(im, quality, subsampling)
    if len(data) > limit_bytes:
        # The model missed: correct it by the observed ratio and encode once more.
        budget_bpp *= limit_bytes * _SIZE_SAFETY / len(data)
        quality, subsampling = _pick_jpeg(tiles, budget_bpp, below=quality)
        data = _jpeg_bytes(im, quality, subsampling)
    if len(data) > limit_bytes:
        raise MalformedResponse("The generated image is too large to upload.")
    return GeneratedImage(data=data, mime="image/jpeg", width=im.width, height=im.height)


def _pick_jpeg(tiles: list[Image.Image], budget_bpp: float, below: int = 101) -> tuple[int, int]:
    """Highest quality whose estimated size fits; 4:4:4 first, 4:2:0 when it must."""
    for subsampling in (0, 2):
        for quality in _JPEG_QUALITIES:
            if quality >= below:
                continue
            if _estimate_jpeg_bpp(tiles, quality, subsampling) <= budget_bpp:
                return quality, subsampling
    return _JPEG_QUALITIES[-1], 2


def _fit_alpha(im: Image.Image, limit_bytes: int) -> GeneratedImage:
    """Transparency needs WEBP (or PNG); lossy WEBP with lossless alpha is the compact one."""
    for quality in (90, 80, 65):
        buf = io.BytesIO()
        im.save(buf, "WEBP", quality=quality, method=2)
        if buf.tell() <= limit_bytes:
            return GeneratedImage(buf.getvalue(), "image/webp", im.width, im.height)
    raise MalformedResponse("The generated image is too large to upload.")


# --------------------------------------------------------------------------- measuring


def psnr(a: bytes, b: bytes) -> float:
    """Peak signal-to-noise ratio in dB between two encoded images of the same size."""
    ia = Image.open(io.BytesIO(a))
    ib = Image.open(io.BytesIO(b))
    mode = "RGBA" if (_has_alpha(ia) or _has_alpha(ib)) else "RGB"
    ia, ib = ia.convert(mode), ib.convert(mode)
    if ia.size != ib.size:
        raise ValueError(f"sizes differ: {ia.size} vs {ib.size}")
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


def make_photo_like(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG with photo-like statistics: gradients, soft and hard edges, texture, grain."""
    rng = random.Random(seed)
    # Structure is drawn at low resolution and scaled up, like the smooth parts of a photo.
    lw, lh = max(16, width // 8), max(16, height // 8)
    grad = Image.linear_gradient("L").resize((lw, lh))
    rad = Image.radial_gradient("L").resize((lw, lh))
    bands = [
        grad.rotate(rng.uniform(0, 360), resample=Image.Resampling.BILINEAR, expand=False)
        .point(lambda v, lo=rng.randint(0, 90), hi=rng.randint(150, 255): lo + v * (hi - lo) // 255)
        for _ in range(3)
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
                (x0, y0, x0 + rng.randrange(width // 6 + 1), y0 + rng.randrange(height // 6 + 1)),
                fill=colour,
            )
        else:
            draw.line(
                (x0, y0, rng.randrange(width), rng.randrange(height)),
                fill=colour,
                width=max(1, width // 400),
            )

    # Mid-frequency texture (foliage, fabric) and fine grain (sensor noise).
    tw, th = max(8, width // 3), max(8, height // 3)
    texture = _noise((tw, th), rng, 60).filter(ImageFilter.GaussianBlur(1.0))
    texture = texture.resize((width, height), Image.Resampling.BICUBIC)
    grain = _noise((width, height), rng, 10)
    luma = ImageChops.add(texture, grain, scale=1.0, offset=-128)
    bands = [ImageChops.add(b, luma, scale=1.0, offset=-128) for b in img.split()]
    img = Image.merge("RGB", bands)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()
