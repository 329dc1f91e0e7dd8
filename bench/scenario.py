"""One load scenario in a fresh process: ``python -m bench.scenario BASE_URL SIZE SHAPE JOBS``.

Run in its own process so that its peak memory and its event loop belong to
this scenario alone. Protocol with the parent (bench.load): prints
``PROBE <port>`` (a one-byte echo server on this loop, the "cheap command"),
waits for a line on stdin, runs the jobs concurrently with a 5 ms ticker, and
prints its JSON result as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from bench import project
from bench.serve import model_name
from bench.stats import now
from bench.targets import TICK_INTERVAL_S


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = now()
        await asyncio.sleep(TICK_INTERVAL_S)
        lags.append(max(0.0, now() - t - TICK_INTERVAL_S))


class _Echo(asyncio.Protocol):
    """The cheap piece of work: answer each byte at once, on this loop."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def main(base_url: str, size: str, shape: str, jobs: int) -> dict:
    from bot.gateway.warmup import warm_up_worker
    from bot.workers import CpuPool

    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Echo, "127.0.0.1", 0)
    print(f"PROBE {server.sockets[0].getsockname()[1]}", flush=True)
    if os.environ.get("BENCH_LOOP_DEBUG"):
        # Names every callback that holds the loop longer than 20 ms (for profiling).
        loop.set_debug(True)
        loop.slow_callback_duration = 0.02
    async with (
        CpuPool(warm_up=warm_up_worker) as cpu,
        project.http_client(timeout=300, max_connections=jobs + 4) as http,
    ):
        client = project.gateway_client(http, cpu)
        gateway = project.gateway_config(base_url)
        model = model_name(size, shape)
        print("READY", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)

        idle: list[float] = []
        stop = asyncio.Event()
        tick = asyncio.create_task(_ticker(idle, stop))
        await asyncio.sleep(0.5)
        stop.set()
        await tick

        lags: list[float] = []
        stop = asyncio.Event()
        tick = asyncio.create_task(_ticker(lags, stop))
        t0 = now()
        done = await asyncio.gather(
            *(project.generate_and_fit(client, cpu, gateway, model) for _ in range(jobs)),
            return_exceptions=True,
        )
        elapsed = now() - t0
        stop.set()
        await tick
    server.close()
    errors = [repr(d) for d in done if isinstance(d, BaseException)]
    return {
        "jobs": jobs,
        "elapsed_s": elapsed,
        "errors": errors[:3],
        "lags": lags,
        "idle_lags": idle,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("size")
    parser.add_argument("shape")
    parser.add_argument("jobs", type=int)
    a = parser.parse_args()
    print(json.dumps(asyncio.run(main(a.base_url, a.size, a.shape, a.jobs))), flush=True)
