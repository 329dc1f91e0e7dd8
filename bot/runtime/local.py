"""The in-process implementations of ``bot.runtime.base``: enough for one bot process."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from bot.runtime.admission import (
    Waiter,
    admissible,
    check_budget,
    check_limits,
    check_quotas,
    fits,
    queue_full,
)
from bot.runtime.base import (
    AdoptQueued,
    Budget,
    Ledger,
    OnPlace,
    Quota,
    ReportInterrupted,
    Slot,
)
from bot.runtime.keyed import KeyedLocks
from bot.runtime.places import ClosingPlace

log = logging.getLogger("bot.runtime")

MODEL_CACHE_TTL = 300.0
CLOSE_WAIT_SECONDS = 10.0


class LocalAdmissions:
    """Slots in memory; a member's count spans servers (see ``bot.runtime.base``).

    Quotas count job rows through ``counts`` (the store), budgets its usage; the slot
    count, the store's answers and the take happen under the server's lock, so
    admissions awaiting the store in between cannot pass a quota or a budget together.
    """

    def __init__(self, counts: Ledger | None = None) -> None:
        self._counts = counts
        self._slots: dict[int, Slot] = {}
        self._ids = itertools.count(1)
        self._user_jobs: defaultdict[int, int] = defaultdict(int)
        self._guild_jobs: defaultdict[int, int] = defaultdict(int)
        self._locks = KeyedLocks()
        self._lines: dict[int | None, list[LocalTicket]] = {}

    def in_flight(self, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        if user_id is not None:
            return self._user_jobs.get(user_id, 0)
        if guild_id is not None:
            return self._guild_jobs.get(guild_id, 0)
        return len(self._slots)

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
        """Take a job slot now, or refuse at once: a busy answer beats silent queueing."""
        if not quotas and budget is None:  # nothing awaited: atomic on the event loop
            return self._take(user_id, guild_id, user_limit, guild_limit)
        async with self._locks(guild_id):
            pending = [s for s in self._slots.values() if s.job_id is None]
            in_guild = [s for s in pending if guild_id is None or s.guild_id == guild_id]
            await check_quotas(
                self._counts,
                quotas,
                user_id=user_id,
                guild_id=guild_id,
                pending_user=sum(1 for s in in_guild if s.user_id == user_id),
                pending_guild=len(in_guild),
            )
            # The estimates before the spend (bot.runtime.base.Admissions).
            await check_budget(
                self._counts, budget, guild_id=guild_id, in_flight=self._committed(guild_id)
            )
            slot = self._take(user_id, guild_id, user_limit, guild_limit)
            slot.estimate = budget.estimate if budget is not None else 0.0
            return slot

    def _take(self, user_id: int, guild_id: int | None, user_limit: int, guild_limit: int) -> Slot:
        check_limits(
            user_busy=self._user_jobs.get(user_id, 0),
            guild_busy=self._guild_jobs.get(guild_id, 0) if guild_id is not None else 0,
            guild_id=guild_id,
            user_limit=user_limit,
            guild_limit=guild_limit,
        )
        return self._add_slot(user_id, guild_id)

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
    ) -> LocalTicket:
        waiter = Waiter(
            user_id=user_id,
            guild_id=guild_id,
            images=images,
            user_limit=user_limit,
            guild_limit=guild_limit,
        )
        async with self._locks(guild_id):
            if quotas:
                # Waiting jobs count as the slots they will take (no row yet, or no slot).
                here = lambda g: guild_id is None or g == guild_id  # noqa: E731
                pending = [
                    (s.user_id, 1)
                    for s in self._slots.values()
                    if s.job_id is None and here(s.guild_id)
                ] + [
                    (t.user_id, t.images)
                    for line in self._lines.values()
                    for t in line
                    if t.job_id is None and here(t.guild_id)
                ]
                pending_user = sum(n for u, n in pending if u == user_id)
                pending_guild = sum(n for _, n in pending)
                await check_quotas(
                    self._counts,
                    quotas,
                    user_id=user_id,
                    guild_id=guild_id,
                    pending_user=pending_user,
                    pending_guild=pending_guild,
                    images=images,
                )
            if budget is not None:
                # What the server's slots and its line will cost, before the spend (as the
                # rows above): a job over budget is refused now, never queued.
                await check_budget(
                    self._counts, budget, guild_id=guild_id, in_flight=self._committed(guild_id)
                )
            line = self._lines.setdefault(guild_id, [])
            ticket = LocalTicket(self, waiter, budget.estimate if budget is not None else 0.0)
            if len(line) >= queue_limit and not self._starts_now(line, waiter):
                user_busy = self._user_jobs.get(user_id, 0)
                raise queue_full(
                    member_held=not fits(busy=user_busy, images=images, limit=user_limit),
                    user_busy=user_busy,
                    guild_busy=self._guild_jobs.get(guild_id, 0) if guild_id is not None else 0,
                )
            line.append(ticket)
            self._advance(guild_id)
            return ticket

    def _committed(self, guild_id: int | None) -> float:
        """The estimates of the server's slots in flight and of the jobs in its line."""
        flying = sum(s.estimate for s in self._slots.values() if s.guild_id == guild_id)
        return flying + sum(t.estimate for t in self._lines.get(guild_id, ()))

    def _starts_now(self, line: Sequence[LocalTicket], waiter: Waiter) -> bool:
        user_busy = {t.user_id: self._user_jobs.get(t.user_id, 0) for t in line}
        user_busy.setdefault(waiter.user_id, self._user_jobs.get(waiter.user_id, 0))
        guild_busy = self._guild_jobs.get(waiter.guild_id, 0) if waiter.guild_id else 0
        order = [t.waiter for t in line] + [waiter]
        return len(line) in admissible(order, user_busy, guild_busy)

    def _advance(self, guild_id: int | None) -> None:
        """Start whoever may start in the server's line, and tell the rest their places."""
        line = self._lines.get(guild_id)
        if not line:
            self._lines.pop(guild_id, None)
            return
        user_busy = {t.user_id: self._user_jobs.get(t.user_id, 0) for t in line}
        guild_busy = self._guild_jobs.get(guild_id, 0) if guild_id is not None else 0
        starting = admissible([t.waiter for t in line], user_busy, guild_busy)
        for index in starting:
            ticket = line[index]
            ticket.slots = [self._add_slot(ticket.user_id, guild_id) for _ in range(ticket.images)]
            for slot in ticket.slots:
                slot.job_id = ticket.job_id
            # The first slot carries the whole job's estimate, as ``acquire``'s does.
            ticket.slots[0].estimate = ticket.estimate
            ticket.moved(0)
        started = {id(line[i]) for i in starting}
        line[:] = [t for t in line if id(t) not in started]
        for index, ticket in enumerate(line, 1):
            ticket.moved(index)
        if not line:
            self._lines.pop(guild_id, None)

    def _advance_all(self) -> None:
        # A member's count spans servers: a slot freed anywhere may start them elsewhere.
        for guild_id in list(self._lines):
            self._advance(guild_id)

    def _leave_line(self, ticket: LocalTicket) -> None:
        line = self._lines.get(ticket.guild_id)
        if line is not None and ticket in line:
            line.remove(ticket)
            self._advance(ticket.guild_id)

    def _add_slot(self, user_id: int, guild_id: int | None) -> Slot:
        slot = Slot(user_id=user_id, guild_id=guild_id, id=next(self._ids))
        self._slots[slot.id] = slot
        self._user_jobs[user_id] += 1
        if guild_id is not None:
            self._guild_jobs[guild_id] += 1
        return slot

    async def attach(self, slot: Slot, job_id: int) -> None:
        slot.job_id = job_id

    async def release(self, slot: Slot) -> None:
        if self._slots.pop(slot.id, None) is None:
            return
        for table, key in ((self._user_jobs, slot.user_id), (self._guild_jobs, slot.guild_id)):
            if key is None or key not in table:
                continue
            table[key] -= 1
            if table[key] <= 0:
                del table[key]
        self._advance_all()


class LocalTicket:
    """A job's admission in one process: its place in line, then its slots."""

    def __init__(self, admissions: LocalAdmissions, waiter: Waiter, estimate: float = 0.0) -> None:
        self._admissions = admissions
        self.waiter = waiter
        # What the job is estimated to cost (dollars): counted toward the budget while it
        # waits, then carried by its first slot.
        self.estimate = estimate
        self.user_id, self.guild_id, self.images = waiter.user_id, waiter.guild_id, waiter.images
        self.slots: list[Slot] = []
        self.job_id: int | None = None
        self._place = -1  # not yet placed
        self._moved = asyncio.Event()
        self._on_place: OnPlace | None = None
        self._left = False

    @property
    def place(self) -> int:
        return 0 if self.slots else max(self._place, 1)

    @property
    def owner(self) -> str:
        return ""

    def moved(self, place: int) -> None:
        if place != self._place:
            self._place = place
            if self._on_place is not None:
                self._on_place(place)
        self._moved.set()

    async def attach(self, job_id: int) -> None:
        self.job_id = job_id
        for slot in self.slots:
            slot.job_id = job_id

    async def started(self, on_place: OnPlace | None = None) -> None:
        if self.slots:
            return
        self._on_place = on_place
        if on_place is not None:
            on_place(self.place)
        try:
            while not self.slots:
                self._moved.clear()
                await self._moved.wait()
        except BaseException:
            if not self.slots:
                self._admissions._leave_line(self)
            raise
        finally:
            self._on_place = None

    async def leave(self) -> None:
        if self._left:
            return
        self._left = True
        if not self.slots:
            self._admissions._leave_line(self)
            return
        for slot in self.slots:
            await self._admissions.release(slot)


class _Chain:
    """One channel's places that still hold others, in submission order."""

    def __init__(self) -> None:
        self.places: list[_Place] = []
        self.writing = asyncio.Lock()  # one turn at a time: a replace never lands mid-append
        self._moved = asyncio.Event()

    def ahead(self, place: _Place) -> list[_Place]:
        return self.places[: self.places.index(place)] if place in self.places else []

    def latest_known(self, place: _Place) -> bool:
        return place.void or not self.ahead(place)

    def may_write(self, place: _Place) -> bool:
        # A new chain replaces what is ahead, so it waits only for those still to read it.
        if place.new_chain and not place.void:
            return not any(q.unread for q in self.ahead(place))
        return self.latest_known(place)

    def moved(self) -> None:
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await self._moved.wait()


class _Place(ClosingPlace):
    def __init__(self, chains: LocalChains, channel_id: int, *, reads: bool, new_chain: bool):
        self._chains, self._channel_id = chains, channel_id
        self._chain = chains.chain(channel_id)
        self._chain.places.append(self)
        self.new_chain = new_chain
        self.unread = reads
        self.void = False  # a later new chain was recorded: this turn is not
        super().__init__()

    async def waiting(self) -> bool:
        return not self._chain.latest_known(self)

    async def latest(self) -> None:
        await self._chain.until(lambda: self._chain.latest_known(self))

    def read(self) -> None:
        if self.unread:
            self.unread = False
            self._chain.moved()

    async def record(self, write: Callable[[], Awaitable[None]], *, wait: bool = False) -> None:
        if self._settled or self._recording:
            raise RuntimeError("a place records one turn, before it is closed")
        self._recording = True
        if wait:
            try:
                await self._chain.until(lambda: self._chain.may_write(self))
            except BaseException:
                self._settle()
                raise
        if self._chain.may_write(self):
            await self._write(write)
            return
        self._chains.later(self._write_later(write))

    async def _write_later(self, write: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._chain.until(lambda: self._chain.may_write(self))
            await self._write(write)
        except Exception:  # the job's result is out and stored; only its turn is lost
            log.exception("a turn of channel %s could not be recorded", self._channel_id)
        finally:
            self._settle()  # also when stopped: the places behind must not wait for ever

    async def _write(self, write: Callable[[], Awaitable[None]]) -> None:
        chain = self._chain
        try:
            async with chain.writing:
                if self.void:
                    return
                await write()
                if self.new_chain:
                    for replaced in chain.ahead(self):
                        replaced.void = True
                        chain.places.remove(replaced)
        finally:
            self._settle()

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled, self.unread = True, False
        chain = self._chain
        if self in chain.places:
            chain.places.remove(self)
        chain.moved()
        self._chains.drop_if_idle(self._channel_id, chain)


class LocalChains:
    """Chains in memory (the decision on their order is in ``bot.runtime.base.Chains``)."""

    def __init__(self) -> None:
        # Only channels with a place still holding others: not every channel ever used.
        self._chains: dict[int, _Chain] = {}
        self._later: set[asyncio.Task[None]] = set()

    async def take(
        self, channel_id: int, *, reads: bool = False, new_chain: bool = False
    ) -> _Place:
        return _Place(self, channel_id, reads=reads, new_chain=new_chain)

    def chain(self, channel_id: int) -> _Chain:
        chain = self._chains.get(channel_id)
        if chain is None:
            chain = self._chains[channel_id] = _Chain()
        return chain

    def drop_if_idle(self, channel_id: int, chain: _Chain) -> None:
        if not chain.places and self._chains.get(channel_id) is chain:
            del self._chains[channel_id]

    def later(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(write)
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def settled(self, *, at_most: float | None = None) -> None:
        if self._later:
            await asyncio.wait(set(self._later), timeout=at_most)

    def __len__(self) -> int:
        return len(self._chains)


class LocalStoreBarrier:
    def __init__(self) -> None:
        self._storing: dict[int, tuple[int, asyncio.Future[Any]]] = {}  # job -> channel, save

    async def storing(self, job_id: int, channel_id: int, saving: asyncio.Future[Any]) -> None:
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
        channel's history for the channel. One process posts and stores every result,
        so waiting here is enough. After ``at_most`` seconds it returns anyway.
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
        self._jobs: dict[asyncio.Task[Any], str | None] = {}  # -> the job's owner id

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Start a task kept referenced here (the loop only keeps weak ones)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @asynccontextmanager
    async def job(self, owner: str | None = None) -> AsyncIterator[None]:
        """Mark the current task as running a job, so shutdown can stop it first."""
        task = asyncio.current_task()
        if task is not None:
            self._jobs[task] = owner
        try:
            yield
        finally:
            self._jobs.pop(task, None)  # type: ignore[arg-type]

    def stop_jobs(self, owner: str) -> int:
        """Cancel the running jobs of ``owner``; how many were asked to stop."""
        tasks = [t for t, o in self._jobs.items() if o == owner and t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        return len(tasks)

    async def close(self) -> None:
        tasks = list(self._tasks) + [t for t in self._jobs if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_SECONDS)


class LocalCancel:
    """One watched job: cancelling it cancels its task once, until ``close``."""

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.by: int | None = None
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def fire(self, by: int) -> bool:
        if self.closed or self.by is not None or self.task is None:
            return False
        self.by = by
        self.task.cancel()
        return True


class LocalCancels:
    """Jobs watched in this process: a Cancel cancels the task doing the job."""

    def __init__(self) -> None:
        self._watched: dict[int, LocalCancel] = {}

    @asynccontextmanager
    async def watch(self, job_id: int) -> AsyncIterator[LocalCancel]:
        cancel = LocalCancel(asyncio.current_task())
        self._watched[job_id] = cancel
        try:
            yield cancel
        finally:
            cancel.close()
            if self._watched.get(job_id) is cancel:
                del self._watched[job_id]

    def fire(self, job_id: int, by: int) -> bool:
        cancel = self._watched.get(job_id)
        return cancel is not None and cancel.fire(by)

    def watching(self, job_id: int) -> bool:
        cancel = self._watched.get(job_id)
        return cancel is not None and not cancel.closed

    async def request(self, job_id: int, *, by: int) -> bool:
        return self.fire(job_id, by)


class LocalLeases:
    """One process holds every lease; ``exclusive`` only orders this process's callers."""

    def __init__(self) -> None:
        self._locks = KeyedLocks()

    async def holds(self, name: str, *, ttl: float) -> bool:
        return True

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._locks(name)


class LocalClaims:
    """One process sees each event once: every claim is the first."""

    async def first(self, kind: str, event_id: int) -> bool:
        return True


class LocalPresence:
    """Alone: the owner is INSTANCE_NAME, and its previous run's jobs are found at start-up."""

    def __init__(self, owner: str) -> None:
        self._owner = owner

    @property
    def owner(self) -> str:
        return self._owner

    def recover(self, report: ReportInterrupted, adopt: AdoptQueued | None = None) -> None:
        return None

    async def close(self) -> None:
        return None


class LocalIdentifyPacer:
    """One process: nothing to add to discord.py's own pacing.

    ``AutoShardedClient`` connects its shards one after another and sleeps 5 s before
    every IDENTIFY but the first (``Client.before_identify_hook``, kept by the bot), which
    keeps one process within any ``max_concurrency``. Only processes sharing one
    application need a pacer that sees the others' IDENTIFYs.
    """

    async def wait(self, shard_id: int, *, max_concurrency: int) -> None:
        return None
