"""Section 5 (issue 12): waves of simultaneous ``/imagine`` jobs through the real bot.

Each wave sends N jobs at once, in few channels or one channel per job, to a gateway
that answers each after a fixed delay, with the server's in-flight limits raised so
every job is admitted. Measured from outside the bot: jobs/s, CPU per job of the bot's
main process and of its pool workers (/proc utime+stime before and after), the time
from the gateway's answer leaving to the fake Discord having the upload (both fakes
stamp CLOCK_MONOTONIC, which is system-wide), ``/settings show`` acknowledgements
meanwhile, and peak memory: the process tree's RSS plus the tmpfs spool, which
appears in no process's RSS.

Each figure has a floor measured in the same run (``floors``): jobs/s against jobs
per gateway delay; main CPU per job against ``bench.floors.job_cpu_floor`` (decode
the answer, build the upload); answer->upload against one job alone; the ack p99
against idle ``/settings show`` round trips; memory against one answer's spool. The
probes sent during a wave are the bot's work too: their CPU, measured at idle, is
taken out of the main CPU per job (the raw figure is kept beside it).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from bench.discord_bench import bot_process, imagine_state, show
from bench.fixtures import BY_LABEL, body_for, photo_png
from bench.floors import job_cpu_floor
from bench.procs import ANSWER_LOG
from bench.proctree import TreeSampler, tree
from bench.stats import median, now, percentile

DELAY_MS = 1000
FEW_CHANNELS = 16
FULL_WAVES = [("1K", 8), ("1K", 32), ("1K", 128), ("4K", 4), ("4K", 8), ("4K", 16)]
QUICK_WAVES = [("1K", 8), ("1K", 32), ("4K", 4)]
SHM = "/dev/shm"
IDLE_PROBES = 40
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _workers_cpu_s(root: int) -> float:
    return sum(_cpu_s(pid) for pid in tree(root) if pid != root)


class _Spool:
    """Bytes held in ``/dev/shm/imagine-*`` directories that were not there at the start,
    and (kept apart: page cache, which the kernel can drop) in disk-spooled bodies."""

    def __init__(self) -> None:
        self.before = set(self._dirs())
        self.peak_disk = 0

    @staticmethod
    def _dirs() -> list[str]:
        try:
            return [e.path for e in os.scandir(SHM) if e.name.startswith("imagine-")]
        except OSError:
            return []

    @staticmethod
    def _disk() -> int:
        total = 0
        try:
            for e in os.scandir(tempfile.gettempdir()):  # the bot inherits our TMPDIR
                if e.name.startswith("imagine-body-"):
                    total += e.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            pass
        return total

    def __call__(self) -> int:
        self.peak_disk = max(self.peak_disk, self._disk())
        total = 0
        for d in self._dirs():
            if d in self.before:
                continue
            try:
                for e in os.scandir(d):
                    total += e.stat(follow_symlinks=False).st_blocks * 512
            except OSError:  # removed while we looked
                continue
        return total


def _answer_times() -> dict[str, float]:
    out: dict[str, float] = {}
    if ANSWER_LOG.exists():
        for line in Path(ANSWER_LOG).read_text().splitlines():
            job, _, t = line.partition(" ")
            out[job] = float(t)
    return out


class _Stamped(list):
    """The fake Discord's request log, noting when each upload had been read whole."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.at: dict[int, float] = {}

    def append(self, rec) -> None:  # noqa: D102
        if rec.files:
            self.at[rec.seq] = now()
        super().append(rec)


def _upload_time(fake, st) -> float | None:
    for rec in fake.requests:
        if rec.files and st.token in rec.path and rec.seq in fake.requests.at:
            return fake.requests.at[rec.seq]
    return None


def upload_latencies(fake, states: list, tag: str) -> tuple[list[float], int]:
    """Answer->upload of each delivered job (``None`` states: never answered), and how many."""
    answered = _answer_times()
    to_upload, delivered = [], 0
    for i, st in enumerate(states):
        up = None if st is None else _upload_time(fake, st)
        sent = answered.get(f"{tag}-{i}")
        if up is not None:
            delivered += 1
            if sent is not None:
                to_upload.append(up - sent)
    return to_upload, delivered


async def _channels(fake, n: int) -> list[dict]:
    from tests.fakes import discord_payloads as p

    g = fake.guild
    while len(g["channels"]) < n:
        ch = p.text_channel(g["id"], f"bench-{len(g['channels'])}")
        g["channels"].append(ch)
        await fake.dispatch("CHANNEL_CREATE", ch)
    return g["channels"][:n]


async def _wave(
    fake, bot, admin, members, size: str, jobs: int, channels: int, tag: str, probe: bool = True
) -> dict:
    chans = await _channels(fake, channels)
    pid = bot.proc.pid
    spool = _Spool()
    acks: list[float] = []
    with TreeSampler(pid, extra=spool) as mem:
        main0, work0 = _cpu_s(pid), _workers_cpu_s(pid)
        t0 = now()
        tasks = [
            asyncio.create_task(
                imagine_state(
                    fake,
                    members[i],
                    size,
                    DELAY_MS,
                    channel=chans[i % channels],
                    job=f"{tag}-{i}",
                )
            )
            for i in range(jobs)
        ]
        while not all(t.done() for t in tasks):
            if probe:
                acks.append(await show(fake, admin))
            await asyncio.sleep(0.05)
        elapsed = now() - t0
        main1, work1 = _cpu_s(pid), _workers_cpu_s(pid)
    to_upload, uploads = upload_latencies(fake, [t.result()[1] for t in tasks], tag)
    return {
        "size": size,
        "jobs": jobs,
        "channels": channels,
        "uploads": uploads,
        "delay_s": DELAY_MS / 1000,
        "elapsed_s": elapsed,
        "jobs_per_s": jobs / elapsed,
        "floor_jobs_per_s": jobs / (DELAY_MS / 1000),
        "main_cpu_s": main1 - main0,
        "main_cpu_per_job_s": (main1 - main0) / jobs,
        "worker_cpu_per_job_s": (work1 - work0) / jobs,
        "answer_to_upload_p50_s": median(to_upload),
        "answer_to_upload_p99_s": percentile(to_upload, 99),
        "answer_to_upload_samples": len(to_upload),
        "ack_p99_s": percentile(acks, 99),
        "acks": len(acks),
        "peak_rss_bytes": mem.peak,
        "peak_spool_bytes": mem.peak_extra,
        "peak_total_bytes": mem.peak_total,
        "peak_disk_spool_bytes": spool.peak_disk,
    }


async def _idle_probes(fake, bot, admin) -> dict:
    """``/settings show`` round trips with nothing else running: the ack floor, and what
    one probe costs the bot's main process (taken out of the waves' CPU per job)."""
    pid = bot.proc.pid
    cpu0, t0 = _cpu_s(pid), now()
    await asyncio.sleep(2.0)
    idle = (_cpu_s(pid) - cpu0) / (now() - t0)
    cpu0 = _cpu_s(pid)
    acks = [await show(fake, admin) for _ in range(IDLE_PROBES)]
    return {
        "idle_cpu_per_s": idle,
        "probe_cpu_s": (_cpu_s(pid) - cpu0) / IDLE_PROBES,
        "idle_ack_p50_s": median(acks),
        "idle_ack_p99_s": percentile(acks, 99),
    }


async def _floors(fake, bot, admin, members, sizes: list[str]) -> dict:
    out: dict = {"probes": await _idle_probes(fake, bot, admin), "sizes": {}}
    for size in sizes:
        body = body_for("markdown", photo_png(BY_LABEL[size]))
        alone = await _wave(fake, bot, admin, members, size, 1, 1, f"alone-{size}", probe=False)
        out["sizes"][size] = {
            "cpu_floor_s": await job_cpu_floor(body),
            "answer_bytes": len(body),
            "alone_answer_to_upload_s": alone["answer_to_upload_p50_s"],
            "alone_main_cpu_s": alone["main_cpu_per_job_s"],
        }
    return out


def _with_floors(row: dict, floors: dict) -> dict:
    probes, size = floors["probes"], floors["sizes"][row["size"]]
    net = row["main_cpu_s"] - row["acks"] * probes["probe_cpu_s"]
    return {
        **row,
        "main_cpu_net_per_job_s": max(0.0, net) / row["jobs"],
        "probe_cpu_s": probes["probe_cpu_s"],
        "idle_cpu_per_s": probes["idle_cpu_per_s"],
        "alone_main_cpu_s": size["alone_main_cpu_s"],
        "cpu_floor_per_job_s": size["cpu_floor_s"],
        "alone_answer_to_upload_s": size["alone_answer_to_upload_s"],
        "idle_ack_p99_s": probes["idle_ack_p99_s"],
        "answer_bytes": size["answer_bytes"],
    }


async def run(gateway_base: str, waves: list[tuple[str, int]]) -> list[dict]:
    import discord

    from tests.fakes.discord import FakeDiscord

    out = []
    async with FakeDiscord.running() as fake:
        fake.requests = _Stamped(fake.requests)
        async with bot_process(fake, gateway_base) as bot:
            admin = await fake.member(discord.Permissions(manage_guild=True), name="admin")
            it = await fake.slash(
                "settings limits",
                {
                    "user_jobs": 20,
                    "server_jobs": 200,
                    "user_hourly": 0,
                    "user_daily": 0,
                    "server_hourly": 0,
                    "server_daily": 0,
                },
                member=admin,
            )
            await fake.wait_for_interaction_reply(it, timeout=30)
            most = max(n for _, n in waves)
            members = [await fake.member(name=f"tp{i}") for i in range(most)]
            await imagine_state(fake, members[0], waves[0][0], 0)  # warm-up
            floors = await _floors(fake, bot, admin, members, sorted({s for s, _ in waves}))
            for w, (size, jobs) in enumerate(waves):
                layouts = sorted({min(FEW_CHANNELS, max(1, jobs // 2)), jobs})
                for channels in layouts:
                    tag = f"w{w}c{channels}"
                    row = await _wave(fake, bot, admin, members, size, jobs, channels, tag)
                    out.append(_with_floors(row, floors))
    return out
