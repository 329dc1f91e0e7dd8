"""The delivered-size check over Gemini's published pixel sizes and the tolerance edges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.gateway.addresses import gateway_address
from bot.gateway.sizes import (
    SizeCheck,
    UnsentSize,
    check_delivered,
    check_images,
    ratio_matches,
    size_class,
    unsent_size,
)
from bot.i18n import render
from bot.types import ASPECT_RATIOS, EXTREME_ASPECT_RATIOS, IMAGE_SIZES

# Gemini's published 1K sizes; 2K and 4K are twice and four times these.
FLASH_25_1K = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
PRO_3_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
# 3.1 Flash's extreme ratios, about a megapixel each at 1K.
FLASH_31_EXTREME_1K = {
    "1:4": (512, 2064),
    "4:1": (2064, 512),
    "1:8": (368, 2928),
    "8:1": (2928, 368),
}
SCALE = {"1K": 1, "2K": 2, "4K": 4}


def _published():
    for ratio, (w, h) in FLASH_25_1K.items():
        yield "1K", ratio, w, h
    for table in (PRO_3_1K, FLASH_31_EXTREME_1K):
        for ratio, (w, h) in table.items():
            for size, k in SCALE.items():
                yield size, ratio, w * k, h * k


@pytest.mark.parametrize(("size", "ratio", "width", "height"), list(_published()))
def test_every_published_size_is_honoured(size: str, ratio: str, width: int, height: int) -> None:
    assert check_delivered(size, ratio, width, height) == SizeCheck(
        size_honoured=True,
        ratio_honoured=True,
        note=None,
        asked=f"{size} {ratio}",
        delivered=f"{width}×{height}",
    )


@pytest.mark.parametrize(("size", "ratio", "width", "height"), list(_published()))
def test_every_published_size_fails_any_other_ask(
    size: str, ratio: str, width: int, height: int
) -> None:
    for other in (*ASPECT_RATIOS, *EXTREME_ASPECT_RATIOS):
        if other != ratio:
            assert check_delivered(None, other, width, height).ratio_honoured is False, other
    for other in IMAGE_SIZES:
        if other != size:
            assert check_delivered(other, None, width, height).size_honoured is False, other


def test_the_sizes_from_the_gateway_notes() -> None:
    assert size_class(1024, 1024) == "1K"
    assert size_class(2048, 2048) == "2K"
    assert size_class(4096, 4096) == "4K"
    assert check_delivered("4K", "16:9", 5504, 3072).note is None
    assert size_class(512, 512) == "0.5K"
    assert size_class(688, 384) == "0.5K"  # 3.1 Flash 16:9 at 0.5K


def test_a_square_for_4k_16_9_is_reported_in_one_sentence() -> None:
    check = check_delivered("4K", "16:9", 1024, 1024)
    assert check.size_honoured is False and check.ratio_honoured is False
    assert render(check.note) == "Asked for 4K 16:9, the gateway returned 1024×1024."
    assert check.ignored and check.telling


def test_only_the_ignored_part_fails() -> None:
    size_only = check_delivered("2K", "16:9", 1376, 768)
    assert (size_only.size_honoured, size_only.ratio_honoured) == (False, True)
    assert render(size_only.note) == "Asked for 2K 16:9, the gateway returned 1376×768."
    ratio_only = check_delivered("2K", "16:9", 2048, 2048)
    assert (ratio_only.size_honoured, ratio_only.ratio_honoured) == (True, False)


def test_what_was_not_asked_is_not_checked() -> None:
    nothing = check_delivered(None, None, 8, 8)
    assert nothing == SizeCheck()
    assert not nothing.ignored and not nothing.telling
    # An edit that asked no ratio keeps its input's: a 3:2 result is fine for a 4K ask.
    edit = check_delivered("4K", None, 4 * 1264, 4 * 848)
    assert (edit.size_honoured, edit.ratio_honoured, edit.note) == (True, None, None)
    assert edit.asked == "4K"
    ratio = check_delivered(None, "9:16", 768, 1344)
    assert (ratio.size_honoured, ratio.ratio_honoured, ratio.asked) == (None, True, "9:16")


def test_honouring_the_default_tells_nothing() -> None:
    # A gateway that ignores every field also answers 1K 1:1: not worth remembering.
    assert not check_delivered("1K", "1:1", 1024, 1024).telling
    assert check_delivered("1K", "16:9", 1344, 768).telling
    assert check_delivered("1K", "1:1", 2048, 2048).telling  # wrong, so telling


@pytest.mark.parametrize(
    ("width", "height", "honoured"),
    [
        (1035, 1000, True),  # 3.5% wide of 1:1
        (1000, 1035, True),
        (1039, 1000, True),  # just inside 4%
        (1041, 1000, False),  # just outside
        (1050, 1000, False),  # 5%
        (1000, 1050, False),
    ],
)
def test_ratio_tolerance_edges(width: int, height: int, honoured: bool) -> None:
    assert ratio_matches("1:1", width, height) is honoured


def test_a_ratio_nearer_another_offered_one_is_not_honoured() -> None:
    # 0.7778 is 3.6% from 3:4 (inside the tolerance) but 2.8% from 4:5: it is a 4:5 image.
    assert ratio_matches("4:5", 896, 1152)
    assert not ratio_matches("3:4", 896, 1152)
    assert ratio_matches("3:4", 864, 1184)  # 2.7% from 3:4, and 4:5 is further


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (724, 724, "0.5K"),  # 0.4999 Mpx: below the 0.5K/1K boundary at 0.5
        (725, 725, "1K"),
        (1448, 1448, "1K"),  # 1.9996 Mpx
        (1449, 1449, "2K"),  # 2.0024 Mpx
        (2896, 2896, "2K"),  # 7.998 Mpx
        (2897, 2897, "4K"),
        (8192, 8192, "4K"),  # beyond 4K still counts as 4K
        (362, 362, None),  # far below 0.5K: no class at all
        (8, 8, None),
    ],
)
def test_size_class_boundaries_sit_at_a_factor_of_two(
    width: int, height: int, expected: str | None
) -> None:
    assert size_class(width, height) == expected


def test_a_tiny_image_for_1k_is_reported() -> None:
    check = check_delivered("1K", None, 8, 8)
    assert check.size_honoured is False
    assert render(check.note) == "Asked for 1K, the gateway returned 8×8."


def test_several_images_give_one_note_naming_the_first_miss() -> None:
    check = check_images("4K", "16:9", [(5504, 3072), (1024, 1024), (1344, 768)])
    assert (
        render(check.note) == "Asked for 4K 16:9, the gateway returned 1024×1024 for 2 of 3 images."
    )
    assert check.delivered == "1024×1024"
    assert (check.size_honoured, check.ratio_honoured) == (False, False)
    fine = check_images("4K", "16:9", [(5504, 3072), (5504, 3072)])
    assert fine.note is None and fine.delivered == "5504×3072"
    assert check_images("4K", "16:9", []) == SizeCheck(asked="4K 16:9")


@given(
    size=st.sampled_from([None, *IMAGE_SIZES]),
    ratio=st.sampled_from([None, *ASPECT_RATIOS, *EXTREME_ASPECT_RATIOS]),
    width=st.integers(1, 20_000),
    height=st.integers(1, 20_000),
)
def test_any_answer_gets_a_consistent_verdict(
    size: str | None, ratio: str | None, width: int, height: int
) -> None:
    check = check_delivered(size, ratio, width, height)
    assert (check.size_honoured is None) == (size is None)
    assert (check.ratio_honoured is None) == (ratio is None)
    assert (check.note is not None) == check.ignored
    if check.note is not None:
        assert render(check.note).startswith(
            f"Asked for {check.asked}, the gateway returned {width}×{height}"
        )


def test_gateway_address_keeps_no_credentials() -> None:
    assert (
        gateway_address("https://user:sk-secret@api.example.com:8443/v1/?key=sk-q#x")
        == "https://api.example.com:8443/v1"
    )
    assert gateway_address("http://127.0.0.1:9/v1") == "http://127.0.0.1:9/v1"


def test_an_unsent_ask_is_told_only_when_the_result_missed_it():
    missed = check_images("4K", "16:9", [(1024, 1024)])
    unsent = unsent_size(missed, "plain")
    assert unsent == UnsentSize(dialect="plain", asked="4K 16:9", delivered="1024×1024")
    assert render(unsent.note("pick another with --dialect")) == (
        "The `plain` dialect cannot ask for 4K 16:9, so the gateway made 1024×1024; "
        "pick another with --dialect."
    )
    assert unsent_size(check_images("4K", "16:9", [(5504, 3072)]), "plain") is None
    assert unsent_size(check_images(None, None, [(1024, 1024)]), "plain") is None
