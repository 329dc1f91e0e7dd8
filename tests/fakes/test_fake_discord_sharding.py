"""The fake Discord's sharding, exercised by plain discord.py clients, one per shard.

Each client stands for a process serving one shard; the servers are placed by their ids
(``snowflake_on_shard``) on the shard Discord would route them to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord.http import Route

from tests.fakes import discord_payloads as p
from tests.fakes.discord import FakeDiscord, fast_bot_options, redirect_discord, running_bot
from tests.fakes.discord_records import shard_of


class ShardClient(discord.Client):
    """Records the messages and interactions its shard's session delivers; answers none."""

    def __init__(self, shard_id: int | None = None, shard_count: int | None = None) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(
            intents=intents, shard_id=shard_id, shard_count=shard_count, **fast_bot_options()
        )
        self.seen: list[str] = []
        self._arrived = asyncio.Condition()

    async def _saw(self, what: str) -> None:
        self.seen.append(what)
        async with self._arrived:
            self._arrived.notify_all()

    async def saw(self, count: int) -> None:
        """Return once ``count`` events have arrived."""
        async with self._arrived, asyncio.timeout(30):
            await self._arrived.wait_for(lambda: len(self.seen) >= count)

    async def on_message(self, message: discord.Message) -> None:
        await self._saw(f"message {message.id}")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self._saw(f"interaction {interaction.id}")


@contextlib.asynccontextmanager
async def fake_discord(**options: Any) -> AsyncIterator[FakeDiscord]:
    """A running fake with discord.py pointed at it."""
    async with FakeDiscord.running(**options) as fake:
        with redirect_discord(fake):
            yield fake


def on_shard(shard: int, count: int, name: str) -> p.Payload:
    return p.guild(name, id=p.snowflake_on_shard(shard, count))


@contextlib.asynccontextmanager
async def shard_clients(fake: FakeDiscord, count: int) -> AsyncIterator[list[ShardClient]]:
    """One READY client per shard of ``count``, all started at once."""
    clients = [ShardClient(i, count) for i in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(running_bot(c, fake)) for c in clients))
        yield clients


async def connect_failure(fake: FakeDiscord, client: ShardClient) -> discord.ConnectionClosed:
    with pytest.raises(discord.ConnectionClosed) as caught:
        async with running_bot(client, fake):
            pass
    return caught.value


def test_snowflake_on_shard_lands_on_that_shard() -> None:
    for count in (1, 2, 3, 16):
        for shard in range(count):
            assert shard_of(p.snowflake_on_shard(shard, count), count) == shard
    assert shard_of(None, 4) == 0  # no server (a DM): shard 0


async def test_each_session_gets_its_own_servers_and_their_events_only() -> None:
    zero, one = on_shard(0, 2, "Zero"), on_shard(1, 2, "One")
    async with fake_discord(guilds=[zero, one]) as fake:
        async with shard_clients(fake, 2) as (c0, c1):
            assert [g.id for g in c0.guilds] == [int(zero["id"])]
            assert [g.id for g in c1.guilds] == [int(one["id"])]
            member = await fake.member(guild=one)
            posted = await fake.post_message("hello", author=member, channel=one["channels"][0])
            it = await fake.dispatch_interaction(
                p.button_click(posted.payload, "x:1", **fake.envelope(member, guild=one))
            )
            await fake.dispatch("USER_UPDATE", fake.bot_user)  # no server: shard 0's
            await c1.saw(2)

    s0, s1 = fake.sessions[(0, 2)], fake.sessions[(1, 2)]
    assert [f["t"] for f in s0.log] == ["READY", "GUILD_CREATE", "USER_UPDATE"]
    assert [f["t"] for f in s1.log] == [
        "READY",
        "GUILD_CREATE",
        "MESSAGE_CREATE",
        "INTERACTION_CREATE",
    ]
    assert s0.events("READY")[0]["shard"] == [0, 2]
    assert [g["id"] for g in s1.events("READY")[0]["guilds"]] == [one["id"]]
    assert c0.seen == [] and c1.seen == [f"message {posted.id}", f"interaction {it.id}"]


async def test_an_interaction_is_answered_over_rest_from_another_process() -> None:
    zero, one = on_shard(0, 2, "Zero"), on_shard(1, 2, "One")
    async with fake_discord(guilds=[zero, one]) as fake:
        async with shard_clients(fake, 2) as (c0, c1):
            member = await fake.member(guild=one)
            it = await fake.dispatch_interaction(
                p.button_click(
                    p.message(one, one["channels"][0], member, "hi"),
                    "x:1",
                    **fake.envelope(member, guild=one),
                )
            )
            await c1.saw(1)
            route = Route(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                interaction_id=it.id,
                interaction_token=it.token,
            )
            await c0.http.request(route, json={"type": 4, "data": {"content": "from shard 0"}})
    assert c0.seen == []
    assert it.original is not None and it.original.content == "from shard 0"


async def test_concurrent_identifies_in_one_bucket_are_recorded_as_violations() -> None:
    async with fake_discord(identify_interval=60.0) as fake:
        async with shard_clients(fake, 2):
            pass
    first, second = fake.identify_log
    assert (first.bucket, second.bucket) == (0, 0)
    assert fake.violations == [
        f"IDENTIFY of shard {second.shard_id} {second.at - first.at:.3f} s after shard "
        f"{first.shard_id}'s, in bucket 0 of max_concurrency 1: one per 60 s"
    ]


async def test_shards_in_different_buckets_may_identify_together() -> None:
    async with fake_discord(max_concurrency=2, identify_interval=60.0) as fake:
        async with shard_clients(fake, 2):
            pass
    assert sorted((r.shard_id, r.num_shards, r.bucket) for r in fake.identify_log) == [
        (0, 2, 0),
        (1, 2, 1),
    ]
    assert fake.violations == []


async def test_a_shard_outside_the_count_is_closed_4010() -> None:
    async with fake_discord() as fake:
        closed = await connect_failure(fake, ShardClient(2, 2))
    assert closed.code == 4010
    assert fake.identifies == [] and fake.sessions == {}


async def test_too_many_servers_for_one_session_is_closed_4011() -> None:
    guilds = [p.guild(f"Server {n}") for n in range(3)]
    async with fake_discord(guilds=guilds, guilds_per_shard=2) as fake:
        closed = await connect_failure(fake, ShardClient())
    assert closed.code == 4011
    assert fake.recommended_shards == 2


async def test_gateway_bot_answers_shards_and_the_session_start_limit() -> None:
    async with fake_discord(shards=4, max_concurrency=16, session_start_total=50) as fake:
        client = ShardClient()
        async with running_bot(client, fake):
            shards, url, limit = await client.http.get_bot_gateway()
    assert (shards, url) == (4, fake.gateway_url)
    assert limit == {"total": 50, "remaining": 49, "reset_after": 0, "max_concurrency": 16}
