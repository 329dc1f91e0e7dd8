"""A process whose lease lapsed and that was reaped while it still ran: its jobs are the
survivor's, it stops them, and it serves on under a new owner id (a real PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.runtime import Runtime
from bot.storage.base import Store
from tests.runtime.conftest import OpenProcess
from tests.runtime.test_presence import Adoptions, Reports, _queued_job, _running_job

GUILD = 10


async def _job_task(runtime: Runtime, owner: str) -> asyncio.Task[None]:
    """A job running in ``runtime`` for ``owner``, as the runner marks one."""
    started = asyncio.Event()

    async def run() -> None:
        async with runtime.tasks.job(owner):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(run())
    await started.wait()
    return task


async def test_a_reaped_process_stops_its_jobs_and_serves_under_a_new_owner(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    # Its heartbeat never lands by itself: as if the database was out of its reach.
    back = await processes("back", heartbeat=3600)
    survivor = await processes("survivor")
    old = back.owner
    job_id = await _running_job(store, old)
    running = await _job_task(back, old)
    slot = await back.admissions.acquire(user_id=1, guild_id=GUILD, user_limit=1, guild_limit=9)
    reports, own_reports = Reports(), Reports()
    back.presence.recover(own_reports.to(back))
    survivor.presence.recover(reports.to(survivor))
    await reports.wait(1)  # the survivor told the member: the job is its now
    assert reports.jobs == [(survivor.owner, job_id)]
    # The survivor's bury ends with the old owner's row.
    while await pg.fetchval("SELECT count(*) FROM runtime_workers WHERE id = $1", old):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    # A job its old owner created after the survivor looked: nobody else will report it.
    late = await _running_job(store, old, 1)

    await back.presence.beat()  # type: ignore[attr-defined]  # the database answers again

    assert back.owner != old and back.owner.startswith("back:")
    assert back.presence.lost == [old]  # type: ignore[attr-defined]
    await asyncio.wait([running])
    assert running.cancelled()  # stopped: no result, error or progress edit after the report
    assert own_reports.jobs == [(back.owner, late)]  # reported once, by itself
    assert (await store.get_job(late)).state == "interrupted"  # type: ignore[union-attr]
    assert reports.jobs == [(survivor.owner, job_id)]  # and the first job not again
    workers = {r["id"] for r in await pg.fetch("SELECT id FROM runtime_workers")}
    assert workers == {back.owner, survivor.owner}
    # The old slot is gone with its owner; new work is admitted under the new owner.
    await back.admissions.release(slot)
    fresh = await back.admissions.acquire(user_id=1, guild_id=GUILD, user_limit=1, guild_limit=9)
    assert fresh.owner == back.owner
    assert await pg.fetchval("SELECT owner FROM runtime_slots") == back.owner
    await back.admissions.release(fresh)


async def test_a_reaped_process_runs_on_its_old_owners_queued_jobs_under_its_new_id(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    # Jobs its old owner created after the survivor looked are nobody's: the running one
    # is reported, the queued ones become the new owner's and go on through ``adopt``.
    back = await processes("back", heartbeat=3600)
    survivor = await processes("survivor")
    old = back.owner
    first = await _running_job(store, old)
    reports, own_reports, own_adoptions = Reports(), Reports(), Adoptions()
    back.presence.recover(own_reports.to(back), own_adoptions.to(back))
    survivor.presence.recover(reports.to(survivor))
    await reports.wait(1)
    while await pg.fetchval("SELECT count(*) FROM runtime_workers WHERE id = $1", old):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    late_running = await _running_job(store, old, 1)
    late_queued = [await _queued_job(store, old, n) for n in (2, 3)]

    await back.presence.beat()  # type: ignore[attr-defined]  # the database answers again

    new = back.owner
    assert new != old
    assert own_reports.jobs == [(new, late_running)]  # only the running one reported
    assert own_adoptions.jobs == [(new, job_id, new) for job_id in late_queued]
    for job_id in late_queued:
        job = await store.get_job(job_id)
        assert job is not None and (job.state, job.owner) == ("queued", new)
    running = await store.get_job(late_running)
    assert running is not None and running.state == "interrupted"
    assert reports.jobs == [(survivor.owner, first)]  # the survivor's part, once


async def test_a_heartbeat_that_lands_late_but_before_a_reaper_keeps_the_owner(
    processes: OpenProcess, pg: Any
) -> None:
    # Nobody reaped it (no survivor looked): its jobs are still its own.
    alone = await processes("alone", heartbeat=3600)
    owner = alone.owner
    running = await _job_task(alone, owner)
    await pg.execute(
        "UPDATE runtime_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = $1", owner
    )
    await alone.presence.beat()  # type: ignore[attr-defined]
    assert alone.owner == owner and not running.done()
    running.cancel()


async def test_a_bury_that_stopped_half_way_is_finished_by_the_same_survivor(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    dead = await processes("dead", heartbeat=3600)
    survivor = await processes("survivor", lease=600)
    job_id = await _running_job(store, dead.owner)
    # As if the survivor claimed it and then lost the database before interrupting.
    await pg.execute(
        "UPDATE runtime_workers SET heartbeat_at = '-infinity', reaped_by = $2 WHERE id = $1",
        dead.owner,
        survivor.owner,
    )
    reports = Reports()
    assert await survivor.presence.reap(reports.to(survivor)) == [dead.owner]  # type: ignore[attr-defined]
    assert reports.jobs == [(survivor.owner, job_id)]
    assert not await pg.fetchval("SELECT count(*) FROM runtime_workers WHERE id = $1", dead.owner)
