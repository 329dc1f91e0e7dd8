"""Leader-only work and once-only events for several processes on one database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.runtime.postgres.keys import lock_key
from bot.runtime.postgres.presence import LIVE, PostgresPresence

# Taken when free, expired, held by a dead worker, or already ours (then renewed).
_HOLD = f"""
INSERT INTO runtime_leases AS l (name, holder, expires_at)
VALUES ($3, $1, now() + $4::float8 * interval '1 second')
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
   OR NOT EXISTS (SELECT 1 FROM runtime_workers w WHERE w.id = l.holder AND w.{LIVE})
RETURNING holder
"""


class PostgresLeases:
    def __init__(self, pool: Any, presence: PostgresPresence) -> None:
        self._pool, self._presence = pool, presence

    async def holds(self, name: str, *, ttl: float) -> bool:
        holder = await self._pool.fetchval(
            _HOLD, self._presence.owner, self._presence.lease, name, ttl
        )
        return holder is not None

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """A transaction holding the name's advisory lock for the section: keep it short."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1::bigint)", lock_key("section", name)
            )
            yield


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
