"""What a process shares with its jobs, by concern, each behind a small protocol.

``bot.runtime.local`` implements them in process (what one bot process needs); a
deployment that runs several processes on one database replaces the ones that must be
shared (admission counts, chain order) with implementations backed by that database,
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


class ChainPlace(Protocol):
    """One job's place in its channel's chain of turns (see ``Chains``)."""

    def waiting(self) -> bool:
        """Whether ``latest`` would wait."""
        ...

    async def latest(self) -> None:
        """Return once no place ahead can still change which turn is the chain's latest."""
        ...

    def read(self) -> None:
        """The job has read the chain: a new chain begun after it may now replace it."""
        ...

    async def record(self, write: Callable[[], Awaitable[None]], *, wait: bool = False) -> None:
        """Run ``write`` (the job's turn) in the chain's order; skip it once it is replaced.

        When nothing ahead holds it, ``write`` runs now and its errors propagate; else
        this returns at once and ``write`` runs when the places ahead allow
        (``Chains.settled`` waits for it), unless ``wait``: then it returns after it. It
        is skipped when a new chain begun after this place was recorded first.
        """
        ...

    def close(self, after: asyncio.Future[Any] | None = None) -> None:
        """The job is done with its place (once ``after`` is done, when given); idempotent.

        A place that ``record`` was not called for stops holding the places behind it.
        """
        ...


class Chains(Protocol):
    """Each channel's chain of turns, recorded in the order the jobs were submitted.

    Every job takes a place when it is admitted; a turn appends to the chain, a new
    chain (``/imagine``, a reroll of one, ``/reset``) replaces it. Decision, the order:
    submission, not completion. A result goes where its command was sent (the deferred
    "thinking" message is edited in place), so the newest image in the channel is the
    last one asked for, and "latest" means that one whichever answer came first. So a
    job that edits the latest image waits (``latest``) for the places ahead of it until
    each is recorded, closed without a turn, or replaced by a recorded new chain behind
    it; every other job runs at once, its turn written behind those ahead. A job that
    replays the chain without waiting reads what is recorded when it starts. A new chain
    waits only for places ahead that have yet to read the chain it replaces.

    Implementations: ``LocalChains`` (one process); one shared by several processes
    keeps the places in the database, in the same order.
    """

    def take(self, channel_id: int, *, reads: bool = False, new_chain: bool = False) -> ChainPlace:
        """A place behind every place taken before in the channel; ``close`` it.

        ``reads``: the job reads the chain (``read`` once it has); ``new_chain``: its turn
        replaces the chain instead of appending to it.
        """
        ...

    async def settled(self, *, at_most: float | None = None) -> None:
        """Return once every turn handed to ``record`` so far is written or skipped."""
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


# Discord's gateway rule: one IDENTIFY per rate-limit bucket per this many seconds.
IDENTIFY_INTERVAL = 5.0


class IdentifyPacer(Protocol):
    """Who may IDENTIFY (start a gateway session) now, across every process of the bot.

    Discord allows one IDENTIFY per bucket ``shard_id % max_concurrency`` per
    ``IDENTIFY_INTERVAL`` seconds for the whole application, whichever process sends it;
    ``max_concurrency`` is ``session_start_limit.max_concurrency`` from ``GET /gateway/bot``.
    """

    async def wait(self, shard_id: int, *, max_concurrency: int) -> None:
        """Return when this process may IDENTIFY ``shard_id``; the caller then IDENTIFYs."""
        ...
