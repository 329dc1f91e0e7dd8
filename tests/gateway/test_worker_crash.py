"""A worker killed while it reads a gateway answer: the member reads a sentence, the next
job is answered by a new worker."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from bot.errors import WorkerCrashed
from bot.gateway.client import GatewayClient
from bot.types import ImageRequest
from bot.workers import CpuPool
from tests.fakes.gateway import Reply, images_response, png_bytes

PNG = png_bytes(12, 7, (200, 30, 90))
REQUEST = ImageRequest(model="gemini-3-pro-image-preview", prompt="a banana robot")
PARSERS = {"parse_response_file", "parse_response_spilled"}
SENTENCE = "Something went wrong while reading the image service's answer; try again."


def stall(pid_file: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Tell the test which process parses, then wait to be killed."""
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(60)
    return fn(*args)


class StallingPool(CpuPool):
    """A real pool whose next answer parse waits in its worker until the test kills it."""

    pid_file: str | None = None

    def _stalled(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if self.pid_file and getattr(getattr(fn, "func", fn), "__name__", "") in PARSERS:
            fn, self.pid_file = functools.partial(stall, self.pid_file, fn), None
        return fn

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return super().submit(self._stalled(fn), *args)

    def submit_small(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return super().submit_small(self._stalled(fn), *args)


@pytest.fixture
async def pool() -> AsyncIterator[StallingPool]:
    async with StallingPool(max_workers=1) as cpu:
        yield cpu


def pid_in(path: Path) -> int:
    deadline = time.monotonic() + 30
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.005)
    return int(path.read_text())


@pytest.mark.parametrize(
    "upload_limit",
    # The small worker parses; the pool parses (a body over the limit, its image under it).
    [None, len(PNG) + 1],
)
async def test_the_next_job_is_answered_after_the_parsing_worker_died(
    http, fake_gateway, gateway_for, pool, tmp_path, upload_limit
):
    client = GatewayClient(http, pool, backoff_base=0.001)
    small_pid = await asyncio.wrap_future(pool.submit_small(os.getpid))
    pool_pid = await pool.run(os.getpid)
    pid_file = tmp_path / "pid"
    pool.pid_file = str(pid_file)
    fake_gateway.script(Reply(body=images_response([PNG])), Reply(body=images_response([PNG])))

    job = asyncio.create_task(
        client.generate(gateway_for("auto"), REQUEST, upload_limit=upload_limit)
    )
    parser = await asyncio.to_thread(pid_in, pid_file)
    assert parser == (small_pid if upload_limit is None else pool_pid)
    os.kill(parser, signal.SIGKILL)
    with pytest.raises(WorkerCrashed) as crashed:
        await job
    assert str(crashed.value) == SENTENCE

    result = await client.generate(gateway_for("auto"), REQUEST, upload_limit=upload_limit)
    assert [i.data for i in result.images] == [PNG]
    assert len(fake_gateway.requests) == 2  # the answer that killed a worker was not re-bought
