"""One job outside Discord (``generate``, ``check --generate``): the bot's job runner in memory.

The store is SQLite in memory (``sqlite:///:memory:``), not a file: a one-shot command
has no history to continue and no quota to count, so a file would only be left behind in
the working directory; the job's rows still go through the real driver.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config import BotSettings, ImageSettings
from bot.jobs import JobOutcome, JobSpec
from bot.types import ImageRequest

# The job layer's store, in memory: quotas and history mean nothing for one command.
MEMORY_DATABASE = "sqlite:///:memory:"


async def run_one(
    image: ImageSettings,
    spec: JobSpec,
    on_request: Callable[[ImageRequest], None] | None = None,
) -> JobOutcome:
    """Run ``spec`` on the operator's gateway through the same ``JobRunner`` as the bot."""
    from bot.gateway.warmup import warm_up_worker
    from bot.jobs import JobRunner
    from bot.services import open_services
    from bot.storage.base import GuildSettings
    from bot.workers import CpuPool

    # No Discord token, no SECRET_KEY (no server keys to read), and a database in memory.
    settings = BotSettings(token="", secret_key="", database_url=MEMORY_DATABASE, image=image)
    outcome: JobOutcome | None = None

    async def keep(done: JobOutcome) -> None:
        nonlocal outcome
        outcome = done

    # One user, one job: a thread is enough and starts faster than worker processes.
    async with (
        CpuPool(inline=True, warm_up=warm_up_worker) as cpu,
        open_services(settings, cpu=cpu) as services,
    ):
        runner = JobRunner(services)
        async with runner.admit(spec, GuildSettings(guild_id=0)) as job:
            await job.run(keep, on_request=on_request)
    assert outcome is not None
    return outcome
