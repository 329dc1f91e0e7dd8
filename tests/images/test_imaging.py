"""The test images themselves (tests/imaging.py), and bot.images across process boundaries."""

from __future__ import annotations

import math
import pickle

import pytest
from PIL import Image

from bot.images import inputs, outputs, sniff
from bot.types import GeneratedImage
from tests import imaging
from tests.images.files import encode, opened


def test_psnr(photo: bytes) -> None:
    assert imaging.psnr(photo, photo) == math.inf
    low = encode(opened(photo), "JPEG", quality=20)
    high = encode(opened(photo), "JPEG", quality=95)
    assert 20 < imaging.psnr(photo, low) < imaging.psnr(photo, high)
    with pytest.raises(ValueError):
        imaging.psnr(photo, encode(Image.new("RGB", (10, 10)), "PNG"))


def test_make_photo_like_is_deterministic_realistic_content() -> None:
    a = imaging.make_photo_like(256, 192, seed=1)
    assert a == imaging.make_photo_like(256, 192, seed=1)
    assert a != imaging.make_photo_like(256, 192, seed=2)
    im = opened(a)
    assert (im.format, im.mode, im.size) == ("PNG", "RGB", (256, 192))
    # Not flat colour and not pure noise: many colours, yet far more compressible
    # than random bytes.
    assert len(im.getcolors(maxcolors=1 << 24)) > 5_000
    assert len(encode(im, "JPEG", quality=90)) < 256 * 192 * 3 // 4


def test_public_functions_and_results_cross_process_boundaries(photo: bytes) -> None:
    for fn in (
        sniff.sniff_mime,
        inputs.prepare_input,
        inputs.fit_request,
        outputs.inspect_output,
        outputs.fit_for_upload,
        inputs.data_uri,
        inputs.b64,
        imaging.psnr,
        imaging.make_photo_like,
    ):
        assert pickle.loads(pickle.dumps(fn)) is fn
    result = outputs.inspect_output(photo)
    assert pickle.loads(pickle.dumps(result)) == result
    assert isinstance(result, GeneratedImage)
