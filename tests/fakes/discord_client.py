"""Wiring the real discord.py client to the fake Discord: its URLs, starting a bot, stopping it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterator,
)
from typing import TYPE_CHECKING, Any

import discord
import yarl

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord


@contextlib.contextmanager
def redirect_discord(
    fake: FakeDiscord | None = None, *, api_base: str | None = None, gateway_url: str | None = None
) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the fake; restore on exit."""
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = api_base or (fake.api_base if fake else old_base)
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
        gateway_url or (fake.gateway_url if fake else str(old_gateway))
    )
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@contextlib.asynccontextmanager
async def until_ready(
    bot: discord.Client,
    runner: Coroutine[Any, Any, None],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 (a loaded 2-core machine: see fakes.discord.WAIT)
) -> AsyncIterator[discord.Client]:
    """Run `runner` (the bot's start or connect), yield once READY, always close the bot.

    Closing matters: a bot left open keeps its websocket and teardown hangs for a minute.
    """
    task = asyncio.create_task(runner, name="fake-discord-bot")
    ready = asyncio.create_task(bot.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()
            raise RuntimeError("the bot stopped before it was ready")
        if ready not in done:
            raise AssertionError(f"bot not ready within {timeout}s")
        yield bot
    finally:
        ready.cancel()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)


def running_bot(
    bot: discord.Client,
    fake: FakeDiscord,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 (a loaded 2-core machine: see fakes.discord.WAIT)
    start: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> contextlib.AbstractAsyncContextManager[discord.Client]:
    """Start `bot` against `fake` (see `until_ready`).

    `start` replaces `bot.start(fake.token)`, e.g. `lambda: bot.connect(reconnect=False)`
    for a bot that is already logged in.
    """
    runner = start() if start is not None else bot.start(fake.token)
    return until_ready(bot, runner, timeout=timeout)


def fast_bot_options() -> dict[str, Any]:
    """Client options that skip startup waits that only matter against the real Discord."""
    return {"chunk_guilds_at_startup": False, "guild_ready_timeout": 0.05}
