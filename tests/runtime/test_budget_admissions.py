"""Budgets: a server's monthly budget holds under concurrency, in one process and many."""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.errors import LimitReached
from bot.i18n import render
from bot.runtime.admission import budget_refusal
from bot.runtime.base import Admissions, Budget
from bot.runtime.local import LocalAdmissions
from bot.storage.base import Store
from tests.runtime.conftest import OpenProcess

GUILD = 10
# Four jobs land exactly on the budget; a fifth would pass it.
BUDGET = Budget(limit=1.00, since=0.0, estimate=0.25)


async def _job(admissions: Admissions, store: Store, user_id: int) -> bool:
    """One admitted job that records its cost before its slot goes, as the runner does."""
    try:
        slot = await admissions.acquire(
            user_id=user_id, guild_id=GUILD, user_limit=10, guild_limit=50, budget=BUDGET
        )
    except LimitReached as exc:
        assert str(exc).startswith(("This would cost about $0.25", "This server has used"))
        return False
    try:
        assert slot.estimate == BUDGET.estimate
        await asyncio.sleep(random.uniform(0, 0.01))  # the gateway
        await store.record_usage(
            guild_id=GUILD, user_id=user_id, images=1, tokens=0, cost=BUDGET.estimate
        )
    finally:
        await admissions.release(slot)
    return True


async def _budget_holds(admissions: list[Admissions], store: Store) -> None:
    attempts = [_job(admissions[n % len(admissions)], store, user_id=n % 4) for n in range(30)]
    admitted = sum(await asyncio.gather(*attempts))
    assert admitted <= 4
    # A finished job counted both as spent and in flight refuses early; then the budget
    # fills to exactly its limit and no further.
    while await _job(admissions[0], store, user_id=99):
        admitted += 1
    assert admitted == 4
    assert await store.spend(guild_id=GUILD, since=0) == 1.00


async def test_concurrent_admissions_never_pass_a_budget_together(sqlite_store: Store) -> None:
    local = LocalAdmissions(sqlite_store)
    await _budget_holds([local], sqlite_store)
    assert local.in_flight() == 0


async def test_budgets_hold_across_processes(processes: OpenProcess, store: Store) -> None:
    runtimes = [await processes(f"p{i}") for i in range(3)]
    await _budget_holds([r.admissions for r in runtimes], store)


async def test_a_slot_in_flight_counts_toward_the_budget_in_every_process(
    processes: OpenProcess, store: Store
) -> None:
    one, two = await processes("one"), await processes("two")
    await store.record_usage(guild_id=GUILD, user_id=1, images=3, tokens=0, cost=0.70)
    kwargs = {"user_id": 1, "guild_id": GUILD, "user_limit": 9, "guild_limit": 9}
    slot = await one.admissions.acquire(**kwargs, budget=Budget(1.00, 0.0, 0.20))
    try:
        # 0.70 spent + 0.20 in flight in another process: a 0.24 job would pass $1.00.
        wanted = Budget(1.00, 0.0, 0.24)
        try:
            await two.admissions.acquire(**kwargs, budget=wanted)
        except LimitReached as exc:
            assert str(exc) == render(budget_refusal(wanted, 0.90))
            assert str(exc) == (
                "This would cost about $0.24, and this server has $0.10 left of its $1.00 "
                "budget for this month. Try a smaller size or fewer images, or ask an admin "
                "to raise the budget."
            )
        else:
            raise AssertionError("the job passing the budget was admitted")
        # Another server's budget is its own.
        other = await two.admissions.acquire(**{**kwargs, "guild_id": GUILD + 1}, budget=wanted)
        await two.admissions.release(other)
    finally:
        await one.admissions.release(slot)
    fits = await two.admissions.acquire(**kwargs, budget=wanted)  # 0.70 + 0.24 once it went
    await two.admissions.release(fits)


# -- the queue's admission path (``Admissions.enter``) --------------------------------
async def _entered_job(admissions: Admissions, store: Store, user_id: int) -> bool:
    """``_job`` through ``enter``: a job over budget is refused there, never queued."""
    try:
        ticket = await admissions.enter(
            user_id=user_id,
            guild_id=GUILD,
            user_limit=10,
            guild_limit=50,
            queue_limit=10,
            budget=BUDGET,
        )
    except LimitReached as exc:
        assert str(exc).startswith(("This would cost about $0.25", "This server has used"))
        return False
    try:
        await ticket.started()
        await asyncio.sleep(random.uniform(0, 0.01))  # the gateway
        await store.record_usage(
            guild_id=GUILD, user_id=user_id, images=1, tokens=0, cost=BUDGET.estimate
        )
    finally:
        await ticket.leave()
    return True


async def test_concurrent_entries_never_pass_a_budget_together(sqlite_store: Store) -> None:
    local = LocalAdmissions(sqlite_store)
    attempts = [_entered_job(local, sqlite_store, user_id=n % 4) for n in range(30)]
    assert sum(await asyncio.gather(*attempts)) <= 4
    while await _entered_job(local, sqlite_store, user_id=99):
        pass
    assert await sqlite_store.spend(guild_id=GUILD, since=0) == 1.00
    assert local.in_flight() == 0


async def test_entries_hold_a_budget_across_processes(processes: OpenProcess, store: Store) -> None:
    runtimes = [await processes(f"p{i}") for i in range(3)]
    attempts = [_entered_job(runtimes[n % 3].admissions, store, user_id=n % 4) for n in range(30)]
    assert sum(await asyncio.gather(*attempts)) <= 4
    while await _entered_job(runtimes[0].admissions, store, user_id=99):
        pass
    assert await store.spend(guild_id=GUILD, since=0) == 1.00


async def test_a_job_waiting_in_line_counts_toward_the_budget(sqlite_store: Store) -> None:
    local = LocalAdmissions(sqlite_store)
    kwargs = {"guild_id": GUILD, "user_limit": 9, "guild_limit": 1, "queue_limit": 5}
    running = await local.enter(user_id=1, **kwargs, budget=Budget(1.00, 0.0, 0.40))
    waiting = await local.enter(user_id=2, **kwargs, budget=Budget(1.00, 0.0, 0.40))
    assert (running.place, waiting.place) == (0, 1)
    # 0.40 running + 0.40 waiting: a 0.30 job is refused at once, not put in line.
    wanted = Budget(1.00, 0.0, 0.30)
    try:
        await local.enter(user_id=3, **kwargs, budget=wanted)
    except LimitReached as exc:
        assert str(exc) == (
            "This would cost about $0.30, and this server has $0.20 left of its $1.00 "
            "budget for this month. Try a smaller size or fewer images, or ask an admin "
            "to raise the budget."
        )
    else:
        raise AssertionError("the job passing the budget was queued")
    # The refused job took no place: the next one in fits behind the waiting one.
    third = await local.enter(user_id=4, **kwargs, budget=Budget(1.00, 0.0, 0.20))
    assert third.place == 2
    await running.leave()
    await waiting.started()
    assert third.place == 1
    # Started, the waiting job's estimate is carried by its slot (and counted once): 0.40
    # in flight + 0.20 in line leave $0.40.
    over = Budget(1.00, 0.0, 0.41)
    with pytest.raises(LimitReached) as refused:
        await local.enter(user_id=5, **kwargs, budget=over)
    assert str(refused.value) == render(budget_refusal(over, 0.60))
    assert "$0.40 left" in str(refused.value)
    for ticket in (waiting, third):
        await ticket.leave()
    # Nothing in flight or in line: the whole budget is there again.
    whole = await local.enter(user_id=5, **kwargs, budget=Budget(1.00, 0.0, 1.00))
    assert whole.place == 0
    await whole.leave()
    assert local.in_flight() == 0
