"""ALLOWED_GUILDS: the bot leaves every server the operator did not list.

Leaving rather than ignoring: an ignored server still shows the commands, and its
members would only meet refusals; a leave is visible to the server and in the log, and
it can invite the bot again once the operator lists it. Checked at READY (servers that
invited the bot while it was offline, or before the list was set) and on each join.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

log = logging.getLogger(__name__)


def guild_allowed(allowed: frozenset[int] | None, guild_id: int | None) -> bool:
    """Whether the bot may serve this server (no ALLOWED_GUILDS: every server)."""
    return allowed is None or guild_id in allowed


async def leave_if_unlisted(guild: discord.Guild, allowed: frozenset[int] | None) -> bool:
    """Leave ``guild`` if ALLOWED_GUILDS does not name it; True if it was left."""
    if guild_allowed(allowed, guild.id):
        return False
    try:
        await guild.leave()
    except discord.HTTPException as exc:
        log.warning(
            "server %s (%s) is not in ALLOWED_GUILDS, but leaving it failed (%s); "
            "its commands are refused",
            guild.name,
            guild.id,
            exc.status,
        )
        return False
    log.warning("left server %s (%s): it is not in ALLOWED_GUILDS", guild.name, guild.id)
    return True


def install_guild_gate(bot: commands.Bot, allowed: frozenset[int] | None) -> None:
    """Leave unlisted servers at READY and when the bot joins one; nothing without a list."""
    if allowed is None:
        return

    async def on_ready() -> None:
        for guild in list(bot.guilds):
            await leave_if_unlisted(guild, allowed)

    async def on_guild_join(guild: discord.Guild) -> None:
        await leave_if_unlisted(guild, allowed)

    bot.add_listener(on_ready, "on_ready")
    bot.add_listener(on_guild_join, "on_guild_join")


__all__ = ["guild_allowed", "install_guild_gate", "leave_if_unlisted"]
