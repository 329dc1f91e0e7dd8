"""The in-process implementations of ``bot.runtime.base``: enough for one bot process."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from bot.errors import LimitReached

MODEL_CACHE_TTL = 300.0
CLOSE_WAIT_SECONDS = 10.0


def _images(n: int) -> str:
    return "1 image" if n == 1 else f"{n} images"


class LocalAdmissions:
    """Counters in memory; a member's count spans servers (see ``bot.runtime.base``)."""

    def __init__(self) -> None:
        self._user_jobs: defaultdict[int, int] = defaultdict(int)
        self._guild_jobs: defaultdict[int, int] = defaultdict(int)

    def in_flight(self, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        if user_id is not None:
            return self._user_jobs.get(user_id, 0)
        if guild_id is not None:
            return self._guild_jobs.get(guild_id, 0)
        return sum(self._user_jobs.values())

    def acquire(
        self, *, user_id: int, guild_id: int | None, user_limit: int, guild_limit: int
    ) -> None:
        """Take a job slot now, or refuse at once: a busy answer beats silent queueing."""
        running = self._user_jobs.get(user_id, 0)
        if running >= user_limit:
            raise LimitReached(
                f"You already have {_images(running)} generating; wait for one to finish."
            )
        if guild_id is not None:
            busy = self._guild_jobs.get(guild_id, 0)
            if busy >= guild_limit:
                raise LimitReached(
                    f"This server already has {_images(busy)} generating; try again in a moment."
                )
            self._guild_jobs[guild_id] += 1
        self._user_jobs[user_id] += 1

    def release(self, *, user_id: int, guild_id: int | None) -> None:
        for table, key in ((self._user_jobs, user_id), (self._guild_jobs, guild_id)):
            if key is None or key not in table:
                continue
            table[key] -= 1
            if table[key] <= 0:
                del table[key]


class LocalChainLocks:
    def __init__(self) -> None:
        # Weak: a lock lives while a job holds or awaits it, not for every channel ever used.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, channel_id: int) -> asyncio.Lock:
        """The channel's lock; keep the returned reference for as long as it is used."""
        lock = self._locks.get(channel_id)
        if lock is None:
            lock = self._locks[channel_id] = asyncio.Lock()
        return lock

    def __len__(self) -> int:
        return len(self._locks)


class LocalStoreBarrier:
    def __init__(self) -> None:
        self._storing: dict[int, tuple[int, asyncio.Future[Any]]] = {}  # job -> channel, save

    def storing(self, job_id: int, channel_id: int, saving: asyncio.Future[Any]) -> None:
        """Note that a job's result is being stored by ``saving`` (see ``stored``)."""
        self._storing[job_id] = (channel_id, saving)
        saving.add_done_callback(lambda _: self._storing.pop(job_id, None))

    async def stored(
        self,
        *,
        job_id: int | None = None,
        channel_id: int | None = None,
        at_most: float | None = None,
    ) -> None:
        """Return once the job's (or the channel's, or every) result is stored or failed to be.

        A result is posted while it is stored, so a member can act on it before its rows
        exist: a button handler waits here for its job, and a job that reads the
        channel's history for the channel. Discord sends a guild's interactions to the
        shard that posted the message, so waiting per process is enough. After
        ``at_most`` seconds it returns anyway.
        """
        pending = {
            saving
            for job, (channel, saving) in self._storing.items()
            if (job_id is None or job == job_id) and (channel_id is None or channel == channel_id)
        }
        if pending:
            await asyncio.wait(pending, timeout=at_most)


class LocalModelCache:
    def __init__(self, *, ttl: float = MODEL_CACHE_TTL) -> None:
        self._models: dict[str, tuple[float, list[str]]] = {}
        self._ttl = ttl

    async def models(self, key: str, load: Callable[[], Awaitable[list[str]]]) -> list[str]:
        cached = self._models.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        models = await load()
        self._models[key] = (now + self._ttl, models)
        return models


class LocalTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._jobs: set[asyncio.Task[Any]] = set()

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Start a task kept referenced here (the loop only keeps weak ones)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @asynccontextmanager
    async def job(self) -> AsyncIterator[None]:
        """Mark the current task as running a job, so shutdown can stop it first."""
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
        try:
            yield
        finally:
            self._jobs.discard(task)  # type: ignore[arg-type]

    async def close(self) -> None:
        tasks = list(self._tasks) + [t for t in self._jobs if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_SECONDS)
