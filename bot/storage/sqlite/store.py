"""``SQLiteStore``: the SQLite driver, and how a ``sqlite:///`` DATABASE_URL opens it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.errors import ConfigError
from bot.storage.driver import DEFAULT_BLOB_GRACE
from bot.storage.sqlite.history import HistoryTables
from bot.storage.sqlite.jobs import JobTables
from bot.storage.sqlite.settings import SettingsTables

_PREFIX = "sqlite:///"


class SQLiteStore(SettingsTables, HistoryTables, JobTables):
    """``Store`` over one SQLite file (or ``:memory:``); open with ``SQLiteStore.open``."""


def sqlite_path(database_url: str) -> str:
    """The file path in a ``sqlite:///`` URL (three slashes relative, four absolute)."""
    path = database_url[len(_PREFIX) :]
    if not database_url.startswith(_PREFIX) or not path or "?" in path:
        raise ConfigError(
            "DATABASE_URL must look like sqlite:///data/bot.db (relative), "
            "sqlite:////var/lib/bot.db (absolute) or sqlite:///:memory:"
        )
    return path


async def open_sqlite(
    database_url: str,
    *,
    clock: Callable[[], float] = time.time,
    blob_grace: float = DEFAULT_BLOB_GRACE,
) -> SQLiteStore:
    """The driver's opener in ``bot.storage.DRIVERS``: creates the file's folder."""
    path = sqlite_path(database_url)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return await SQLiteStore.open(path, clock=clock, blob_grace=blob_grace)
