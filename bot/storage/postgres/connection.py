"""The PostgreSQL driver's pool, transactions and blob sweep, over asyncpg.

One asyncpg pool serves the store and the PostgreSQL runtime (``PostgresStore.pool``).
Connections are not reset when they go back to the pool: the default reset
(``UNLISTEN``, ``RESET ALL``, unlocking session advisory locks) is a round trip after
every statement, and a settings read should be one. So whoever borrows a connection
leaves no session state on it: transaction-level advisory locks, ``SET LOCAL``, and
LISTEN on a connection of its own (as pgbouncer's transaction mode demands anyway).

Blob garbage collection runs inside the transaction that deletes turns or jobs, as in
SQLite; here several processes write at once, so the sweep locks its victims
``FOR UPDATE SKIP LOCKED`` and every writer that is about to refer to a blob locks its
row ``FOR KEY SHARE`` first: a blob a concurrent append is adopting is never collected.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from bot.storage.driver import DEFAULT_BLOB_GRACE, Driver
from bot.storage.postgres.blobs import TableBlobs, _count
from bot.storage.postgres.guard import GuardedPool, Outage
from bot.storage.postgres.url import describe, passwords

log = logging.getLogger(__name__)


class PostgresBase(Driver):
    """One PostgreSQL database through an asyncpg pool; ``pool`` and ``url`` are public."""

    def __init__(
        self,
        pool: Any,
        *,
        url: str,
        clock: Callable[[], float] = time.time,
        blob_grace: float = DEFAULT_BLOB_GRACE,
    ) -> None:
        super().__init__(clock=clock, blob_grace=blob_grace)
        # Public for the PostgreSQL runtime (bot/runtime/postgres), which shares it: see
        # the module docstring for what a borrower must leave behind (no session state).
        # Guarded: an outage raises StorageUnavailable, for the store and the runtime alike.
        if not isinstance(pool, GuardedPool):
            pool = GuardedPool(pool, Outage(describe(url), passwords(url)))
        self.pool: GuardedPool = pool
        # The DSN as DATABASE_URL gave it, password included: never log it.
        self.url = url
        self.blobs = TableBlobs(pool)

    async def _close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[Any]:
        """A connection inside one READ COMMITTED transaction, committed on success."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def _collect_garbage(self) -> int:
        async with self._tx() as conn:
            return await self._collect(conn)

    async def _collect(self, conn: Any) -> int:
        """The sweep, inside the caller's transaction; the bytes go with the rows (CASCADE)."""
        status = await conn.execute(
            "DELETE FROM blobs WHERE sha256 IN (SELECT b.sha256 FROM blobs b"
            " WHERE b.touched_at <= $1::float8"
            " AND NOT EXISTS (SELECT 1 FROM turn_blobs t WHERE t.sha256 = b.sha256)"
            " AND NOT EXISTS (SELECT 1 FROM job_blobs j WHERE j.sha256 = b.sha256)"
            " AND NOT EXISTS (SELECT 1 FROM reference_images r WHERE r.sha256 = b.sha256)"
            " FOR UPDATE SKIP LOCKED)",
            self._grace_cutoff(),
        )
        count = _count(status)
        if count:
            log.debug("collected %d unreferenced blobs", count)
        return count
