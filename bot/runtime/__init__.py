"""Per-process state, split by concern (``base``), with in-process implementations (``local``).

``Services`` holds one ``Runtime``; jobs, the Discord layer and the CLI reach every
piece of shared state through it and nowhere else (no module globals), so sharing a
concern between processes is a second implementation of one protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.runtime.base import (
    IDENTIFY_INTERVAL,
    Admissions,
    ChainPlace,
    Chains,
    IdentifyPacer,
    ModelCache,
    StoreBarrier,
    Tasks,
)
from bot.runtime.local import (
    CLOSE_WAIT_SECONDS,
    MODEL_CACHE_TTL,
    LocalAdmissions,
    LocalChains,
    LocalIdentifyPacer,
    LocalModelCache,
    LocalStoreBarrier,
    LocalTasks,
)

__all__ = [
    "IDENTIFY_INTERVAL",
    "Admissions",
    "ChainPlace",
    "Chains",
    "IdentifyPacer",
    "ModelCache",
    "Runtime",
    "StoreBarrier",
    "Tasks",
    "local_runtime",
]


@dataclass(frozen=True)
class Runtime:
    admissions: Admissions
    chains: Chains
    barrier: StoreBarrier
    models: ModelCache
    tasks: Tasks
    identify: IdentifyPacer

    async def close(self) -> None:
        """Stop background tasks and jobs before the resources they use are closed.

        A job stopped here keeps its "running" row, so the next start reports it as
        interrupted. Results already posted are still being stored (shielded from the
        cancel), and turns waiting for a stopped job are then recorded; the database
        closes after this returns.
        """
        await self.tasks.close()
        await self.barrier.stored(at_most=CLOSE_WAIT_SECONDS)
        await self.chains.settled(at_most=CLOSE_WAIT_SECONDS)


def local_runtime(*, model_cache_ttl: float = MODEL_CACHE_TTL) -> Runtime:
    """Today's runtime: everything in this process."""
    return Runtime(
        admissions=LocalAdmissions(),
        chains=LocalChains(),
        barrier=LocalStoreBarrier(),
        models=LocalModelCache(ttl=model_cache_ttl),
        tasks=LocalTasks(),
        identify=LocalIdentifyPacer(),
    )
