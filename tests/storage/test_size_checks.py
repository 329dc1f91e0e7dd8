"""The delivered-size observations: the latest per gateway, model and dialect."""

from __future__ import annotations

import pytest

from bot.storage import InvalidValue, SizeObservation, Store
from tests.storage.helpers import Clock

GW = "https://gw.example/v1"
PRO = "gemini-3-pro-image-preview"


def _observed(dialect: str, *, honoured: bool, model: str = PRO) -> dict:
    return {
        "gateway": GW,
        "model": model,
        "dialect": dialect,
        "asked": "4K 16:9",
        "delivered": "5504×3072" if honoured else "1024×1024",
        "size_honoured": honoured,
        "ratio_honoured": honoured,
    }


async def test_the_latest_observation_per_dialect_is_kept(store: Store, clock: Clock) -> None:
    await store.record_size_check(**_observed("flat", honoured=False))
    clock.advance(60)
    await store.record_size_check(**_observed("openrouter", honoured=True))
    clock.advance(60)
    await store.record_size_check(**_observed("flat", honoured=True))
    clock.advance(60)
    await store.record_size_check(**_observed("flat", honoured=False, model="other-model"))

    assert await store.size_checks(GW, PRO) == [
        SizeObservation(GW, PRO, "flat", "4K 16:9", "5504×3072", True, True, clock.now - 60),
        SizeObservation(GW, PRO, "openrouter", "4K 16:9", "5504×3072", True, True, clock.now - 120),
    ]
    every = await store.size_checks(GW)
    assert [(o.model, o.dialect, o.honoured) for o in every] == [
        ("other-model", "flat", False),
        (PRO, "flat", True),
        (PRO, "openrouter", True),
    ]
    assert await store.size_checks("https://other.example/v1") == []


async def test_a_part_not_asked_reads_back_as_none(store: Store) -> None:
    await store.record_size_check(
        gateway=GW,
        model=PRO,
        dialect="auto",
        asked="4K",
        delivered="1024×1024",
        size_honoured=False,
        ratio_honoured=None,
    )
    (seen,) = await store.size_checks(GW, PRO)
    assert (seen.size_honoured, seen.ratio_honoured, seen.honoured) == (False, None, False)


async def test_a_verdict_must_be_a_bool(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.record_size_check(**{**_observed("flat", honoured=True), "size_honoured": 1})
    with pytest.raises(InvalidValue, match="ratio_honoured"):
        await store.record_size_check(**{**_observed("flat", honoured=True), "ratio_honoured": 0})
    assert await store.size_checks(GW) == []
