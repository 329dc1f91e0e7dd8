"""Cancel across processes: a press on one process stops the job's task on its owner."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.runtime import Runtime
from bot.storage.base import Store
from tests.runtime.conftest import OpenProcess
from tests.runtime.test_presence import _queued_job, _running_job

MEMBER = 7


async def _watched(runtime: Runtime, job_id: int) -> tuple[asyncio.Task[int | None], Any]:
    """A task doing the job, watched as ``Job.run`` watches it; it returns who cancelled."""
    started: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def run() -> int | None:
        async with runtime.cancels.watch(job_id) as watch:
            started.set_result(watch)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return watch.by
        return None

    task = asyncio.ensure_future(run())
    return task, await started


async def _rows(pg: Any) -> list[tuple[int, int]]:
    return [tuple(r) for r in await pg.fetch("SELECT job_id, by FROM runtime_cancels")]


async def test_a_press_on_another_process_cancels_the_task_on_its_owner(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    runner, presser = await processes("runner"), await processes("presser")
    job_id = await _running_job(store, runner.owner)
    other = await _running_job(store, runner.owner, 1)
    task, _ = await _watched(runner, job_id)
    untouched, _ = await _watched(runner, other)

    assert await presser.cancels.request(job_id, by=MEMBER) is True
    assert await asyncio.wait_for(task, 30) == MEMBER
    assert not untouched.done()
    untouched.cancel()
    assert await _rows(pg) == []  # taken in the statement that read it


async def test_a_press_before_the_watch_cancels_the_job_as_it_starts(
    processes: OpenProcess, store: Store
) -> None:
    # Admitted, not yet running: the row waits for the job's watch.
    runner, presser = await processes("runner"), await processes("presser")
    job_id = await _queued_job(store, runner.owner)
    assert await presser.cancels.request(job_id, by=MEMBER) is True
    task, _ = await _watched(runner, job_id)
    assert await asyncio.wait_for(task, 30) == MEMBER


async def test_a_press_on_the_owner_cancels_at_once(processes: OpenProcess, store: Store) -> None:
    runner = await processes("runner")
    job_id = await _running_job(store, runner.owner)
    task, watch = await _watched(runner, job_id)
    assert await runner.cancels.request(job_id, by=MEMBER) is True
    assert watch.by == MEMBER  # before any round trip
    assert await asyncio.wait_for(task, 30) == MEMBER


async def test_nobody_will_act_for_a_finished_job_or_a_dead_owner(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    presser = await processes("presser")
    finished = await _running_job(store, presser.owner)
    await store.update_job(finished, state="done")
    orphan = await _running_job(store, "gone:00000000")  # its process has no heartbeat row
    assert await presser.cancels.request(finished, by=MEMBER) is False
    assert await presser.cancels.request(orphan, by=MEMBER) is False
    assert await presser.cancels.request(404, by=MEMBER) is False
    assert await _rows(pg) == []


async def test_a_reaped_owner_leaves_no_press_behind(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    leaving, presser = await processes("leaving"), await processes("presser")
    job_id = await _queued_job(store, leaving.owner)
    assert await presser.cancels.request(job_id, by=MEMBER) is True
    assert await _rows(pg) == [(job_id, MEMBER)]
    reported: list[int] = []

    async def report(jobs: Any) -> None:
        reported.extend(job.id for job in jobs)

    owner = leaving.owner
    await leaving.close()  # hands over at once: it is dead to the next reaper
    assert await presser.presence.reap(report) == [owner]  # type: ignore[attr-defined]
    assert reported == [job_id]
    assert await _rows(pg) == []


async def test_a_press_nobody_swept_is_pruned_after_a_week(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    # Presses for jobs that ended before their owner watched them: no sweep deletes them.
    runner, presser = await processes("runner"), await processes("presser")
    old, fresh = await _running_job(store, runner.owner), await _running_job(store, runner.owner)
    assert await presser.cancels.request(old, by=MEMBER)
    assert await presser.cancels.request(fresh, by=MEMBER)
    await pg.execute(
        "UPDATE runtime_cancels SET requested_at = now() - interval '8 days' WHERE job_id = $1",
        old,
    )

    async def report(_jobs: Any) -> None:
        pass

    await presser.presence.reap_round(report, prune=True)  # type: ignore[attr-defined]

    assert await _rows(pg) == [(fresh, MEMBER)]
