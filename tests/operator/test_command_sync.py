"""Command sync spends Discord's daily creates only when the command set changed."""

from __future__ import annotations

import logging
import re

import pytest

from bot.discord_bot import app
from tests.fakes import discord_payloads as p
from tests.harness import BotHarness

GLOBAL_PUT = re.compile(r"PUT /applications/\d+/commands")
ALL = [
    *("Edit image", "blend", "edit", "history", "imagine", "me", "preferences", "ref"),
    *("reset", "settings"),
]


def puts(h: BotHarness, guild: str | None = None) -> list[list[str]]:
    """The command names each PUT sent, globally or to one server, in order."""
    where = f"PUT /applications/*/guilds/{guild}/commands" if guild else GLOBAL_PUT
    return [sorted(c["name"] for c in r.json) for r in h.fake.find(where)]


async def synced_to_the_server(h: BotHarness) -> str:
    """Restarted with DEV_GUILD_ID set to the fake's server; its id."""
    guild = h.fake.guild["id"]
    await h.restart(dev_guild_id=int(guild))
    assert "imagine" in puts(h, guild)[-1]
    return guild


async def test_a_restart_with_the_same_commands_sends_nothing(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    assert len(puts(h)) == 1
    caplog.set_level(logging.INFO, logger="bot.discord_bot.sync")
    await h.restart()
    assert len(puts(h)) == 1
    assert "commands unchanged since the last sync: not synced again" in caplog.messages

    # A changed command set (here: /edit and the context menu gone) is synced once.
    monkeypatch.setattr(app, "COGS", ("cogs.imagine", "cogs.settings"))
    await h.restart()
    await h.restart()
    assert puts(h) == [ALL, ["imagine", "reset", "settings"]]
    assert sorted(c["name"] for c in h.fake.global_commands) == ["imagine", "reset", "settings"]


async def test_removing_dev_guild_id_clears_that_server_s_copies_once(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    guild = await synced_to_the_server(h)
    assert {c["name"] for c in h.fake.guild_commands[guild]} >= {"imagine", "edit", "reset"}

    caplog.set_level(logging.INFO, logger="bot.discord_bot.sync")
    await h.restart(dev_guild_id=None)
    # Back to global: synced there (the target changed), and the server's copies cleared.
    assert puts(h, guild) == [puts(h, guild)[0], []]
    assert h.fake.guild_commands[guild] == []
    assert len(puts(h)) == 2
    assert f"cleared the commands an earlier DEV_GUILD_ID left in server {guild}" in caplog.messages
    await h.restart()
    assert len(puts(h, guild)) == 2 and len(puts(h)) == 2


async def test_a_dev_guild_the_bot_has_left_is_forgotten_after_one_warning(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    guild = await synced_to_the_server(h)
    h.fake.guilds.clear()  # kicked while offline: Discord refuses that server's commands
    caplog.set_level(logging.INFO, logger="bot.discord_bot.sync")
    await h.restart(dev_guild_id=None)
    warning = (
        f"could not clear the commands an earlier DEV_GUILD_ID left in server {guild}: "
        "the bot is no longer there"
    )
    assert caplog.messages.count(warning) == 1
    await h.restart()
    assert caplog.messages.count(warning) == 1
    assert len(puts(h, guild)) == 2  # the first sync, and the one refused attempt


async def test_another_application_on_the_same_database_gets_its_commands(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.fake.application_id = second = p.snowflake()  # DISCORD_TOKEN now names another bot
    await h.restart()
    sent = h.fake.find(f"PUT /applications/{second}/commands")
    assert [sorted(c["name"] for c in r.json) for r in sent] == [ALL]
    assert sorted(c["name"] for c in h.fake.global_commands) == sorted(ALL)


async def test_a_dev_server_is_cleared_by_the_application_that_synced_it(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    first = h.fake.application_id
    guild = await synced_to_the_server(h)

    h.fake.application_id = second = p.snowflake()
    await h.restart(dev_guild_id=None)
    # The first application's copies there are not the second one's to clear.
    assert h.fake.find(f"PUT /applications/{second}/guilds/{guild}/commands") == []

    h.fake.application_id = first  # and back: the first one still owes that clean-up
    await h.restart()
    cleared = h.fake.find(f"PUT /applications/{first}/guilds/{guild}/commands")
    assert [r.json for r in cleared][-1] == []
