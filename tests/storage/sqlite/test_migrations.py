"""Databases as earlier versions of the bot left them open, migrate once, and keep their rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage import DEFAULT_OWNER
from bot.storage.sqlite import SQLiteStore
from bot.storage.sqlite.migrations import LATEST_VERSION, MIGRATIONS
from tests.storage.helpers import Clock, history_was_a_line, query

GW = "https://gw.example/v1"
PRO = "gemini-3-pro-image-preview"
OLD_JOB = (
    "INSERT INTO jobs (kind, guild_id, channel_id, user_id, prompt, state, created_at)"
    " VALUES ('imagine', 1, 3, 2, ?, ?, 10)"
)


def old_database(path: Path, version: int, jobs: tuple[tuple[str, str], ...] = ()) -> None:
    """A file as version ``version`` of the schema left it, with (prompt, state) jobs."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
        for v in range(1, version + 1):
            for statement in MIGRATIONS[v]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 0)", (v,))
        for prompt, state in jobs:
            conn.execute(OLD_JOB, (prompt, state))
    conn.close()


@pytest.mark.parametrize("version", range(1, LATEST_VERSION))
async def test_every_older_schema_opens_and_keeps_its_jobs(db_path: Path, version: int) -> None:
    old_database(db_path, version, jobs=(("old", "done"),))
    store = await SQLiteStore.open(db_path)
    try:
        job = await store.get_job(1)
        assert job is not None and (job.prompt, job.state, job.owner) == ("old", "done", "default")
    finally:
        await store.close()
    versions = query(db_path, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, LATEST_VERSION + 1)]
    assert query(db_path, "PRAGMA foreign_key_check") == []


async def test_jobs_from_before_the_counted_column_still_count(db_path: Path) -> None:
    old_database(db_path, 1, jobs=(("old", "done"),))
    store = await SQLiteStore.open(db_path)
    try:
        assert await store.count_jobs(guild_id=1, user_id=2, since=0) == 1
        job = await store.get_job(1)
        assert job is not None and job.counted is True
    finally:
        await store.close()


async def test_a_schema_2_database_gains_the_table_and_keeps_its_rows(db_path: Path) -> None:
    old_database(db_path, 2, jobs=(("old", "done"),))
    store = await SQLiteStore.open(db_path, clock=Clock())
    try:
        assert (await store.get_job(1)).prompt == "old"
        assert await store.size_checks(GW) == []
        await store.record_size_check(
            gateway=GW,
            model=PRO,
            dialect="openrouter",
            asked="4K 16:9",
            delivered="5504×3072",
            size_honoured=True,
            ratio_honoured=True,
        )
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


async def test_jobs_from_before_owners_are_the_default_instance_s(db_path: Path) -> None:
    old_database(db_path, 3, jobs=(("was running", "running"), ("was queued", "queued")))
    store = await SQLiteStore.open(db_path, clock=Clock())
    try:
        assert await store.interrupt_running_jobs("shard-1") == []
        interrupted = await store.interrupt_running_jobs(DEFAULT_OWNER)
        # Changed with the queue: a queued job never started, so it is left to go on.
        assert [(j.prompt, j.state, j.owner) for j in interrupted] == [
            ("was running", "interrupted", DEFAULT_OWNER),
        ]
        (queued,) = await store.list_jobs(states=("queued",))
        assert (queued.prompt, queued.owner) == ("was queued", DEFAULT_OWNER)
    finally:
        await store.close()
    assert query(db_path, "SELECT DISTINCT owner FROM jobs") == [(DEFAULT_OWNER,)]


async def test_a_schema_9_history_becomes_a_line_of_parents(db_path: Path) -> None:
    old_database(db_path, 9)
    with sqlite3.connect(db_path) as conn:
        for channel, prompt in ((5, "a"), (6, "other"), (5, "b"), (5, "c")):
            conn.execute(
                "INSERT INTO turns (channel_id, user_id, prompt, created_at) VALUES (?, 2, ?, 1)",
                (channel, prompt),
            )
    conn.close()
    store = await SQLiteStore.open(db_path, clock=Clock())
    try:
        await history_was_a_line(store)
    finally:
        await store.close()
