"""Region edits: the named regions, the marked copy the model is shown, and the composite.

A region edit sends the model the whole image and a marked copy (the region outlined,
the rest dimmed), then keeps only the region of its answer: ``composite_region`` pastes
it onto the original through a mask that is 0 outside the region, so every pixel there
is the original's, whatever the model did to it. The feather (a ramp from 0 to 255) lies
inside the region, along the edges that are not the image's own border.

An answer of another size is aligned first: resized to the original's size when the
aspect ratio is the same (within ``SAME_ASPECT``), else scaled to cover it and cropped
about the centre, as a model that changed the ratio still centres its picture.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw

from bot.errors import InputImageError, MalformedResponse
from bot.i18n import Message, _, p_
from bot.images.codec import normalise_mode, open_image
from bot.images.outputs import BROKEN_OUTPUT as outputs_broken
from bot.images.outputs import fit_for_upload
from bot.types import GeneratedImage, InputImage

SIXTHS = 6  # region corners in sixths: thirds are 2, halves 3


@dataclass(frozen=True)
class Region:
    name: str  # the value a select or a slash option sends
    label: str  # what the member reads
    words: str  # what the model reads
    box: tuple[int, int, int, int]  # left, top, right, bottom in sixths of the image


def _cells() -> list[Region]:
    rows = (("top", "top", 0), ("middle", "middle", 2), ("bottom", "bottom", 4))
    cols = (("left", "left", 0), ("center", "centre", 2), ("right", "right", 4))
    cells = []
    for row, row_words, y in rows:
        for col, col_words, x in cols:
            name = "center" if (row, col) == ("middle", "center") else f"{row} {col}"
            where = f"the {col_words} third of its width and the {row_words} third of its height"
            cells.append(
                Region(name.replace(" ", "-"), name.capitalize(), where, (x, y, x + 2, y + 2))
            )
    return cells


_HALVES = [
    Region("top-half", "Top half", "the top half of its height, the full width", (0, 0, 6, 3)),
    Region(
        "bottom-half", "Bottom half", "the bottom half of its height, the full width", (0, 3, 6, 6)
    ),
    Region("left-half", "Left half", "the left half of its width, the full height", (0, 0, 3, 6)),
    Region(
        "right-half", "Right half", "the right half of its width, the full height", (3, 0, 6, 6)
    ),
]
_QUARTERS = [
    Region(
        f"{v}-{h}-quarter",
        f"{v.capitalize()} {h} quarter",
        f"the {h} half of its width and the {v} half of its height",
        (x, y, x + 3, y + 3),
    )
    for v, y in (("top", 0), ("bottom", 3))
    for h, x in (("left", 0), ("right", 3))
]
# 17 in all: within Discord's 25 options of a select and 25 choices of an option.
REGIONS: dict[str, Region] = {r.name: r for r in (*_cells(), *_HALVES, *_QUARTERS)}

# What a member reads for each region: as a select option, and inside a sentence
# ("Editing the top left…", "Edit region (top right)"), where a language may need
# another form or case than the option's (German's capital nouns, for one).
REGION_LABELS: dict[str, Message] = {
    # Translators: a part of the image, as an option of a list (at most 100 characters).
    "top-left": _("Top left"),
    "top-center": _("Top center"),
    "top-right": _("Top right"),
    "middle-left": _("Middle left"),
    "center": _("Center"),
    "middle-right": _("Middle right"),
    "bottom-left": _("Bottom left"),
    "bottom-center": _("Bottom center"),
    "bottom-right": _("Bottom right"),
    "top-half": _("Top half"),
    "bottom-half": _("Bottom half"),
    "left-half": _("Left half"),
    "right-half": _("Right half"),
    "top-left-quarter": _("Top left quarter"),
    "top-right-quarter": _("Top right quarter"),
    "bottom-left-quarter": _("Bottom left quarter"),
    "bottom-right-quarter": _("Bottom right quarter"),
}
REGIONS_IN_SENTENCES: dict[str, Message] = {
    # Translators: a part of the image inside a sentence ("Editing the top left…"); lower
    # case in English, whatever the language's grammar asks for there.
    "top-left": p_("region in a sentence", "top left"),
    "top-center": p_("region in a sentence", "top center"),
    "top-right": p_("region in a sentence", "top right"),
    "middle-left": p_("region in a sentence", "middle left"),
    "center": p_("region in a sentence", "center"),
    "middle-right": p_("region in a sentence", "middle right"),
    "bottom-left": p_("region in a sentence", "bottom left"),
    "bottom-center": p_("region in a sentence", "bottom center"),
    "bottom-right": p_("region in a sentence", "bottom right"),
    "top-half": p_("region in a sentence", "top half"),
    "bottom-half": p_("region in a sentence", "bottom half"),
    "left-half": p_("region in a sentence", "left half"),
    "right-half": p_("region in a sentence", "right half"),
    "top-left-quarter": p_("region in a sentence", "top left quarter"),
    "top-right-quarter": p_("region in a sentence", "top right quarter"),
    "bottom-left-quarter": p_("region in a sentence", "bottom left quarter"),
    "bottom-right-quarter": p_("region in a sentence", "bottom right quarter"),
}

# Feather width, as a share of the region's shorter side: wide enough that a seam does
# not show, narrow enough that most of the region is the answer's own pixels.
FEATHER = 0.08
SAME_ASPECT = 0.01
_OUTLINE = (255, 40, 40)
_DIM = 0.35  # what is left of the brightness outside the region on the marked copy
_DAMAGED = _("The image to edit could not be read.")
BROKEN_OUTPUT = outputs_broken


def region(name: str) -> Region:
    try:
        return REGIONS[name]
    except KeyError:
        raise InputImageError(_("That region is not one I know; pick one from the list.")) from None


def region_label(name: str) -> Message:
    """Region ``name`` as an option a member picks ("Top left")."""
    return REGION_LABELS.get(name) or region(name).label


def region_in_sentence(name: str) -> Message:
    """Region ``name`` as it reads inside a sentence ("top left")."""
    return REGIONS_IN_SENTENCES.get(name) or region(name).label.lower()


def pixel_box(name: str, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region's box in pixels of an image of ``size``."""
    width, height = size
    x0, y0, x1, y1 = region(name).box
    return (
        round(x0 * width / SIXTHS),
        round(y0 * height / SIXTHS),
        round(x1 * width / SIXTHS),
        round(y1 * height / SIXTHS),
    )


def _open(data: bytes, error: type[Exception], message: Message) -> Image.Image:
    im = open_image(data, error, message)
    try:
        im.load()
    except Exception as exc:
        raise error(message) from exc
    return normalise_mode(im)


def marked_copy(data: bytes, name: str) -> InputImage:
    """The image with the region outlined and everything else dimmed, for the model's eyes."""
    im = _open(data, InputImageError, _DAMAGED).convert("RGB")
    box = pixel_box(name, im.size)
    marked = Image.eval(im, lambda v: round(v * _DIM))
    marked.paste(im.crop(box), box[:2])
    width = max(2, round(min(im.size) / 150))
    ImageDraw.Draw(marked).rectangle(
        (box[0], box[1], box[2] - 1, box[3] - 1), outline=_OUTLINE, width=width
    )
    buf = io.BytesIO()
    # Only a guide: JPEG keeps the request small.
    marked.save(buf, "JPEG", quality=85)
    return InputImage(data=buf.getvalue(), mime="image/jpeg", width=im.width, height=im.height)


def aligned(answer: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The answer at ``size``: resized if its aspect is the same, else cover-scaled and cropped."""
    if answer.size == size:
        return answer
    width, height = size
    ratio, theirs = width / height, answer.width / answer.height
    if abs(theirs / ratio - 1) <= SAME_ASPECT:
        return answer.resize(size, Image.Resampling.LANCZOS)
    scale = max(width / answer.width, height / answer.height)
    cover = (max(width, round(answer.width * scale)), max(height, round(answer.height * scale)))
    scaled = answer.resize(cover, Image.Resampling.LANCZOS)
    left, top = (cover[0] - width) // 2, (cover[1] - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def _ramp(length: int, feather: int, start: bool, end: bool) -> bytes:
    """Mask values along one side: 255 inside, rising over ``feather`` pixels at inner edges."""
    values = []
    for i in range(length):
        distance = min(i if start else length, length - 1 - i if end else length)
        values.append(255 if distance >= feather else round(255 * (distance + 1) / (feather + 1)))
    return bytes(values)


def feathered_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """The mask of the box alone (box-sized), feathered along the edges inside the image."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    feather = max(1, min(round(min(w, h) * FEATHER), min(w, h) // 4))
    width, height = size
    across = Image.frombytes("L", (w, 1), _ramp(w, feather, x0 > 0, x1 < width))
    down = Image.frombytes("L", (1, h), _ramp(h, feather, y0 > 0, y1 < height))
    return ImageChops.darker(
        across.resize((w, h), Image.Resampling.NEAREST),
        down.resize((w, h), Image.Resampling.NEAREST),
    )


@dataclass(frozen=True)
class Composited:
    image: GeneratedImage
    sha256: str  # of ``image.data``, for the history turn
    answer_sha256: str  # of the answer it replaces


def composite_region(
    original: bytes, answer: bytes, name: str, upload_limit: int | None = None
) -> Composited:
    """The original with only the region taken from the answer; lossless, the original's size.

    PNG (lossless WEBP for a WEBP original): a lossy re-encode would change every pixel
    outside the region. With ``upload_limit``, a copy over it carries ``fitted``.
    """
    base = _open(original, InputImageError, _DAMAGED)
    theirs = aligned(_open(answer, MalformedResponse, BROKEN_OUTPUT).convert(base.mode), base.size)
    box = pixel_box(name, base.size)
    out = base.copy()
    patch = Image.composite(theirs.crop(box), base.crop(box), feathered_mask(base.size, box))
    out.paste(patch, box[:2])
    buf = io.BytesIO()
    if open_image(original, InputImageError, _DAMAGED).format == "WEBP":
        out.save(buf, "WEBP", lossless=True, method=1)
        mime = "image/webp"
    else:
        out.save(buf, "PNG", compress_level=6)
        mime = "image/png"
    data = buf.getvalue()
    image = GeneratedImage(data=data, mime=mime, width=out.width, height=out.height)
    if upload_limit is not None and len(data) > upload_limit:
        image = GeneratedImage(
            data=data,
            mime=mime,
            width=out.width,
            height=out.height,
            fitted=fit_for_upload(image, upload_limit),
        )
    return Composited(
        image=image,
        sha256=hashlib.sha256(data).hexdigest(),
        answer_sha256=hashlib.sha256(answer).hexdigest(),
    )
