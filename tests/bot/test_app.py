"""Start-up: login, intents, command sync scope."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import discord
import pytest

from bot.discord_bot.app import open_bot
from bot.errors import ConfigError
from bot.workers import CpuPool
from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway
from tests.harness import BotHarness, connected_bot, make_settings


async def test_rejected_token_is_a_config_error(
    fakes: tuple[FakeDiscord, FakeGateway], tmp_path: Path, cpu_pool: CpuPool
) -> None:
    fake, gw = fakes
    settings = replace(make_settings(fake, gw, tmp_path / "db.sqlite"), token="not-the-token")
    with pytest.raises(ConfigError, match="DISCORD_TOKEN was rejected by Discord"):
        async with open_bot(settings, cpu=cpu_pool):
            pass


async def test_identifies_with_only_the_intents_it_needs(running_bot: BotHarness) -> None:
    intents = discord.Intents._from_value(running_bot.fake.identifies[-1]["intents"])
    assert intents == discord.Intents(guilds=True, guild_messages=True, message_content=True)


async def test_commands_sync_globally_with_the_public_names(running_bot: BotHarness) -> None:
    fake = running_bot.fake
    names = {(c["name"], c.get("type", 1)) for c in fake.global_commands}
    assert {("imagine", 1), ("blend", 1), ("edit", 1), ("reset", 1), ("Edit image", 3)} <= names
    imagine = fake.command("imagine")
    assert [o["name"] for o in imagine["options"]] == [
        "prompt",
        "image",
        "image2",
        "image3",
        "aspect_ratio",
        "size",
        "model",
        "count",
        "private",
    ]
    assert [o["name"] for o in fake.command("edit")["options"]] == [
        "prompt",
        "image",
        "private",
        "region",
    ]
    blend = fake.command("blend")["options"]
    assert [(o["name"], o.get("required", False)) for o in blend] == [
        ("image1", True),
        ("image2", True),
        *((f"image{n}", False) for n in range(3, 7)),
        ("prompt", False),
        ("aspect_ratio", False),
        ("private", False),
    ]


async def test_dev_guild_gets_the_commands_and_message_content_can_be_off(
    fakes: tuple[FakeDiscord, FakeGateway], tmp_path: Path, cpu_pool: CpuPool
) -> None:
    fake, gw = fakes
    settings = replace(
        make_settings(fake, gw, tmp_path / "db.sqlite"),
        dev_guild_id=int(fake.guild["id"]),
        message_content_intent=False,
    )
    async with connected_bot(settings, cpu_pool):
        assert {c["name"] for c in fake.guild_commands[fake.guild["id"]]} >= {
            "imagine",
            "edit",
            "reset",
        }
        assert not discord.Intents._from_value(fake.identifies[-1]["intents"]).message_content
