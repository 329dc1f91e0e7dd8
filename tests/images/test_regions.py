"""Region edits in pixels: outside the region the composite is the original, exactly."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from bot.errors import MalformedResponse
from bot.i18n import Text, render
from bot.images.regions import (
    REGION_LABELS,
    REGIONS,
    REGIONS_IN_SENTENCES,
    aligned,
    composite_region,
    feathered_mask,
    marked_copy,
    pixel_box,
    region_in_sentence,
    region_label,
)
from tests.imaging import differs_outside, make_photo_like, psnr, shifted


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize("name", sorted(REGIONS))
def test_every_region_keeps_every_pixel_outside_it(photo: bytes, name: str) -> None:
    answer = shifted(photo)  # the model repainted everything
    done = composite_region(photo, answer, name)
    box = pixel_box(name, (320, 240))
    assert differs_outside(photo, done.image.data, box) is None
    assert (done.image.width, done.image.height, done.image.mime) == (320, 240, "image/png")
    # ...and inside the region, away from the feather, it is the answer's.
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    assert _open(done.image.data).getpixel((cx, cy)) == _open(answer).getpixel((cx, cy))


@pytest.mark.parametrize("answer_size", [(640, 480), (160, 120), (300, 300), (500, 200)])
def test_an_answer_of_another_size_is_aligned_first(photo: bytes, answer_size) -> None:
    done = composite_region(photo, shifted(photo, answer_size), "top-left")
    assert (done.image.width, done.image.height) == (320, 240)
    assert differs_outside(photo, done.image.data, pixel_box("top-left", (320, 240))) is None


def test_a_same_aspect_answer_lines_up_with_the_original(photo: bytes) -> None:
    """Resized, not cropped: an unchanged answer at twice the size gives back the picture."""
    bigger = _open(photo).resize((640, 480), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    bigger.save(buf, "PNG")
    done = composite_region(photo, buf.getvalue(), "left-half")
    assert psnr(photo, done.image.data) > 30


def test_a_wider_answer_is_cover_scaled_and_centre_cropped() -> None:
    answer = Image.new("RGB", (400, 200), (0, 0, 0))
    answer.paste((255, 255, 255), (100, 0, 300, 200))  # the centre square is white
    # The black sides are cropped off (only the resampling's ringing at the seams is left).
    assert all(lo > 200 for lo, _ in aligned(answer, (100, 100)).getextrema())


def test_the_feather_lies_inside_the_region_on_inner_edges_only() -> None:
    box = pixel_box("top-left-quarter", (200, 100))
    mask = feathered_mask((200, 100), box)
    assert mask.size == (100, 50)
    assert mask.getpixel((0, 0)) == 255  # the image's own border: not feathered
    assert mask.getpixel((99, 0)) < 64 and mask.getpixel((0, 49)) < 64  # inner edges
    assert mask.getpixel((50, 20)) == 255


def test_alpha_and_webp_originals_stay_lossless() -> None:
    im = Image.new("RGBA", (90, 60), (10, 20, 30, 128))
    buf = io.BytesIO()
    im.save(buf, "WEBP", lossless=True)
    done = composite_region(buf.getvalue(), shifted(buf.getvalue()), "center")
    assert done.image.mime == "image/webp"
    out = Image.open(io.BytesIO(done.image.data))
    assert out.mode == "RGBA"
    diff = ImageChops.difference(out, im)
    diff.paste((0, 0, 0, 0), pixel_box("center", (90, 60)))
    assert diff.getbbox() is None


def test_a_composite_over_the_upload_limit_carries_a_fitted_copy() -> None:
    photo = make_photo_like(512, 512, seed=5)
    done = composite_region(photo, shifted(photo), "center", upload_limit=100_000)
    assert done.image.fitted is not None and len(done.image.fitted.data) <= 100_000
    assert differs_outside(photo, done.image.data, pixel_box("center", (512, 512))) is None


def test_a_broken_answer_is_the_gateways_fault(photo: bytes) -> None:
    with pytest.raises(MalformedResponse):
        composite_region(photo, b"\x89PNG\r\n\x1a\nbroken", "center")


def test_the_marked_copy_dims_all_but_the_region(photo: bytes) -> None:
    marked = marked_copy(photo, "right-half")
    im = _open(marked.data)
    assert (marked.width, marked.height) == (320, 240)
    left = ImageChops.difference(im.crop((0, 0, 150, 240)), _open(photo).crop((0, 0, 150, 240)))
    assert max(hi for _, hi in left.getextrema()) > 40  # dimmed
    assert im.getpixel((160, 120))[0] > 200  # the red outline at the region's edge


@settings(max_examples=25, deadline=None)
@given(
    w=st.integers(8, 90),
    h=st.integers(8, 90),
    aw=st.integers(8, 90),
    ah=st.integers(8, 90),
    name=st.sampled_from(sorted(REGIONS)),
)
def test_any_sizes_keep_the_outside(w: int, h: int, aw: int, ah: int, name: str) -> None:
    original = make_photo_like(w, h, seed=w * h)
    done = composite_region(original, shifted(original, (aw, ah)), name)
    assert differs_outside(original, done.image.data, pixel_box(name, (w, h))) is None


def test_every_region_is_marked_as_an_option_and_inside_a_sentence() -> None:
    for name, r in REGIONS.items():
        # Marked (a translator sees both), and today's English kept exactly.
        assert isinstance(REGION_LABELS[name], Text) and render(region_label(name)) == r.label
        assert isinstance(REGIONS_IN_SENTENCES[name], Text), name
        assert render(region_in_sentence(name)) == r.label.lower()
