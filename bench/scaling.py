"""Section 6 (issue 14): 1K waves through 1 bot process on SQLite and 1, 2, 3 on PostgreSQL.

Each configuration gets a fresh fake Discord with ``GUILDS`` servers spread over its
shards (SHARD_COUNT = processes, one shard per process, so every process serves some),
a fresh database, and the real bot (``bench.botproc``) as that many processes. A wave
sends N ``/imagine`` jobs at once, one member and one channel per job, spread over all
servers, to the fake gateway (own process) answering each after ``DELAY_MS``; the
servers' limits are raised as section 5 raises them. ``/settings show`` probes go to the
servers in turn, so every process is probed. Measured from outside, from /proc: CPU of
the bots' main processes, of their pool workers, of the PostgreSQL server (its backends
share the same cores) and of this process (the fake Discord), plus how busy the machine
was with work not ours.

The fake Discord answers ``session_start_limit.max_concurrency`` = 16: with 1, processes
would IDENTIFY 5 s apart (Discord's rule, which the runtime's pacer keeps across processes)
and start-up alone would take 10 s at 3 processes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bench import pgserver
from bench.discord_bench import ACK_INTERVAL_S, BotProcess, bot_process, imagine_state, show
from bench.proctree import TreeSampler, tree
from bench.stats import median, now, percentile
from bench.throughput import (
    DELAY_MS,
    _cpu_s,
    _Stamped,
    _workers_cpu_s,
    upload_latencies,
)

SIZE = "1K"
GUILDS = 6  # divisible by 1, 2 and 3: every shard holds as many servers
CONFIGS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 3))
QUICK_CONFIGS = (("sqlite", 1), ("postgresql", 2))  # --quick stays near a minute in all
FULL_WAVES, FULL_REPS = (64, 128), 3
QUICK_WAVES, QUICK_REPS = (32,), 1
MAX_CONCURRENCY = 16
LIMITS = {
    "user_jobs": 20,
    "server_jobs": 200,
    "user_hourly": 0,
    "user_daily": 0,
    "server_hourly": 0,
    "server_daily": 0,
}
# After a wave, before its CPU is read: jobs write their last rows after the upload, and
# PostgreSQL backends report statistics within about a second of going idle.
SETTLE_S = 1.5
_TICKS = os.sysconf("SC_CLK_TCK")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine_busy_s() -> float:
    """CPU seconds every core of this machine has spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _wait, irq, soft, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + soft + steal) / _TICKS


def _waited_s(pid: int) -> float:
    """Seconds the main thread of ``pid`` (the event loop) was ready to run but had no core
    (/proc/PID/schedstat: time on the CPU, time waiting on the run queue, in ns)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _label(backend: str, processes: int) -> str:
    return f"{'SQLite' if backend == 'sqlite' else 'PostgreSQL'} x{processes}"


@dataclass
class _Cluster:
    fake: object
    bots: list[BotProcess]
    guilds: list[dict]
    admins: list[dict]
    members: list[dict]
    channels: list[dict]
    postmaster: int | None
    # A session on the server and the bench database's name, for pg_stat_database.
    stats: tuple[Any, str] | None


@dataclass
class _Cpu:
    """CPU seconds so far, by whose they are."""

    mains: list[float]
    waits: list[float]
    workers: float
    server: float | None
    harness: float
    ours: float
    machine: float

    @classmethod
    def read(cls, c: _Cluster, ours: set[int]) -> _Cpu:
        server = pgserver.server_cpu_s(c.postmaster)
        server_pids = set(tree(c.postmaster)) if c.postmaster is not None else set()
        return cls(
            mains=[_cpu_s(b.proc.pid) for b in c.bots],
            waits=[_waited_s(b.proc.pid) for b in c.bots],
            workers=sum(_workers_cpu_s(b.proc.pid) for b in c.bots),
            server=server,
            harness=_cpu_s(os.getpid()),
            # Everything we started, the server counted once (it may be our descendant).
            ours=sum(_cpu_s(pid) for pid in ours - server_pids) + (server or 0.0),
            machine=machine_busy_s(),
        )


async def _activity(c: _Cluster) -> tuple[int, int] | None:
    return None if c.stats is None else await pgserver.activity(*c.stats)


async def _wave(c: _Cluster, jobs: int, tag: str) -> dict:
    acks: list[float] = []
    ours = set(tree(os.getpid()))
    with ExitStack() as stack:
        samplers = [stack.enter_context(TreeSampler(b.proc.pid)) for b in c.bots]
        before, db_before = _Cpu.read(c, ours), await _activity(c)
        t0 = now()
        tasks = [
            asyncio.create_task(
                imagine_state(
                    c.fake,
                    c.members[i],
                    SIZE,
                    DELAY_MS,
                    channel=c.channels[i],
                    job=f"{tag}-{i}",
                )
            )
            for i in range(jobs)
        ]
        probe = 0
        while not all(t.done() for t in tasks):
            g = probe % len(c.guilds)
            probe += 1
            acks.append(await show(c.fake, c.admins[g], channel=c.guilds[g]["channels"][0]))
            await asyncio.sleep(ACK_INTERVAL_S)
        elapsed = now() - t0
        # Cores are averaged over the wave itself; CPU per job also counts its settling.
        mid = _Cpu.read(c, ours)
        await asyncio.sleep(SETTLE_S)
        after, db_after = _Cpu.read(c, ours), await _activity(c)
    # A task that ended in an exception was never answered within the timeout: lost.
    states = [None if t.exception() is not None else t.result()[1] for t in tasks]
    to_upload, delivered = upload_latencies(c.fake, states, tag)
    return {
        "jobs": jobs,
        "delivered": delivered,
        "elapsed_s": elapsed,
        "acks": acks,
        "to_upload": to_upload,
        "mains_s": [a - b for a, b in zip(after.mains, before.mains, strict=True)],
        "waits_s": [a - b for a, b in zip(mid.waits, before.waits, strict=True)],
        "wave_mains_s": [a - b for a, b in zip(mid.mains, before.mains, strict=True)],
        "wave_ours_s": mid.ours - before.ours,
        "wave_machine_s": mid.machine - before.machine,
        "workers_s": after.workers - before.workers,
        "server_s": None
        if after.server is None or before.server is None
        else after.server - before.server,
        "harness_s": after.harness - before.harness,
        "ours_s": after.ours - before.ours,
        "db": None
        if db_before is None or db_after is None
        else [a - b for a, b in zip(db_after, db_before, strict=True)],
        # Each process tree's own peak, summed: the trees peak at about the same moment.
        "peak_rss_bytes": sum(s.peak for s in samplers),
    }


def _row(backend: str, processes: int, jobs: int, waves: list[dict]) -> dict:
    """Reps of one wave size pooled: CPU per job over all their jobs, percentiles over all
    their samples, jobs/s as all jobs over all the time they took."""
    total = sum(w["jobs"] for w in waves)
    elapsed = sum(w["elapsed_s"] for w in waves)
    db = [w["db"] for w in waves]
    mains = [sum(col) for col in zip(*(w["mains_s"] for w in waves), strict=True)]
    waits = [sum(col) for col in zip(*(w["waits_s"] for w in waves), strict=True)]
    wave_mains = [sum(col) for col in zip(*(w["wave_mains_s"] for w in waves), strict=True)]
    wave_ours = sum(w["wave_ours_s"] for w in waves)
    acks = [a for w in waves for a in w["acks"]]
    to_upload = [t for w in waves for t in w["to_upload"]]
    server = [w["server_s"] for w in waves]
    ours = sum(w["ours_s"] for w in waves)
    return {
        "config": _label(backend, processes),
        "backend": backend,
        "processes": processes,
        "size": SIZE,
        "jobs": jobs,
        "waves": len(waves),
        "total_jobs": total,
        "delivered": sum(w["delivered"] for w in waves),
        "delay_s": DELAY_MS / 1000,
        "elapsed_s": elapsed,
        "jobs_per_s": total / elapsed,
        "floor_jobs_per_s": jobs / (DELAY_MS / 1000),
        "ack_p99_s": percentile(acks, 99),
        "acks": len(acks),
        "answer_to_upload_p50_s": median(to_upload),
        "answer_to_upload_p99_s": percentile(to_upload, 99),
        "answer_to_upload_samples": len(to_upload),
        "main_cpu_per_job_s": sum(mains) / total,
        "worker_cpu_per_job_s": sum(w["workers_s"] for w in waves) / total,
        "server_cpu_per_job_s": None
        if any(s is None for s in server)
        else sum(s or 0.0 for s in server) / total,
        "harness_cpu_per_job_s": sum(w["harness_s"] for w in waves) / total,
        # Everything the bench started: the above plus the fake gateway's process.
        "ours_cpu_per_job_s": ours / total,
        "pg_xacts_per_job": None if None in db else sum(d[0] for d in db) / total,
        "pg_rows_written_per_job": None if None in db else sum(d[1] for d in db) / total,
        # Cores used on average during the waves: 1.0 for the busiest main process is its
        # event loop saturated; ours + others near the core count, a full machine.
        "busiest_main_cores": max(wave_mains) / elapsed,
        # The share of the time a loop was ready to run but found no free core.
        "most_waiting_loop_share": max(waits) / elapsed,
        "ours_cores": wave_ours / elapsed,
        "others_cores": max(0.0, sum(w["wave_machine_s"] for w in waves) - wave_ours) / elapsed,
        "peak_rss_bytes": max(w["peak_rss_bytes"] for w in waves),
        "main_cpu_s_by_process": mains,
        "main_waited_s_by_process": waits,
    }


def _guilds(backend: str, processes: int) -> list[dict]:
    from tests.fakes import discord_payloads as p

    if backend == "sqlite":
        return [p.guild(f"bench {k}") for k in range(GUILDS)]
    return [
        p.guild(f"bench {k}", id=p.snowflake_on_shard(k % processes, processes))
        for k in range(GUILDS)
    ]


def _environments(backend: str, processes: int) -> list[dict[str, str]]:
    if backend == "sqlite":
        return [{}]
    return [
        {"SHARD_COUNT": str(processes), "SHARD_IDS": str(i), "INSTANCE_NAME": f"bench-{i}"}
        for i in range(processes)
    ]


@asynccontextmanager
async def _cluster(
    gateway_base: str,
    backend: str,
    processes: int,
    most: int,
    database: str | None,
    postmaster: int | None,
    stats: tuple[Any, str] | None,
) -> AsyncIterator[_Cluster]:
    import discord

    from tests.fakes import discord_payloads as p
    from tests.fakes.discord import FakeDiscord

    guilds = _guilds(backend, processes)
    async with (
        FakeDiscord.running(
            guilds=guilds, shards=processes, max_concurrency=MAX_CONCURRENCY
        ) as fake,
        AsyncExitStack() as stack,
    ):
        fake.requests = _Stamped(fake.requests)
        bots = await asyncio.gather(
            *(
                stack.enter_async_context(
                    bot_process(fake, gateway_base, database=database, env=env)
                )
                for env in _environments(backend, processes)
            )
        )
        # One process syncs the commands (under a lease); the others see its hash.
        await fake.wait_until(lambda: fake.global_commands, timeout=60, what="commands synced")
        admins = []
        for g in guilds:
            admin = await fake.member(discord.Permissions(manage_guild=True), name="admin", guild=g)
            it = await fake.slash("settings limits", LIMITS, member=admin, channel=g["channels"][0])
            await fake.wait_for_interaction_reply(it, timeout=30)
            admins.append(admin)
        members, channels = [], []
        for i in range(most):
            g = guilds[i % len(guilds)]
            members.append(await fake.member(name=f"sc{i}", guild=g))
            ch = p.text_channel(g["id"], f"bench-{i}")
            g["channels"].append(ch)
            await fake.dispatch("CHANNEL_CREATE", ch)
            channels.append(ch)
        cluster = _Cluster(fake, list(bots), guilds, admins, members, channels, postmaster, stats)
        # Warm-up: each server's process runs a job (imports, pools, prepared statements).
        await asyncio.gather(
            *(imagine_state(fake, members[k], SIZE, 0, channel=channels[k]) for k in range(GUILDS))
        )
        await asyncio.sleep(SETTLE_S)
        yield cluster
        violations = list(fake.violations)
    if violations:
        _say("bench: the fake Discord noted: " + "; ".join(violations))


async def _configuration(
    gateway_base: str,
    backend: str,
    processes: int,
    waves: tuple[int, ...],
    reps: int,
    server: str | None,
) -> list[dict]:
    database, postmaster, name, stats = None, None, None, None
    if server is not None:
        import asyncpg

        name = f"bench_scaling_{os.getpid()}_{processes}"
        database, postmaster = await pgserver.fresh_database(server, name)
        stats = (await asyncpg.connect(server), name)
    try:
        async with _cluster(
            gateway_base, backend, processes, max(waves), database, postmaster, stats
        ) as c:
            rows = []
            for jobs in waves:
                done = [
                    await _wave(c, jobs, f"sc{backend[0]}{processes}j{jobs}r{r}")
                    for r in range(reps)
                ]
                rows.append(_row(backend, processes, jobs, done))
            return rows
    finally:
        if stats is not None:
            await stats[0].close()
        if server is not None and name is not None:
            await pgserver.drop_database(server, name)


async def run(
    gateway_base: str,
    waves: tuple[int, ...],
    reps: int,
    configs: tuple[tuple[str, int], ...] = CONFIGS,
) -> dict:
    """Every configuration's rows, and why the PostgreSQL ones were skipped if they were."""
    load_before = os.getloadavg()
    rows: list[dict] = []
    for backend, processes in configs:
        if backend == "sqlite":
            _say(f"bench: 6 {_label(backend, processes)} ...")
            rows += await _configuration(gateway_base, backend, processes, waves, reps, None)
    skipped = None
    try:
        with pgserver.server_url() as server:
            for backend, processes in configs:
                if backend == "sqlite":
                    continue
                _say(f"bench: 6 {_label(backend, processes)} ...")
                rows += await _configuration(gateway_base, backend, processes, waves, reps, server)
    except pgserver.NoPostgres as exc:
        skipped = f"PostgreSQL configurations skipped: {exc}"
        _say(f"bench: 6 {skipped}")
    return {
        "rows": rows,
        "skipped": skipped,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "delay_s": DELAY_MS / 1000,
        "servers": GUILDS,
        "settle_s": SETTLE_S,
    }
