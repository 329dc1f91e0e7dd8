"""The bot's own access rules, without Discord in the way."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

from bot.discord_bot.access import channel_allowed, ensure_can_use, is_admin
from bot.errors import AccessDenied
from bot.storage.base import GuildSettings

MEMBER = discord.Permissions(send_messages=True, use_application_commands=True)
MANAGER = discord.Permissions(manage_guild=True)
ADMIN = discord.Permissions(administrator=True)


class _Settings:
    def __init__(self, settings: GuildSettings) -> None:
        self.settings = settings

    async def get_settings(self, guild_id: int) -> GuildSettings:
        return self.settings


def _bot(allowed: tuple[int, ...] = (), guilds: frozenset[int] | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        store=_Settings(GuildSettings(guild_id=1, allowed_channels=allowed)),
        settings=SimpleNamespace(allowed_guilds=guilds),
    )


def test_admin_means_manage_server_or_administrator() -> None:
    assert is_admin(MANAGER) and is_admin(ADMIN)
    assert not is_admin(MEMBER)
    assert not is_admin(discord.Permissions(manage_channels=True, manage_messages=True))


async def test_no_allow_list_means_everywhere() -> None:
    settings = await ensure_can_use(_bot(), guild_id=1, channel_id=99, permissions=MEMBER)
    assert settings.guild_id == 1


async def test_allow_list_refuses_other_channels_for_members() -> None:
    bot = _bot((10, 11))
    await ensure_can_use(bot, guild_id=1, channel_id=10, permissions=MEMBER)
    with pytest.raises(AccessDenied, match="not enabled in this channel"):
        await ensure_can_use(bot, guild_id=1, channel_id=12, permissions=MEMBER)


async def test_admins_are_not_held_by_the_allow_list() -> None:
    await ensure_can_use(_bot((10,)), guild_id=1, channel_id=12, permissions=MANAGER)


async def test_threads_follow_their_parent_channel() -> None:
    settings = GuildSettings(guild_id=1, allowed_channels=(10,))
    assert channel_allowed(settings, 500, parent_id=10)
    assert not channel_allowed(settings, 500, parent_id=11)
    await ensure_can_use(_bot((10,)), guild_id=1, channel_id=500, parent_id=10, permissions=MEMBER)


async def test_a_server_allowed_guilds_does_not_list_is_refused_even_to_admins() -> None:
    await ensure_can_use(_bot(guilds=frozenset({1})), guild_id=1, channel_id=5, permissions=MEMBER)
    with pytest.raises(AccessDenied) as info:
        await ensure_can_use(
            _bot(guilds=frozenset({2})), guild_id=1, channel_id=5, permissions=ADMIN
        )
    assert str(info.value) == "I'm not available in this server; the bot's owner has not listed it."


async def test_direct_messages_are_refused() -> None:
    with pytest.raises(AccessDenied, match="direct messages"):
        await ensure_can_use(_bot(), guild_id=None, channel_id=5, permissions=ADMIN)
