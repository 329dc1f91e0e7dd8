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
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.i18n import Message

if TYPE_CHECKING:
    from bot.storage.base import JobRecord


@dataclass(frozen=True)
class Quota:
    """An hourly or daily cap: at most ``limit`` counted jobs in the last ``window`` seconds.

    ``per_user``: the member's jobs in the server, else the server's; ``refusal`` is the
    whole sentence the member reads when it is used up.
    """

    limit: int
    window: float
    per_user: bool
    refusal: Message


@dataclass(frozen=True)
class Budget:
    """A server's monthly budget: the job's ``estimate`` may not take the month past ``limit``.

    Dollars. ``since``: the first second of the month (``bot.costs.month_start``). The
    month's spend is the store's (``Spending``) plus the estimates of the server's slots
    in flight, whose cost is not recorded yet.
    """

    limit: float
    since: float
    estimate: float


@dataclass
class Slot:
    """A job slot ``Admissions.acquire`` took; ``attach`` the job once its row exists."""

    user_id: int
    guild_id: int | None
    id: int = 0  # the implementation's handle (a row id where slots are shared)
    job_id: int | None = None
    # The owner id the slot was taken under: the job's owner ("" for ``Runtime.owner``).
    owner: str = ""
    # What its job is estimated to cost (dollars), counted toward budgets while in flight.
    estimate: float = 0.0


class JobCounts(Protocol):
    """Where quotas count job rows (a ``Store`` is one)."""

    async def count_jobs(
        self, *, guild_id: int | None, user_id: int | None, since: float
    ) -> int: ...


class Spending(Protocol):
    """Where budgets read the month's recorded cost (a ``Store`` is one)."""

    async def spend(self, *, guild_id: int, since: float) -> float: ...


class Ledger(JobCounts, Spending, Protocol):
    """What admissions read from the store: job rows for quotas, usage for budgets."""


class Admissions(Protocol):
    """Jobs in flight per member and per server, and quotas; ``acquire`` refuses at once,
    ``enter`` queues (see ``Ticket``).

    Decision, quotas: a quota counts the counted job rows created in its window plus the
    slots admitted that have no job row yet, under the same exclusion as the in-flight
    count, so N requests admitted together cannot all pass the last free image. A job
    row that commits just before its slot learns its id is counted twice for that
    moment: an early refusal, never an overshoot.

    Decision, budgets: the same exclusion covers a server's monthly budget. Its spend is
    the cost recorded in usage plus the estimates of every slot of the server in flight
    and of every job waiting in its line (a job records its cost before its slots go, so
    a finished job counted in both is an early refusal, never an overshoot); the slots
    are read before the usage for the same reason as the rows.
    """

    def in_flight(self, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        """The member's (or the server's, or everybody's) jobs in flight in this process."""
        ...

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
        """Take a slot, or raise ``LimitReached`` with the sentence the member reads.

        Quotas are checked first, in order, then the server's ``budget`` (the slot then
        carries its ``estimate``), then the member's limit, then the server's.
        """
        ...

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
    ) -> Ticket:
        """Start now or take a place in the server's line; refuse with ``LimitReached``.

        Quotas and the server's ``budget`` refuse at once, under the same exclusion (a
        job over either never waits; a waiting job counts toward them like a slot: its
        images toward quotas, its ``budget.estimate`` toward the budget, which its first
        slot carries once it starts). A job that cannot start waits behind the server's line
        (``bot.runtime.admission.admissible`` has the order), unless ``queue_limit``
        jobs already wait there: then the refusal ``acquire`` gives. ``images`` slots
        are taken together (``fits``: a member or server with nothing in flight takes
        any count).
        """
        ...

    async def attach(self, slot: Slot, job_id: int) -> None:
        """The slot's job row exists now: quotas count the row, no longer the slot."""
        ...

    async def release(self, slot: Slot) -> None:
        """Give back a slot ``acquire`` took; idempotent."""
        ...


# A job's place in its server's line: 1 for the first; 0 once it started.
OnPlace = Callable[[int], None]


class Ticket(Protocol):
    """One job's admission from ``Admissions.enter``: started (its slots held) or in line.

    ``attach`` the job row once it exists, ``started`` waits for the slots, ``leave``
    gives back whatever it holds (its place in line, or its slots); leave it once.
    """

    @property
    def place(self) -> int:
        """The place in line (1: next), or 0 once started."""
        ...

    @property
    def owner(self) -> str:
        """The owner id its slots were taken under ("" for ``Runtime.owner``)."""
        ...

    async def attach(self, job_id: int) -> None: ...

    async def started(self, on_place: OnPlace | None = None) -> None:
        """Return once the job's slots are held; ``on_place(n)`` whenever its place changes.

        Cancelled, it leaves the line (the places behind it move up).
        """
        ...

    async def leave(self) -> None: ...


class ChainPlace(Protocol):
    """One job's place in its channel's chain of turns (see ``Chains``)."""

    async def waiting(self) -> bool:
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

    Implementations: ``LocalChains`` (one process); ``PostgresChains`` keeps the places
    in the database, in the same order, for every process on it.
    """

    async def take(
        self, channel_id: int, *, reads: bool = False, new_chain: bool = False
    ) -> ChainPlace:
        """A place behind every place taken before in the channel; ``close`` it.

        Places taken in one process are in the order ``take`` was called.

        ``reads``: the job reads the chain (``read`` once it has); ``new_chain``: its turn
        replaces the chain instead of appending to it.
        """
        ...

    async def settled(self, *, at_most: float | None = None) -> None:
        """Return once every turn handed to ``record`` so far is written or skipped."""
        ...


class StoreBarrier(Protocol):
    """Results are posted while they are stored: who reads them next waits here."""

    async def storing(self, job_id: int, channel_id: int, saving: asyncio.Future[Any]) -> None:
        """Note that ``saving`` stores the job's result; awaited before the result is posted."""
        ...

    async def stored(
        self,
        *,
        job_id: int | None = None,
        channel_id: int | None = None,
        at_most: float | None = None,
    ) -> None:
        """Return once the job's (the channel's, every) result is stored or failed to be.

        Whichever process stores it: a button press reaches the process whose shard owns
        the server, which need not be the one that posted the result.
        """
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

    def job(self, owner: str | None = None) -> AbstractAsyncContextManager[None]:
        """Mark the current task as running a job (of ``owner``, the job row's owner id)."""
        ...

    def stop_jobs(self, owner: str) -> int:
        """Cancel the running jobs of ``owner`` (a process whose jobs were taken over)."""
        ...

    async def close(self) -> None:
        """Cancel every background task and job, and wait a little for them."""
        ...


class CancelWatch(Protocol):
    """A job's task under watch: ``by`` is who cancelled it, once someone did."""

    by: int | None

    def close(self) -> None:
        """Too late to cancel from now on (the result is being delivered)."""
        ...


class Cancels(Protocol):
    """The **Cancel** button: a press reaches whichever process runs the job.

    ``watch`` the task running a job; ``request`` cancels that task (here, or in the
    process that runs it, which is told through the database).
    """

    def watch(self, job_id: int) -> AbstractAsyncContextManager[CancelWatch]: ...

    async def request(self, job_id: int, *, by: int) -> bool:
        """Ask for the job's task to be cancelled; False when no process can (it is over)."""
        ...


class Leases(Protocol):
    """Work only one process of a deployment may do (expiry, command sync)."""

    async def holds(self, name: str, *, ttl: float) -> bool:
        """Whether this process holds (now took, or renewed) the lease for ``ttl`` seconds."""
        ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        """One process at a time inside; the others wait at the door (it may take minutes)."""
        ...


class Claims(Protocol):
    """Events that may reach two processes (a shard's hand-over, a replay): act once."""

    async def first(self, kind: str, event_id: int) -> bool:
        """True for the first claim of ``(kind, event_id)`` in the deployment, else False."""
        ...


ReportInterrupted = Callable[[Sequence["JobRecord"]], Awaitable[None]]
# Queued jobs of a dead or departed process, already this process's rows (oldest first):
# the front end runs them as a restart would (bot.discord_bot.resume).
AdoptQueued = Callable[[Sequence["JobRecord"]], Awaitable[None]]


class Presence(Protocol):
    """This process among the others: its owner id, heartbeat, and the jobs of the dead."""

    @property
    def owner(self) -> str:
        """The owner id written into this process's jobs (``JobRecord.owner``)."""
        ...

    def recover(self, report: ReportInterrupted, adopt: AdoptQueued | None = None) -> None:
        """Hand each job a dead process left running, once marked interrupted, to ``report``.

        With ``adopt``, the dead process's queued jobs become this process's (each to
        exactly one survivor) and go to ``adopt`` to run on; without it they are
        interrupted and reported too. The front end that can tell the member calls this
        (the CLI does not). One process: nothing to do, its own previous run's jobs are
        found at start-up.
        """
        ...

    async def close(self) -> None:
        """Leave: the others take over this process's unfinished jobs at once."""
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
