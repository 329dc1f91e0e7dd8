"""The admission rules both implementations apply, with the sentences the member reads."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.errors import LimitReached
from bot.runtime.base import JobCounts, Quota


def _images(n: int) -> str:
    return "1 image" if n == 1 else f"{n} images"


async def check_quotas(
    counts: JobCounts | None,
    quotas: Sequence[Quota],
    *,
    user_id: int,
    guild_id: int | None,
    pending_user: int,
    pending_guild: int,
) -> None:
    """Refuse the first quota used up by job rows plus ``pending`` slots (no row yet).

    The pending slots must be counted before the rows: a job whose row appears between
    the two counts is then counted twice (an early refusal), never missed.
    """
    if not quotas:
        return
    if counts is None:
        raise RuntimeError("quotas need the job counts: give the admissions a store")
    now = time.time()
    for quota in quotas:
        used = await counts.count_jobs(
            guild_id=guild_id,
            user_id=user_id if quota.per_user else None,
            since=now - quota.window,
        )
        if used + (pending_user if quota.per_user else pending_guild) >= quota.limit:
            raise LimitReached(quota.refusal)


def check_limits(
    *, user_busy: int, guild_busy: int, guild_id: int | None, user_limit: int, guild_limit: int
) -> None:
    """Refuse at once when the member's or the server's jobs in flight are at the limit."""
    if user_busy >= user_limit:
        raise LimitReached(
            f"You already have {_images(user_busy)} generating; wait for one to finish."
        )
    if guild_id is not None and guild_busy >= guild_limit:
        raise LimitReached(
            f"This server already has {_images(guild_busy)} generating; try again in a moment."
        )
