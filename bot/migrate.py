"""``python -m bot migrate --to postgresql://...``: copy the SQLite database into PostgreSQL.

Everything the bot stored moves as it is: settings, the servers' encrypted gateway keys
(bytes unchanged, so the same SECRET_KEY reads them), history turns with their image
links, jobs (states, owners, params, results: their "Run again" buttons keep working),
usage, delivered sizes, the bot's bookkeeping, the reference library and the image
blobs. The copy is one PostgreSQL transaction into an empty database, and each table's
count is compared with the source's before it commits: a failed or partial copy leaves
the target empty.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import DEFAULT_DATABASE_URL
from bot.errors import ConfigError

# Rows per batch read from SQLite; blob bytes in smaller batches (tens of MB each).
BATCH_ROWS = 2000
BLOB_BATCH_ROWS = 8
KEY_REMINDER = (
    "note: the servers' API keys were copied encrypted: run the bot on PostgreSQL with the "
    "same SECRET_KEY, or they cannot be decrypted."
)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class Table:
    """A table to copy: its columns (the same in both schemas) and conversions by name."""

    name: str
    columns: tuple[str, ...]
    convert: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    source: str = ""  # the SQLite table, when it differs (blob_data is in SQLite's blobs)
    batch: int = BATCH_ROWS
    identity: str | None = None  # a GENERATED column whose sequence must follow the copy

    @property
    def from_table(self) -> str:
        return self.source or self.name


# Times, and costs in dollars: an integral REAL comes back from SQLite as an int.
_TIMES = (
    "created_at",
    "updated_at",
    "touched_at",
    "started_at",
    "finished_at",
    "seen_at",
    "cost",
)
_AS_FLOAT: dict[str, Callable[[Any], Any]] = {name: _float for name in _TIMES}

# In the order the foreign keys need.
TABLES: tuple[Table, ...] = (
    Table(
        "guild_settings",
        ("guild_id", "overrides", "gateway_key_encrypted", "updated_at"),
        {**_AS_FLOAT, "gateway_key_encrypted": lambda v: None if v is None else bytes(v)},
    ),
    Table(
        "blobs",
        ("sha256", "mime", "width", "height", "size", "created_at", "touched_at"),
        _AS_FLOAT,
    ),
    Table("blob_data", ("sha256", "data"), {"data": bytes}, source="blobs", batch=BLOB_BATCH_ROWS),
    Table(
        "turns",
        (
            "id",
            "channel_id",
            "guild_id",
            "user_id",
            "prompt",
            "model_text",
            "raw_turn",
            "job_id",
            "created_at",
            "parent_id",
        ),
        _AS_FLOAT,
        identity="id",
    ),
    Table("turn_blobs", ("turn_id", "role", "position", "sha256")),
    Table("channel_heads", ("channel_id", "turn_id")),
    Table(
        "jobs",
        (
            "id",
            "kind",
            "guild_id",
            "channel_id",
            "user_id",
            "prompt",
            "state",
            "params",
            "result",
            "interaction_token",
            "message_id",
            "created_at",
            "started_at",
            "finished_at",
            "counted",
            "owner",
            "images",
            "cost",
        ),
        {**_AS_FLOAT, "counted": bool},
        identity="id",
    ),
    Table("job_blobs", ("job_id", "sha256")),
    Table("usage", ("guild_id", "user_id", "day", "jobs", "images", "tokens", "cost")),
    Table(
        "size_observations",
        (
            "gateway",
            "model",
            "dialect",
            "asked",
            "delivered",
            "size_honoured",
            "ratio_honoured",
            "seen_at",
        ),
        {**_AS_FLOAT, "size_honoured": _bool, "ratio_honoured": _bool},
    ),
    Table("meta", ("key", "value", "updated_at"), _AS_FLOAT),
    Table("member_preferences", ("user_id", "preferences", "updated_at"), _AS_FLOAT),
    Table(
        "reference_images",
        ("scope", "owner_id", "name", "sha256", "added_by", "created_at"),
        _AS_FLOAT,
    ),
)


@dataclass(frozen=True)
class MigrationReport:
    """Rows per table, as counted in the target after the copy (equal to the source's)."""

    counts: dict[str, int]


def _source_path(source_url: str | None) -> str:
    from bot.storage.sqlite.store import sqlite_path

    url = (source_url or os.environ.get("DATABASE_URL") or "").strip() or DEFAULT_DATABASE_URL
    if not url.lower().startswith("sqlite:"):
        raise ConfigError(
            "migrate copies a SQLite database: DATABASE_URL names another kind; "
            "give the SQLite one with --from sqlite:///path/to/bot.db"
        )
    path = sqlite_path(url)
    if path == ":memory:" or not Path(path).is_file():
        raise ConfigError(f"there is no SQLite database at {path}; nothing to migrate")
    return path


def _check_target(target_url: str) -> None:
    scheme = target_url.partition(":")[0].split("+")[0].lower()
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError("--to must be a PostgreSQL URL: postgresql://user:password@host/database")


class _Source:
    """The SQLite file, read-only, its statements on a worker thread."""

    def __init__(self, path: str) -> None:
        uri = f"{Path(path).absolute().as_uri()}?mode=ro"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)

    def close(self) -> None:
        self._db.close()

    async def count(self, table: Table) -> int:
        sql = f"SELECT COUNT(*) FROM {table.from_table}"
        return int((await asyncio.to_thread(self._db.execute, sql)).fetchone()[0])

    async def rows(self, table: Table) -> AsyncIterator[list[tuple[Any, ...]]]:
        cursor = await asyncio.to_thread(
            self._db.execute,
            f"SELECT {', '.join(table.columns)} FROM {table.from_table} ORDER BY rowid",
        )
        converters = [table.convert.get(name) for name in table.columns]
        while batch := await asyncio.to_thread(cursor.fetchmany, table.batch):
            yield [
                tuple(
                    value if f is None else f(value)
                    for f, value in zip(converters, row, strict=True)
                )
                for row in batch
            ]


async def _refuse_non_empty(conn: Any, where: str) -> None:
    for table in TABLES:
        count = await conn.fetchval(f"SELECT count(*) FROM {table.name}")
        if count:
            raise ConfigError(
                f"the PostgreSQL {where} is not empty ({table.name} has {count} rows); "
                "migrate copies into an empty database only: create a new one (createdb) "
                "and give it with --to"
            )


async def _copy(conn: Any, source: _Source, table: Table) -> tuple[int, int]:
    """Copy one table; the source's count and the target's after the copy."""
    expected = await source.count(table)
    async for batch in source.rows(table):
        await conn.copy_records_to_table(table.name, records=batch, columns=table.columns)
    if table.identity:
        # COPY writes identity values as given: the sequence must continue after them.
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{table.identity}'),"
            f" GREATEST(MAX({table.identity}), 1), MAX({table.identity}) IS NOT NULL)"
            f" FROM {table.name}"
        )
    return expected, int(await conn.fetchval(f"SELECT count(*) FROM {table.name}"))


async def migrate_sqlite_to_postgres(source_path: str, target_url: str) -> MigrationReport:
    """Copy ``source_path`` (brought to the current SQLite schema first) into ``target_url``."""
    from bot.storage.postgres import open_postgres
    from bot.storage.postgres.url import describe
    from bot.storage.sqlite import SQLiteStore

    # What a start of the bot would do: the source at this version's schema.
    await (await SQLiteStore.open(source_path)).close()
    store = await open_postgres(target_url)
    source = _Source(source_path)
    counts: dict[str, int] = {}
    try:
        async with store.pool.acquire() as conn, conn.transaction():
            await _refuse_non_empty(conn, describe(target_url))
            for table in TABLES:
                expected, copied = await _copy(conn, source, table)
                if copied != expected:  # raising rolls the whole copy back
                    raise ConfigError(
                        f"the copy of {table.name} holds {copied} rows, the source "
                        f"{expected}; nothing was kept in PostgreSQL"
                    )
                counts[table.name] = copied
    finally:
        source.close()
        await store.close()
    return MigrationReport(counts=counts)


async def run_migrate(target_url: str, source_url: str | None = None) -> int:
    """``python -m bot migrate``: the counts on stdout, one line per table; 0 on success."""
    from bot.storage.postgres.url import describe

    _check_target(target_url)
    path = _source_path(source_url)
    report = await migrate_sqlite_to_postgres(path, target_url)
    width = max(len(name) for name in report.counts)
    for name, count in report.counts.items():
        print(f"{name:<{width}}  {count}")
    print(
        f"migrate: {path} copied into the PostgreSQL {describe(target_url)}; "
        f"every table's count matches the source's",
        file=sys.stderr,
    )
    print(KEY_REMINDER, file=sys.stderr)
    return 0
