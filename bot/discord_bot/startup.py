"""What an operator reads while the bot starts and keeps its connection: one line each.

Start-up failures from discord.py and aiohttp become ``ConfigError`` sentences that say
what to do (``explain_start_failure``); discord.py's per-retry traceback becomes one
WARNING (``ReconnectLine``); voice, which this bot never uses, stays quiet; and a
successful start is one INFO line with an invite URL (``ready_line``).
"""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.errors import ConfigError

PORTAL = "the Discord Developer Portal"
SCOPES = ("bot", "applications.commands")
# Exactly the permissions the README's set-up step lists, and no more.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    attach_files=True,
    embed_links=True,
    read_message_history=True,
)
INTENTS_REFUSED = (
    "Discord refused the Message Content intent: enable it in "
    f"{PORTAL} (Bot → Privileged Gateway Intents), or set MESSAGE_CONTENT_INTENT=false"
)
TOKEN_REJECTED = (
    f"DISCORD_TOKEN was rejected by Discord: reset it in {PORTAL} (Bot → Reset Token) "
    "and put the new one in .env"
)
# Gateway close codes that mean our configuration, not Discord's weather.
SHARDING_REQUIRED = (
    "Discord requires sharding for this many servers: set SHARD_COUNT (at most 2,500 "
    "servers per shard; see Sharding in the README)"
)
CLOSE_CODES = {
    4004: TOKEN_REJECTED,
    4010: "Discord refused the shard: give every process the same SHARD_COUNT, and SHARD_IDS "
    "below it",
    4011: SHARDING_REQUIRED,
    4012: "Discord refused the gateway API version this discord.py speaks: update discord.py",
    4013: "Discord refused the intents the bot asked for: update the bot",
    4014: INTENTS_REFUSED,
}
MISSING_ACCESS = 50001
# discord.py logs this (with a traceback) each time it retries the websocket.
_RECONNECT_MESSAGE = "Attempting a reconnect in %.2fs"


def invite_url(application_id: int) -> str:
    """The OAuth2 URL that adds the bot with the README's permissions and both scopes."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=SCOPES)


def ready_line(client: discord.Client) -> str:
    """``logged in as NAME (id ID) in N servers; invite: URL``: the start succeeded."""
    user = client.user
    count = len(client.guilds)
    servers = f"{count} server{'' if count == 1 else 's'}"
    name = user.name if user else "?"
    user_id = user.id if user else "?"
    invite = invite_url(client.application_id) if client.application_id else "unknown"
    return f"logged in as {name} (id {user_id}) in {servers}; invite: {invite}"


def not_in_dev_guild(guild_id: int, application_id: int | None) -> ConfigError:
    """The sync's 403 Missing Access for DEV_GUILD_ID: the bot is not in that server."""
    invite = f" with {invite_url(application_id)}" if application_id else ""
    return ConfigError(
        f"the bot is not in server DEV_GUILD_ID={guild_id}: invite it{invite}, "
        "or fix or remove DEV_GUILD_ID"
    )


def is_missing_access(exc: BaseException) -> bool:
    return isinstance(exc, discord.Forbidden) and exc.code == MISSING_ACCESS


def connection_cause(exc: BaseException) -> str:
    """Why a connection to Discord failed, in words (never a bare class name)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name does not resolve (DNS)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return exc.os_error.strerror or str(exc.os_error) or "cannot connect"
    if isinstance(exc, discord.ConnectionClosed):
        return f"the websocket closed with code {exc.code}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}{f' ({exc.text})' if exc.text else ''}"
    if isinstance(exc, discord.GatewayNotFound):
        return "the gateway URL could not be found"
    return str(exc) or type(exc).__name__


def _host(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"{exc.host}:{exc.port}"
    return "its gateway"


def explain_start_failure(exc: BaseException) -> ConfigError | None:
    """The one sentence for a known start-up failure, or None for an unexpected one."""
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return ConfigError(INTENTS_REFUSED)
    if isinstance(exc, discord.LoginFailure):
        return ConfigError(TOKEN_REJECTED)
    if isinstance(exc, discord.ConnectionClosed) and exc.code in CLOSE_CODES:
        return ConfigError(CLOSE_CODES[exc.code])
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConfigError(
            f"cannot reach Discord at {_host(exc)}: {connection_cause(exc)}; check the "
            "network, or DISCORD_API_BASE / DISCORD_GATEWAY_URL if you set them"
        )
    return None


def quiet_voice() -> None:
    """No "PyNaCl / davey is not installed" warnings: this bot never joins voice."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


class ReconnectLine(logging.Filter):
    """discord.py's retry traceback, rewritten as one WARNING saying what and when.

    Below DEBUG the traceback is dropped; at DEBUG it stays, for whoever asked for it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _RECONNECT_MESSAGE or not record.args:
            return True
        delay = record.args[0] if isinstance(record.args, tuple) else record.args
        error = record.exc_info[1] if record.exc_info else None
        cause = connection_cause(error) if error is not None else "connection lost"
        if isinstance(error, aiohttp.ClientConnectorError):
            record.msg = "cannot reach Discord at %s (%s); next attempt in %.1f s"
            record.args = (_host(error), cause, delay)
        else:
            record.msg = "lost the connection to Discord (%s); next attempt in %.1f s"
            record.args = (cause, delay)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            record.exc_info, record.exc_text = None, None
        return True


def install_reconnect_line() -> None:
    """Put ``ReconnectLine`` on discord.py's client logger (once)."""
    logger = logging.getLogger("discord.client")
    if not any(isinstance(f, ReconnectLine) for f in logger.filters):
        logger.addFilter(ReconnectLine())
