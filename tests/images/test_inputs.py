"""bot.images.inputs on real Pillow: what members send, hostile files, fitting a request."""

from __future__ import annotations

import io
import struct

import pybase64
import pytest
from PIL import Image

from bot import limits
from bot.errors import ImageTooLarge, NotAnImage, RequestTooLarge
from bot.images import inputs, sniff
from bot.types import InputImage
from tests.images.files import encode, heic_bytes, opened, png_declaring


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="zero-bytes"),
        pytest.param(b"just some text, renamed to cat.png\n", id="text-as-png"),
        pytest.param(
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
            b'height="10"><rect width="10" height="10"/></svg>',
            id="svg",
        ),
        pytest.param(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", id="pdf"),
        pytest.param(b"\x89PNG\r\n\x1a\n", id="png-signature-only"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"\0" * 20, id="jpeg-header-only"),
        pytest.param(encode(Image.new("RGB", (8, 8)), "BMP"), id="bmp"),
    ],
)
def test_prepare_input_refuses_what_is_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImage) as info:
        inputs.prepare_input(data)
    assert str(info.value)  # a sentence fit for a Discord reply


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_prepare_input_refuses_truncated_files(photo: bytes, fmt: str) -> None:
    data = encode(opened(photo), fmt)
    with pytest.raises(NotAnImage, match="damaged or incomplete"):
        inputs.prepare_input(data[: len(data) // 2])


def test_prepare_input_refuses_a_decompression_bomb_before_decoding() -> None:
    # 9000x9000 is 81 Mpx: past our cap, and past Pillow's own (lowered) hard limit.
    with pytest.raises(ImageTooLarge):
        inputs.prepare_input(png_declaring(9000, 9000))
    # 50 Mpx: under Pillow's hard limit, so only our own check stands in the way. The
    # file holds 1 KiB of pixel data, so reaching a decoder would report "damaged".
    with pytest.raises(ImageTooLarge, match="megapixels"):
        inputs.prepare_input(png_declaring(10000, 5000))
    assert Image.MAX_IMAGE_PIXELS == limits.MAX_INPUT_PIXELS < 89_478_485


def test_prepare_input_respects_a_custom_pixel_cap() -> None:
    data = encode(Image.new("RGB", (100, 100), "blue"), "PNG")
    with pytest.raises(ImageTooLarge):
        inputs.prepare_input(data, max_pixels=5_000)


def test_big_jpeg_is_decoded_at_reduced_scale_instead_of_refused(photo: bytes) -> None:
    data = encode(opened(photo), "JPEG", quality=90)  # 320x240 = 76.8 kpx
    result = inputs.prepare_input(data, max_pixels=30_000)
    assert (result.width, result.height) == (160, 120)
    assert opened(result.data).size == (160, 120)


def test_jpeg_past_pillows_own_bomb_limit_is_still_taken_at_reduced_scale(
    photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scaled down 1000x: Pillow refuses at 2x its cap in Image.open, as it would a
    # 108 MP phone photo at the real cap (40 Mpx, refusal past 80).
    data = encode(opened(photo), "JPEG", quality=90)  # 320x240 = 76.8 kpx
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))
    result = inputs.prepare_input(data, max_pixels=30_000)
    assert (result.width, result.height) == (160, 120)
    assert opened(result.data).size == (160, 120)


def test_a_progressive_jpeg_over_the_cap_is_refused_not_decoded_at_reduced_scale(
    photo: bytes,
) -> None:
    # libjpeg would hold every full-size coefficient of a progressive file: a small file
    # claiming hundreds of megapixels is a memory bomb, whatever the draft scale.
    data = encode(opened(photo), "JPEG", quality=90, progressive=True)
    with pytest.raises(ImageTooLarge, match="megapixels"):
        inputs.prepare_input(data, max_pixels=30_000)


def test_a_phone_jpeg_with_a_thumbnail_and_trailing_pictures_is_still_reducible(
    photo: bytes,
) -> None:
    main = encode(opened(photo), "JPEG", quality=90)
    thumbnail = encode(opened(photo).resize((32, 24)), "JPEG", quality=70)
    exif = b"Exif\0\0" + thumbnail  # an APP1 holding a whole JPEG, scan and all
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    data = main[:2] + app1 + main[2:] + thumbnail  # and a second picture after the end
    result = inputs.prepare_input(data, max_pixels=30_000)
    assert (result.width, result.height) == (160, 120)


def test_a_baseline_jpeg_whose_first_scan_lacks_components_is_refused(photo: bytes) -> None:
    # Frame of 3 components, first scan of 1: libjpeg then buffers every full-size
    # coefficient for the scans to come (a 1.25 MB file claiming 320 Mpx took 1.9 GB).
    data = encode(opened(photo), "JPEG", quality=90)
    sos = data.index(b"\xff\xda")
    (length,) = struct.unpack(">H", data[sos + 2 : sos + 4])
    assert data[sos + 4] == 3
    luma_only = b"\xff\xda" + struct.pack(">H", 8) + b"\x01" + data[sos + 5 : sos + 7]
    patched = data[:sos] + luma_only + data[sos + 2 + length - 3 :]
    with pytest.raises(ImageTooLarge, match="megapixels"):
        inputs.prepare_input(patched, max_pixels=30_000)


def test_odd_sized_big_jpeg_is_reduced_too(photo: bytes) -> None:
    # Pillow's draft scale is size // requested: a rounded-up request at an odd size
    # used to give scale 1, and the photo was refused.
    data = encode(opened(photo).resize((321, 241)), "JPEG", quality=90)
    result = inputs.prepare_input(data, max_pixels=30_000)
    assert (result.width, result.height) == (161, 121)


def test_a_jpeg_claiming_more_than_any_reduced_decode_covers_is_refused(photo: bytes) -> None:
    data = encode(opened(photo), "JPEG", quality=90)  # 76.8 kpx, over 8x a 9 kpx cap
    with pytest.raises(ImageTooLarge, match="megapixels"):
        inputs.prepare_input(data, max_pixels=9_000)


def test_plain_png_jpeg_webp_under_the_cap_pass_through_byte_identical(
    photo: bytes,
) -> None:
    for fmt, mime in (
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/webp"),
    ):
        data = encode(opened(photo), fmt)
        result = inputs.prepare_input(data)
        assert result.data == data
        assert (result.mime, result.width, result.height) == (mime, 320, 240)


def test_animated_gif_becomes_its_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert opened(data).n_frames == 2
    result = inputs.prepare_input(data)
    assert result.mime in ("image/jpeg", "image/png")
    out = opened(result.data)
    assert getattr(out, "n_frames", 1) == 1
    r, _g, b = out.convert("RGB").getpixel((20, 15))
    assert r > 200 and b < 60


def test_animated_webp_becomes_its_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in ((0, 200, 0), (200, 0, 200))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    result = inputs.prepare_input(data)
    out = opened(result.data)
    assert getattr(out, "n_frames", 1) == 1
    r, g, _b = out.convert("RGB").getpixel((20, 15))
    assert g > 150 and r < 60


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG")  # pure red ink
    result = inputs.prepare_input(data)
    out = opened(result.data)
    assert result.mime == "image/jpeg" and out.mode == "RGB"
    r, g, b = out.getpixel((16, 16))
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_is_scaled_not_clipped() -> None:
    im = Image.new("I;16", (32, 32), 32768)  # mid grey in 16 bits
    result = inputs.prepare_input(encode(im, "PNG"))
    value = opened(result.data).convert("L").getpixel((16, 16))
    assert 120 <= value <= 136


def test_palette_with_transparency_keeps_its_alpha() -> None:
    im = Image.new("P", (32, 32), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (0, 0, 16, 32))
    data = encode(im, "PNG", transparency=0)
    result = inputs.prepare_input(data)
    out = opened(result.data)
    assert out.mode == "RGBA"
    assert out.getpixel((24, 16))[3] == 0  # was the transparent index
    assert out.getpixel((8, 16)) == (0, 0, 255, 255)


def test_la_and_opaque_alpha_convert_sensibly() -> None:
    la = Image.new("LA", (16, 16), (100, 128))
    assert opened(inputs.prepare_input(encode(la, "PNG")).data).mode == "RGBA"
    # An alpha channel that is opaque everywhere is dropped: JPEG is smaller.
    opaque = Image.new("RGBA", (16, 16), (10, 20, 30, 255))
    result = inputs.prepare_input(encode(opaque, "GIF"))
    assert opened(result.data).mode == "RGB"


def test_exif_rotated_jpeg_is_turned_upright() -> None:
    im = Image.new("RGB", (60, 40), "white")
    im.paste((255, 0, 0), (0, 0, 10, 10))  # mark the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(im, "JPEG", exif=exif.tobytes(), quality=95)
    result = inputs.prepare_input(data)
    assert (result.width, result.height) == (40, 60)
    out = opened(result.data)
    assert out.size == (40, 60)
    assert out.getexif().get(0x0112, 1) == 1
    r, g, _b = out.convert("RGB").getpixel((35, 4))  # top-left went to top-right
    assert r > 200 and g < 80


def test_over_cap_input_is_downscaled_under_the_cap(photo_big: bytes) -> None:
    assert len(photo_big) > 150_000
    result = inputs.prepare_input(photo_big, max_bytes=150_000)
    assert len(result.data) <= 150_000
    assert result.mime == "image/jpeg"
    out = opened(result.data)
    assert out.size == (result.width, result.height)
    assert out.width <= 768 and abs(out.width / out.height - 1) < 0.02


def test_heic_is_accepted_and_converted() -> None:
    data = heic_bytes()
    if data is None:
        pytest.skip("pillow-heif has no HEVC encoder here")
    assert sniff.sniff_mime(data) == "image/heic"
    result = inputs.prepare_input(data)
    assert (result.mime, result.width, result.height) == ("image/jpeg", 64, 48)
    r, g, _b = opened(result.data).getpixel((32, 24))
    assert r > 150 and g < 90


def test_b64_and_data_uri_round_trip() -> None:
    data = bytes(range(256)) * 3
    assert pybase64.b64decode(inputs.b64(data)) == data
    uri = inputs.data_uri(InputImage(data=data, mime="image/png", width=1, height=1))
    assert uri.startswith("data:image/png;base64,")
    assert pybase64.b64decode(uri.split(",", 1)[1]) == data


def _request_size(imgs, overhead: int) -> int:
    return overhead + sum(len(inputs.data_uri(i)) + 2 for i in imgs)


def test_fit_request_leaves_a_request_that_fits_alone(photo: bytes) -> None:
    imgs = (inputs.prepare_input(photo),)
    assert inputs.fit_request(imgs, 10_000_000, 1_000) == imgs


def test_fit_request_shrinks_the_largest_first(photo: bytes, photo_big: bytes) -> None:
    small = inputs.prepare_input(encode(opened(photo), "JPEG", quality=80))
    big = inputs.prepare_input(photo_big)
    cap = len(small.data) * 4 // 3 + 400_000
    fitted = inputs.fit_request((small, big), cap, overhead_bytes=2_000)
    assert _request_size(fitted, 2_000) <= cap
    assert fitted[0] is small  # the small one was left alone
    assert len(fitted[1].data) < len(big.data)
    assert opened(fitted[1].data).size == (fitted[1].width, fitted[1].height)


def test_fit_request_refuses_what_cannot_fit(photo_big: bytes) -> None:
    big = inputs.prepare_input(photo_big)
    with pytest.raises(RequestTooLarge):
        inputs.fit_request((big,), 5_000)
    with pytest.raises(RequestTooLarge):
        inputs.fit_request((big,), 1_000_000, overhead_bytes=1_000_000)
