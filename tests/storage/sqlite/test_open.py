"""The SQLite driver's URLs, files, pragmas and schema version."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.storage import open_store
from bot.storage.sqlite import SQLiteStore, sqlite_path
from bot.storage.sqlite.migrations import LATEST_VERSION
from tests.storage.helpers import query


def test_sqlite_urls_map_to_paths() -> None:
    assert sqlite_path("sqlite:///data/bot.db") == "data/bot.db"
    assert sqlite_path("sqlite:////var/lib/bot/bot.db") == "/var/lib/bot/bot.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite://host/x.db",
        "sqlite:///x.db?mode=ro",
        "sqlite+aiosqlite:///x.db",
    ],
)
async def test_malformed_sqlite_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        sqlite_path(url)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        await open_store(url)


async def test_relative_url_creates_parent_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///nested/dir/bot.db")
    try:
        await store.update_settings(1, history_turns=3)
    finally:
        await store.close()
    assert query(tmp_path / "nested/dir/bot.db", "SELECT guild_id FROM guild_settings") == [(1,)]


async def test_absolute_url(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "bot.db"
    store = await open_store(f"sqlite:///{target}")  # target starts with "/": four slashes
    await store.close()
    assert target.is_file()


async def test_memory_url_works_and_touches_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///:memory:")
    try:
        sha = (await store.put_blob(b"abc", "image/png")).sha256
        assert await store.get_blob(sha) == b"abc"
        assert (await store.get_settings(5)).history_turns == 6
    finally:
        await store.close()
    assert os.listdir(tmp_path) == []


async def test_pragmas_and_schema_version(sqlite_store: SQLiteStore, db_path: Path) -> None:
    store = sqlite_store
    # WAL is a property of the file: a fresh plain connection sees it.
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
    async with store._read() as db:
        async with db.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1
        async with db.execute("PRAGMA busy_timeout") as cur:
            assert (await cur.fetchone())[0] >= 1000
    assert query(db_path, "SELECT MAX(version) FROM schema_version") == [(LATEST_VERSION,)]
    # The writer frees a deleted blob's pages without zeroing them first (see open()).
    async with store._write() as db:
        async with db.execute("PRAGMA secure_delete") as cur:
            assert (await cur.fetchone())[0] == 2  # FAST
        async with db.execute("PRAGMA journal_size_limit") as cur:
            assert (await cur.fetchone())[0] == 64 * 1024 * 1024


async def test_reopen_does_not_migrate_twice(db_path: Path) -> None:
    for _ in range(2):
        await (await SQLiteStore.open(db_path)).close()
    assert query(db_path, "SELECT COUNT(*) FROM schema_version") == [(LATEST_VERSION,)]


async def test_newer_schema_is_refused(db_path: Path) -> None:
    await (await SQLiteStore.open(db_path)).close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (LATEST_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="newer version"):
        await SQLiteStore.open(db_path)


async def test_close_is_idempotent(db_path: Path) -> None:
    store = await SQLiteStore.open(db_path)
    await store.close()
    await store.close()
