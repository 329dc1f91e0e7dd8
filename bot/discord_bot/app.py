"""The Discord bot: built on ``Services``, cogs loaded, commands synced, crashed jobs reported.

``open_bot`` opens the services once (``bot.services.open_services``) and yields a
logged-in ``ImageBot`` that has not yet connected to the websocket; ``run`` (what
``python -m bot`` calls) connects it, and the tests drive the very same object.

Intents: guilds, guild messages, and message content. The last is privileged: turn on
"Message Content Intent" under Bot in the Discord Developer Portal, or set
MESSAGE_CONTENT_INTENT=false (reply-to-edit then only works when the reply mentions
the bot, because Discord blanks other messages' content).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import BotSettings
from bot.discord_bot.buttons import PERSISTENT_ITEMS, JobButton, rerun_view
from bot.discord_bot.components import answer_stale_form, press
from bot.discord_bot.delivery import only_pinging, trim
from bot.discord_bot.errors import report
from bot.discord_bot.guilds import install_guild_gate
from bot.discord_bot.startup import (
    explain_start_failure,
    install_reconnect_line,
    is_missing_access,
    not_in_dev_guild,
    quiet_voice,
    ready_line,
)
from bot.discord_bot.sync import sync_commands
from bot.errors import AccessDenied, ImagineError
from bot.jobs import JobRunner
from bot.maintenance import expire_jobs, interrupted_jobs
from bot.operator_alerts import OperatorAlerts
from bot.services import Services, open_services
from bot.storage.base import JobRecord
from bot.workers import MAIN_KEEP_FREED_BYTES, MAIN_MMAP_THRESHOLD, CpuPool, keep_freed_memory

log = logging.getLogger(__name__)

COGS = ("cogs.imagine", "cogs.edit", "cogs.settings")


def apply_discord_endpoints(api_base: str | None, gateway_url: str | None) -> None:
    """Point discord.py at another REST base / websocket gateway (a proxy or a test server)."""
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def bot_intents(settings: BotSettings) -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = settings.message_content_intent
    return intents


class ImageTree(app_commands.CommandTree["ImageBot"]):
    async def on_error(
        self, interaction: discord.Interaction[ImageBot], error: app_commands.AppCommandError
    ) -> None:
        original: BaseException = getattr(error, "original", error)
        if isinstance(original, app_commands.CheckFailure):
            original = AccessDenied(str(original) or None)
        elif isinstance(original, app_commands.TransformerError):
            original = ImagineError(
                f"That value is not valid for {original.transformer._error_display_name}."
            )
        await report(interaction, original)


class ImageBot(commands.Bot):
    """The Discord client on a ``Services``: it owns no resource and no core rule."""

    def __init__(self, services: Services, **options: Any) -> None:
        settings = services.settings
        options = {"chunk_guilds_at_startup": False, **options}
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=bot_intents(settings),
            tree_cls=ImageTree,
            member_cache_flags=discord.MemberCacheFlags.none(),
            # Nobody is pinged unless a send names them: results echo prompts as typed.
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.services = services
        self.settings = settings
        self.store = services.store
        # ``self.http`` is discord.py's own REST client (Client uses it internally),
        # so the httpx client for CDN downloads and the gateway is ``self.web``.
        self.web = services.http
        self.cpu = services.cpu
        self.gateway = services.gateway
        self.keybox = services.keybox
        self.runtime = services.runtime
        self.jobs = JobRunner(services)
        self._announced = False

    async def setup_hook(self) -> None:
        for name in COGS:
            await self.load_extension(name)
        self.add_dynamic_items(*PERSISTENT_ITEMS)
        install_guild_gate(self, self.settings.allowed_guilds)
        await self._sync_commands()
        tasks = self.runtime.tasks
        interrupted = await interrupted_jobs(self.store, self.settings.instance_name)
        if interrupted:
            tasks.spawn(self._report_interrupted(interrupted), name="interrupted")
        tasks.spawn(expire_jobs(self.store, self.settings.job_retention_days), name="expire-jobs")

    async def _sync_commands(self) -> None:
        try:
            await sync_commands(self.tree, self.store, self.settings.dev_guild_id)
        except discord.HTTPException as exc:
            if self.settings.dev_guild_id and is_missing_access(exc):
                raise not_in_dev_guild(self.settings.dev_guild_id, self.application_id) from exc
            log.exception("command sync failed; commands may be out of date")

    async def _report_interrupted(self, jobs: list[JobRecord]) -> None:
        for job in jobs:
            prompt = trim(job.prompt, 200)
            content = (
                f"<@{job.user_id}> Your image request “{prompt}” was interrupted "
                "because I restarted before it finished. Press the button to run it again."
            )
            try:
                await self.get_partial_messageable(job.channel_id, guild_id=job.guild_id).send(
                    content, view=rerun_view(job.id), allowed_mentions=only_pinging(job.user_id)
                )
            except discord.HTTPException:
                log.warning("could not report interrupted job %s", job.id)

    async def press(self, button: JobButton, interaction: discord.Interaction[Any]) -> None:
        """A result's button was pressed (``bot.discord_bot.buttons.ButtonHandler``)."""
        await press(button, interaction)

    async def on_ready(self) -> None:
        if not self._announced:
            self._announced = True
            log.info("%s", ready_line(self))

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        await answer_stale_form(interaction)

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: replies are handled by cogs.edit's listener, and
        # processing mentions as commands would only log CommandNotFound.
        return

    async def close(self) -> None:
        await self.runtime.close()
        await super().close()


@asynccontextmanager
async def open_bot(
    settings: BotSettings, *, cpu: CpuPool | None = None, **bot_options: Any
) -> AsyncIterator[ImageBot]:
    """Every resource opened once, and a logged-in bot ready to ``connect()``.

    ``cpu`` lets a test suite share one process pool between bots; ``bot_options`` go
    to ``discord.Client`` (e.g. a shorter ``guild_ready_timeout``).
    """
    apply_discord_endpoints(settings.api_base, settings.gateway_url)
    keep_freed_memory(MAIN_KEEP_FREED_BYTES, MAIN_MMAP_THRESHOLD)
    quiet_voice()
    install_reconnect_line()
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(
            open_services(settings, cpu=cpu, alerts=OperatorAlerts())
        )
        bot = ImageBot(services, **bot_options)
        stack.push_async_callback(bot.close)
        try:
            await bot.login(settings.token)
        except (discord.DiscordException, aiohttp.ClientError) as exc:
            explained = explain_start_failure(exc)
            if explained is None:
                raise
            raise explained from exc
        yield bot


async def run(settings: BotSettings) -> None:
    """``python -m bot``: run until Discord fails us or SIGINT / SIGTERM asks us to stop.

    A signal closes the bot cleanly (exit 0) at any point, opening, logging in or waiting
    to reconnect included: the websocket, the database and the workers. Jobs still in
    flight stay "running" in the database and are reported to their users, with a
    "Run again" button, at the next start.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await _until_stopped(_serve(settings), stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run ``work``; once ``stop`` is set, cancel it (its exit stacks close what it opened)."""
    task = asyncio.create_task(work, name="bot")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        log.info("stopping: signal received")
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if not task.cancelled():
        task.result()


async def _serve(settings: BotSettings) -> None:
    async with open_bot(settings) as bot:
        try:
            await bot.connect(reconnect=True)
        except asyncio.CancelledError:
            # The signal: say goodbye to Discord before the exit stack closes the rest.
            # ``connect`` may be asleep before a retry, which close() alone would not end.
            await bot.close()
            raise
        except (discord.DiscordException, aiohttp.ClientError) as exc:
            explained = explain_start_failure(exc)
            if explained is None:
                raise
            raise explained from exc
