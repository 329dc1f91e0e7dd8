"""In-flight limits and quotas for every process on one database, exact under contention.

One transaction per admission: ``pg_advisory_xact_lock`` on the server, then on the
member (always in that order, so two admissions never wait for each other in a
cycle), then the live slots are counted (slots of workers whose heartbeat is within
the lease) and their estimates summed, then the quotas' job rows, then the budget's
spend (usage), then the slot is inserted, then commit, which releases both locks.
Counting and inserting in one statement, or without the locks, overshoots under READ
COMMITTED (measured: docs "Correct shared state").

The line (``enter``): a job that cannot start takes a row in ``runtime_queue`` under
the same locks. Every release, start and departure NOTIFYs ``QUEUE``; each waiter then
reads its server's line (``bot.runtime.postgres.line``) and, when ``admissible`` says
it starts, reads it again under its server's and its member's locks and takes its
slots, so whichever process frees a slot, the first in line that fits gets it. The
waiter watches before it reads, and polls, so a wake-up lost is a second's delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from bot.errors import LimitReached
from bot.i18n import _
from bot.runtime.admission import (
    Waiter,
    check_budget,
    check_limits,
    check_quotas,
    fits,
    queue_full,
)
from bot.runtime.base import Budget, Ledger, OnPlace, Quota, Slot
from bot.runtime.postgres.keys import lock_key
from bot.runtime.postgres.line import WAITING, read_line
from bot.runtime.postgres.presence import LIVE, PostgresPresence
from bot.runtime.postgres.wakes import POLL_SECONDS, QUEUE, Wakes, notify, topic

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
    """Slots in ``runtime_slots``, lines in ``runtime_queue``; ``in_flight`` counts this
    process's slots only."""

    def __init__(
        self,
        pool: Any,
        counts: Ledger,
        presence: PostgresPresence,
        wakes: Wakes,
        *,
        poll: float = POLL_SECONDS,
    ) -> None:
        self._pool, self._counts, self._presence = pool, counts, presence
        self._wakes, self._poll = wakes, poll
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
    ) -> PostgresTicket:
        """The slots now, a place in the server's shared line, or today's refusal.

        Under the same locks as ``acquire``: the slots and the waiting jobs are counted
        (toward quotas: waiting images without a row; toward the budget: their
        estimates), then the line is read and ``admissible`` decides, as in one process.
        """
        owner, lease = self._presence.owner, self._presence.lease
        me = Waiter(
            user_id=user_id,
            guild_id=guild_id,
            images=images,
            user_limit=user_limit,
            guild_limit=guild_limit,
        )
        estimate = budget.estimate if budget is not None else 0.0
        ticket = PostgresTicket(self, me, owner=owner, estimate=estimate)
        async with self._admitting, self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, guild_id, user_id)
            row = await conn.fetchrow(_COUNT, owner, lease, user_id, guild_id)
            if not row["serving"]:
                raise LimitReached(NOT_SERVING)
            waiting = await conn.fetchrow(WAITING, user_id, lease, guild_id)
            await check_quotas(
                self._counts,
                quotas,
                user_id=user_id,
                guild_id=guild_id,
                pending_user=row["pending_user"] + waiting["pending_user"],
                pending_guild=row["pending_guild"] + waiting["pending_guild"],
                images=images,
            )
            in_flight = float(row["estimates"]) + float(waiting["estimates"])
            await check_budget(self._counts, budget, guild_id=guild_id, in_flight=in_flight)
            line = await read_line(conn, guild_id, lease, also=user_id)
            starting = line.starting([me])
            if len(line.waiters) in starting:
                ticket.slots = await self._take(conn, ticket)
                return ticket
            if line.waiting() >= queue_limit:
                user_busy = line.user_busy.get(user_id, 0)
                raise queue_full(
                    member_held=not fits(busy=user_busy, images=images, limit=user_limit),
                    user_busy=user_busy,
                    guild_busy=line.guild_busy,
                )
            ticket.seq = await conn.fetchval(
                "INSERT INTO runtime_queue"
                " (guild_id, user_id, owner, images, user_limit, guild_limit, estimate)"
                " VALUES ($1::bigint, $2::bigint, $3, $4::int, $5::int, $6::int, $7::float8)"
                " RETURNING seq",
                guild_id,
                user_id,
                owner,
                images,
                user_limit,
                guild_limit,
                estimate,
            )
            ticket.moved(1 + sum(1 for j in range(len(line.waiters)) if j not in starting))
        return ticket

    async def _lock(self, conn: Any, guild_id: int | None, user_id: int) -> None:
        if guild_id is not None:
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1::bigint)", lock_key("guild", guild_id)
            )
        await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", lock_key("member", user_id))

    async def _take(self, conn: Any, ticket: PostgresTicket) -> list[Slot]:
        """The ticket's slots, inserted under its locks; the first carries its estimate."""
        waiter = ticket.waiter
        rows = await conn.fetch(
            "INSERT INTO runtime_slots (owner, guild_id, user_id, job_id, estimate)"
            " SELECT $1, $2::bigint, $3::bigint, $4::bigint,"
            "        CASE WHEN n = 1 THEN $5::float8 ELSE 0 END"
            " FROM generate_series(1, $6::int) AS n ORDER BY n RETURNING id, estimate",
            ticket.owner,
            waiter.guild_id,
            waiter.user_id,
            ticket.job_id,
            ticket.estimate,
            waiter.images,
        )
        slots = [
            Slot(
                user_id=waiter.user_id,
                guild_id=waiter.guild_id,
                id=r["id"],
                job_id=ticket.job_id,
                owner=ticket.owner,
                estimate=r["estimate"],
            )
            for r in sorted(rows, key=lambda r: r["id"])
        ]
        for slot in slots:
            self._mine[slot.id] = slot
        return slots

    async def look(self, ticket: PostgresTicket) -> int | None:
        """The ticket's place now (0: it may start), without the locks; None: it has none."""
        async with self._pool.acquire() as conn:
            line = await read_line(
                conn, ticket.waiter.guild_id, self._presence.lease, also=ticket.waiter.user_id
            )
        return line.place(ticket.seq)

    async def start(self, ticket: PostgresTicket) -> int | None:
        """Take the waiting ticket's slots if the line, read under its locks, says so.

        Its place otherwise (as ``look``). Those behind it are told it left the line.
        """
        waiter, lease = ticket.waiter, self._presence.lease
        async with self._admitting, self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, waiter.guild_id, waiter.user_id)
            line = await read_line(conn, waiter.guild_id, lease, also=waiter.user_id)
            place = line.place(ticket.seq)
            if place != 0:
                return place
            gone = await conn.fetchval(
                "DELETE FROM runtime_queue WHERE seq = $1::bigint RETURNING seq", ticket.seq
            )
            if gone is None:
                return None
            ticket.slots = await self._take(conn, ticket)
            await notify(conn, QUEUE, _payload(waiter.guild_id))
        return 0

    async def leave_line(self, ticket: PostgresTicket) -> None:
        """Give up the ticket's place; the places behind it move up (they are told)."""
        sql = (
            "WITH gone AS (DELETE FROM runtime_queue WHERE seq = $1::bigint RETURNING guild_id)"
            " SELECT pg_notify($2::text, coalesce(guild_id::text, '')) FROM gone"
        )
        try:
            await self._pool.execute(sql, ticket.seq, QUEUE)
        except Exception:
            log.warning("could not leave the line (job %s); retrying", ticket.job_id)

            async def again(conn: Any) -> None:
                await conn.execute(sql, ticket.seq, QUEUE)

            self._presence.retry_later(again)

    async def wait(self, ticket: PostgresTicket) -> None:
        """Until the ticket's slots are held: a re-check at every NOTIFY and every poll."""
        failing = False

        async def started() -> bool:
            nonlocal failing
            try:
                place = await self.look(ticket)
                if place == 0:
                    place = await ticket.starting(self.start(ticket))
            except Exception as exc:
                if not failing:
                    log.warning("cannot read the line from PostgreSQL (%s); retrying", exc)
                failing = True
                return False
            failing = False
            if place:
                ticket.moved(place)
            return bool(ticket.slots)

        await self._wakes.until(topic(QUEUE), started, poll=self._poll)

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
        # Whoever waits in any line may start now (a member's count spans servers).
        sql = (
            "WITH gone AS (DELETE FROM runtime_slots WHERE id = $1::bigint RETURNING guild_id)"
            " SELECT pg_notify($2::text, coalesce(guild_id::text, '')) FROM gone"
        )
        try:
            await self._pool.execute(sql, slot.id, QUEUE)
        except BaseException as exc:
            log.warning("could not release admission slot %s; retrying", slot.id)

            async def again(conn: Any) -> None:
                await conn.execute(sql, slot.id, QUEUE)

            self._presence.retry_later(again)
            # Only a cancel goes on: the job is over, and a failed release must not turn
            # its delivered result into an error report (the heartbeat retries it).
            if not isinstance(exc, Exception):
                raise
        finally:
            self._mine.pop(slot.id, None)


def _payload(guild_id: int | None) -> str:
    return "" if guild_id is None else str(guild_id)


class PostgresTicket:
    """A job's admission on PostgreSQL: its row in the server's line, then its slots."""

    def __init__(
        self, admissions: PostgresAdmissions, waiter: Waiter, *, owner: str, estimate: float
    ) -> None:
        self._admissions, self.waiter = admissions, waiter
        self._owner, self.estimate = owner, estimate
        self.slots: list[Slot] = []
        self.seq = 0  # its row in runtime_queue while it waits
        self.job_id: int | None = None
        self._place = -1
        self._on_place: OnPlace | None = None
        self._starting: asyncio.Future[int | None] | None = None
        self._left = False

    @property
    def place(self) -> int:
        return 0 if self.slots else max(self._place, 1)

    @property
    def owner(self) -> str:
        return self._owner

    def moved(self, place: int) -> None:
        if place != self._place:
            self._place = place
            if self._on_place is not None:
                self._on_place(place)

    async def starting(self, start: Coroutine[Any, Any, int | None]) -> int | None:
        """Run ``start`` to its end even when cancelled: its slots must not be lost."""
        self._starting = asyncio.ensure_future(start)
        return await asyncio.shield(self._starting)

    async def attach(self, job_id: int) -> None:
        self.job_id = job_id
        for slot in self.slots:
            await self._admissions.attach(slot, job_id)
        if not self.slots and self.seq:
            try:
                await self._admissions._pool.execute(
                    "UPDATE runtime_queue SET job_id = $2::bigint WHERE seq = $1::bigint",
                    self.seq,
                    job_id,
                )
            except Exception:  # its images keep counting toward quotas: early, not over
                log.warning("could not attach job %s to its place in line", job_id)

    async def started(self, on_place: OnPlace | None = None) -> None:
        if self.slots:
            return
        self._on_place = on_place
        if on_place is not None:
            on_place(self.place)
        try:
            await self._admissions.wait(self)
            self.moved(0)
        except BaseException:
            await self._settle()
            if not self.slots:
                await self._admissions.leave_line(self)
            raise
        finally:
            self._on_place = None

    async def _settle(self) -> None:
        """Wait for a start under way (shielded from the cancel that got here)."""
        if self._starting is not None and not self._starting.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._starting)

    async def leave(self) -> None:
        if self._left:
            return
        self._left = True
        await self._settle()
        if not self.slots:
            if self.seq:
                await self._admissions.leave_line(self)
            return
        for slot in self.slots:
            await self._admissions.release(slot)
