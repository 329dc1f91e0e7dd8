"""SHARD_COUNT / SHARD_IDS through the real bot: one session per shard, each server served.

Servers are placed on shards by their ids (``snowflake_on_shard``), as Discord places them:
shard ``(guild_id >> 22) % SHARD_COUNT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Sharding
from bot.discord_bot.app import ImageBot, ShardedImageBot
from bot.runtime import IdentifyPacer, local_runtime
from bot.runtime.local import LocalIdentifyPacer
from bot.workers import CpuPool
from tests.fakes import discord_payloads as p
from tests.fakes.discord import FakeDiscord, redirect_discord
from tests.fakes.gateway import FakeGateway, Reply, images_response, png_bytes
from tests.harness import GATEWAY_KEY, connected_bot, make_settings


def guild_on(shard: int, count: int, name: str) -> p.Payload:
    return p.guild(name, id=p.snowflake_on_shard(shard, count))


class SharedIdentifyPacer:
    """What a database-backed pacer does, for bots in one test process: per bucket, the
    next free start, reserved in one step (``next_at = max(next_at, now) + interval``)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[int, float] = {}

    async def wait(self, shard_id: int, *, max_concurrency: int) -> None:
        bucket = shard_id % max_concurrency
        now = time.monotonic()
        start = max(self._next.get(bucket, now), now)
        self._next[bucket] = start + self.interval
        await asyncio.sleep(start - now)


@contextlib.asynccontextmanager
async def bots_together(
    fake: FakeDiscord,
    gw: FakeGateway,
    tmp_path: Path,
    cpu: CpuPool,
    shard_sets: Sequence[tuple[int, ...]],
    count: int,
    pacer: IdentifyPacer,
) -> AsyncIterator[list[ImageBot]]:
    """One bot per shard set, started at once and sharing ``pacer``, as processes would."""
    stacks = [contextlib.AsyncExitStack() for _ in shard_sets]
    try:
        bots = await asyncio.gather(
            *(
                stack.enter_async_context(
                    connected_bot(
                        make_settings(
                            fake, gw, tmp_path / f"bot{n}.db", sharding=Sharding(count, ids)
                        ),
                        cpu,
                        runtime=replace(local_runtime(), identify=pacer),
                    )
                )
                for n, (stack, ids) in enumerate(zip(stacks, shard_sets, strict=True))
            )
        )
        yield list(bots)
    finally:
        for stack in stacks:
            await stack.aclose()


async def test_two_shards_in_one_process_serve_a_server_on_each(
    tmp_path: Path, cpu_pool: CpuPool, caplog: pytest.LogCaptureFixture
) -> None:
    on_0, on_1 = guild_on(0, 2, "Zero"), guild_on(1, 2, "One")
    first, second = png_bytes(24, 16, (200, 10, 10)), png_bytes(16, 24, (10, 10, 200))
    caplog.set_level(logging.INFO, logger="bot.discord_bot.app")
    async with (
        FakeDiscord.running(guilds=[on_0, on_1]) as fake,
        FakeGateway(api_key=GATEWAY_KEY) as gw,
    ):
        with redirect_discord(fake):
            settings = make_settings(fake, gw, tmp_path / "bot.db", sharding=Sharding(2, (0, 1)))
            async with connected_bot(settings, cpu_pool) as bot:
                assert isinstance(bot, ShardedImageBot)
                assert {g.id for g in bot.guilds} == {int(on_0["id"]), int(on_1["id"])}
                gw.script(Reply(body=images_response([first])))
                zero = await fake.slash(
                    "imagine", {"prompt": "a red fox"}, channel=on_0["channels"][0]
                )
                # The result, not the progress message (its Cancel button is an edit too).
                zero = await fake.interaction_result(zero, _has_files, timeout=15)
                gw.script(Reply(body=images_response([second])))
                one = await fake.slash(
                    "imagine", {"prompt": "a blue jay"}, channel=on_1["channels"][0]
                )
                one = await fake.interaction_result(one, _has_files, timeout=15)

    assert zero.original is not None and [d for _, d in zero.original.files] == [first]
    assert one.original is not None and [d for _, d in one.original.files] == [second]
    shard_0, shard_1 = fake.sessions[(0, 2)], fake.sessions[(1, 2)]
    assert [i["shard"] for i in fake.identifies] == [[0, 2], [1, 2]]
    # READY and GUILD_CREATE list only the servers each shard owns.
    assert [g["id"] for g in shard_0.events("READY")[0]["guilds"]] == [on_0["id"]]
    assert [g["id"] for g in shard_1.events("READY")[0]["guilds"]] == [on_1["id"]]
    assert [g["id"] for g in shard_0.events("GUILD_CREATE")] == [on_0["id"]]
    assert [g["id"] for g in shard_1.events("GUILD_CREATE")] == [on_1["id"]]
    # Each interaction reached its server's shard only.
    assert [i["id"] for i in shard_0.events("INTERACTION_CREATE")] == [zero.id]
    assert [i["id"] for i in shard_1.events("INTERACTION_CREATE")] == [one.id]
    # discord.py's own wait before the second shard kept one IDENTIFY per 5 s.
    assert fake.violations == []
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("connecting shards 0,1 of 2") == 1
    ready = [m for m in messages if m.startswith("logged in as")]
    assert len(ready) == 1 and " in 2 servers; invite: " in ready[0], messages


async def test_unsharded_bot_is_a_plain_bot_that_never_asks_for_a_shard_count(
    tmp_path: Path, cpu_pool: CpuPool
) -> None:
    async with FakeDiscord.running() as fake, FakeGateway(api_key=GATEWAY_KEY) as gw:
        with redirect_discord(fake):
            settings = make_settings(fake, gw, tmp_path / "bot.db")
            async with connected_bot(settings, cpu_pool) as bot:
                assert type(bot) is ImageBot
    assert "shard" not in fake.identifies[0]
    assert fake.find("GET /gateway/bot") == []
    assert list(fake.sessions) == [(0, 1)]


@pytest.mark.parametrize(
    ("pacer", "interval", "violations"),
    # The pacer spaces the reservations; each bot's handshake between its reservation and
    # its IDENTIFY takes its own time (a loaded machine stretched the first's past the
    # second's), so the pacer keeps a margin over Discord's interval, as IDENTIFY_MARGIN
    # does. Without a pacer both IDENTIFY at once: the fake's long interval makes "at
    # once" hold however slowly the two bots start.
    [(SharedIdentifyPacer(interval=3.0), 2.0, 0), (LocalIdentifyPacer(), 60.0, 1)],
    ids=["shared-pacer", "no-pacer-across-processes"],
)
async def test_bots_on_one_bucket_identify_one_interval_apart(
    tmp_path: Path, cpu_pool: CpuPool, pacer: IdentifyPacer, interval: float, violations: int
) -> None:
    # max_concurrency 1: shards 0 and 1 share bucket 0, one IDENTIFY per interval.
    guilds = [guild_on(0, 2, "Zero"), guild_on(1, 2, "One")]
    async with (
        FakeDiscord.running(guilds=guilds, max_concurrency=1, identify_interval=interval) as fake,
        FakeGateway(api_key=GATEWAY_KEY) as gw,
    ):
        with redirect_discord(fake):
            async with bots_together(fake, gw, tmp_path, cpu_pool, [(0,), (1,)], 2, pacer):
                pass
    assert sorted(r.shard_id for r in fake.identify_log) == [0, 1]
    assert len(fake.violations) == violations, fake.violations
    if not violations:
        first, second = fake.identify_log
        assert second.at - first.at >= 2.0


async def test_the_pacer_is_told_max_concurrency_from_gateway_bot(
    tmp_path: Path, cpu_pool: CpuPool
) -> None:
    # Buckets 0 and 1 of max_concurrency 2: neither waits. Had the bot not passed on
    # /gateway/bot's max_concurrency, both shards would share a bucket and the second
    # would wait the pacer's whole hour.
    guilds = [guild_on(0, 2, "Zero"), guild_on(1, 2, "One")]
    pacer = SharedIdentifyPacer(interval=3600.0)
    async with (
        FakeDiscord.running(guilds=guilds, max_concurrency=2) as fake,
        FakeGateway(api_key=GATEWAY_KEY) as gw,
    ):
        with redirect_discord(fake):
            async with bots_together(fake, gw, tmp_path, cpu_pool, [(0,), (1,)], 2, pacer):
                pass
    assert sorted((r.shard_id, r.bucket) for r in fake.identify_log) == [(0, 0), (1, 1)]
    assert fake.violations == []
    assert len(fake.find("GET /gateway/bot")) == 2  # once per process


def _has_files(st: object) -> bool:
    original = getattr(st, "original", None)
    return original is not None and bool(original.files)
