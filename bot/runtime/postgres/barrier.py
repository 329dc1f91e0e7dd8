"""The store barrier for several processes: rows in ``runtime_storing`` while storing.

A button pressed on a result reaches the process whose shard owns the server, which
need not be the one storing it (a reshard, a recovery): ``stored`` waits for this
process's saves in memory, then for other live processes' rows, woken by NOTIFY on
``runtime_stored`` and polling behind it. Rows of dead workers are ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from bot.runtime.local import LocalStoreBarrier
from bot.runtime.postgres.presence import LIVE, PostgresPresence
from bot.runtime.postgres.wakes import STORED, Wakes, notify, topic

log = logging.getLogger("bot.runtime")

_OTHERS_STORING = f"""
SELECT EXISTS (
    SELECT 1 FROM runtime_storing s JOIN runtime_workers w ON w.id = s.owner AND w.{LIVE}
    WHERE s.owner <> $1
      AND ($3::bigint IS NULL OR s.job_id = $3)
      AND ($4::bigint IS NULL OR s.channel_id = $4))
"""


class PostgresStoreBarrier:
    def __init__(self, pool: Any, wakes: Wakes, presence: PostgresPresence) -> None:
        self._pool, self._wakes, self._presence = pool, wakes, presence
        self._local = LocalStoreBarrier()
        self._tasks: set[asyncio.Task[None]] = set()

    async def storing(self, job_id: int, channel_id: int, saving: asyncio.Future[Any]) -> None:
        await self._local.storing(job_id, channel_id, saving)
        try:
            await self._pool.execute(
                "INSERT INTO runtime_storing (job_id, channel_id, owner)"
                " VALUES ($1::bigint, $2::bigint, $3) ON CONFLICT (job_id) DO UPDATE"
                " SET channel_id = EXCLUDED.channel_id, owner = EXCLUDED.owner",
                job_id,
                channel_id,
                self._presence.owner,
            )
        except Exception:  # only a press on another process could come too early
            log.warning("could not note that job %s is being stored", job_id, exc_info=True)
            return
        saving.add_done_callback(lambda _: self._spawn(self._done(job_id)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _done(self, job_id: int) -> None:
        sql = "DELETE FROM runtime_storing WHERE job_id = $1::bigint"
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql, job_id)
                await notify(conn, STORED)
        except Exception:
            log.warning("could not note that job %s is stored; retrying", job_id)

            async def again(conn: Any) -> None:
                await conn.execute(sql, job_id)
                await notify(conn, STORED)

            self._presence.retry_later(again)

    async def stored(
        self,
        *,
        job_id: int | None = None,
        channel_id: int | None = None,
        at_most: float | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if at_most is None else loop.time() + at_most
        await self._local.stored(job_id=job_id, channel_id=channel_id, at_most=at_most)
        if job_id is None and channel_id is None:
            return  # closing: only this process's saves matter

        async def none_storing() -> bool:
            return not await self._pool.fetchval(
                _OTHERS_STORING, self._presence.owner, self._presence.lease, job_id, channel_id
            )

        await self._wakes.until(topic(STORED), none_storing, deadline=deadline)
