"""ALLOWED_GUILDS and the operator's quota caps: what protects the operator's money."""

from __future__ import annotations

import logging

import discord
import pytest

from bot.config import OperatorQuotas
from tests.fakes import discord_payloads as p
from tests.harness import BotHarness
from tests.settings.conftest import answer_text


async def test_the_bot_leaves_unlisted_servers_at_start_and_on_join(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    listed = h.fake.guild
    unlisted = p.guild("Someone Else's Server")
    await h.fake.join(unlisted)
    caplog.set_level(logging.WARNING, logger="bot.discord_bot.guilds")
    await h.restart(allowed_guilds=frozenset({int(listed["id"])}))
    await h.fake.wait_for(f"DELETE /users/@me/guilds/{unlisted['id']}", status=204)

    late = p.guild("Invited Later")
    await h.fake.join(late)
    await h.fake.wait_for(f"DELETE /users/@me/guilds/{late['id']}", status=204)
    assert [g["id"] for g in h.fake.guilds] == [listed["id"]]
    assert not h.fake.find(f"DELETE /users/@me/guilds/{listed['id']}")
    # The listed server still works (and this round trip lets both leaves finish logging).
    st = await h.result(await h.fake.slash("reset", {}))
    assert "no image history" in st.original.content
    assert [m for m in caplog.messages if m.startswith("left server")] == [
        f"left server Someone Else's Server ({unlisted['id']}): it is not in ALLOWED_GUILDS",
        f"left server Invited Later ({late['id']}): it is not in ALLOWED_GUILDS",
    ]


async def test_the_operator_s_default_quota_refuses_before_the_gateway(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await h.restart(quotas=OperatorQuotas(user_daily=1))
    member = await h.fake.member(name="thrifty")
    job = await h.store.create_job(
        kind="imagine",
        guild_id=h.guild_id,
        channel_id=int(h.fake.channel["id"]),
        user_id=int(member["user"]["id"]),
        prompt="earlier",
        params={},
    )
    await h.store.update_job(job.id, state="done")
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "one more"}, member=member)
    )
    assert st.original.ephemeral
    assert st.original.content == "You have used your 1 images for today. Try again later."
    assert h.gw.requests == []


async def test_a_server_quota_stored_above_the_cap_is_clamped(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, guild_hourly=500)
    await h.restart(quotas=OperatorQuotas(guild_hourly=1))
    job = await h.store.create_job(
        kind="imagine", guild_id=h.guild_id, channel_id=1, user_id=2, prompt="p", params={}
    )
    await h.store.update_job(job.id, state="done")
    st = await h.fake.interaction_result(await h.fake.slash("imagine", {"prompt": "next"}))
    assert (
        st.original.content == "This server has used its 1 images for this hour. Try again later."
    )
    assert h.gw.requests == []


@pytest.mark.parametrize(
    ("option", "value"), [("user_daily", 51), ("user_daily", 0)], ids=["above", "unlimited"]
)
async def test_settings_limits_above_the_operator_s_cap_is_refused(
    running_bot: BotHarness, option: str, value: int
) -> None:
    h = running_bot
    await h.restart(quotas=OperatorQuotas(user_daily=50))
    admin = await h.fake.member(discord.Permissions(manage_guild=True), name="admin")
    st = await h.fake.interaction_result(
        await h.fake.slash("settings limits", {option: value}, member=admin)
    )
    assert answer_text(st) == (
        "The bot's owner caps images per member per day at 50: set 50 or less."
    )
    assert (await h.store.get_settings(h.guild_id)).user_daily is None

    st = await h.fake.interaction_result(
        await h.fake.slash("settings limits", {option: 20}, member=admin)
    )
    assert "Per member: unlimited/hour, 20/day" in answer_text(st)
    st = await h.fake.interaction_result(await h.fake.slash("settings limits", {}, member=admin))
    assert "Per member: unlimited/hour, 20/day" in answer_text(st)
