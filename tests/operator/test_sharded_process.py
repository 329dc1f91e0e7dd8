"""``python -m bot`` with SHARD_COUNT=2 on PostgreSQL: one process, both shards, each served."""

from __future__ import annotations

import re
from pathlib import Path

from bot.discord_bot.startup import SHARDING_REQUIRED, invite_url
from tests.fakes import discord_payloads as p
from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway, Reply, images_response, png_bytes
from tests.harness import final_answer
from tests.processes import GATEWAY_KEY, TOKEN, bot_environment, bot_process


async def test_one_process_serves_both_shards_and_says_so_once(
    tmp_path: Path, postgres_url: str
) -> None:
    on_0 = p.guild("Zero", id=p.snowflake_on_shard(0, 2))
    on_1 = p.guild("One", id=p.snowflake_on_shard(1, 2))
    image = png_bytes(20, 20, (0, 160, 90))
    async with (
        FakeDiscord.running(token=TOKEN, guilds=[on_0, on_1]) as fake,
        FakeGateway(api_key=GATEWAY_KEY) as gw,
    ):
        gw.script(Reply(body=images_response([image])))
        # Global commands (no DEV_GUILD_ID), so both servers have /imagine.
        env = bot_environment(
            fake,
            gw,
            tmp_path,
            SHARD_COUNT="2",
            DEV_GUILD_ID="",
            LOG_LEVEL="INFO",
            DATABASE_URL=postgres_url,
        )
        async with bot_process(env, tmp_path) as bot:
            ready = await bot.wait_for_line(r"logged in as")
            it = await fake.slash("imagine", {"prompt": "a heron"}, channel=on_1["channels"][0])
            state = await fake.interaction_result(it, final_answer, timeout=30)
            assert await bot.stop() == 0

    assert state.original is not None and [d for _, d in state.original.files] == [image]
    assert [i["shard"] for i in fake.identifies] == [[0, 2], [1, 2]]
    assert fake.sessions[(1, 2)].events("INTERACTION_CREATE")[0]["id"] == it.id
    assert fake.violations == []
    assert ready.endswith(
        f"logged in as {fake.bot_user['username']} (id {fake.bot_user['id']}) in 2 servers; "
        f"invite: {invite_url(int(fake.application_id))}"
    )
    assert len([line for line in bot.lines if "logged in as" in line]) == 1
    assert len([line for line in bot.lines if re.search(r"connecting shards 0,1 of 2$", line)]) == 1
    assert not any("Traceback" in line for line in bot.lines)


async def test_discord_requiring_sharding_is_one_line(tmp_path: Path) -> None:
    guilds = [p.guild(f"Server {n}") for n in range(3)]
    async with (
        FakeDiscord.running(token=TOKEN, guilds=guilds, guilds_per_shard=2) as fake,
        FakeGateway(api_key=GATEWAY_KEY) as gw,
    ):
        env = bot_environment(fake, gw, tmp_path, LOG_LEVEL="INFO")
        async with bot_process(env, tmp_path) as bot:
            status = await bot.process.wait()
            await bot.wait_for_line(r"^error: ")
    assert status == 1
    assert bot.lines[-1] == f"error: {SHARDING_REQUIRED}"
    assert SHARDING_REQUIRED == (
        "Discord requires sharding for this many servers: set SHARD_COUNT (at most 2,500 "
        "servers per shard; see Sharding in the README)"
    )
    assert not any("Traceback" in line for line in bot.lines)
