"""Waking waiters on NOTIFY, with a poll behind it.

LISTEN holds a connection for as long as it listens, so it gets its own, outside the
pool (a pooled connection would be handed to someone else, or reset). Notifications
sent while it reconnects are lost: they only wake waiters early, every waiter polls
the database again after ``POLL_SECONDS`` whatever it heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger("bot.runtime")

POLL_SECONDS = 1.0
RECONNECT_SECONDS = 1.0

# NOTIFY channels: payload a channel id (or "*": every channel), none, none, the owner
# of the job a Cancel was pressed for (every process wakes: presses are rare), the server
# whose slots or line changed (every waiter wakes: a member's count spans servers), the
# name of an exclusive section just left.
CHAINS = "runtime_chains"
STORED = "runtime_stored"
WORKERS = "runtime_workers"
CANCELS = "runtime_cancels"
QUEUE = "runtime_queue"
LEASES = "runtime_leases"
CHANNELS = (CHAINS, STORED, WORKERS, CANCELS, QUEUE, LEASES)


def topic(channel: str, payload: str = "") -> str:
    return f"{channel}:{payload}"


class Wakes:
    """Events by topic, set when a notification for the topic arrives."""

    def __init__(self) -> None:
        self._events: dict[str, tuple[asyncio.Event, int]] = {}

    def poke(self, name: str) -> None:
        """Wake the topic's waiters; ``"chan:*"`` wakes every topic of ``chan``."""
        if name.endswith(":*"):
            names = [t for t in self._events if t.startswith(name[:-1])]
        else:
            names = [name]
        for n in names:
            entry = self._events.pop(n, None)
            if entry is not None:
                entry[0].set()

    async def until(
        self,
        name: str,
        ready: Callable[[], Awaitable[bool]],
        *,
        deadline: float | None = None,
        poll: float = POLL_SECONDS,
    ) -> bool:
        """Re-check ``ready`` at every wake and poll; False once ``deadline`` (loop time) passed."""
        loop = asyncio.get_running_loop()
        while True:
            event = self._watch(name)  # before the check: a wake during it is not lost
            try:
                if await ready():
                    return True
                timeout = poll
                if deadline is not None:
                    timeout = min(poll, deadline - loop.time())
                    if timeout <= 0:
                        return False
                # Not wait_for: on Python 3.11 it swallows a cancel that comes as the
                # event is set, and a stopping task (the reaper at close) waits on.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await event.wait()
            finally:
                self._unwatch(name, event)

    def _watch(self, name: str) -> asyncio.Event:
        event, users = self._events.get(name, (None, 0))
        if event is None:
            event = asyncio.Event()
        self._events[name] = (event, users + 1)
        return event

    def _unwatch(self, name: str, event: asyncio.Event) -> None:
        entry = self._events.get(name)
        if entry is None or entry[0] is not event:
            return  # poked meanwhile: already gone
        if entry[1] <= 1:
            del self._events[name]
        else:
            self._events[name] = (event, entry[1] - 1)

    def __len__(self) -> int:
        return len(self._events)


class Listener:
    """One dedicated connection LISTENing on ``channels``, reconnected when it drops."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        wakes: Wakes,
        channels: Sequence[str] = CHANNELS,
    ) -> None:
        self._connect = connect
        self._wakes = wakes
        self._channels = tuple(channels)
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._ready = asyncio.Event()
        # Connection attempts that failed since it last listened (0 while listening).
        self.failures = 0

    async def start(self) -> None:
        """Listen in the background; returns once listening (or the first attempt failed)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pg-listen")
        await self._ready.wait()

    async def _run(self) -> None:
        failing = False
        while True:
            lost = asyncio.Event()
            try:
                conn = await self._connect()
                self._conn = conn
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in self._channels:
                    await conn.add_listener(channel, self._notified)
                if failing:
                    log.info("listening for PostgreSQL notifications again")
                failing, self.failures = False, 0
                self._ready.set()
                # Whatever was sent while not listening is lost: everyone re-checks now.
                for channel in self._channels:
                    self._wakes.poke(topic(channel, "*"))
                    self._wakes.poke(topic(channel))
                await lost.wait()
                why = "the connection was lost"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                why = str(exc).strip().rstrip(".") or type(exc).__name__
            finally:
                self._ready.set()
                await self._drop()
            if not failing:
                log.warning(
                    "cannot listen for PostgreSQL notifications (%s); polling every %gs "
                    "and reconnecting",
                    why,
                    POLL_SECONDS,
                )
            failing = True
            await asyncio.sleep(RECONNECT_SECONDS)

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._wakes.poke(topic(channel, payload))
        if payload:
            self._wakes.poke(topic(channel))  # those waiting for any of the channel's

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()


async def notify(conn: Any, channel: str, payload: str = "") -> None:
    await conn.execute("SELECT pg_notify($1::text, $2::text)", channel, payload)
