"""What the SQLite driver writes to its file, and how its transactions behave."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from bot.storage.base import GuildSettings, TurnRecord
from bot.storage.sqlite import SQLiteStore
from tests.storage.helpers import query

CHANNEL = 500


def turn(prompt: str) -> TurnRecord:
    return TurnRecord(channel_id=CHANNEL, guild_id=1, user_id=2, prompt=prompt)


async def test_a_read_writes_no_row(sqlite_store: SQLiteStore, db_path: Path) -> None:
    assert await sqlite_store.get_settings(42) == GuildSettings(guild_id=42)
    assert query(db_path, "SELECT COUNT(*) FROM guild_settings") == [(0,)]


async def test_a_blob_put_twice_is_one_row_holding_its_bytes(
    sqlite_store: SQLiteStore, db_path: Path
) -> None:
    data = os.urandom(3000)
    await sqlite_store.put_blob(data, "image/webp", 10, 20)
    await sqlite_store.put_blob(data, "image/webp", 10, 20)
    assert query(db_path, "SELECT COUNT(*), SUM(length(data)) FROM blobs") == [(1, 3000)]


async def test_a_large_blob_row_records_its_size(sqlite_store: SQLiteStore, db_path: Path) -> None:
    data = os.urandom(24 * 1024 * 1024)
    await sqlite_store.put_blob(data, "image/png", 4096, 4096)
    assert query(db_path, "SELECT size, length(data) FROM blobs") == [(len(data), len(data))]


async def test_settings_are_json_overrides_and_a_key_column(
    sqlite_store: SQLiteStore, db_path: Path
) -> None:
    await sqlite_store.update_settings(
        9, allowed_channels=(111, 222), gateway_key_encrypted=b"\x00ciphertext\xff"
    )
    await sqlite_store.update_settings(10, image_size="4K")
    # one row per guild, the channel list as JSON, the key in its own BLOB column
    rows = query(
        db_path,
        "SELECT guild_id, json_extract(overrides, '$.allowed_channels'), gateway_key_encrypted"
        " FROM guild_settings ORDER BY 1",
    )
    assert rows == [(9, "[111,222]", b"\x00ciphertext\xff"), (10, None, None)]


async def test_only_overrides_are_stored(sqlite_store: SQLiteStore, db_path: Path) -> None:
    await sqlite_store.update_settings(3, image_size="1K")
    assert query(db_path, "SELECT overrides FROM guild_settings") == [('{"image_size":"1K"}',)]


async def test_stored_value_no_longer_valid_falls_back_to_default(
    sqlite_store: SQLiteStore, db_path: Path
) -> None:
    await sqlite_store.update_settings(3, image_size="1K")
    conn = sqlite3.connect(db_path)
    conn.execute("""UPDATE guild_settings SET overrides = '{"image_size":"16K","retired":1}'""")
    conn.commit()
    conn.close()
    assert await sqlite_store.get_settings(3) == GuildSettings(guild_id=3)


async def test_usage_is_one_row_per_user_and_day(sqlite_store: SQLiteStore, db_path: Path) -> None:
    for _ in range(5):
        await sqlite_store.record_usage(guild_id=1, user_id=10, images=1, tokens=2)
    assert query(db_path, "SELECT jobs, images, tokens FROM usage") == [(5, 5, 10)]


async def test_a_job_records_its_owner(sqlite_store: SQLiteStore, db_path: Path) -> None:
    await sqlite_store.create_job(
        kind="imagine", guild_id=1, channel_id=2, user_id=3, prompt="p", params={}, owner="b-2"
    )
    assert query(db_path, "SELECT owner FROM jobs") == [("b-2",)]


async def test_cancelled_write_rolls_back_and_the_store_keeps_working(
    sqlite_store: SQLiteStore, db_path: Path
) -> None:
    store = sqlite_store
    with pytest.raises(asyncio.CancelledError):
        async with store._write() as db:
            await db.execute("INSERT INTO usage VALUES (1, 1, 1, 1, 1, 1, 0)")
            raise asyncio.CancelledError
    # a transaction left open by a rollback that never ran is closed by the next write
    async with store._lock:
        await store._db.execute("BEGIN")
        await store._db.execute("INSERT INTO usage VALUES (2, 2, 2, 2, 2, 2, 0)")
    await store.append_turn(turn("after"), keep=5)
    assert query(db_path, "SELECT COUNT(*) FROM usage") == [(0,)]
    assert [t.prompt for t in await store.recent_turns(CHANNEL, 5)] == ["after"]


async def test_reads_do_not_wait_behind_a_write(sqlite_store: SQLiteStore) -> None:
    """A member's /settings show must not queue behind a job's 20 MB blob insert."""
    store = sqlite_store
    await store.update_settings(1, history_turns=3)
    async with store._write() as db:  # a write in progress holds the writer
        await db.execute("INSERT INTO usage VALUES (9, 9, 9, 9, 9, 9, 0)")
        settings = await asyncio.wait_for(store.get_settings(1), timeout=30)
        assert settings.history_turns == 3
        # the reader sees only what was committed before its statement began
        assert await store.usage_summary(9, since=0) == []
    assert [r.user_id for r in await store.usage_summary(9, since=0)] == [9]
