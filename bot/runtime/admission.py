"""The admission rules both implementations apply, with the sentences the member reads."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.costs import money
from bot.errors import LimitReached, QuotaReached
from bot.i18n import Message, _, n_
from bot.runtime.base import Budget, JobCounts, Quota, Spending


def member_busy(busy: int) -> LimitReached:
    """The member's jobs in flight are at their limit."""
    return LimitReached(
        n_(
            "You already have {n} image generating; wait for one to finish.",
            "You already have {n} images generating; wait for one to finish.",
            busy,
        )
    )


def server_busy(busy: int) -> LimitReached:
    """The server's jobs in flight are at its limit."""
    return LimitReached(
        n_(
            "This server already has {n} image generating; try again in a moment.",
            "This server already has {n} images generating; try again in a moment.",
            busy,
        )
    )


async def check_quotas(
    counts: JobCounts | None,
    quotas: Sequence[Quota],
    *,
    user_id: int,
    guild_id: int | None,
    pending_user: int,
    pending_guild: int,
    images: int = 1,
) -> None:
    """Refuse the first quota without room for ``images`` beside job rows and ``pending``
    slots (no row yet): ``QuotaReached``, with the room left.

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
        room = quota.limit - used - (pending_user if quota.per_user else pending_guild)
        if room < images:
            raise QuotaReached(quota.refusal, room=max(room, 0))


def check_limits(
    *, user_busy: int, guild_busy: int, guild_id: int | None, user_limit: int, guild_limit: int
) -> None:
    """Refuse at once when the member's or the server's jobs in flight are at the limit."""
    if user_busy >= user_limit:
        raise member_busy(user_busy)
    if guild_id is not None and guild_busy >= guild_limit:
        raise server_busy(guild_busy)


def fits(*, busy: int, images: int, limit: int) -> bool:
    """Whether ``images`` more fit beside ``busy`` under ``limit``.

    Decision, count:N: nothing in flight always fits, whatever N (the server's
    ``max_count`` bounds it); the N images then count against the jobs after it. A
    member on default limits (2) can so run count:4, alone, and wait for the rest.
    """
    return busy == 0 or busy + images <= limit


class Waiter:
    """One queued admission, as the order sees it."""

    __slots__ = ("guild_id", "images", "user_id", "user_limit", "guild_limit")

    def __init__(
        self, *, user_id: int, guild_id: int | None, images: int, user_limit: int, guild_limit: int
    ) -> None:
        self.user_id, self.guild_id, self.images = user_id, guild_id, images
        self.user_limit, self.guild_limit = user_limit, guild_limit


def admissible(waiters: Sequence[Waiter], user_busy: dict[int, int], guild_busy: int) -> list[int]:
    """Which of a server's waiters (in arrival order) start now: their indexes.

    Decision, the order: FIFO per server. A waiter held only by its member's own
    limit is passed over (one member at their limit must not hold the others behind
    them); a waiter held by the server's limit stops the line (the server's room goes
    in arrival order, so a small job cannot overtake a big one for ever). A member's own
    jobs keep their order: a later job of a member passed over is passed over too.
    ``user_busy`` is updated with the images admitted.
    """
    started: list[int] = []
    held: set[int] = set()
    for index, waiter in enumerate(waiters):
        if waiter.user_id in held or not fits(
            busy=user_busy.get(waiter.user_id, 0), images=waiter.images, limit=waiter.user_limit
        ):
            held.add(waiter.user_id)
            continue
        if waiter.guild_id is not None and not fits(
            busy=guild_busy, images=waiter.images, limit=waiter.guild_limit
        ):
            break
        started.append(index)
        user_busy[waiter.user_id] = user_busy.get(waiter.user_id, 0) + waiter.images
        guild_busy += waiter.images
    return started


def queue_full(*, member_held: bool, user_busy: int, guild_busy: int) -> LimitReached:
    """The refusal once a server's line is full: why the job cannot start now, as before."""
    return member_busy(user_busy) if member_held else server_busy(guild_busy)


def budget_refusal(budget: Budget, spent: float) -> Message:
    """What the member reads when the job's estimate does not fit what is left this month."""
    left = max(0.0, round(budget.limit - spent, 6))
    if left <= 0:
        # Translators: {budget} is an amount of money ($5.00), the server's monthly budget.
        return _(
            "This server has used its {budget} budget for this month. "
            "Try again next month, or ask an admin to raise it.",
            budget=money(budget.limit),
        )
    # Translators: {cost}, {left} and {budget} are amounts of money ($0.39).
    return _(
        "This would cost about {cost}, and this server has "
        "{left} left of its {budget} budget for this month. "
        "Try a smaller size or fewer images, or ask an admin to raise the budget.",
        cost=money(budget.estimate),
        left=money(left),
        budget=money(budget.limit),
    )


async def check_budget(
    spending: Spending | None, budget: Budget | None, *, guild_id: int | None, in_flight: float
) -> None:
    """Refuse when the recorded spend, the slots in flight and this job pass the budget.

    ``in_flight``: the estimates of the server's slots, read before the spend (see
    ``bot.runtime.base.Admissions``). Landing exactly on the budget is allowed.
    """
    if budget is None or guild_id is None:
        return
    if spending is None:
        raise RuntimeError("budgets need the recorded spend: give the admissions a store")
    spent = in_flight + await spending.spend(guild_id=guild_id, since=budget.since)
    if round(spent + budget.estimate, 6) > round(budget.limit, 6) or (
        budget.estimate == 0 and round(spent, 6) >= round(budget.limit, 6)
    ):
        raise LimitReached(budget_refusal(budget, spent))
