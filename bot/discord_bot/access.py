"""Who may do what, where: the bot's own checks, independent of Discord's.

Discord's ``default_member_permissions`` only hides commands; a server can override it,
and buttons and replies bypass it entirely. So every entry point asks here.

Decisions:
- Admin means Manage Server or Administrator in the interaction's channel.
- A guild's channel allow-list (``GuildSettings.allowed_channels``) applies to /imagine,
  /edit, replies, context menus and buttons. A thread counts as its parent channel.
  Admins are not held by it: they can change the list anyway, so refusing them would
  only add friction, and /settings must work everywhere to undo a wrong list.
- A server ALLOWED_GUILDS does not list is refused (the bot leaves it: ``guilds.py``;
  this covers a leave that failed).
- Direct messages are refused. Settings, limits, quotas and usage are per server, so a
  DM would spend the operator's default gateway with no limit an admin could set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.discord_bot.guilds import guild_allowed
from bot.errors import AccessDenied
from bot.i18n import _

if TYPE_CHECKING:
    from bot.storage.base import GuildSettings

NOT_ADMIN = _("Only members with Manage Server can change the bot's settings.")
NOT_ENABLED_HERE = _("I'm not enabled in this channel. Ask an admin to run /settings channels.")
NO_DMS = _("I only work in servers, not in direct messages.")
NOT_THIS_SERVER = _("I'm not available in this server; the bot's owner has not listed it.")


async def first_delivery(interaction: discord.Interaction[Any]) -> bool:
    """Whether this process acts on the interaction: False where another already does.

    Discord sends a server's events to every session holding its shard, and during a
    hand-over or a reshard two processes hold one; an interaction is acknowledged once,
    so the one that claims it first in the database answers, and the other stays silent
    (both admitting it would count one request twice toward limits and quotas).
    """
    return await interaction.client.runtime.claims.first("interaction", interaction.id)


def is_admin(permissions: discord.Permissions) -> bool:
    """True for members with Manage Server or Administrator."""
    return bool(permissions.manage_guild or permissions.administrator)


async def ensure_admin(interaction: discord.Interaction[Any]) -> None:
    """Refuse anyone who may not change this server's settings."""
    if interaction.guild_id is None:
        raise AccessDenied(NO_DMS)
    if not guild_allowed(interaction.client.settings.allowed_guilds, interaction.guild_id):
        raise AccessDenied(NOT_THIS_SERVER)
    if not is_admin(interaction.permissions):
        raise AccessDenied(NOT_ADMIN)


def in_server(interaction: discord.Interaction[Any]) -> int:
    """The guild id of a command that needs no channel allow-list (a member's own things)."""
    if interaction.guild_id is None:
        raise AccessDenied(NO_DMS)
    if not guild_allowed(interaction.client.settings.allowed_guilds, interaction.guild_id):
        raise AccessDenied(NOT_THIS_SERVER)
    return interaction.guild_id


def channel_allowed(settings: GuildSettings, channel_id: int, parent_id: int | None = None) -> bool:
    """True when the allow-list is empty or names the channel (or a thread's parent)."""
    allowed = settings.allowed_channels
    return not allowed or channel_id in allowed or (parent_id is not None and parent_id in allowed)


async def ensure_can_use(
    bot: Any,
    *,
    guild_id: int | None,
    channel_id: int,
    permissions: discord.Permissions,
    parent_id: int | None = None,
) -> GuildSettings:
    """The guild's current settings if the member may use the bot here, else AccessDenied.

    Read from the store every time, so an allow-list change takes effect at once.
    ``parent_id`` is a thread's parent channel, if any.
    """
    if guild_id is None:
        raise AccessDenied(NO_DMS)
    if not guild_allowed(bot.settings.allowed_guilds, guild_id):
        raise AccessDenied(NOT_THIS_SERVER)
    settings = await bot.store.get_settings(guild_id)
    if is_admin(permissions) or channel_allowed(settings, channel_id, parent_id):
        return settings
    raise AccessDenied(NOT_ENABLED_HERE)


def interaction_parent_id(interaction: discord.Interaction[Any]) -> int | None:
    """The parent channel of a thread the interaction happened in, else None."""
    channel = interaction.channel
    return getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else None
