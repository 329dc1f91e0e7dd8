"""The PostgreSQL driver's error boundary: a database that stops answering, in words.

Every statement the store and the PostgreSQL runtime send goes through ``GuardedPool``
(``PostgresStore.pool``). The failures an open database can have (connection lost, the
server restarting or shut down, too many connections, a statement cancelled or timed
out, a failover to a read-only server) become ``StorageUnavailable``: the member reads
its sentence, never an asyncpg class name. The operator reads one WARNING when the
database starts failing, naming it (never its password) and what to check, and one
INFO when it answers again, not a line per failed statement. Anything else (a bug, a
constraint) is left as it is: the caller's traceback says more than a sentence would.

asyncpg's pool replaces a broken connection at its next ``acquire``, so the call after
an outage works again without anything here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from bot.secrets import redact
from bot.storage.errors import StorageUnavailable

log = logging.getLogger("bot.storage")

T = TypeVar("T")

NOT_ANSWERING = "The bot's database is not answering; try again in a moment."
TOO_SLOW = "The bot's database took too long to answer; try again in a moment."
BUSY = "The bot's database is busy; try again in a moment."


def _unavailable(exc: BaseException) -> tuple[str, str] | None:
    """(the member's sentence, the operator's reason and fix) for an outage, else None."""
    import asyncpg

    if isinstance(exc, asyncpg.QueryCanceledError):
        return TOO_SLOW, (
            "a statement was cancelled (statement_timeout, or pg_cancel_backend); "
            "check the server's load and its statement_timeout"
        )
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return NOT_ANSWERING, (
            "the server has no free connection; raise max_connections (or the role's "
            "CONNECTION LIMIT), or run fewer processes"
        )
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError)):
        return NOT_ANSWERING, (
            "the connection was lost or the server is restarting; check that PostgreSQL "
            "is running and reachable"
        )
    if isinstance(exc, asyncpg.InsufficientResourcesError):
        return NOT_ANSWERING, "the server is out of resources (disk, memory); check its log"
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return NOT_ANSWERING, (
            "the server takes no writes (a replica after a failover?); point DATABASE_URL "
            "at the primary"
        )
    if isinstance(exc, (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
        return BUSY, "a transaction was rolled back by a conflict; it is safe to try again"
    if isinstance(exc, asyncpg.IdleInTransactionSessionTimeoutError):
        return NOT_ANSWERING, "idle_in_transaction_session_timeout closed a connection"
    # asyncpg's own words for a connection that died under it: "... is closed", or, for
    # an idle one the server terminated, an InternalClientError ("cannot switch to state
    # ...", "not connected"). Its other InterfaceErrors are the caller's bugs: left as is.
    if isinstance(exc, asyncpg.InternalClientError) or (
        isinstance(exc, asyncpg.InterfaceError) and "clos" in str(exc)
    ):
        return NOT_ANSWERING, "the connection pool is closed or a connection was closed"
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
        return NOT_ANSWERING, (
            "the server cannot be reached; check that PostgreSQL is running and reachable"
        )
    return None


class Outage:
    """Whether the database is failing now: one line when it starts, one when it ends."""

    def __init__(self, where: str, secrets: list[str]) -> None:
        self._where = where  # e.g. 'database "bot" on db:5432 as user "bot"': no secret
        self._secrets = secrets
        self.failing = False

    def mapped(self, exc: BaseException) -> StorageUnavailable | None:
        """The error to raise instead of ``exc`` (and the WARNING, once), or None."""
        found = _unavailable(exc)
        if found is None:
            return None
        # The first failure says most: a lost connection then fails the rollback too.
        first = exc
        while first.__context__ is not None and _unavailable(first.__context__):
            first = first.__context__
        sentence, reason = _unavailable(first) or found
        if not self.failing:
            self.failing = True
            said = redact(str(first).strip().rstrip("."), self._secrets)
            log.warning(
                "PostgreSQL %s is not answering (%s): %s; requests that need it fail "
                "until it answers again",
                self._where,
                said or "no message",
                reason,
            )
        return StorageUnavailable(sentence)

    def answered(self) -> None:
        if self.failing:
            self.failing = False
            log.info("PostgreSQL %s answers again", self._where)


class GuardedPool:
    """An asyncpg pool whose outages raise ``StorageUnavailable`` (see the module).

    The statement methods and ``acquire`` are guarded, and so is everything done with a
    connection inside ``acquire``; the rest (``get_max_size``, ...) is the pool's own.
    """

    def __init__(self, pool: Any, outage: Outage) -> None:
        self._pool = pool
        self.outage = outage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    @property
    def raw(self) -> Any:
        """The asyncpg pool itself (for code that maps its own errors)."""
        return self._pool

    @contextlib.asynccontextmanager
    async def _guarded(self) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            mapped = self.outage.mapped(exc)
            if mapped is None:
                raise
            raise mapped from exc
        self.outage.answered()

    async def _call(self, run: Callable[[], Awaitable[T]]) -> T:
        async with self._guarded():
            return await run()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(lambda: self._pool.execute(*args, **kwargs))

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(lambda: self._pool.executemany(*args, **kwargs))

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(lambda: self._pool.fetch(*args, **kwargs))

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(lambda: self._pool.fetchrow(*args, **kwargs))

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(lambda: self._pool.fetchval(*args, **kwargs))

    @contextlib.asynccontextmanager
    async def acquire(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (asyncpg's own signature)
    ) -> AsyncIterator[Any]:
        async with self._guarded(), self._pool.acquire(timeout=timeout) as conn:
            yield conn

    async def close(self) -> None:
        await self._pool.close()
