"""Every registered storage driver as the test suite meets it: a fresh database and a probe.

A driver added to ``bot.storage.DRIVERS`` needs an entry here, or
``test_every_registered_driver_is_tested`` fails: the contract suite then runs on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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
class DriverUnderTest:
    name: str
    # A URL naming a fresh, empty database for one test (given the test's tmp_path).
    fresh_url: Callable[[Path], str]
    probe: Callable[[str], Probe]


def _sqlite_probe(url: str) -> Probe:
    return SQLiteProbe(Path(url.removeprefix("sqlite:///")))


TEST_DRIVERS: dict[str, DriverUnderTest] = {
    "sqlite": DriverUnderTest(
        name="sqlite",
        fresh_url=lambda tmp: f"sqlite:///{tmp / 'bot.db'}",
        probe=_sqlite_probe,
    ),
}
