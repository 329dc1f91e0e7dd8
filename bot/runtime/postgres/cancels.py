"""The Cancel button across processes: a row for the job's owner, and a NOTIFY to wake it.

A press on the process that runs the job cancels its task at once, as alone
(``LocalCancels``). A press elsewhere writes ``runtime_cancels`` (job_id, by) and
notifies; the owner's sweeper fires its watched jobs that have a row, polling behind
the NOTIFY (a notification lost while the listener reconnects only delays it). A row
for a job not watched yet waits for its ``watch``, which sweeps at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.runtime.local import LocalCancel, LocalCancels
from bot.runtime.postgres.presence import LIVE, PostgresPresence
from bot.runtime.postgres.wakes import CANCELS, POLL_SECONDS, Wakes, notify, topic
from bot.storage.base import Store

log = logging.getLogger("bot.runtime")

_OWNER_LIVE = (
    f"SELECT EXISTS (SELECT 1 FROM runtime_workers WHERE id = $1 AND reaped_by IS NULL AND {LIVE})"
)


class PostgresCancels:
    """``Cancels`` for several processes: ``request`` anywhere, the owner cancels the task."""

    def __init__(
        self,
        pool: Any,
        store: Store,
        wakes: Wakes,
        presence: PostgresPresence,
        *,
        poll: float = POLL_SECONDS,
    ) -> None:
        self._pool, self._store, self._wakes, self._presence = pool, store, wakes, presence
        self._poll = poll
        self._local = LocalCancels()
        self._watched: set[int] = set()
        self._over: set[int] = set()  # watches that ended: their rows go at the next sweep
        self._sweeper: asyncio.Task[None] | None = None
        self._failing = False

    @asynccontextmanager
    async def watch(self, job_id: int) -> AsyncIterator[LocalCancel]:
        async with self._local.watch(job_id) as cancel:
            self._watched.add(job_id)
            self._start_sweeping()
            self._wakes.poke(topic(CANCELS))  # a press may have come before the watch
            try:
                yield cancel
            finally:
                self._watched.discard(job_id)
                self._over.add(job_id)

    async def request(self, job_id: int, *, by: int) -> bool:
        """Cancel it here, or leave a row for its owner; whether a live owner will act.

        True also when the job finishes before its owner sees the row: the member then
        gets the result instead (the row goes with the watch).
        """
        if self._local.watching(job_id):
            return self._local.fire(job_id, by)
        job = await self._store.get_job(job_id)
        if job is None or job.state not in ("queued", "running"):
            return False
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_OWNER_LIVE, job.owner, self._presence.lease):
                return False  # its owner died: a survivor reports the job interrupted
            await conn.execute(
                "INSERT INTO runtime_cancels (job_id, by, owner) VALUES ($1, $2, $3)"
                " ON CONFLICT (job_id) DO NOTHING",
                job_id,
                by,
                job.owner,
            )
            await notify(conn, CANCELS, job.owner)
        return True

    def _start_sweeping(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_forever(), name="pg-cancels"
            )

    async def _sweep_forever(self) -> None:
        # ``_sweep`` never says ready: this waits on every NOTIFY and poll, for good.
        await self._wakes.until(topic(CANCELS), self._sweep, poll=self._poll)

    async def _sweep(self) -> bool:
        if not self._watched and not self._over:
            return False
        watched, over = list(self._watched), list(self._over)
        try:
            rows = await self._pool.fetch(
                "DELETE FROM runtime_cancels WHERE job_id = ANY($1::bigint[]) RETURNING job_id, by",
                watched + over,
            )
        except Exception as exc:
            if not self._failing:
                log.warning("cannot read Cancel presses from PostgreSQL (%s); retrying", exc)
            self._failing = True
            return False
        self._failing = False
        self._over.difference_update(over)
        for row in rows:
            self._local.fire(row["job_id"], row["by"])
        return False

    async def close(self) -> None:
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
