"""This process among the others: its row in ``runtime_workers``, heartbeats, the reaper.

Every process heartbeats its row with the database clock every ``HEARTBEAT_SECONDS``;
one whose heartbeat is older than ``LEASE_SECONDS`` is dead to the others: its slots,
places and storing rows stop counting at once (every query joins on live workers),
and the first survivor to claim its row (``FOR UPDATE SKIP LOCKED``) removes them,
marks its running jobs interrupted and reports each one: at least once (a slot
with its job stays until the job is reported, so a reaper dying mid-report leaves
the next one what is left), and once in practice. Its queued jobs never reached the
gateway: the survivor adopts them (their rows become its own in one fenced UPDATE,
so each goes to one survivor) and runs them on, oldest first, as a restart would; a
survivor that dies before running them leaves them queued under its own id, for the
next one. A process leaving cleanly expires its own row and says so (NOTIFY), so the
hand-over is immediate.

Decision, a process that was reaped while it still ran (its heartbeats could not land
for a lease, then came back): its jobs are the survivor's, which told their members
they were interrupted. So it stops them at once (``stop_jobs``: no result, no error,
no progress edit lands on top of the survivor's report), interrupts and reports any
of its old owner's jobs the survivor could not have seen, and serves new work under
a NEW owner id, as a restart would: its old id is dead for every process.

A database that does not answer makes each background loop log one WARNING when it
starts failing and one INFO when it works again, never a line per round.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bot.runtime.base import AdoptQueued, ReportInterrupted
from bot.runtime.postgres.wakes import CHAINS, QUEUE, STORED, WORKERS, Wakes, notify, topic
from bot.storage.base import JobRecord, Store
from bot.storage.errors import StorageUnavailable

log = logging.getLogger("bot.runtime")

HEARTBEAT_SECONDS = 2.0
LEASE_SECONDS = 8.0  # four heartbeats: one slow round trip does not kill a process
REAP_SECONDS = HEARTBEAT_SECONDS
CLAIM_RETENTION = "1 day"  # message events are redelivered within seconds, not days
# A press for a job that ended before its owner looked is never swept (nobody watches it);
# a job waits in line and runs for hours at most, so a week-old press is for nothing.
CANCEL_RETENTION = "7 days"
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


def _said(exc: BaseException) -> str:
    """An error in words for a log line: its sentence (a class name only if it has none)."""
    return str(exc).strip().rstrip(".") or type(exc).__name__


async def _report_jobs(report: ReportInterrupted, owner: str, jobs: Sequence[Any]) -> None:
    try:
        await report(jobs)
    except Exception:
        log.exception("could not report the jobs process %s left", owner)


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
        stop_jobs: Callable[[str], object] | None = None,
    ) -> None:
        self._pool, self._store, self._wakes = pool, store, wakes
        self._owner = owner
        # INSTANCE_NAME, for the new owner id after being reaped (see new_owner).
        self._name = owner.rpartition(":")[0] or owner
        self.lease, self.heartbeat = lease, heartbeat
        # Cancels the running jobs of an owner id (LocalTasks.stop_jobs).
        self._stop_jobs = stop_jobs
        self._report: ReportInterrupted | None = None
        self._adopt: AdoptQueued | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: list[Callable[[Any], Coroutine[Any, Any, None]]] = []
        self.lost: list[str] = []  # owner ids this process had before it was reaped
        self._failing = False
        self._reap_failing = False
        self._closed = False

    @property
    def owner(self) -> str:
        return self._owner

    async def start(self) -> None:
        """Register this process and heartbeat from now on."""
        await self._register()
        self._spawn(self._beat_forever(), "pg-heartbeat")

    def recover(self, report: ReportInterrupted, adopt: AdoptQueued | None = None) -> None:
        self._report, self._adopt = report, adopt
        self._spawn(self._reap_forever(report), "pg-reaper")

    def retry_later(self, cleanup: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
        """Run ``cleanup(conn)`` at the next heartbeat (a release the database missed)."""
        self._retries.append(cleanup)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    async def _register(self) -> None:
        await self._pool.execute(
            "INSERT INTO runtime_workers (id, host, pid) VALUES ($1, $2, $3::int)"
            " ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()"
            " WHERE runtime_workers.reaped_by IS NULL",
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
                if landed is not None:
                    await self._run_retries(conn)
            if landed is None:
                await self._come_back()
        except Exception as exc:
            if not self._failing:
                log.warning(
                    "heartbeat failed (%s); after %gs without one, this process takes no "
                    "new jobs and the others take over its running ones",
                    _said(exc),
                    self.lease,
                )
            self._failing = True
        else:
            if self._failing:
                log.info("heartbeat landed again")
            self._failing = False

    async def _run_retries(self, conn: Any) -> None:
        retries, self._retries = self._retries, []
        for i, cleanup in enumerate(retries):
            try:
                await cleanup(conn)
            except BaseException:
                self._retries[:0] = retries[i:]  # this one and the rest: next heartbeat
                raise

    async def _come_back(self) -> None:
        """Reaped while running: stop the old owner's jobs, serve on as a new owner."""
        old, self._owner = self._owner, new_owner(self._name)
        self.lost.append(old)
        self._retries.clear()  # the survivor removed the old owner's rows
        log.warning(
            "this process missed its heartbeats for over %gs, so another process took over "
            "its running jobs and told their members; they are stopped here, and new work "
            "runs as %s (check the database's reachability from this host)",
            self.lease,
            self._owner,
        )
        if self._stop_jobs is not None:
            self._stop_jobs(old)
        await self._register()
        # Jobs the old owner created after the survivor looked are nobody's: ours to report
        # (the running ones) or to run on under the new id (the queued ones).
        adopted = await self._take_queued(old)
        left = list(await self._store.interrupt_running_jobs(old, queued=self._adopt is None))
        if left and self._report is not None:
            await _report_jobs(self._report, old, left)
        await self._hand_on(old, adopted)

    async def _take_queued(self, owner: str) -> list[JobRecord]:
        """``owner``'s queued jobs, now this process's; none without a front end to run them."""
        if self._adopt is None:
            return []
        return list(await self._store.adopt_queued_jobs(owner, self._owner))

    async def _hand_on(self, owner: str, adopted: list[JobRecord]) -> None:
        if not adopted or self._adopt is None:
            return
        log.info("took over %d queued jobs of process %s", len(adopted), owner)
        try:
            await self._adopt(adopted)
        except Exception:
            # Queued under this process's id: its own next start (or a survivor) runs them.
            log.exception("could not run on the queued jobs of process %s", owner)

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
            await conn.execute("DELETE FROM runtime_cancels WHERE owner = $1", owner)
            # Its waiting jobs are adopted below: they take new places in this process.
            await conn.execute("DELETE FROM runtime_queue WHERE owner = $1", owner)
            await notify(conn, QUEUE)
            for channel_id in {r["channel_id"] for r in channels}:
                await notify(conn, CHAINS, str(channel_id))
            await notify(conn, STORED)
        # Adopted first: a job is queued or running, never both, and only running ones
        # are interrupted (queued ones too if nothing here can run them on).
        adopted = await self._take_queued(owner)
        interrupted = list(
            await self._store.interrupt_running_jobs(owner, queued=self._adopt is None)
        )
        await self._hand_on(owner, adopted)
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
            await self.reap_round(report, prune=rounds % PRUNE_EVERY_ROUNDS == 0)
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

    async def reap_round(self, report: ReportInterrupted, *, prune: bool = False) -> None:
        """One round of the reaper loop; a failure is logged once until a round works."""
        try:
            await self.reap(report)
            if prune:
                await self.prune()
        except Exception as exc:
            if not self._reap_failing:
                log.warning(
                    "cannot look for processes that stopped (%s); their jobs are taken over "
                    "once the database answers",
                    _said(exc),
                    exc_info=not isinstance(exc, StorageUnavailable),
                )
            self._reap_failing = True
        else:
            if self._reap_failing:
                log.info("looking for processes that stopped again")
            self._reap_failing = False

    async def prune(self) -> None:
        """Drop what nobody will read again: old claims, and presses no owner swept."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM runtime_claims"
                f" WHERE claimed_at < now() - interval '{CLAIM_RETENTION}'"
            )
            await conn.execute(
                "DELETE FROM runtime_cancels"
                f" WHERE requested_at < now() - interval '{CANCEL_RETENTION}'"
            )

    async def close(self) -> None:
        """Stop heartbeating, give up this process's rows, and expire it for the others."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded: a task that will not stop must not keep the process
            await asyncio.wait(self._tasks, timeout=self.lease)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM runtime_places WHERE owner = $1", self._owner)
                # Slots with a job stay: the survivor reports those jobs (see _bury).
                await conn.execute(
                    "DELETE FROM runtime_slots WHERE owner = $1 AND job_id IS NULL", self._owner
                )
                await conn.execute("DELETE FROM runtime_storing WHERE owner = $1", self._owner)
                await conn.execute("DELETE FROM runtime_leases WHERE holder = $1", self._owner)
                await conn.execute("DELETE FROM runtime_queue WHERE owner = $1", self._owner)
                # Expired, not deleted: a survivor (or the next start) must find its jobs.
                await conn.execute(
                    "UPDATE runtime_workers SET heartbeat_at = '-infinity' WHERE id = $1",
                    self._owner,
                )
                await notify(conn, WORKERS)
                await notify(conn, QUEUE)
                await notify(conn, CHAINS, "*")
                await notify(conn, STORED)
        except Exception:
            log.warning("could not hand over at once; the others take over after %gs", self.lease)
