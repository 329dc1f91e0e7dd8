"""The SQLite driver's connections, transactions and blob sweep, over aiosqlite.

aiosqlite runs every statement on its own thread, so the event loop never waits on
disk. One connection writes; an asyncio lock keeps one coroutine's transaction from
interleaving with another's on it, and ``BEGIN IMMEDIATE`` plus ``busy_timeout``
handle a second process (the CLI) on the same file. A job's writes are whole
transactions run on that thread in one call (``_transaction``): each ``await`` of a
statement is a round trip between the loop and the thread, and measured here a job's
~50 of them cost ~4 ms of CPU, more than the statements themselves. Reads go to a second, read-only
connection (WAL), so they never queue behind a multi-MB blob write.

Blob garbage collection runs inside the transaction that deletes turns or jobs: a
blob goes when no turn, job or reference refers to it and nobody has put it for
``blob_grace`` seconds. The grace covers the gap between ``put_blob`` and the
``append_turn`` / ``update_job`` that will refer to it, which a concurrent reset in
another channel could otherwise fall into. The sweep uses the reference indexes and
never reads blob data, so it stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any, Self, TypeVar

import aiosqlite

from bot.storage.driver import DEFAULT_BLOB_GRACE, Driver
from bot.storage.sqlite.migrations import migrate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
Params = Sequence[Any] | Mapping[str, Any]
T = TypeVar("T")


def placeholders(n: int) -> str:
    return ",".join("?" * n)


def _read_only_uri(path: str | os.PathLike[str]) -> str:
    # Read-only: a bug that writes through the reader fails loudly instead of racing the writer.
    return f"{PurePath(os.path.abspath(path)).as_uri()}?mode=ro"


async def _open_reader(uri: str) -> aiosqlite.Connection:
    reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    try:
        reader.row_factory = sqlite3.Row
        await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await reader.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await reader.close()
        raise
    return reader


class SQLiteBase(Driver):
    """One SQLite file (or ``:memory:``): a writer, a reader, and their transactions."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        reader: aiosqlite.Connection | None = None,
        clock: Callable[[], float] = time.time,
        blob_grace: float = DEFAULT_BLOB_GRACE,
    ) -> None:
        super().__init__(clock=clock, blob_grace=blob_grace)
        self._db = db
        # aiosqlite runs each connection's statements one after another on its own
        # thread, so on a single connection a cheap read (a member's /settings show)
        # waits behind a 20 MB blob insert. WAL lets a second connection read the last
        # committed state meanwhile. ``:memory:`` databases cannot be shared: one connection.
        self._reader = reader or db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        blob_grace: float = DEFAULT_BLOB_GRACE,
    ) -> Self:
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), not the module's.
        db = await aiosqlite.connect(os.fspath(path), isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA journal_mode = WAL")
            # NORMAL is crash-safe in WAL mode; only a power cut can lose the last commits.
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            # Many builds (Debian's among them) zero every freed page: deleting one 20 MB
            # blob then wrote 20 MB through the WAL, and an expiry batch of 10 MB blobs
            # held the writer 12.8 s instead of 0.33 s. Images are not secrets (API keys
            # are encrypted), so freed pages are left as they are until reused.
            await db.execute("PRAGMA secure_delete = FAST")
            # After a checkpoint the WAL shrinks back to this, instead of keeping its peak.
            await db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
            found = await migrate(db, clock())
        except BaseException:
            await db.close()
            raise
        reader = None
        if os.fspath(path) != ":memory:":
            try:
                reader = await _open_reader(_read_only_uri(path))
            except BaseException:
                await db.close()
                raise
        log.debug("opened %s (schema was v%s)", path, found)
        return cls(db, reader=reader, clock=clock, blob_grace=blob_grace)

    async def _close(self) -> None:
        async with self._lock:
            if self._reader is not self._db:
                await self._reader.close()
            await self._db.close()

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._reader is not self._db:
            # Each statement on the reader sees everything committed before it started.
            yield self._reader
            return
        async with self._lock:
            yield self._db

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            if self._db.in_transaction:  # left open by a cancelled rollback
                await self._rollback()
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # Shielded: a second cancellation must not leave the transaction open.
                await asyncio.shield(self._rollback())
                raise
            await self._db.execute("COMMIT")

    async def _transaction(self, body: Callable[..., T], /, *args: Any) -> T:
        """``body(conn, *args)`` between BEGIN IMMEDIATE and COMMIT, whole on the writer's thread.

        ``conn`` is the plain ``sqlite3.Connection``: the body's statements are calls, not
        round trips. A cancelled caller does not stop it: it commits or rolls back whole.
        """
        async with self._lock:
            return await _on_thread(self._db, _in_transaction, body, *args)

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # nothing to roll back
            await self._db.execute("ROLLBACK")

    async def _fetchone(
        self, db: aiosqlite.Connection, sql: str, params: Params = ()
    ) -> sqlite3.Row | None:
        return await _on_thread(db, fetchone, sql, params)

    async def _fetchall(
        self, db: aiosqlite.Connection, sql: str, params: Params = ()
    ) -> list[sqlite3.Row]:
        return await _on_thread(db, fetchall, sql, params)

    async def _collect_garbage(self) -> int:
        return await self._transaction(self._collect)

    def _collect(self, conn: sqlite3.Connection) -> int:
        """The sweep, inside the caller's transaction (on the writer's thread)."""
        cur = conn.execute(
            "DELETE FROM blobs WHERE touched_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM turn_blobs t WHERE t.sha256 = blobs.sha256)"
            " AND NOT EXISTS (SELECT 1 FROM job_blobs j WHERE j.sha256 = blobs.sha256)"
            " AND NOT EXISTS (SELECT 1 FROM reference_images r WHERE r.sha256 = blobs.sha256)",
            (self._grace_cutoff(),),
        )
        if cur.rowcount:
            log.debug("collected %d unreferenced blobs", cur.rowcount)
        return cur.rowcount


async def _on_thread(db: aiosqlite.Connection, fn: Callable[..., T], /, *args: Any) -> T:
    """``fn(conn, *args)`` on ``db``'s own thread, as one round trip.

    aiosqlite has no public call for this; ``_execute`` and ``_conn`` are what its own
    ``execute_fetchall`` uses, and every store test goes through here should they change.
    """
    return await db._execute(fn, db._conn, *args)  # type: ignore[no-any-return]


def _in_transaction(conn: sqlite3.Connection, body: Callable[..., T], *args: Any) -> T:
    if conn.in_transaction:  # left open by a cancelled rollback
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("ROLLBACK")
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = body(conn, *args)
    except BaseException:
        with contextlib.suppress(sqlite3.OperationalError):  # nothing to roll back
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def fetchone(conn: sqlite3.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    cur = conn.execute(sql, params)
    try:
        row: sqlite3.Row | None = cur.fetchone()
        return row
    finally:
        cur.close()


def fetchall(conn: sqlite3.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    cur = conn.execute(sql, params)
    try:
        return list(cur.fetchall())
    finally:
        cur.close()
