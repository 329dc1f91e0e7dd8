"""Leader-only work and once-only events for several processes on one database.

Decision, exclusive sections (``exclusive``): a lease row, not a lock held by a
connection. The command sync runs inside one, and its REST calls take seconds, or
minutes under Discord's rate limits; a transaction-level advisory lock would keep a
connection idle in transaction all that while (which ``idle_in_transaction_session_timeout``
kills, and which takes a connection from a small pool), and a session-level one pins a
connection just the same. So the section is the row ``section:<name>`` in
``runtime_leases``, taken and renewed every heartbeat in short statements of their own
and deleted on the way out (with a NOTIFY that wakes the waiters, who also poll). A
holder that dies frees it when its worker row lapses, as every lease does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.runtime.keyed import KeyedLocks
from bot.runtime.postgres.presence import LIVE, PostgresPresence
from bot.runtime.postgres.wakes import LEASES, Wakes, notify, topic

log = logging.getLogger("bot.runtime")

# Taken when free, expired, held by a dead worker, or already ours (then renewed).
_HOLD = f"""
INSERT INTO runtime_leases AS l (name, holder, expires_at)
VALUES ($3, $1, now() + $4::float8 * interval '1 second')
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
   OR NOT EXISTS (SELECT 1 FROM runtime_workers w WHERE w.id = l.holder AND w.{LIVE})
RETURNING holder
"""

SECTION = "section:"  # apart from the names ``holds`` takes


class PostgresLeases:
    def __init__(self, pool: Any, presence: PostgresPresence, wakes: Wakes) -> None:
        self._pool, self._presence, self._wakes = pool, presence, wakes
        # This process's callers queue here: the row says only which process is inside.
        self._local = KeyedLocks()

    async def holds(self, name: str, *, ttl: float) -> bool:
        holder = await self._pool.fetchval(
            _HOLD, self._presence.owner, self._presence.lease, name, ttl
        )
        return holder is not None

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """The section's lease row, held as long as the caller needs; no connection kept."""
        row = SECTION + name
        async with self._local(row):
            await self._wakes.until(
                topic(LEASES, row), lambda: self._take(row), poll=self._presence.heartbeat
            )
            renewing = asyncio.get_running_loop().create_task(
                self._renew(row), name=f"pg-lease-{name}"
            )
            try:
                yield
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                await self._leave(row)

    async def _take(self, row: str) -> bool:
        # A lease past its expiry is anyone's: renewed every heartbeat, it lasts a lease.
        return await self.holds(row, ttl=self._presence.lease)

    async def _renew(self, row: str) -> None:
        failing = False  # one WARNING when renewals start failing, one INFO when they work
        while True:
            await asyncio.sleep(self._presence.heartbeat)
            try:
                if not await self._take(row):
                    log.warning(
                        "another process took over %s while this one was inside it "
                        "(this process missed its heartbeats; check the database's "
                        "reachability from this host)",
                        row,
                    )
                    return
            except Exception as exc:
                # The lease runs out a lease after the last renewal: then another goes in.
                if not failing:
                    log.warning("could not renew %s (%s); retrying every heartbeat", row, exc)
                failing = True
            else:
                if failing:
                    log.info("renewed %s again", row)
                failing = False

    async def _leave(self, row: str) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "DELETE FROM runtime_leases WHERE name = $1 AND holder = $2",
                    row,
                    self._presence.owner,
                )
                await notify(conn, LEASES, row)
        except Exception as exc:
            log.warning(
                "could not give up %s (%s); the others go in once it expires in %gs",
                row,
                exc,
                self._presence.lease,
            )


class PostgresClaims:
    def __init__(self, pool: Any, presence: PostgresPresence) -> None:
        self._pool, self._presence = pool, presence

    async def first(self, kind: str, event_id: int) -> bool:
        claimed = await self._pool.fetchval(
            "INSERT INTO runtime_claims (kind, id, owner) VALUES ($1, $2::bigint, $3)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            kind,
            event_id,
            self._presence.owner,
        )
        return claimed is not None
