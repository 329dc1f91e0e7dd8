"""``SQLiteStore``: the SQLite driver, and how a ``sqlite:///`` DATABASE_URL opens it."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bot.errors import ConfigError
from bot.storage.driver import DEFAULT_BLOB_GRACE
from bot.storage.sqlite.history import HistoryTables
from bot.storage.sqlite.jobs import JobTables
from bot.storage.sqlite.members import MemberTables
from bot.storage.sqlite.references import ReferenceTables
from bot.storage.sqlite.settings import SettingsTables

_PREFIX = "sqlite:///"


class SQLiteStore(SettingsTables, HistoryTables, JobTables, MemberTables, ReferenceTables):
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
    if path == ":memory:":
        return await SQLiteStore.open(path, clock=clock, blob_grace=blob_grace)
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(path, f"its folder {folder} cannot be created ({_reason(exc)})") from exc
    try:
        return await SQLiteStore.open(path, clock=clock, blob_grace=blob_grace)
    except sqlite3.DatabaseError as exc:
        raise _unusable(path, _sqlite_reason(path, exc)) from exc
    except OSError as exc:
        raise _unusable(path, _reason(exc)) from exc


def _unusable(path: str, why: str) -> ConfigError:
    return ConfigError(f"cannot open the database {path}: {why}; fix DATABASE_URL or the path")


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _sqlite_reason(path: str, exc: sqlite3.DatabaseError) -> str:
    """SQLite says "unable to open database file" whatever the cause: find the cause."""
    if not isinstance(exc, sqlite3.OperationalError):
        return str(exc)  # "file is not a database", or a damaged one
    target = Path(path)
    if target.is_dir():
        return "it is a folder"
    # WAL mode writes -wal and -shm files beside the database: the folder must be writable too.
    for probe in (target, target.parent):
        if probe.exists() and not os.access(probe, os.R_OK | os.W_OK):
            return f"permission denied on {probe}"
    return str(exc)
