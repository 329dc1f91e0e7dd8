"""Worker results handed back as files: read back intact, and the directory always removed."""

from __future__ import annotations

import asyncio
import io
import os
import threading

import orjson
import pytest
from PIL import Image

from bot.gateway.parsing import ParsedResponse, parse_response_file
from bot.gateway.spill import (
    DISK_SPOOL_ABOVE_BYTES,
    SHM_DIR,
    SPILL_MIN_BYTES,
    Workdir,
    _spill,
    parse_spooled,
    unspill,
)
from bot.types import GeneratedImage, ImageResult
from bot.workers import CpuPool
from tests.fakes.gateway import markdown_response


def noise_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


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


class RoutePool(CpuPool):
    """An inline pool that records which way each job was submitted."""

    def __init__(self) -> None:
        super().__init__(inline=True)
        self.routes: list[str] = []

    def submit_small(self, fn, /, *args):
        self.routes.append("small")
        return super().submit(fn, *args)

    def submit(self, fn, /, *args):
        self.routes.append("pool")
        return super().submit(fn, *args)


async def parse_body(cpu: CpuPool, directory: str, body: bytes, upload_limit: int | None):
    async with Workdir(cpu, directory) as work:
        with work.sink("body") as f:
            f.write(body)
        return await parse_spooled(
            work, 200, "application/json", body_bytes=len(body), upload_limit=upload_limit
        )


async def test_small_body_parsed_by_the_small_worker_and_large_one_spilled(tmp_path):
    png = noise_png(128)
    body = orjson.dumps(markdown_response([png], "here"))
    cpu = RoutePool()
    try:
        small = await parse_body(cpu, str(tmp_path), body, upload_limit=None)
        large = await parse_body(cpu, str(tmp_path), body, upload_limit=len(body) - 1)
    finally:
        await cpu.close()
    assert cpu.routes == ["small", "pool"]
    assert small.result.images[0].data == png
    assert large.result.images[0].data == png  # read back from its spill file
    assert list(tmp_path.iterdir()) == []


async def test_a_large_body_is_spooled_to_disk_not_tmpfs_and_removed_after(tmp_path):
    async with CpuPool(inline=True) as cpu:
        async with Workdir(cpu) as work:
            if not work.path.startswith(SHM_DIR + os.sep):
                pytest.skip("no tmpfs at /dev/shm here")
            with work.sink("body", DISK_SPOOL_ABOVE_BYTES + 1) as f:
                f.write(b"large")
            with work.sink("other", DISK_SPOOL_ABOVE_BYTES) as f:
                f.write(b"small")
            body, other = work.file("body"), work.file("other")
            assert not body.startswith(SHM_DIR) and contents(body) == b"large"
            assert os.path.dirname(other) == work.path
        assert contents(body) is None and contents(work.path) is None


def contents(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def test_the_worker_removes_the_spooled_body_once_read(tmp_path):
    path = tmp_path / "body"
    path.write_bytes(orjson.dumps(markdown_response([noise_png(16)], "here")))
    parsed = parse_response_file(str(path), 200, "application/json")
    assert parsed.result.images and not path.exists()
