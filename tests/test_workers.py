"""The CPU pool: small jobs in the unniced worker while it is free, the rest in the pool."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from bot.errors import WorkerCrashed
from bot.workers import SMALL_JOB_NICENESS, WORKER_NICENESS, CpuPool, worker_result


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


async def test_a_small_worker_killed_mid_job_fails_that_job_and_is_replaced(tmp_path: Path):
    parent = os.nice(0)
    async with CpuPool(max_workers=1) as cpu:
        small_pid = await asyncio.wrap_future(cpu.submit_small(os.getpid))
        doomed = cpu.submit_small(wait_for_file, str(tmp_path / "never"))
        os.kill(small_pid, signal.SIGKILL)  # as the kernel's OOM killer would
        with pytest.raises(WorkerCrashed) as crashed:
            await worker_result(doomed, wait_for_file)
        # Small jobs run unniced again, in a new worker that stays.
        first = await worker_result(cpu.submit_small(os.getpid), os.getpid)
        again = await worker_result(cpu.submit_small(os.getpid), os.getpid)
        small = await worker_result(cpu.submit_small(niceness), niceness)
        pool_pid = await cpu.run(os.getpid)
    assert str(crashed.value) == "Something went wrong while processing the images; try again."
    assert first == again and first not in (small_pid, pool_pid, os.getpid())
    assert small == min(19, parent + SMALL_JOB_NICENESS)


async def test_a_pool_worker_killed_mid_job_fails_that_job_and_is_replaced(tmp_path: Path, caplog):
    async with CpuPool(max_workers=1) as cpu:
        pool_pid = await cpu.run(os.getpid)
        doomed = asyncio.ensure_future(cpu.run(wait_for_file, str(tmp_path / "never")))
        os.kill(pool_pid, signal.SIGKILL)
        with pytest.raises(WorkerCrashed) as crashed:
            await doomed
        after = await cpu.run(os.getpid)
        small = await worker_result(cpu.submit_small(os.getpid), os.getpid)
    assert str(crashed.value) == "Something went wrong while processing the images; try again."
    assert after not in (pool_pid, small, os.getpid())
    # The operator learns which job the worker died in; the member only the sentence.
    (died,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "wait_for_file" in died.getMessage() and died.exc_info is not None


def test_freeze_heap_freezes_what_is_alive_once_per_process() -> None:
    import gc

    from bot.workers import freeze_heap

    freeze_heap()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    later = [[i] for i in range(1000)]  # objects made after start-up stay collectable
    freeze_heap()
    assert gc.get_freeze_count() == frozen
    del later


def test_idle_trim_runs_only_above_the_free_heap_it_may_keep() -> None:
    import ctypes

    from bot.workers import _heap_free_bytes, _malloc_trim

    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        pytest.skip("not glibc")
    free = _heap_free_bytes(libc)
    if free is None:
        pytest.skip("glibc without mallinfo2")
    assert _malloc_trim(keep_bytes=free + 2**40) is False
    assert _malloc_trim(keep_bytes=-1) is True
