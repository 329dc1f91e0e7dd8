"""The servers' lines in ``runtime_queue``: who is in them, and each waiter's place.

Read without the admission locks (a place shown a moment late is harmless); a waiter
that looks admissible here takes its slots only after reading the line again under
them (``PostgresAdmissions``). Rows of processes whose heartbeat is past the lease hold
no place (the reaper then removes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.runtime.admission import Waiter, admissible
from bot.runtime.postgres.presence import LIVE

_LINE = f"""
SELECT q.seq, q.user_id, q.images, q.user_limit, q.guild_limit
FROM runtime_queue q JOIN runtime_workers w ON w.id = q.owner AND w.{LIVE}
WHERE q.guild_id IS NOT DISTINCT FROM $1::bigint
ORDER BY q.seq
"""

_BUSY = f"""
SELECT s.user_id, s.guild_id
FROM runtime_slots s JOIN runtime_workers w ON w.id = s.owner AND w.{LIVE}
WHERE s.user_id = ANY($1::bigint[]) OR s.guild_id = $3::bigint
"""

# What waiting jobs add to a server's quotas (images without a job row) and budget.
WAITING = f"""
SELECT
    coalesce(sum(q.images) FILTER (WHERE q.job_id IS NULL AND q.user_id = $1
                                   AND ($3::bigint IS NULL OR q.guild_id = $3)), 0)
        AS pending_user,
    coalesce(sum(q.images) FILTER (WHERE q.job_id IS NULL
                                   AND ($3::bigint IS NULL OR q.guild_id = $3)), 0)
        AS pending_guild,
    coalesce(sum(q.estimate) FILTER (WHERE q.guild_id = $3), 0) AS estimates
FROM runtime_queue q JOIN runtime_workers w ON w.id = q.owner AND w.{LIVE}
WHERE q.user_id = $1 OR q.guild_id = $3 OR $3::bigint IS NULL
"""


@dataclass
class Line:
    """A server's line as read: its waiters in order, and the slots they count against."""

    seqs: list[int]
    waiters: list[Waiter]
    user_busy: dict[int, int]
    guild_busy: int

    def starting(self, extra: Sequence[Waiter] = ()) -> list[int]:
        """The indexes ``admissible`` starts now, of the line and then ``extra``."""
        order = [*self.waiters, *extra]
        return admissible(order, dict(self.user_busy), self.guild_busy)

    def place(self, seq: int) -> int | None:
        """0: ``seq`` starts now; else its place (1: next); None: it holds no place."""
        if seq not in self.seqs:
            return None
        index = self.seqs.index(seq)
        starting = set(self.starting())
        if index in starting:
            return 0
        return 1 + sum(1 for j in range(index) if j not in starting)

    def waiting(self) -> int:
        """How many wait (those about to start do not)."""
        return len(self.waiters) - len(self.starting())


async def read_line(conn: Any, guild_id: int | None, lease: float, also: int) -> Line:
    """The server's line, with the slots of its members and of ``also`` (the newcomer)."""
    rows = await conn.fetch(_LINE, guild_id, lease)
    waiters = [
        Waiter(
            user_id=r["user_id"],
            guild_id=guild_id,
            images=r["images"],
            user_limit=r["user_limit"],
            guild_limit=r["guild_limit"],
        )
        for r in rows
    ]
    users = sorted({w.user_id for w in waiters} | {also})
    user_busy: dict[int, int] = dict.fromkeys(users, 0)
    guild_busy = 0
    for slot in await conn.fetch(_BUSY, users, lease, guild_id):
        if slot["user_id"] in user_busy:
            user_busy[slot["user_id"]] += 1
        if guild_id is not None and slot["guild_id"] == guild_id:
            guild_busy += 1
    return Line([r["seq"] for r in rows], waiters, user_busy, guild_busy)
