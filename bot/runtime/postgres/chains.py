"""Chains in ``runtime_places``: ``LocalChains``' rules, for every process on one database.

A place is a row, in the channel's order (``seq``, taken under the channel's advisory
lock, so no place can commit ahead of one already seen). Settled places are deleted,
replaced ones are marked ``void``, the one writing its turn is marked ``writing`` (one
turn at a time per channel, so a replace never lands mid-append). Places of dead
workers hold nobody (every check joins on live workers). Waiters re-check when a
NOTIFY on ``runtime_chains`` names their channel, and every ``POLL_SECONDS`` anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot.runtime.keyed import KeyedLocks
from bot.runtime.places import ClosingPlace
from bot.runtime.postgres.keys import lock_key
from bot.runtime.postgres.presence import LIVE, PostgresPresence
from bot.runtime.postgres.wakes import CHAINS, Wakes, notify, topic

log = logging.getLogger("bot.runtime")

_AHEAD = f"""
    FROM runtime_places p JOIN runtime_workers w ON w.id = p.owner AND w.{LIVE}
    WHERE p.channel_id = $3 AND p.seq < $1 AND NOT p.void
"""
_STATE = f"""
SELECT
    coalesce((SELECT void FROM runtime_places WHERE seq = $1), true) AS void,
    EXISTS (SELECT 1 {_AHEAD}) AS held,
    EXISTS (SELECT 1 {_AHEAD} AND p.unread) AS unread_ahead
"""
_BUSY = f"""
SELECT EXISTS (
    SELECT 1 FROM runtime_places p JOIN runtime_workers w ON w.id = p.owner AND w.{LIVE}
    WHERE p.channel_id = $3 AND p.writing AND p.seq <> $1)
"""


@dataclass(frozen=True)
class _State:
    void: bool  # replaced, or gone (its row reaped): it holds nothing and writes nothing
    held: bool  # a live place ahead can still change which turn is the latest
    unread_ahead: bool  # a live place ahead has yet to read the chain

    @property
    def latest_known(self) -> bool:
        return self.void or not self.held

    def may_write(self, new_chain: bool) -> bool:
        if new_chain and not self.void:
            return not self.unread_ahead
        return self.latest_known


class _Place(ClosingPlace):
    def __init__(
        self, chains: PostgresChains, channel_id: int, seq: int, *, reads: bool, new_chain: bool
    ) -> None:
        self._chains, self._channel_id, self._seq = chains, channel_id, seq
        self.new_chain = new_chain
        self._unread = reads
        super().__init__()

    async def _state(self) -> _State:
        chains = self._chains
        row = await chains.pool.fetchrow(_STATE, self._seq, chains.lease, self._channel_id)
        return _State(void=row["void"], held=row["held"], unread_ahead=row["unread_ahead"])

    async def _until(self, ready: Callable[[_State], bool]) -> None:
        async def check() -> bool:
            return ready(await self._state())

        await self._chains.wakes.until(topic(CHAINS, str(self._channel_id)), check)

    async def waiting(self) -> bool:
        return not (await self._state()).latest_known

    async def latest(self) -> None:
        await self._until(lambda s: s.latest_known)

    def read(self) -> None:
        if self._unread and not self._settled:
            self._unread = False
            self._chains.background(
                self._changed("UPDATE runtime_places SET unread = false WHERE seq = $1")
            )

    async def record(self, write: Callable[[], Awaitable[None]], *, wait: bool = False) -> None:
        if self._settled or self._recording:
            raise RuntimeError("a place records one turn, before it is closed")
        self._recording = True
        try:
            if wait:
                await self._until(lambda s: s.may_write(self.new_chain))
            now = (await self._state()).may_write(self.new_chain)
        except BaseException:
            self._settle()
            raise
        if now:
            await self._write(write)
            return
        self._chains.background(self._write_later(write))

    async def _write_later(self, write: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._until(lambda s: s.may_write(self.new_chain))
            await self._write(write)
        except Exception:  # the job's result is out and stored; only its turn is lost
            log.exception("a turn of channel %s could not be recorded", self._channel_id)
        finally:
            self._settle()

    async def _write(self, write: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._chains.wakes.until(topic(CHAINS, str(self._channel_id)), self._claim)
            if (await self._state()).void:  # stable now: only the writer voids others
                return
            await write()
            if self.new_chain:
                await self._changed(
                    "UPDATE runtime_places SET void = true"
                    " WHERE channel_id = $2 AND seq < $1 AND NOT void",
                    self._channel_id,
                )
        finally:
            self._settle()

    async def _claim(self) -> bool:
        """Take the channel's pen, unless a live place is writing; True once taken."""
        chains = self._chains
        async with chains.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", chains.key(self))
            if await conn.fetchval(_BUSY, self._seq, chains.lease, self._channel_id):
                return False
            await conn.execute("UPDATE runtime_places SET writing = true WHERE seq = $1", self._seq)
            return True

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled = self._recording = True
        self._chains.settle(self)

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def channel_id(self) -> int:
        return self._channel_id

    async def _changed(self, sql: str, *args: Any) -> None:
        async with self._chains.pool.acquire() as conn, conn.transaction():
            await conn.execute(sql, self._seq, *args)
            await notify(conn, CHAINS, str(self._channel_id))


class PostgresChains:
    """``Chains`` for several processes (the rules: ``bot.runtime.base.Chains``)."""

    def __init__(self, pool: Any, wakes: Wakes, presence: PostgresPresence) -> None:
        self.pool, self.wakes, self._presence = pool, wakes, presence
        self._taking = KeyedLocks()  # this process's takes in call order, per channel
        self._later: set[asyncio.Task[None]] = set()

    @property
    def lease(self) -> float:
        return self._presence.lease

    def key(self, place: _Place) -> int:
        return lock_key("channel", place.channel_id)

    async def take(
        self, channel_id: int, *, reads: bool = False, new_chain: bool = False
    ) -> _Place:
        async with self._taking(channel_id):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1::bigint)", lock_key("channel", channel_id)
                )
                seq = await conn.fetchval(
                    "INSERT INTO runtime_places (channel_id, owner, new_chain, unread)"
                    " VALUES ($1::bigint, $2, $3, $4) RETURNING seq",
                    channel_id,
                    self._presence.owner,
                    new_chain,
                    reads,
                )
        return _Place(self, channel_id, seq, reads=reads, new_chain=new_chain)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def settle(self, place: _Place) -> None:
        """Delete the place's row (it holds nobody from now on), retried if it fails."""
        sql = "DELETE FROM runtime_places WHERE seq = $1"

        async def delete() -> None:
            try:
                await place._changed(sql)
            except Exception:
                log.warning("could not free a place in channel %s; retrying", place.channel_id)

                async def again(conn: Any) -> None:
                    await conn.execute(sql, place.seq)
                    await notify(conn, CHAINS, str(place.channel_id))

                self._presence.retry_later(again)

        self.background(delete())

    async def settled(self, *, at_most: float | None = None) -> None:
        # A turn written late settles its place in a task of its own: wait for those too.
        loop = asyncio.get_running_loop()
        deadline = None if at_most is None else loop.time() + at_most
        while self._later:
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                return
            await asyncio.wait(set(self._later), timeout=timeout)
