"""Per-process state, split by concern (``base``), with in-process implementations (``local``).

``Services`` holds one ``Runtime``; jobs, the Discord layer and the CLI reach every
piece of shared state through it and nowhere else (no module globals), so sharing a
concern between processes is a second implementation of one protocol: the PostgreSQL
one is ``bot.runtime.postgres.postgres_runtime``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.limits import DEFAULT_OWNER
from bot.runtime.base import (
    IDENTIFY_INTERVAL,
    Admissions,
    AdoptQueued,
    Budget,
    Cancels,
    CancelWatch,
    ChainPlace,
    Chains,
    Claims,
    IdentifyPacer,
    JobCounts,
    Leases,
    Ledger,
    ModelCache,
    Presence,
    Quota,
    ReportInterrupted,
    Slot,
    StoreBarrier,
    Tasks,
    Ticket,
)
from bot.runtime.local import (
    CLOSE_WAIT_SECONDS,
    MODEL_CACHE_TTL,
    LocalAdmissions,
    LocalCancels,
    LocalChains,
    LocalClaims,
    LocalIdentifyPacer,
    LocalLeases,
    LocalModelCache,
    LocalPresence,
    LocalStoreBarrier,
    LocalTasks,
)

__all__ = [
    "COMMAND_SYNC",
    "IDENTIFY_INTERVAL",
    "MAINTENANCE_LEASE",
    "Admissions",
    "Budget",
    "CancelWatch",
    "Cancels",
    "ChainPlace",
    "Chains",
    "Claims",
    "IdentifyPacer",
    "JobCounts",
    "Leases",
    "Ledger",
    "ModelCache",
    "Presence",
    "Quota",
    "ReportInterrupted",
    "AdoptQueued",
    "Runtime",
    "Slot",
    "StoreBarrier",
    "Tasks",
    "Ticket",
    "local_runtime",
]

# Leases and exclusive sections the bot takes by name.
MAINTENANCE_LEASE = "maintenance"
COMMAND_SYNC = "commands.sync"


@dataclass(frozen=True)
class Runtime:
    admissions: Admissions
    chains: Chains
    barrier: StoreBarrier
    models: ModelCache
    tasks: Tasks
    identify: IdentifyPacer
    leases: Leases
    claims: Claims
    presence: Presence
    cancels: Cancels = field(default_factory=LocalCancels)

    @property
    def owner(self) -> str:
        """The owner id of this process's jobs."""
        return self.presence.owner

    async def close(self) -> None:
        """Stop background tasks and jobs before the resources they use are closed.

        A job stopped here keeps its "running" row: one process reports it as
        interrupted at its next start, several hand it to a survivor as this process
        leaves. Results already posted are still being stored (shielded from the
        cancel), and turns waiting for a stopped job are then recorded; the database
        closes after this returns.
        """
        await self.tasks.close()
        await self.barrier.stored(at_most=CLOSE_WAIT_SECONDS)
        await self.chains.settled(at_most=CLOSE_WAIT_SECONDS)
        await self.presence.close()


def local_runtime(
    *,
    counts: Ledger | None = None,
    owner: str = DEFAULT_OWNER,
    model_cache_ttl: float = MODEL_CACHE_TTL,
) -> Runtime:
    """Everything in this process: quotas count ``counts``' job rows; jobs are ``owner``'s."""
    return Runtime(
        admissions=LocalAdmissions(counts),
        chains=LocalChains(),
        barrier=LocalStoreBarrier(),
        models=LocalModelCache(ttl=model_cache_ttl),
        tasks=LocalTasks(),
        identify=LocalIdentifyPacer(),
        leases=LocalLeases(),
        claims=LocalClaims(),
        presence=LocalPresence(owner),
    )
