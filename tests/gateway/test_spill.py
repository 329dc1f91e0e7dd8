"""Worker results handed back as files: read back intact, and the directory always removed."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from bot.gateway.models import GeneratedImage, ImageResult
from bot.gateway.parsing import ParsedResponse
from bot.gateway.spill import SPILL_MIN_BYTES, Workdir, _spill, unspill
from bot.workers import CpuPool


def write_late(directory: str, started: threading.Event, release: threading.Event) -> str:
    started.set()
    release.wait(10)
    path = os.path.join(directory, "late.bin")
    with open(path, "wb") as f:
        f.write(b"x")
    return path


async def test_directory_outlives_a_cancelled_caller_until_the_worker_is_done(tmp_path):
    started, release = threading.Event(), threading.Event()
    async with CpuPool(inline=True) as cpu:
        entered: list[str] = []

        async def call() -> None:
            async with Workdir(cpu, str(tmp_path)) as work:
                entered.append(work.path)
                await work.run(write_late, work.path, started, release)

        task = asyncio.create_task(call())
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [str(p) for p in tmp_path.iterdir()] == entered  # the worker still writes there
        release.set()
        await cpu.run(int)  # one worker thread: runs after the cancelled call and its cleanup
    assert list(tmp_path.iterdir()) == []


async def test_directory_removed_after_a_worker_error(tmp_path):
    async with CpuPool(inline=True) as cpu:
        with pytest.raises(ZeroDivisionError):
            async with Workdir(cpu, str(tmp_path)) as work:
                await work.run(divmod, 1, 0)
    assert list(tmp_path.iterdir()) == []


async def test_spilled_result_reads_back_whole_and_shared_bytes_once(tmp_path):
    big, small = os.urandom(SPILL_MIN_BYTES + 7), b"tiny"
    fitted = GeneratedImage(data=os.urandom(SPILL_MIN_BYTES), mime="image/jpeg", width=2, height=2)
    images = (
        GeneratedImage(data=big, mime="image/png", width=2, height=2, fitted=fitted),
        GeneratedImage(data=small, mime="image/png", width=1, height=1),
    )
    parsed = ParsedResponse(ImageResult(images=images, blobs={"a": big, "b": small}))
    spilled = _spill(parsed, str(tmp_path))
    assert len(os.listdir(tmp_path)) == 2  # the original once although it is also a blob
    assert spilled.parsed.result.images[0].data == b""
    back = (await unspill(spilled)).result
    assert [i.data for i in back.images] == [big, small]
    assert back.images[0].fitted.data == fitted.data
    assert back.blobs == {"a": big, "b": small}
    assert list(tmp_path.iterdir()) == []  # each file removed once read
