"""Persistence: ``open_store(DATABASE_URL)`` gives the one ``Store`` the bot uses.

``DRIVERS`` maps a URL scheme to its driver's opener (as Red's ``_drivers`` does):
SQLite (``sqlite/``) and PostgreSQL (``postgres/``, asyncpg: the ``[postgres]`` extra).
Each driver imports its database library only when opened, so a missing optional
library costs only the bot that asks for that database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.errors import ConfigError
from bot.storage.base import (
    DEFAULT_HISTORY_TURNS,
    DEFAULT_OWNER,
    JOB_STATES,
    OWNER_PATTERN,
    SETTING_NAMES,
    GuildSettings,
    JobRecord,
    SizeObservation,
    Store,
    StoredImage,
    TurnRecord,
    UsageRow,
)
from bot.storage.driver import DEFAULT_BLOB_GRACE
from bot.storage.errors import (
    BlobNotFound,
    InvalidSetting,
    InvalidValue,
    JobFenced,
    JobNotFound,
    NotStored,
    StorageError,
    StorageUnavailable,
)

__all__ = [
    "DEFAULT_BLOB_GRACE",
    "DEFAULT_HISTORY_TURNS",
    "DEFAULT_OWNER",
    "DRIVERS",
    "JOB_STATES",
    "OWNER_PATTERN",
    "SETTING_NAMES",
    "BlobNotFound",
    "GuildSettings",
    "InvalidSetting",
    "InvalidValue",
    "JobFenced",
    "JobNotFound",
    "JobRecord",
    "NotStored",
    "Opener",
    "SizeObservation",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "StoredImage",
    "TurnRecord",
    "UsageRow",
    "open_store",
]


class Opener(Protocol):
    """Open (and migrate) the database a URL of the driver's scheme names."""

    def __call__(
        self, database_url: str, *, clock: Callable[[], float], blob_grace: float
    ) -> Awaitable[Store]: ...


async def _open_sqlite(
    database_url: str, *, clock: Callable[[], float], blob_grace: float
) -> Store:
    from bot.storage.sqlite import open_sqlite

    return await open_sqlite(database_url, clock=clock, blob_grace=blob_grace)


async def _open_postgres(
    database_url: str, *, clock: Callable[[], float], blob_grace: float
) -> Store:
    from bot.storage.postgres import open_postgres

    return await open_postgres(database_url, clock=clock, blob_grace=blob_grace)


DRIVERS: dict[str, Opener] = {
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9.-]{0,30})(\+[A-Za-z0-9.-]{1,30})?:")


def _scheme(database_url: str) -> str:
    """The URL's scheme without a ``+library`` suffix, lower-cased ("" when it has none)."""
    # Only a well-formed scheme is named back: whatever else was typed may be a password.
    match = _SCHEME.match(database_url)
    return match.group(1).lower() if match else ""


async def open_store(
    database_url: str,
    *,
    clock: Callable[[], float] = time.time,
    blob_grace: float = DEFAULT_BLOB_GRACE,
) -> Store:
    """Open (and migrate) the database named by DATABASE_URL; ConfigError if we cannot."""
    scheme = _scheme(database_url)
    opener = DRIVERS.get(scheme)
    if opener is not None:
        return await opener(database_url, clock=clock, blob_grace=blob_grace)
    raise ConfigError(
        f"DATABASE_URL has an unsupported scheme {scheme + ':' if scheme else '(none)'}; "
        "use sqlite:///path/to/bot.db or postgresql://user:password@host/database"
    )
