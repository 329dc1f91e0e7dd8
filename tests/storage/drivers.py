"""Every registered storage driver as the test suite meets it: a fresh database and a probe.

A driver added to ``bot.storage.DRIVERS`` needs an entry here, or
``test_every_registered_driver_is_tested`` fails: the contract suite then runs on it.
PostgreSQL runs when ``TEST_DATABASE_URL`` names a server (``tests/postgres.py``) and
skips with the reason otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tests.postgres import temporary_database
from tests.storage.helpers import query


class Probe(Protocol):
    """What is in the database, read apart from the store under test."""

    async def blob_shas(self) -> set[str]: ...
    async def turn_count(self, channel_id: int | None = None) -> int: ...
    async def job_ids(self) -> list[int]: ...
    async def turn_refs(self) -> int: ...
    async def job_refs(self, job_id: int) -> set[str]: ...
    async def problems(self) -> list[tuple]: ...


@dataclass(frozen=True)
class SQLiteProbe:
    path: Path

    async def blob_shas(self) -> set[str]:
        return {row[0] for row in query(self.path, "SELECT sha256 FROM blobs")}

    async def turn_count(self, channel_id: int | None = None) -> int:
        if channel_id is None:
            return query(self.path, "SELECT COUNT(*) FROM turns")[0][0]
        sql = "SELECT COUNT(*) FROM turns WHERE channel_id = ?"
        return query(self.path, sql, (channel_id,))[0][0]

    async def job_ids(self) -> list[int]:
        return [row[0] for row in query(self.path, "SELECT id FROM jobs ORDER BY id")]

    async def turn_refs(self) -> int:
        """How many image references the stored turns hold."""
        return query(self.path, "SELECT COUNT(*) FROM turn_blobs")[0][0]

    async def job_refs(self, job_id: int) -> set[str]:
        """The blobs the job keeps alive."""
        sql = "SELECT sha256 FROM job_blobs WHERE job_id = ?"
        return {row[0] for row in query(self.path, sql, (job_id,))}

    async def problems(self) -> list[tuple]:
        """Broken references or a damaged file; [] when the database is sound."""
        damage = [r for r in query(self.path, "PRAGMA integrity_check") if r != ("ok",)]
        return damage + query(self.path, "PRAGMA foreign_key_check")


@dataclass(frozen=True)
class PostgresProbe:
    """Its own connection per question: what is committed, not what the store holds."""

    url: str

    async def _fetch(self, sql: str, *args: Any) -> list[tuple]:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    async def blob_shas(self) -> set[str]:
        return {row[0] for row in await self._fetch("SELECT sha256 FROM blobs")}

    async def turn_count(self, channel_id: int | None = None) -> int:
        if channel_id is None:
            return (await self._fetch("SELECT count(*) FROM turns"))[0][0]
        sql = "SELECT count(*) FROM turns WHERE channel_id = $1::bigint"
        return (await self._fetch(sql, channel_id))[0][0]

    async def job_ids(self) -> list[int]:
        return [row[0] for row in await self._fetch("SELECT id FROM jobs ORDER BY id")]

    async def turn_refs(self) -> int:
        return (await self._fetch("SELECT count(*) FROM turn_blobs"))[0][0]

    async def job_refs(self, job_id: int) -> set[str]:
        sql = "SELECT sha256 FROM job_blobs WHERE job_id = $1::bigint"
        return {row[0] for row in await self._fetch(sql, job_id)}

    async def problems(self) -> list[tuple]:
        """Metadata without its bytes, or bytes of another size; foreign keys hold anyway."""
        return await self._fetch(
            "SELECT b.sha256, b.size, octet_length(d.data) FROM blobs b"
            " LEFT JOIN blob_data d USING (sha256)"
            " WHERE d.sha256 IS NULL OR octet_length(d.data) <> b.size"
        )


@dataclass(frozen=True)
class DriverUnderTest:
    name: str
    schemes: tuple[str, ...]  # the DRIVERS keys this driver is registered under
    # A fresh, empty database for one test (given the test's tmp_path), gone afterwards.
    database: Callable[[Path], AbstractAsyncContextManager[str]]
    probe: Callable[[str], Probe]


@asynccontextmanager
async def _sqlite_file(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite:///{tmp_path / 'bot.db'}"


@asynccontextmanager
async def _postgres_database(tmp_path: Path) -> AsyncIterator[str]:
    async with temporary_database() as url:
        yield url


def _sqlite_probe(url: str) -> Probe:
    return SQLiteProbe(Path(url.removeprefix("sqlite:///")))


TEST_DRIVERS: dict[str, DriverUnderTest] = {
    "sqlite": DriverUnderTest(
        name="sqlite", schemes=("sqlite",), database=_sqlite_file, probe=_sqlite_probe
    ),
    "postgres": DriverUnderTest(
        name="postgres",
        schemes=("postgresql", "postgres"),
        database=_postgres_database,
        probe=PostgresProbe,
    ),
}
