"""What a process shares with its jobs, by concern, each behind a small protocol.

``bot.runtime.local`` implements them in process (what one bot process needs); a
deployment that runs several processes on one database replaces the ones that must be
shared (admission counts, chain locks) with implementations backed by that database,
and keeps the rest. Nothing here may import discord.

Decision, the in-flight limit: a member's count is kept per member across every
server this process serves, and checked against the limit of the server the new job
is in. The busy answer says "You already have N images generating", which is only true
of the member's jobs everywhere; and the limit protects the operator's gateway and this
process from one person, who is the same person in every server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol


class Admissions(Protocol):
    """Jobs in flight per member and per server; refuses at once, never queues."""

    def in_flight(self, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        """The member's (or the server's, or everybody's) jobs in flight."""
        ...

    def acquire(
        self, *, user_id: int, guild_id: int | None, user_limit: int, guild_limit: int
    ) -> None:
        """Take a slot, or raise ``LimitReached`` with the sentence the member reads."""
        ...

    def release(self, *, user_id: int, guild_id: int | None) -> None:
        """Give back a slot ``acquire`` took."""
        ...


class ChainLock(Protocol):
    """One channel's chain: its turns run one at a time, in order."""

    def locked(self) -> bool: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


class ChainLocks(Protocol):
    def lock(self, channel_id: int) -> ChainLock:
        """The channel's lock; keep the returned reference for as long as it is used."""
        ...


class StoreBarrier(Protocol):
    """Results are posted while they are stored: who reads them next waits here."""

    def storing(self, job_id: int, channel_id: int, saving: asyncio.Future[Any]) -> None:
        """Note that ``saving`` stores the job's result."""
        ...

    async def stored(
        self,
        *,
        job_id: int | None = None,
        channel_id: int | None = None,
        at_most: float | None = None,
    ) -> None:
        """Return once the job's (the channel's, every) result is stored or failed to be."""
        ...


class ModelCache(Protocol):
    async def models(self, key: str, load: Callable[[], Awaitable[list[str]]]) -> list[str]:
        """The cached model list under ``key``, else ``load()``'s answer, kept a while."""
        ...


class Tasks(Protocol):
    """Background tasks and running jobs, stopped first when the process closes."""

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]: ...

    def job(self) -> AbstractAsyncContextManager[None]:
        """Mark the current task as running a job."""
        ...

    async def close(self) -> None:
        """Cancel every background task and job, and wait a little for them."""
        ...
