"""Sections 2 and 4 through the real bot: ``bench.botproc`` against the fake Discord here.

The bot runs in its own process (its loop and memory are what is measured); the
fake Discord runs on this process's loop and times, from outside the bot, how long
a member waits: for ``/settings show`` to be acknowledged while 8 concurrent 4K
``/imagine`` jobs run, and for each ``/imagine`` result to be uploaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from bench.procs import ROOT
from bench.proctree import TreeSampler
from bench.serve import model_name
from bench.stats import median, now, percentile
from bench.targets import STALL_JOBS, UPLOAD_LIMIT_BYTES

E2E_DELAY_MS = 300
ACK_INTERVAL_S = 0.05
RESULT_TIMEOUT_S = 180
_PROGRESS = ("Generating…", "Editing…", "Rerolling…", "Upscaling")


def _final(st) -> bool:
    if st.followups:
        return True
    msg = st.original
    return (
        msg is not None
        and not msg.loading
        and (bool(msg.attachments) or not msg.content.startswith(_PROGRESS))
    )


def _upload(st) -> bytes | None:
    for msg in st.messages:
        files = msg.files
        if files:
            return files[0][1]
    return None


class BotProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def command(self, line: str) -> str | None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()
        if line == "report":
            return (await self.proc.stdout.readline()).decode()
        return None


async def _imagine(
    fake, member, size: str, delay_ms: int, *, channel=None, job: str = ""
) -> tuple[float, bytes | None]:
    elapsed, st = await imagine_state(fake, member, size, delay_ms, channel=channel, job=job)
    return elapsed, _upload(st)


async def imagine_state(fake, member, size: str, delay_ms: int, *, channel=None, job: str = ""):
    """One ``/imagine`` to its end: (seconds it took, its InteractionState)."""
    t = now()
    prompt = "a lighthouse at dusk" + (f" benchjob:{job}" if job else "")
    it = await fake.slash(
        "imagine",
        {"prompt": prompt, "model": model_name(size, "markdown", delay_ms)},
        member=member,
        channel=channel,
    )
    st = await fake.interaction_result(it, _final, timeout=RESULT_TIMEOUT_S)
    return now() - t, st


async def show(fake, admin, *, channel=None) -> float:
    t = now()
    it = await fake.slash("settings show", member=admin, channel=channel)
    await fake.wait_for_interaction_reply(it, timeout=RESULT_TIMEOUT_S)
    return now() - t


async def _e2e(fake, member, size: str, runs: int) -> dict:
    overheads, sizes, errors = [], [], 0
    for _ in range(runs):
        elapsed, data = await _imagine(fake, member, size, E2E_DELAY_MS)
        if data is None:
            errors += 1
            continue
        overheads.append(elapsed - E2E_DELAY_MS / 1000)
        sizes.append(len(data))
    return {
        "size": size,
        "runs": len(overheads),
        "errors": errors,
        "delay_s": E2E_DELAY_MS / 1000,
        "median_s": median(overheads),
        "p95_s": percentile(overheads, 95),
        "upload_bytes": max(sizes) if sizes else None,
        "uploads_within_limit": all(s <= UPLOAD_LIMIT_BYTES for s in sizes) and bool(sizes),
        "samples": overheads,
    }


class _Ticker:
    """Lag of this process's loop (the fake Discord's): a stall here delays the acks
    it times, without the bot being at fault."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.lags = interval, []

    async def _run(self) -> None:
        while True:
            t = now()
            await asyncio.sleep(self.interval)
            self.lags.append(now() - t - self.interval)

    def __enter__(self) -> _Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._task.cancel()


async def _stall(fake, bot: BotProcess, admin, pid: int, jobs: int) -> dict:
    import json

    members = [await fake.member(name=f"user{i}") for i in range(jobs)]
    idle_acks = [await show(fake, admin) for _ in range(10)]
    await bot.command("tick")
    acks: list[float] = []
    ticker = _Ticker()
    with TreeSampler(pid) as rss, ticker:
        t0 = now()
        work = [asyncio.create_task(_imagine(fake, m, "4K", 0)) for m in members]
        while not all(w.done() for w in work):
            acks.append(await show(fake, admin))
            await asyncio.sleep(ACK_INTERVAL_S)
        elapsed = now() - t0
    lags = json.loads(await bot.command("report") or "{}").get("lags", [])
    results = [w.result() for w in work]
    return {
        "jobs": jobs,
        "size": "4K",
        "shape": "markdown",
        "elapsed_s": elapsed,
        "uploads": sum(1 for _, data in results if data),
        "via": "bot",
        "lag_p99_s": percentile(lags, 99),
        "lag_max_s": max(lags) if lags else None,
        "lag_ticks": len(lags),
        "harness_lag_p99_s": percentile(ticker.lags, 99),
        "harness_lag_max_s": max(ticker.lags) if ticker.lags else None,
        "ack_samples": acks,
        "idle_lag_p99_s": None,
        "ack_median_s": median(acks),
        "ack_p99_s": percentile(acks, 99),
        "ack_max_s": max(acks) if acks else None,
        "acks": len(acks),
        "idle_ack_median_s": median(idle_acks),
        "probe_median_s": median(acks),
        "probe_p99_s": percentile(acks, 99),
        "probe_max_s": max(acks) if acks else None,
        "peak_rss_bytes": rss.peak,
        "peak_rss_processes": rss.peak_processes,
    }


@contextlib.asynccontextmanager
async def bot_process(
    fake, gateway_base: str, *, database: str | None = None, env: Mapping[str, str] | None = None
) -> AsyncIterator[BotProcess]:
    """``bench.botproc`` connected to ``fake`` and ready; closed (EOF on stdin) on exit.

    ``database``: a URL (default: a new SQLite file); ``env`` is added to this process's
    environment (SHARD_COUNT, SHARD_IDS, INSTANCE_NAME).
    """
    with tempfile.TemporaryDirectory() as tmp:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.botproc",
            fake.api_base,
            fake.gateway_url,
            gateway_base,
            database or str(Path(tmp) / "bot.db"),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=None if env is None else {**os.environ, **env},
        )
        try:
            assert proc.stdout is not None
            ready = await asyncio.wait_for(proc.stdout.readline(), 60)
            if ready.strip() != b"READY":
                raise RuntimeError("the bot did not start")
            yield BotProcess(proc)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def run(gateway_base: str, *, e2e_runs: dict[str, int], stall: bool) -> dict:
    import discord

    from tests.fakes.discord import FakeDiscord

    out: dict = {}
    async with FakeDiscord.running() as fake, bot_process(fake, gateway_base) as bot:
        admin = await fake.member(discord.Permissions(manage_guild=True), name="admin")
        member = await fake.member(name="e2e")
        await _imagine(fake, member, "1K", 0)  # warm-up: first job imports and opens things
        out["e2e"] = [await _e2e(fake, member, size, n) for size, n in e2e_runs.items()]
        if stall:
            out["stall"] = await _stall(fake, bot, admin, bot.proc.pid, STALL_JOBS)
    return out
