"""The CPU pool: small jobs in the unniced worker while it is free, the rest in the pool."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from bot.workers import SMALL_JOB_NICENESS, WORKER_NICENESS, CpuPool


def wait_for_file(path: str) -> int:
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.005)
    return os.getpid()


def niceness() -> int:
    return os.nice(0)


async def test_small_jobs_run_unniced_in_another_process():
    parent = os.nice(0)
    async with CpuPool(max_workers=1) as cpu:
        small_pid = await asyncio.wrap_future(cpu.submit_small(os.getpid))
        small = await asyncio.wrap_future(cpu.submit_small(niceness))
        pooled = await cpu.run(niceness)
        pool_pid = await cpu.run(os.getpid)
    assert small_pid not in (os.getpid(), pool_pid)
    assert small == min(19, parent + SMALL_JOB_NICENESS)
    assert pooled == min(19, parent + WORKER_NICENESS)


async def test_a_small_job_goes_to_the_pool_while_the_small_worker_is_busy(tmp_path: Path):
    release = str(tmp_path / "release")
    parent = os.nice(0)
    async with CpuPool(max_workers=1) as cpu:
        busy = cpu.submit_small(wait_for_file, release)
        overflow = await asyncio.wrap_future(cpu.submit_small(niceness))
        await asyncio.to_thread(Path(release).touch)
        small_pid = await asyncio.wrap_future(busy)
        again = await asyncio.wrap_future(cpu.submit_small(os.getpid))
    assert overflow == min(19, parent + WORKER_NICENESS)  # did not queue behind the busy one
    assert again == small_pid  # free again once its job is done
