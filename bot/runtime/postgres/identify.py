"""IDENTIFY pacing for every process of one application: a reservation per bucket.

One statement reserves the bucket's next free start (``greatest(next_at, now())``) and
moves ``next_at`` one ``PACED_INTERVAL`` past it, under the row's lock: three
callers at once get waits of 0, 5.5 and 11 s. The caller sleeps until its start, then
connects and IDENTIFYs.

The half second over Discord's 5 s is for what happens between the reservation and the
IDENTIFY reaching Discord (the websocket's handshake, HELLO): it takes each process a
different time, and two real processes a reservation exactly 5 s apart IDENTIFYed 4.998 s
apart (tests/scale/test_shards.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.runtime.base import IDENTIFY_INTERVAL

IDENTIFY_MARGIN = 0.5
PACED_INTERVAL = IDENTIFY_INTERVAL + IDENTIFY_MARGIN

_RESERVE = """
INSERT INTO runtime_identify AS b (bucket, next_at)
VALUES ($1::int, now() + $2::float8 * interval '1 second')
ON CONFLICT (bucket) DO UPDATE
    SET next_at = greatest(b.next_at, now()) + $2::float8 * interval '1 second'
RETURNING extract(epoch FROM b.next_at - now())::float8 - $2::float8
"""


class PostgresIdentifyPacer:
    def __init__(self, pool: Any, *, interval: float = PACED_INTERVAL) -> None:
        self._pool, self._interval = pool, interval

    async def reserve(self, shard_id: int, *, max_concurrency: int) -> float:
        """Reserve the shard's bucket's next start; the seconds until it."""
        bucket = shard_id % max(1, max_concurrency)
        wait: float = await self._pool.fetchval(_RESERVE, bucket, self._interval)
        return max(0.0, wait)

    async def wait(self, shard_id: int, *, max_concurrency: int) -> None:
        await asyncio.sleep(await self.reserve(shard_id, max_concurrency=max_concurrency))
