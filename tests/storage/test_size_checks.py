"""The delivered-size observations: the latest per gateway, model and dialect."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage.base import SizeObservation
from bot.storage.schema import LATEST_VERSION, MIGRATIONS
from bot.storage.sqlite import SQLiteStore
from tests.storage.helpers import Clock, query

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


async def test_the_latest_observation_per_dialect_is_kept(store: SQLiteStore, clock: Clock) -> None:
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


async def test_a_part_not_asked_reads_back_as_none(store: SQLiteStore) -> None:
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


async def test_a_verdict_must_be_a_bool(store: SQLiteStore) -> None:
    with pytest.raises(ValueError):
        await store.record_size_check(**{**_observed("flat", honoured=True), "size_honoured": 1})
    assert await store.size_checks(GW) == []


async def test_a_schema_2_database_gains_the_table_and_keeps_its_rows(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:  # a database as version 2 of the bot left it
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
        for version in (1, 2):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
        conn.execute(
            "INSERT INTO jobs (kind, guild_id, channel_id, user_id, prompt, state, created_at)"
            " VALUES ('imagine', 1, 3, 2, 'old', 'done', 10)"
        )
    store = await SQLiteStore.open(db_path, clock=Clock())
    try:
        assert (await store.get_job(1)).prompt == "old"
        assert await store.size_checks(GW) == []
        await store.record_size_check(**_observed("openrouter", honoured=True))
        assert [o.dialect for o in await store.size_checks(GW, PRO)] == ["openrouter"]
    finally:
        await store.close()
    versions = query(db_path, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, LATEST_VERSION + 1)]
    # Survives a reopen: the migration runs once.
    store = await SQLiteStore.open(db_path)
    try:
        assert len(await store.size_checks(GW)) == 1
    finally:
        await store.close()
