"""In-flight limits and quotas for every process on one database, exact under contention.

One transaction per admission: ``pg_advisory_xact_lock`` on the server, then on the
member (always in that order, so two admissions never wait for each other in a
cycle), then the live slots are counted (slots of workers whose heartbeat is within
the lease) and their estimates summed, then the quotas' job rows, then the budget's
spend (usage), then the slot is inserted, then commit, which releases both locks.
Counting and inserting in one statement, or without the locks, overshoots under READ
COMMITTED (measured: docs "Correct shared state").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from bot.errors import LimitReached
from bot.i18n import _
from bot.runtime.admission import check_budget, check_limits, check_quotas
from bot.runtime.base import Budget, Ledger, OnPlace, Quota, Slot
from bot.runtime.postgres.keys import lock_key
from bot.runtime.postgres.presence import LIVE, PostgresPresence

log = logging.getLogger("bot.runtime")

NOT_SERVING = _("I can't take new requests for a moment; try again shortly.")

_COUNT = f"""
SELECT
    (SELECT {LIVE} FROM runtime_workers WHERE id = $1) AS serving,
    count(*) FILTER (WHERE s.user_id = $3) AS user_busy,
    count(*) FILTER (WHERE s.guild_id = $4) AS guild_busy,
    count(*) FILTER (WHERE s.job_id IS NULL AND s.user_id = $3
                     AND ($4::bigint IS NULL OR s.guild_id = $4)) AS pending_user,
    count(*) FILTER (WHERE s.job_id IS NULL
                     AND ($4::bigint IS NULL OR s.guild_id = $4)) AS pending_guild,
    coalesce(sum(s.estimate) FILTER (WHERE s.guild_id = $4), 0) AS estimates
FROM runtime_slots s JOIN runtime_workers w ON w.id = s.owner AND w.{LIVE}
WHERE s.user_id = $3 OR s.guild_id = $4 OR ($4::bigint IS NULL AND s.job_id IS NULL)
"""


class PostgresAdmissions:
    """Slots in ``runtime_slots``; ``in_flight`` counts this process's only."""

    def __init__(self, pool: Any, counts: Ledger, presence: PostgresPresence) -> None:
        self._pool, self._counts, self._presence = pool, counts, presence
        self._mine: dict[int, Slot] = {}
        # An admission holds one connection while it waits for the lock and needs a second
        # for the job counts: with at most half the pool admitting, the other half is free.
        self._admitting = asyncio.Semaphore(max(1, (pool.get_max_size() - 1) // 2))

    def in_flight(self, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        slots = self._mine.values()
        if user_id is not None:
            return sum(1 for s in slots if s.user_id == user_id)
        if guild_id is not None:
            return sum(1 for s in slots if s.guild_id == guild_id)
        return len(self._mine)

    async def acquire(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        user_limit: int,
        guild_limit: int,
        quotas: Sequence[Quota] = (),
        budget: Budget | None = None,
    ) -> Slot:
        owner, lease = self._presence.owner, self._presence.lease
        async with self._admitting, self._pool.acquire() as conn, conn.transaction():
            if guild_id is not None:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1::bigint)", lock_key("guild", guild_id)
                )
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1::bigint)", lock_key("member", user_id)
            )
            row = await conn.fetchrow(_COUNT, owner, lease, user_id, guild_id)
            if not row["serving"]:
                raise LimitReached(NOT_SERVING)
            # The slots first, then the rows (bot.runtime.admission.check_quotas).
            await check_quotas(
                self._counts,
                quotas,
                user_id=user_id,
                guild_id=guild_id,
                pending_user=row["pending_user"],
                pending_guild=row["pending_guild"],
            )
            # The slots' estimates were read above, before the spend (as the rows).
            await check_budget(
                self._counts, budget, guild_id=guild_id, in_flight=float(row["estimates"])
            )
            check_limits(
                user_busy=row["user_busy"],
                guild_busy=row["guild_busy"],
                guild_id=guild_id,
                user_limit=user_limit,
                guild_limit=guild_limit,
            )
            estimate = budget.estimate if budget is not None else 0.0
            slot_id = await conn.fetchval(
                "INSERT INTO runtime_slots (owner, guild_id, user_id, estimate)"
                " VALUES ($1, $2::bigint, $3::bigint, $4::float8) RETURNING id",
                owner,
                guild_id,
                user_id,
                estimate,
            )
        slot = Slot(user_id=user_id, guild_id=guild_id, id=slot_id, owner=owner, estimate=estimate)
        self._mine[slot_id] = slot
        return slot

    async def enter(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        user_limit: int,
        guild_limit: int,
        images: int = 1,
        quotas: Sequence[Quota] = (),
        queue_limit: int = 0,
        budget: Budget | None = None,
    ) -> StartedTicket:
        """Not queued yet across processes: the slots now, or today's refusal.

        The first image is admitted under the rule ``fits`` (nothing in flight takes any
        count) by raising the limits it is checked against to what that allows. The first
        slot carries the whole job's ``budget`` check and estimate, under the same locks
        as its quotas, so a job over the budget is refused whole.
        """
        slots: list[Slot] = []
        try:
            for n in range(images):
                room = 0 if n == 0 else n  # the job's own images count after the first
                slots.append(
                    await self.acquire(
                        user_id=user_id,
                        guild_id=guild_id,
                        user_limit=max(user_limit, room + 1) if n else user_limit,
                        guild_limit=max(guild_limit, room + 1) if n else guild_limit,
                        quotas=quotas,
                        budget=budget if n == 0 else None,
                    )
                )
        except BaseException:
            for slot in slots:
                await self.release(slot)
            raise
        return StartedTicket(self, slots)

    async def attach(self, slot: Slot, job_id: int) -> None:
        slot.job_id = job_id
        try:
            await self._pool.execute(
                "UPDATE runtime_slots SET job_id = $2::bigint WHERE id = $1::bigint",
                slot.id,
                job_id,
            )
        except Exception:  # the slot keeps counting toward quotas with its row: early, not over
            log.warning("could not attach job %s to its admission slot", job_id, exc_info=True)

    async def release(self, slot: Slot) -> None:
        if slot.id not in self._mine:
            return
        sql = "DELETE FROM runtime_slots WHERE id = $1::bigint"
        try:
            await self._pool.execute(sql, slot.id)
        except BaseException as exc:
            log.warning("could not release admission slot %s; retrying", slot.id)

            async def again(conn: Any) -> None:
                await conn.execute(sql, slot.id)

            self._presence.retry_later(again)
            # Only a cancel goes on: the job is over, and a failed release must not turn
            # its delivered result into an error report (the heartbeat retries it).
            if not isinstance(exc, Exception):
                raise
        finally:
            self._mine.pop(slot.id, None)


class StartedTicket:
    """A ticket whose slots are held from the start (no line on PostgreSQL yet)."""

    def __init__(self, admissions: PostgresAdmissions, slots: list[Slot]) -> None:
        self._admissions, self.slots = admissions, slots
        self._left = False

    @property
    def place(self) -> int:
        return 0

    @property
    def owner(self) -> str:
        return self.slots[0].owner if self.slots else ""

    async def attach(self, job_id: int) -> None:
        for slot in self.slots:
            await self._admissions.attach(slot, job_id)

    async def started(self, on_place: OnPlace | None = None) -> None:
        return None

    async def leave(self) -> None:
        if self._left:
            return
        self._left = True
        for slot in self.slots:
            await self._admissions.release(slot)
