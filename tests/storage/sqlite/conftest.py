"""SQLite-only fixtures: the driver's own file, opened directly (not through the registry)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.sqlite import SQLiteStore
from tests.storage.helpers import Clock


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"


@pytest.fixture
async def sqlite_store(db_path: Path, clock: Clock) -> AsyncIterator[SQLiteStore]:
    s = await SQLiteStore.open(db_path, clock=clock, blob_grace=0)
    try:
        yield s
    finally:
        await s.close()
