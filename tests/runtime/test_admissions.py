"""Admissions: in-flight limits and quotas hold under concurrency, in one process and many."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from bot.errors import LimitReached
from bot.i18n import render
from bot.runtime.base import Admissions, Quota
from bot.runtime.local import LocalAdmissions
from bot.runtime.postgres import NOT_SERVING
from bot.storage.base import Store
from tests.runtime.conftest import OpenProcess

GUILD = 10
HOURLY = Quota(
    limit=5,
    window=3600,
    per_user=False,
    refusal="This server has used its 5 images for this hour. Try again later.",
)


async def _job(admissions: Admissions, store: Store, owner: str, user_id: int) -> bool:
    """One admitted job that writes its row, as the runner does; False if refused."""
    try:
        slot = await admissions.acquire(
            user_id=user_id, guild_id=GUILD, user_limit=10, guild_limit=50, quotas=[HOURLY]
        )
    except LimitReached as exc:
        assert str(exc) == HOURLY.refusal
        return False
    try:
        await asyncio.sleep(random.uniform(0, 0.01))  # inputs, before the row
        job = await store.create_job(
            kind="imagine",
            guild_id=GUILD,
            channel_id=1,
            user_id=user_id,
            prompt="p",
            params={},
            owner=owner,
        )
        await admissions.attach(slot, job.id)
        await asyncio.sleep(random.uniform(0, 0.01))  # the gateway
    finally:
        await admissions.release(slot)
    return True


async def _quota_holds(admissions: list[Admissions], owners: list[str], store: Store) -> None:
    attempts = [
        _job(admissions[n % len(admissions)], store, owners[n % len(owners)], user_id=n % 4)
        for n in range(30)
    ]
    admitted = sum(await asyncio.gather(*attempts))
    assert admitted <= HOURLY.limit
    # Whatever the burst left (a pending slot counted twice refuses early), the quota
    # then fills to exactly its limit and no further.
    while await _job(admissions[0], store, owners[0], user_id=99):
        admitted += 1
    assert admitted == HOURLY.limit
    assert await store.count_jobs(guild_id=GUILD, user_id=None, since=0) == HOURLY.limit


async def test_concurrent_admissions_never_pass_a_quota_together(sqlite_store: Store) -> None:
    local = LocalAdmissions(sqlite_store)
    await _quota_holds([local], ["default"], sqlite_store)
    assert local.in_flight() == 0


async def test_quotas_hold_across_processes(processes: OpenProcess, store: Store) -> None:
    runtimes = [await processes(f"p{i}") for i in range(3)]
    await _quota_holds([r.admissions for r in runtimes], [r.owner for r in runtimes], store)


async def test_in_flight_limits_hold_across_processes(processes: OpenProcess, pg: Any) -> None:
    runtimes = [await processes(f"p{i}") for i in range(3)]
    held: Counter[int] = Counter()
    peaks = {"user": 0, "guild": 0}
    refusals: set[str] = set()

    async def member(n: int) -> None:
        admissions = runtimes[n % 3].admissions
        user_id = n % 4  # four members in one server: the server's limit binds first
        for _ in range(8):
            try:
                slot = await admissions.acquire(
                    user_id=user_id, guild_id=GUILD, user_limit=2, guild_limit=5
                )
            except LimitReached as exc:
                refusals.add(str(exc).split(" generating")[0])
                await asyncio.sleep(random.uniform(0, 0.01))
                continue
            held[user_id] += 1
            peaks["user"] = max(peaks["user"], held[user_id])
            peaks["guild"] = max(peaks["guild"], sum(held.values()))
            await asyncio.sleep(random.uniform(0.005, 0.02))
            held[user_id] -= 1
            await admissions.release(slot)

    await asyncio.wait_for(asyncio.gather(*(member(n) for n in range(24))), 120)

    assert peaks["guild"] <= 5 and peaks["user"] <= 2
    assert refusals <= {"You already have 2 images", "This server already has 5 images"}
    assert await pg.fetchval("SELECT count(*) FROM runtime_slots") == 0


async def test_a_slot_counts_in_every_process_and_the_refusal_is_the_same(
    processes: OpenProcess,
) -> None:
    one, two = await processes("one"), await processes("two")
    kwargs: dict[str, Any] = {"user_id": 1, "guild_id": GUILD, "user_limit": 1, "guild_limit": 9}
    slot = await one.admissions.acquire(**kwargs)
    with pytest.raises(LimitReached) as refused:
        await two.admissions.acquire(**kwargs)
    assert str(refused.value) == "You already have 1 image generating; wait for one to finish."
    assert one.admissions.in_flight(user_id=1) == 1 and two.admissions.in_flight() == 0
    await one.admissions.release(slot)
    await one.admissions.release(slot)  # idempotent
    await two.admissions.release(await two.admissions.acquire(**kwargs))


async def test_a_process_that_cannot_heartbeat_stops_admitting_and_its_slots_stop_counting(
    processes: OpenProcess,
) -> None:
    stuck = await processes("stuck", heartbeat=3600)  # its heartbeat never lands again
    alive = await processes("alive")
    kwargs: dict[str, Any] = {"user_id": 1, "guild_id": GUILD, "user_limit": 1, "guild_limit": 9}
    await stuck.admissions.acquire(**kwargs)

    async def until_refused() -> str:
        while True:
            try:
                await stuck.admissions.release(await stuck.admissions.acquire(**kwargs))
            except LimitReached as exc:
                if str(exc) == render(NOT_SERVING):
                    return str(exc)
            await asyncio.sleep(0.05)

    assert await asyncio.wait_for(until_refused(), 30) == render(NOT_SERVING)
    # The stuck process's slot is not the member's any more: the lease ran out.
    await alive.admissions.release(await alive.admissions.acquire(**kwargs))


async def test_two_hundred_admissions_at_once_on_one_pool_neither_deadlock_nor_overshoot(
    processes: OpenProcess, store: Store
) -> None:
    # Each admission holds a pooled connection for its locks and takes a second for the
    # quota's job counts: 200 at once on a pool of POOL_MAX_SIZE (10) must all finish.
    from bot.storage.postgres.store import POOL_MAX_SIZE

    one = await processes("one")
    assert one.admissions._pool.get_max_size() == POOL_MAX_SIZE  # type: ignore[attr-defined]
    quota = Quota(limit=150, window=3600, per_user=False, refusal="This server is done.")

    async def admit(user_id: int) -> str:
        try:
            slot = await one.admissions.acquire(
                user_id=user_id, guild_id=GUILD, user_limit=1, guild_limit=120, quotas=[quota]
            )
        except LimitReached as exc:
            return str(exc)
        return f"slot {slot.id}"

    answers = await asyncio.wait_for(asyncio.gather(*(admit(u) for u in range(200))), 120)
    kinds = Counter("admitted" if a.startswith("slot") else a for a in answers)
    assert kinds == {
        "admitted": 120,
        "This server already has 120 images generating; try again in a moment.": 80,
    }
    assert one.admissions.in_flight(guild_id=GUILD) == 120
