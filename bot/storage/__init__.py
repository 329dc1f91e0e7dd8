"""Persistence: ``open_store(DATABASE_URL)`` gives the one ``Store`` the bot uses."""

from __future__ import annotations

from pathlib import Path

from bot.errors import ConfigError
from bot.storage.base import (
    DEFAULT_HISTORY_TURNS,
    JOB_STATES,
    SETTING_NAMES,
    GuildSettings,
    JobRecord,
    SizeObservation,
    Store,
    StoredImage,
    TurnRecord,
    UsageRow,
)

__all__ = [
    "DEFAULT_HISTORY_TURNS",
    "JOB_STATES",
    "SETTING_NAMES",
    "GuildSettings",
    "JobRecord",
    "SizeObservation",
    "Store",
    "StoredImage",
    "TurnRecord",
    "UsageRow",
    "open_store",
    "sqlite_path",
]

_SQLITE_PREFIX = "sqlite:///"


def sqlite_path(database_url: str) -> str:
    """The file path in a ``sqlite:///`` URL (three slashes relative, four absolute)."""
    path = database_url[len(_SQLITE_PREFIX) :]
    if not database_url.startswith(_SQLITE_PREFIX) or not path or "?" in path:
        raise ConfigError(
            "DATABASE_URL must look like sqlite:///data/bot.db (relative), "
            "sqlite:////var/lib/bot.db (absolute) or sqlite:///:memory:"
        )
    return path


async def open_store(database_url: str) -> Store:
    """Open (and migrate) the database named by DATABASE_URL."""
    scheme = database_url.partition(":")[0].lower()
    if scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"):
        raise ConfigError("PostgreSQL support is not built yet; use sqlite:///...")
    if scheme != "sqlite":
        raise ConfigError(
            f"DATABASE_URL has an unsupported scheme {scheme + ':' if scheme else '(none)'}; "
            "use sqlite:///path/to/bot.db"
        )
    path = sqlite_path(database_url)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)

    from bot.storage.sqlite import SQLiteStore

    return await SQLiteStore.open(path)
