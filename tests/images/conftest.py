"""The photo-like images the bot.images tests share."""

from __future__ import annotations

import pytest

from tests import imaging


@pytest.fixture(scope="module")
def photo() -> bytes:
    return imaging.make_photo_like(320, 240, seed=3)


@pytest.fixture(scope="module")
def photo_big() -> bytes:
    return imaging.make_photo_like(768, 768, seed=7)
