"""``BENCH_TRACE=1``: wall time of each awaited step inside the bot, printed to stderr.

A diagnostic for section 4 (where the end-to-end overhead goes); wraps coroutine
methods of the store, the CPU pool, the gateway client and the delivery.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections import defaultdict

TOTALS: dict[str, list[float]] = defaultdict(list)


def _wrap(owner, name: str, label: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    async def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            TOTALS[label].append(time.perf_counter() - t)

    setattr(owner, name, timed)


def install() -> None:
    import bot.discord_bot.pipeline as flow
    from bot.discord_bot.delivery import Progress  # noqa: F401
    from bot.gateway.client import GatewayClient
    from bot.jobs import JobRunner
    from bot.storage.sqlite import SQLiteStore
    from bot.workers import CpuPool

    for name, _fn in inspect.getmembers(SQLiteStore, inspect.iscoroutinefunction):
        if not name.startswith("_"):
            _wrap(SQLiteStore, name, f"store.{name}")
    _wrap(CpuPool, "run", "cpu.run")
    _wrap(GatewayClient, "_fetch", "gateway.fetch")
    _wrap(GatewayClient, "generate", "gateway.generate")
    _wrap(JobRunner, "_run", "jobs._run")
    _wrap(flow, "deliver", "deliver")
    _wrap(flow, "_acknowledge", "acknowledge")
    _wrap(flow, "run_for_interaction", "run_for_interaction")


def dump() -> None:
    for label, xs in sorted(TOTALS.items(), key=lambda kv: -sum(kv[1])):
        xs = sorted(xs)
        print(
            f"trace {label:28} n={len(xs):4} median={xs[len(xs) // 2] * 1000:7.1f} ms "
            f"total={sum(xs) * 1000:8.1f} ms",
            file=sys.stderr,
        )
