"""Three real processes on two shards: every shard served, settings and a member's limit shared.

A server's events reach only the process holding its shard, so "another process" is
another server's (the member's limit counts jobs in every server) or the process that
takes a shard over (a rolling restart: the new session replaces the old one's).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord

from bot.storage import open_store
from tests.fakes import discord_payloads as p
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.scale.cluster import PATIENCE, cluster, no_tracebacks

BUSY = "You already have 1 image generating; wait for one to finish."


async def test_every_shard_is_served_and_a_member_s_limit_holds_across_processes(
    tmp_path: Path, postgres_url: str
) -> None:
    g0 = p.guild("Zero", id=p.snowflake_on_shard(0, 2))
    g1 = p.guild("One", id=p.snowflake_on_shard(1, 2))
    someone = p.user("someone")
    in_g0, in_g1 = p.member(g0, someone), p.member(g1, someone)
    admin = p.member(g1, p.user("admin"), permissions=discord.Permissions(manage_guild=True))
    images = [png_bytes(10, 10, (n * 40, 90, 30)) for n in range(4)]
    c0, c1 = g0["channels"][0], g1["channels"][0]
    # Two rate-limit buckets: shards 0 and 1 IDENTIFY without waiting for each other.
    async with cluster(tmp_path, postgres_url, guilds=[g0, g1], max_concurrency=2) as c:
        fake, gw = c.fake, c.gw
        async with (
            c.process("a", SHARD_COUNT="2", SHARD_IDS="0") as a,
            c.process("b", SHARD_COUNT="2", SHARD_IDS="1") as b,
        ):
            await c.ready(a, b)
            # 1. each server's /imagine is served by the process holding its shard.
            gw.script(Reply(body=images_response([images[0]])))
            on_0 = await c.result(
                await fake.slash("imagine", {"prompt": "zero"}, member=in_g0, channel=c0)
            )
            gw.script(Reply(body=images_response([images[1]])))
            on_1 = await c.result(
                await fake.slash("imagine", {"prompt": "one"}, member=in_g1, channel=c1)
            )
            # 2. an admin sets the member limit of server One through b, with no line: over
            # the limit is refused at once (waiting in the shared line: tests/runtime/test_queue).
            limits = await c.result(
                await fake.slash(
                    "settings limits", {"user_jobs": 1, "queue_limit": 0}, member=admin, channel=c1
                )
            )
            # A slot goes just after its answer: the member's earlier jobs must not count.
            await c.slots_released()
            # 3. the member's job in server Zero (process a) is held at the gateway ...
            release = asyncio.Event()
            gw.script(Reply(body=images_response([images[2]]), hold=release))
            held = await fake.slash("imagine", {"prompt": "held"}, member=in_g0, channel=c0)
            async with asyncio.timeout(PATIENCE):
                await gw.wait_for_requests(3)
            # ... so b refuses the member's next one in server One.
            refused_by_b = await c.result(
                await fake.slash("imagine", {"prompt": "no"}, member=in_g1, channel=c1)
            )
            b_session = fake.sessions[(1, 2)]
            # c takes shard 1 over from b (as a rolling restart does): it honours what b stored.
            async with c.process("c", SHARD_COUNT="2", SHARD_IDS="1") as later:
                await c.ready(later)
                refused_by_c = await c.result(
                    await fake.slash("imagine", {"prompt": "no again"}, member=in_g1, channel=c1)
                )
                c_session = fake.sessions[(1, 2)]
                release.set()
                done = await c.result(held)
                await c.slots_released()
                gw.script(Reply(body=images_response([images[3]])))
                after = await c.result(
                    await fake.slash("imagine", {"prompt": "now"}, member=in_g1, channel=c1)
                )
                assert await later.stop() == 0
            assert await a.stop() == 0 and await b.stop() == 0

    assert [d for _, d in on_0.original.files] == [images[0]]
    assert [d for _, d in on_1.original.files] == [images[1]]
    assert [d for _, d in done.original.files] == [images[2]]
    assert [d for _, d in after.original.files] == [images[3]]
    assert [i["id"] for i in fake.sessions[(0, 2)].events("INTERACTION_CREATE")] == [
        on_0.id,
        held.id,
    ]
    assert b_session.events("INTERACTION_CREATE")[0]["id"] == on_1.id
    assert c_session is not b_session
    assert [i["id"] for i in c_session.events("INTERACTION_CREATE")] == [refused_by_c.id, after.id]
    assert limits.answered()
    assert refused_by_b.original.content == BUSY
    assert refused_by_c.original.content == BUSY
    store = await open_store(postgres_url)
    try:
        assert (await store.get_settings(int(g1["id"]))).user_concurrency == 1
        owners = [(await store.get_job(n)).owner.split(":")[0] for n in (1, 2, 3, 4)]
    finally:
        await store.close()
    assert owners == ["a", "b", "a", "c"]  # refusals leave no job behind
    assert fake.violations == []
    assert no_tracebacks(a, b, later) == []
