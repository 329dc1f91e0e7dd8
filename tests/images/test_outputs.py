"""bot.images.outputs on real Pillow: what the gateway sent, and fitting it for upload."""

from __future__ import annotations

import pytest
from PIL import Image

from bot.errors import MalformedResponse
from bot.images import jpeg, outputs, sniff
from tests import imaging
from tests.images.files import encode, opened, png_declaring


def test_inspect_output_reads_the_real_format_and_size(photo: bytes) -> None:
    for fmt, mime in (
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/webp"),
    ):
        data = encode(opened(photo), fmt)
        result = outputs.inspect_output(data)
        assert (result.mime, result.width, result.height) == (mime, 320, 240)
        assert result.data is data


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"<html>502 Bad Gateway</html>", png_declaring(64, 64)[:40]],
)
def test_inspect_output_refuses_broken_images(data: bytes) -> None:
    with pytest.raises(MalformedResponse, match="broken image"):
        outputs.inspect_output(data)


def test_inspect_output_refuses_truncated_downloads(photo: bytes) -> None:
    for fmt in ("PNG", "JPEG", "WEBP"):
        data = encode(opened(photo), fmt)
        with pytest.raises(MalformedResponse):
            outputs.inspect_output(data[: len(data) * 2 // 3])


def test_fit_for_upload_keeps_an_image_that_fits(photo: bytes) -> None:
    image = outputs.inspect_output(photo)
    assert outputs.fit_for_upload(image, 10 * 1024 * 1024) is image


def test_fit_for_upload_brings_a_large_image_under_the_limit(photo_big: bytes) -> None:
    image = outputs.inspect_output(photo_big)
    limit = 400_000
    assert len(photo_big) > 2 * limit
    result = outputs.fit_for_upload(image, limit)
    assert len(result.data) <= limit
    assert (result.width, result.height) == (768, 768)
    assert opened(result.data).size == (768, 768)
    assert result.mime == sniff.sniff_mime(result.data) == "image/jpeg"
    assert imaging.psnr(photo_big, result.data) >= 40


def test_fit_for_upload_uses_a_format_with_alpha_for_transparent_images(
    photo_big: bytes,
) -> None:
    rgba = opened(photo_big).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    data = encode(rgba, "PNG", compress_level=1)
    result = outputs.fit_for_upload(outputs.inspect_output(data), len(data) // 3)
    assert len(result.data) <= len(data) // 3
    out = opened(result.data)
    assert result.mime == "image/webp" and out.mode == "RGBA" and out.size == (768, 768)
    assert out.getpixel((5, 0))[3] < 20 and out.getpixel((5, 767))[3] > 235


def test_fit_for_upload_walks_down_when_the_limit_is_tiny(photo: bytes) -> None:
    result = outputs.fit_for_upload(outputs.inspect_output(photo), 12_000)
    assert len(result.data) <= 12_000 and (result.width, result.height) == (320, 240)


@pytest.mark.parametrize("subsampling", [0, 1, 2])
@pytest.mark.parametrize("height", [256, 300, 397])
def test_jpeg_encoded_in_two_halves_is_the_single_encode(
    monkeypatch, subsampling: int, height: int
) -> None:
    monkeypatch.setattr(jpeg, "_SPLIT_MIN_PIXELS", 0)  # split these small images too
    im = opened(imaging.make_photo_like(200, height, seed=3))
    exif = Image.Exif()
    exif[0x010E] = "a lighthouse"
    joined = jpeg.save_jpeg(im, 95, subsampling, {"exif": exif.tobytes()})
    single = encode(im, "JPEG", quality=95, subsampling=subsampling)
    out = opened(joined)
    assert out.size == (200, height) and out.getexif()[0x010E] == "a lighthouse"
    assert out.tobytes() == opened(single).tobytes()  # restarts change no pixel
    assert joined.count(b"\xff\xd7") >= 1 and joined.endswith(b"\xff\xd9")


def test_fit_for_upload_stops_at_good_enough_quality(photo_big: bytes) -> None:
    # A roomy limit: the smallest encode predicted to clear the quality bar, not the best.
    result = outputs.fit_for_upload(outputs.inspect_output(photo_big), len(photo_big) - 1)
    best = encode(opened(photo_big), "JPEG", quality=97, subsampling=0)
    assert len(result.data) < len(best)
    assert imaging.psnr(photo_big, result.data) >= 40
