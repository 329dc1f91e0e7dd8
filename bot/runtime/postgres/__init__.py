"""The runtime for several processes on one PostgreSQL: what they must agree on is in it.

``open_postgres_runtime`` migrates the runtime's tables (``schema``), registers this
process (``presence``: heartbeats, leases, the reaper) and starts the one dedicated
LISTEN connection (``wakes``); admissions, chains, the store barrier and Cancel presses
(``cancels``) keep their state in tables and wake on NOTIFY; IDENTIFY is paced per
bucket (``identify``). The model cache and task set stay per process.
Every statement takes the pool the store uses (asyncpg's), and the times are the
database's clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from bot.runtime import Runtime
from bot.runtime.local import MODEL_CACHE_TTL, LocalModelCache, LocalTasks
from bot.runtime.postgres.admissions import NOT_SERVING, PostgresAdmissions
from bot.runtime.postgres.barrier import PostgresStoreBarrier
from bot.runtime.postgres.cancels import PostgresCancels
from bot.runtime.postgres.chains import PostgresChains
from bot.runtime.postgres.identify import PostgresIdentifyPacer
from bot.runtime.postgres.leases import PostgresClaims, PostgresLeases
from bot.runtime.postgres.presence import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    PostgresPresence,
    new_owner,
)
from bot.runtime.postgres.schema import migrate
from bot.runtime.postgres.wakes import POLL_SECONDS, Listener, Wakes
from bot.storage.base import Store

__all__ = [
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "NOT_SERVING",
    "POLL_SECONDS",
    "PostgresAdmissions",
    "PostgresCancels",
    "PostgresChains",
    "PostgresClaims",
    "PostgresIdentifyPacer",
    "PostgresLeases",
    "PostgresPresence",
    "PostgresStoreBarrier",
    "new_owner",
    "open_postgres_runtime",
    "runtime_on_store",
]


class _Presence(PostgresPresence):
    """Leaving also stops listening (the LISTEN connection is the runtime's own) and
    watching for Cancel presses."""

    def __init__(self, listener: Listener, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listener = listener
        self.cancels: PostgresCancels | None = None

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            try:
                if self.cancels is not None:
                    await self.cancels.close()
            finally:
                await self._listener.close()


async def open_postgres_runtime(
    *,
    pool: Any,
    connect: Callable[[], Awaitable[Any]],
    store: Store,
    instance_name: str,
    lease: float = LEASE_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
    model_cache_ttl: float = MODEL_CACHE_TTL,
) -> Runtime:
    """This process's runtime on ``pool``; ``connect()`` opens the LISTEN connection.

    ``store`` counts quota rows and interrupts dead processes' jobs. Jobs are owned by
    ``new_owner(instance_name)``. Close it with ``Runtime.close``.
    """
    await migrate(pool)
    wakes = Wakes()
    listener = Listener(connect, wakes)
    tasks = LocalTasks()
    presence = _Presence(
        listener,
        pool,
        store,
        wakes,
        owner=new_owner(instance_name),
        lease=lease,
        heartbeat=heartbeat,
        stop_jobs=tasks.stop_jobs,
    )
    await listener.start()
    try:
        await presence.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await listener.close()
        raise
    presence.cancels = PostgresCancels(pool, store, wakes, presence)
    return Runtime(
        admissions=PostgresAdmissions(pool, store, presence, wakes),
        chains=PostgresChains(pool, wakes, presence),
        barrier=PostgresStoreBarrier(pool, wakes, presence),
        models=LocalModelCache(ttl=model_cache_ttl),
        tasks=tasks,
        identify=PostgresIdentifyPacer(pool),
        leases=PostgresLeases(pool, presence, wakes),
        claims=PostgresClaims(pool, presence),
        presence=presence,
        cancels=presence.cancels,
    )


async def runtime_on_store(store: Store, *, instance_name: str, **options: Any) -> Runtime:
    """The runtime on a ``PostgresStore``: its pool, and a LISTEN connection of its own.

    ``options`` go to ``open_postgres_runtime`` (``lease``, ``heartbeat``, ...).
    """
    import asyncpg

    from bot.storage.postgres.url import dsn

    url = dsn(store.url)  # type: ignore[attr-defined]

    async def connect() -> Any:
        return await asyncpg.connect(url)

    pool = store.pool  # type: ignore[attr-defined]
    return await open_postgres_runtime(
        pool=pool, connect=connect, store=store, instance_name=instance_name, **options
    )
