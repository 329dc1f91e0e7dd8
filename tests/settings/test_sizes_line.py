"""The "Sizes:" line of /settings show, from stored observations."""

from __future__ import annotations

from bot.i18n import render
from bot.storage.base import SizeObservation
from cogs.settings.render import sizes_text

GW = "https://gw.example/v1"
NOW = 1_700_000_000.0


def _seen(
    dialect: str,
    delivered: str,
    size: bool | None,
    ratio: bool | None,
    *,
    asked: str = "4K 16:9",
    ago: float = 7200,
) -> SizeObservation:
    return SizeObservation(GW, "m", dialect, asked, delivered, size, ratio, NOW - ago)


def test_nothing_observed_gives_no_line() -> None:
    assert sizes_text([], "auto", NOW) is None


def test_honoured_with_the_dialect_in_use() -> None:
    seen = [_seen("openrouter", "5504×3072", True, True)]
    assert render(sizes_text(seen, "openrouter", NOW)) == (
        "Sizes: 4K 16:9 honoured with dialect `openrouter` (5504×3072, 2 h ago)"
    )


def test_ignored_with_the_dialect_in_use_points_to_one_that_worked() -> None:
    seen = [
        _seen("openrouter", "5504×3072", True, True, ago=86_400 * 3),
        _seen("flat", "1376×768", False, True, ago=90),
    ]
    assert render(sizes_text(seen, "flat", NOW)) == (
        "Sizes: the gateway ignored 4K with dialect `flat` (returned 1376×768, 1 min ago); "
        "try dialect `openrouter`"
    )


def test_ignored_without_a_better_dialect_gives_no_advice() -> None:
    seen = [_seen("auto", "1024×1024", None, False, asked="16:9", ago=5)]
    assert render(sizes_text(seen, "auto", NOW)) == (
        "Sizes: the gateway ignored 16:9 with dialect `auto` (returned 1024×1024, just now)"
    )


def test_an_observation_of_another_dialect_is_shown_when_none_of_this_one() -> None:
    seen = [_seen("flat", "1024×1024", False, False)]
    assert render(sizes_text(seen, "openrouter", NOW)) == (
        "Sizes: the gateway ignored 4K 16:9 with dialect `flat` (returned 1024×1024, 2 h ago)"
    )


def test_rows_of_a_dialect_that_never_asked_are_not_shown() -> None:
    # Recorded before plain was known to send no size: not the gateway's doing.
    plain = _seen("plain", "1024×1024", False, False, ago=5)
    assert sizes_text([plain], "plain", NOW) is None
    honoured = _seen("openrouter", "5504×3072", True, True)
    assert render(sizes_text([plain, honoured], "plain", NOW)) == (
        "Sizes: 4K 16:9 honoured with dialect `openrouter` (5504×3072, 2 h ago)"
    )
