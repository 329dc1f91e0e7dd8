"""This process among the others: its row in ``runtime_workers``, heartbeats, the reaper.

Every process heartbeats its row with the database clock every ``HEARTBEAT_SECONDS``;
one whose heartbeat is older than ``LEASE_SECONDS`` is dead to the others: its slots,
places and storing rows stop counting at once (every query joins on live workers),
and the first survivor to claim its row (``FOR UPDATE SKIP LOCKED``) removes them,
marks its unfinished jobs interrupted and reports each one: at least once (a slot
with its job stays until the job is reported, so a reaper dying mid-report leaves
the next one what is left), and once in practice. A process leaving
cleanly expires its own row and says so (NOTIFY), so the hand-over is immediate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from bot.runtime.base import ReportInterrupted
from bot.runtime.postgres.wakes import CHAINS, STORED, WORKERS, Wakes, notify, topic
from bot.storage.base import JobRecord, Store

log = logging.getLogger("bot.runtime")

HEARTBEAT_SECONDS = 2.0
LEASE_SECONDS = 8.0  # four heartbeats: one slow round trip does not kill a process
REAP_SECONDS = HEARTBEAT_SECONDS
CLAIM_RETENTION = "1 day"  # message events are redelivered within seconds, not days
PRUNE_EVERY_ROUNDS = 300

# "$2" is the lease in seconds everywhere below.
LIVE = "heartbeat_at >= now() - $2::float8 * interval '1 second'"

_CLAIM_DEAD = f"""
UPDATE runtime_workers SET reaped_by = $1
WHERE id IN (
    SELECT d.id FROM runtime_workers d
    WHERE NOT (d.{LIVE}) AND d.id <> $1
      AND (d.reaped_by IS NULL OR d.reaped_by = $1 OR NOT EXISTS (
          SELECT 1 FROM runtime_workers r WHERE r.id = d.reaped_by AND r.{LIVE}))
      AND EXISTS (SELECT 1 FROM runtime_workers m WHERE m.id = $1 AND m.{LIVE})
    FOR UPDATE SKIP LOCKED)
RETURNING id
"""


def new_owner(instance_name: str) -> str:
    """A new owner id at every start: a restart must not look like the process it replaces.

    ``INSTANCE_NAME:`` and 8 random hex digits, the name shortened to fit OWNER_PATTERN's
    64 characters (the random part keeps owners apart).
    """
    return f"{instance_name[:55]}:{secrets.token_hex(4)}"


class PostgresPresence:
    """The heartbeat (from ``start``), the reaper (from ``recover``), and leaving (``close``)."""

    def __init__(
        self,
        pool: Any,
        store: Store,
        wakes: Wakes,
        *,
        owner: str,
        lease: float = LEASE_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._pool, self._store, self._wakes = pool, store, wakes
        self._owner = owner
        self.lease, self.heartbeat = lease, heartbeat
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: list[Callable[[Any], Coroutine[Any, Any, None]]] = []
        self._failing = False
        self._closed = False

    @property
    def owner(self) -> str:
        return self._owner

    async def start(self) -> None:
        """Register this process and heartbeat from now on."""
        await self._register()
        self._spawn(self._beat_forever(), "pg-heartbeat")

    def recover(self, report: ReportInterrupted) -> None:
        self._spawn(self._reap_forever(report), "pg-reaper")

    def retry_later(self, cleanup: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
        """Run ``cleanup(conn)`` at the next heartbeat (a release the database missed)."""
        self._retries.append(cleanup)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    async def _register(self) -> None:
        await self._pool.execute(
            "INSERT INTO runtime_workers (id, host, pid) VALUES ($1, $2, $3::int)"
            " ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), reaped_by = NULL",
            self._owner,
            socket.gethostname(),
            os.getpid(),
        )

    async def beat(self) -> None:
        """One heartbeat, and the clean-ups the database missed before."""
        try:
            async with self._pool.acquire(timeout=self.lease) as conn:
                landed = await conn.fetchval(
                    "UPDATE runtime_workers SET heartbeat_at = now()"
                    " WHERE id = $1 AND reaped_by IS NULL RETURNING 1",
                    self._owner,
                )
                if landed is None:
                    log.warning(
                        "this process missed its heartbeats for over %gs, so another took over "
                        "its running jobs; serving again (check the database's reachability)",
                        self.lease,
                    )
                    await self._register()
                retries, self._retries = self._retries, []
                for cleanup in retries:
                    await cleanup(conn)
        except Exception as exc:
            if not self._failing:
                log.warning(
                    "heartbeat failed (%s); after %gs without one, this process takes no "
                    "new jobs and the others take over its running ones",
                    type(exc).__name__,
                    self.lease,
                )
            self._failing = True
        else:
            if self._failing:
                log.info("heartbeat landed again")
            self._failing = False

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.beat()

    async def reap(self, report: ReportInterrupted) -> list[str]:
        """Claim every dead process, hand its jobs to ``report``; the owners claimed."""
        dead = [r["id"] for r in await self._pool.fetch(_CLAIM_DEAD, self._owner, self.lease)]
        for owner in dead:
            await self._bury(owner, report)
        return dead

    async def _bury(self, owner: str, report: ReportInterrupted) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            channels = await conn.fetch(
                "DELETE FROM runtime_places WHERE owner = $1 RETURNING channel_id", owner
            )
            # Its slots stay until their jobs are reported: the ledger a reaper that
            # crashes mid-report leaves the next one (dead workers' slots count for nobody).
            await conn.execute("DELETE FROM runtime_storing WHERE owner = $1", owner)
            await conn.execute("DELETE FROM runtime_leases WHERE holder = $1", owner)
            for channel_id in {r["channel_id"] for r in channels}:
                await notify(conn, CHAINS, str(channel_id))
            await notify(conn, STORED)
        interrupted = list(await self._store.interrupt_running_jobs(owner))
        jobs = await self._unreported(owner, interrupted)
        log.info("process %s stopped heartbeating: %d of its jobs interrupted", owner, len(jobs))
        for job in jobs:
            try:
                await report([job])
            except Exception:
                # The worker row stays ours: the next round reports the rest again.
                log.exception("could not report the jobs process %s left; trying again", owner)
                return
            await self._pool.execute(
                "DELETE FROM runtime_slots WHERE owner = $1 AND job_id = $2::bigint", owner, job.id
            )
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM runtime_slots WHERE owner = $1", owner)
            await conn.execute(
                "DELETE FROM runtime_workers WHERE id = $1 AND reaped_by = $2", owner, self._owner
            )

    async def _unreported(self, owner: str, interrupted: list[JobRecord]) -> list[JobRecord]:
        """The jobs just interrupted, and those an earlier reaper interrupted but never told.

        At least once: a report repeated after a crash edits the same answer again.
        """
        by_id = {job.id: job for job in interrupted}
        for row in await self._pool.fetch(
            "SELECT DISTINCT job_id FROM runtime_slots WHERE owner = $1 AND job_id IS NOT NULL",
            owner,
        ):
            job_id = row["job_id"]
            if job_id not in by_id:
                job = await self._store.get_job(job_id)
                if job is not None and job.owner == owner and job.state == "interrupted":
                    by_id[job_id] = job
        return [by_id[job_id] for job_id in sorted(by_id)]

    async def _reap_forever(self, report: ReportInterrupted) -> None:
        rounds = 0
        while True:
            try:
                await self.reap(report)
                if rounds % PRUNE_EVERY_ROUNDS == 0:
                    await self._pool.execute(
                        "DELETE FROM runtime_claims"
                        f" WHERE claimed_at < now() - interval '{CLAIM_RETENTION}'"
                    )
            except Exception:
                log.exception("could not look for processes that stopped")
            rounds += 1
            await self._until_one_leaves()

    async def _until_one_leaves(self) -> None:
        """Until a process says it left (NOTIFY), or REAP_SECONDS pass."""
        checked = False

        async def woken() -> bool:
            # False before the first wait, True after it: a wake (or the poll) ends it.
            nonlocal checked
            seen, checked = checked, True
            return seen

        deadline = asyncio.get_running_loop().time() + REAP_SECONDS
        await self._wakes.until(topic(WORKERS), woken, deadline=deadline, poll=REAP_SECONDS)

    async def close(self) -> None:
        """Stop heartbeating, give up this process's rows, and expire it for the others."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM runtime_places WHERE owner = $1", self._owner)
                # Slots with a job stay: the survivor reports those jobs (see _bury).
                await conn.execute(
                    "DELETE FROM runtime_slots WHERE owner = $1 AND job_id IS NULL", self._owner
                )
                await conn.execute("DELETE FROM runtime_storing WHERE owner = $1", self._owner)
                await conn.execute("DELETE FROM runtime_leases WHERE holder = $1", self._owner)
                # Expired, not deleted: a survivor (or the next start) must find its jobs.
                await conn.execute(
                    "UPDATE runtime_workers SET heartbeat_at = '-infinity' WHERE id = $1",
                    self._owner,
                )
                await notify(conn, WORKERS)
                await notify(conn, CHAINS, "*")
                await notify(conn, STORED)
        except Exception:
            log.warning("could not hand over at once; the others take over after %gs", self.lease)
