"""Processes on one database: the store barrier, the reaper, hand-over, leases, claims."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.runtime.postgres.keys import lock_key
from bot.runtime.postgres.schema import MIGRATIONS
from bot.storage.base import JobRecord, Store
from tests.runtime.conftest import OpenProcess


async def _queued_job(store: Store, owner: str, n: int = 0) -> int:
    job = await store.create_job(
        kind="imagine",
        guild_id=10,
        channel_id=5,
        user_id=n,
        prompt=f"job {n}",
        params={},
        interaction_token=f"token-{n}",
        owner=owner,
    )
    return job.id


async def _running_job(store: Store, owner: str, n: int = 0) -> int:
    job_id = await _queued_job(store, owner, n)
    await store.update_job(job_id, state="running")
    return job_id


class Reports:
    """What survivors reported, by reporter; ``wait`` until ``n`` jobs were."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, ...]] = []  # (reporter, job id), or more per subclass
        self._changed = asyncio.Event()

    def to(self, runtime: Runtime) -> Any:
        async def report(jobs: Sequence[JobRecord]) -> None:
            self.jobs.extend((runtime.owner, job.id) for job in jobs)
            self._changed.set()

        return report

    async def wait(self, n: int) -> None:
        async def enough() -> None:
            while len(self.jobs) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), 30)


def test_lock_keys_are_stable_and_apart() -> None:
    # The same in every process and every Python: processes must agree on them.
    assert lock_key("guild", 1) == lock_key("guild", 1) == 4043694797926420118
    assert lock_key("guild", 1) != lock_key("member", 1)


async def test_processes_starting_together_migrate_once(processes: OpenProcess, pg: Any) -> None:
    await asyncio.gather(*(processes(f"p{i}") for i in range(3)))
    versions = [r["version"] for r in await pg.fetch("SELECT version FROM runtime_schema")]
    assert sorted(versions) == list(range(1, len(MIGRATIONS) + 1))  # each applied once
    assert await pg.fetchval("SELECT count(*) FROM runtime_workers") == 3


async def test_a_press_on_another_process_waits_until_the_result_is_stored(
    processes: OpenProcess,
) -> None:
    poster, presser = await processes("poster"), await processes("presser")
    saving: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await poster.barrier.storing(41, 5, saving)
    events: list[str] = []

    async def press(**which: int) -> None:
        await presser.barrier.stored(**which)
        events.append(f"pressed {which}")

    presses = [asyncio.ensure_future(press(job_id=41)), asyncio.ensure_future(press(channel_id=5))]
    await presser.barrier.stored(job_id=40, channel_id=6)  # other jobs and channels: at once
    await asyncio.sleep(0.3)  # time for a press to go too early, if it could
    events.append("stored")
    saving.set_result(None)
    await asyncio.wait_for(asyncio.gather(*presses), 30)
    assert events[0] == "stored" and len(events) == 3


async def test_a_dead_process_storing_row_holds_nobody(processes: OpenProcess) -> None:
    dead = await processes("dead", heartbeat=3600)
    alive = await processes("alive")
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await dead.barrier.storing(7, 5, never)
    await asyncio.wait_for(alive.barrier.stored(channel_id=5), 30)
    never.cancel()


async def test_exactly_one_survivor_reports_each_job_of_a_dead_process(
    processes: OpenProcess, store: Store
) -> None:
    dead = await processes("dead", heartbeat=3600)  # as if SIGKILLed: no heartbeat, no goodbye
    survivors = [await processes(f"s{i}") for i in range(2)]
    orphans = [await _running_job(store, dead.owner, n) for n in range(6)]
    own = await _running_job(store, survivors[0].owner, 99)
    reports = Reports()
    for survivor in survivors:
        survivor.presence.recover(reports.to(survivor))

    await reports.wait(len(orphans))
    assert sorted(job for _, job in reports.jobs) == orphans  # each once
    for job_id in orphans:
        job = await store.get_job(job_id)
        assert job is not None and job.state == "interrupted"
    own_job = await store.get_job(own)
    assert own_job is not None and own_job.state == "running"  # a survivor's own: untouched

    # The dead one's replacement (a new owner id) finds nothing left to report.
    restarted = await processes("dead")
    assert restarted.owner != dead.owner
    assert await store.interrupt_running_jobs(restarted.owner) == []
    assert await restarted.presence.reap(reports.to(restarted)) == []  # type: ignore[attr-defined]
    assert len(reports.jobs) == len(orphans)


async def _until_buried(pg: Any, owner: str) -> None:
    """Until the reaper has finished with ``owner`` (it deletes the row after the reports)."""
    async with asyncio.timeout(30):
        while await pg.fetchval("SELECT count(*) FROM runtime_workers WHERE id = $1", owner):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


class Adoptions(Reports):
    """What survivors adopted: adopter, job id and the row's owner then, as handed over."""

    def to(self, runtime: Runtime) -> Any:
        async def adopt(jobs: Sequence[JobRecord]) -> None:
            self.jobs.extend((runtime.owner, job.id, job.owner) for job in jobs)
            self._changed.set()

        return adopt


async def test_a_dead_process_queued_jobs_are_adopted_and_only_its_running_one_reported(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    # Changed with adoption: its queued jobs once were reported as interrupted too (its
    # line lived in its memory); now they become the survivor's and go on, oldest first.
    dead = await processes("dead", heartbeat=3600)
    survivor = await processes("survivor")
    running = await _running_job(store, dead.owner, 1)
    waiting = [await _queued_job(store, dead.owner, n) for n in (2, 3)]
    own = await _queued_job(store, survivor.owner, 4)
    reports, adoptions = Reports(), Adoptions()
    survivor.presence.recover(reports.to(survivor), adoptions.to(survivor))

    await reports.wait(1)
    await adoptions.wait(2)
    assert reports.jobs == [(survivor.owner, running)]
    assert adoptions.jobs == [(survivor.owner, job_id, survivor.owner) for job_id in waiting]
    job = await store.get_job(running)
    assert job is not None and (job.state, job.counted) == ("interrupted", False)
    for job_id in waiting:
        job = await store.get_job(job_id)
        assert job is not None and (job.state, job.owner) == ("queued", survivor.owner)
    own_job = await store.get_job(own)
    assert own_job is not None and (own_job.state, own_job.owner) == ("queued", survivor.owner)
    # The reports come before the reaper lets go of the row; a second reap in between
    # would claim it again (and find nothing to report), which is not what this asks.
    await _until_buried(pg, dead.owner)
    assert await survivor.presence.reap(reports.to(survivor)) == []  # type: ignore[attr-defined]
    assert (len(reports.jobs), len(adoptions.jobs)) == (1, 2)  # each once


async def test_without_a_front_end_to_run_them_a_dead_process_queued_jobs_are_reported(
    processes: OpenProcess, store: Store
) -> None:
    # ``recover(report)`` alone: nothing here could run the line on, so it is reported.
    dead = await processes("dead", heartbeat=3600)
    survivor = await processes("survivor")
    running = await _running_job(store, dead.owner, 1)
    waiting = await _queued_job(store, dead.owner, 2)
    reports = Reports()
    survivor.presence.recover(reports.to(survivor))

    await reports.wait(2)
    assert sorted(reports.jobs) == [(survivor.owner, running), (survivor.owner, waiting)]
    job = await store.get_job(waiting)
    assert job is not None and (job.state, job.owner) == ("interrupted", dead.owner)


async def test_each_queued_job_of_a_dead_process_is_adopted_by_exactly_one_survivor(
    processes: OpenProcess, store: Store
) -> None:
    dead = await processes("dead", heartbeat=3600)
    survivors = [await processes(f"s{i}") for i in range(2)]
    orphans = [await _queued_job(store, dead.owner, n) for n in range(6)]
    reports, adoptions = Reports(), Adoptions()
    for survivor in survivors:
        survivor.presence.recover(reports.to(survivor), adoptions.to(survivor))

    await adoptions.wait(len(orphans))
    assert sorted(job for _, job, _ in adoptions.jobs) == orphans  # each once
    for adopter, job_id, owner in adoptions.jobs:
        job = await store.get_job(job_id)
        assert (
            adopter == owner
            and job is not None
            and (job.state, job.owner)
            == (
                "queued",
                adopter,
            )
        )
    assert reports.jobs == []


async def test_a_process_that_leaves_hands_its_queued_jobs_over_at_once(
    processes: OpenProcess, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.runtime.postgres.presence.REAP_SECONDS", 600.0)
    leaving = await processes("leaving", lease=600)
    survivor = await processes("survivor", lease=600)
    running = await _running_job(store, leaving.owner, 1)
    waiting = [await _queued_job(store, leaving.owner, n) for n in (2, 3)]
    reports, adoptions = Reports(), Adoptions()
    survivor.presence.recover(reports.to(survivor), adoptions.to(survivor))
    await asyncio.sleep(0.5)  # the reaper's first round (at once) has found nobody
    await leaving.close()

    await adoptions.wait(2)
    await reports.wait(1)
    assert adoptions.jobs == [(survivor.owner, job_id, survivor.owner) for job_id in waiting]
    assert reports.jobs == [(survivor.owner, running)]


async def test_a_process_that_leaves_hands_its_jobs_over_at_once(
    processes: OpenProcess, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lease and reaper rounds far longer than the wait below: only the hand-over's
    # NOTIFY can wake the survivor in time (it once slept out its round regardless).
    monkeypatch.setattr("bot.runtime.postgres.presence.REAP_SECONDS", 600.0)
    leaving = await processes("leaving", lease=600)
    survivor = await processes("survivor", lease=600)
    job_id = await _running_job(store, leaving.owner)
    reports = Reports()
    survivor.presence.recover(reports.to(survivor))
    await asyncio.sleep(0.5)  # the reaper's first round (at once) has found nobody
    await leaving.close()
    await reports.wait(1)
    assert reports.jobs == [(survivor.owner, job_id)]


async def test_only_one_process_holds_a_lease_until_it_leaves(processes: OpenProcess) -> None:
    one, two = await processes("one"), await processes("two")
    assert await one.leases.holds("maintenance", ttl=60)
    assert not await two.leases.holds("maintenance", ttl=60)
    assert await one.leases.holds("maintenance", ttl=60)  # renewed
    assert await two.leases.holds("other", ttl=60)
    await one.close()
    assert await two.leases.holds("maintenance", ttl=60)


async def test_a_check_and_set_inside_exclusive_happens_once(
    processes: OpenProcess, store: Store
) -> None:
    runtimes = [await processes(f"p{i}") for i in range(3)]
    synced: list[str] = []

    async def start(runtime: Runtime) -> None:
        async with runtime.leases.exclusive("commands.sync"):
            if await store.get_meta("hash") != "h1":
                await asyncio.sleep(0.05)  # the sync itself
                synced.append(runtime.owner)
                await store.set_meta("hash", "h1")

    await asyncio.gather(*(start(r) for r in runtimes))
    assert len(synced) == 1


async def test_a_message_event_is_claimed_once(processes: OpenProcess) -> None:
    one, two = await processes("one"), await processes("two")
    results = await asyncio.gather(*(r.claims.first("message", 123) for r in (one, two, one)))
    assert sorted(results) == [False, False, True]
    assert await two.claims.first("message", 124)
    assert await two.claims.first("interaction", 123)


async def test_identify_is_paced_per_bucket_across_processes(
    processes: OpenProcess, pg: Any
) -> None:
    from bot.runtime.postgres import PostgresIdentifyPacer

    runtimes = [await processes(f"p{i}") for i in range(3)]
    pacers = [r.identify for r in runtimes]
    assert all(isinstance(p, PostgresIdentifyPacer) for p in pacers)
    clock = "SELECT extract(epoch FROM clock_timestamp())::float8"
    # Shards 0, 2 and 4 share bucket 0 of max_concurrency 2; shard 1 is alone in bucket 1.
    before = await pg.fetchval(clock)
    waits = await asyncio.gather(
        *(p.reserve(shard, max_concurrency=2) for p, shard in zip(pacers, (0, 2, 4), strict=True))  # type: ignore[attr-defined]
    )
    spread = await pg.fetchval(clock) - before
    alone = await pacers[0].reserve(1, max_concurrency=2)  # type: ignore[attr-defined]
    # Starts 5 s apart and a margin (bot.runtime.postgres.identify.PACED_INTERVAL). A wait
    # counts from its own reservation, and a loaded machine spread the three reservations
    # over ``spread`` seconds: a later one waits up to that much less for the same start.
    first, *later = sorted(waits)
    assert first == pytest.approx(0, abs=0.01)
    for n, wait in enumerate(later, start=1):
        assert n * 5.5 - spread - 0.01 <= wait <= n * 5.5 + 0.01, (waits, spread)
    assert alone == pytest.approx(0, abs=0.01)


async def test_jobs_a_reaper_left_unreported_are_reported_by_the_next_once(
    processes: OpenProcess, store: Store
) -> None:
    dead = await processes("dead")
    jobs = [await _running_job(store, dead.owner, n) for n in range(3)]
    for n, job_id in enumerate(jobs):
        slot = await dead.admissions.acquire(user_id=n, guild_id=10, user_limit=5, guild_limit=9)
        await dead.admissions.attach(slot, job_id)
    await dead.close()  # gone, its jobs still running
    first = await processes("first")

    async def crash(_jobs: Sequence[JobRecord]) -> None:
        raise RuntimeError("the reaper died here: its jobs are interrupted, nobody was told")

    assert await first.presence.reap(crash) == [dead.owner]  # type: ignore[attr-defined]
    assert {(await store.get_job(j)).state for j in jobs} == {"interrupted"}  # type: ignore[union-attr]
    await first.close()
    second = await processes("second")
    reports = Reports()

    await second.presence.reap(reports.to(second))  # type: ignore[attr-defined]
    assert reports.jobs == [(second.owner, j) for j in jobs]
    await second.presence.reap(reports.to(second))  # type: ignore[attr-defined]
    restarted = await processes("dead")
    await restarted.presence.reap(reports.to(restarted))  # type: ignore[attr-defined]
    assert len(reports.jobs) == len(jobs)  # told once, never again


async def test_a_waiter_cancelled_as_it_is_woken_stops() -> None:
    # Python 3.11's wait_for swallowed such a cancel: the reaper then never stopped.
    from bot.runtime.postgres.wakes import Wakes

    wakes = Wakes()

    async def never() -> bool:
        return False

    task = asyncio.ensure_future(wakes.until("t", never, poll=60))
    for _ in range(3):
        await asyncio.sleep(0)
    wakes.poke("t")
    task.cancel()
    await asyncio.wait([task], timeout=30)
    assert task.cancelled()


_IDLE_IN_TRANSACTION = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND state = 'idle in transaction'"
)


async def test_an_exclusive_section_holds_no_transaction_while_the_others_wait(
    processes: OpenProcess, pg: Any
) -> None:
    # The command sync runs inside for seconds or minutes of REST calls: a connection idle
    # in transaction that long is what idle_in_transaction_session_timeout kills.
    one, two = await processes("one"), await processes("two")
    inside, leave = asyncio.Event(), asyncio.Event()
    entered: list[str] = []

    async def enter(runtime: Runtime, until: asyncio.Event | None) -> None:
        async with runtime.leases.exclusive("commands.sync"):
            entered.append(runtime.owner)
            inside.set()
            if until is not None:
                await until.wait()

    holder = asyncio.ensure_future(enter(one, leave))
    await inside.wait()
    waiter = asyncio.ensure_future(enter(two, None))
    await asyncio.sleep(1.5)  # several of the holder's renewals and the waiter's polls

    assert entered == [one.owner]
    assert await pg.fetchval(_IDLE_IN_TRANSACTION) == 0
    assert await pg.fetchval("SELECT holder FROM runtime_leases") == one.owner

    leave.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), 30)
    assert entered == [one.owner, two.owner]
    assert await pg.fetchval("SELECT count(*) FROM runtime_leases") == 0


async def test_an_exclusive_section_whose_holder_died_is_free(
    processes: OpenProcess, pg: Any
) -> None:
    # A heartbeat that never comes again: its worker row lapses a lease after it started.
    dying, survivor = await processes("dying", heartbeat=3600), await processes("survivor")
    inside = asyncio.Event()

    async def hang() -> None:
        async with dying.leases.exclusive("commands.sync"):
            inside.set()
            await asyncio.Event().wait()

    hung = asyncio.ensure_future(hang())
    await inside.wait()
    try:
        async with asyncio.timeout(30), survivor.leases.exclusive("commands.sync"):
            assert await pg.fetchval("SELECT holder FROM runtime_leases") == survivor.owner
    finally:
        hung.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hung
