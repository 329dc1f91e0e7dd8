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
import dataclasses
import logging
import signal
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import BotSettings
from bot.discord_bot.access import first_delivery
from bot.discord_bot.buttons import (
    PERSISTENT_ITEMS,
    ImageButton,
    JobButton,
    RegionSelect,
    rerun_view,
)
from bot.discord_bot.components import answer_stale_form, press
from bot.discord_bot.delivery import only_pinging, trim
from bot.discord_bot.errors import report
from bot.discord_bot.guilds import install_guild_gate
from bot.discord_bot.queueing import Durations
from bot.discord_bot.resume import resume_queued
from bot.discord_bot.speech import answer_in, job_locale
from bot.discord_bot.startup import (
    explain_start_failure,
    install_reconnect_line,
    is_missing_access,
    not_in_dev_guild,
    quiet_voice,
    ready_line,
)
from bot.discord_bot.sync import sync_commands
from bot.discord_bot.translator import CatalogTranslator
from bot.errors import AccessDenied, ImagineError
from bot.i18n import Text, _, render, speaking
from bot.jobs import JobRunner
from bot.jobs.privacy import is_private
from bot.maintenance import expire_jobs, interrupted_jobs, queued_jobs
from bot.operator_alerts import OperatorAlerts
from bot.runtime import COMMAND_SYNC, Runtime
from bot.services import Services, open_services
from bot.storage.base import JobRecord
from bot.workers import (
    MAIN_KEEP_FREED_BYTES,
    MAIN_MMAP_THRESHOLD,
    CpuPool,
    freeze_heap,
    keep_freed_memory,
)

log = logging.getLogger(__name__)

COGS = (
    "cogs.imagine",
    "cogs.blend",
    "cogs.edit",
    "cogs.settings",
    "cogs.member",
    "cogs.references",
    "cogs.history",
)
# An interaction token answers for 15 minutes; a report edits the answer until shortly before.
TOKEN_EDIT_SECONDS = 14 * 60
# Why a job was interrupted: this process restarted (its own jobs, found at start-up),
# or a process stopped and another took its jobs over (the reaper: another process, or
# this one's new run, which is another process too). Each reason is a whole sentence of
# the report (``INTERRUPTED``), so a translation can put the reason where it belongs.
RESTARTED = "restarted"
TAKEN_OVER = "taken over"
INTERRUPTED: dict[tuple[str, bool], Text] = {
    # Translators: {user} is a mention of the member (<@123>), {prompt} their prompt.
    (RESTARTED, False): _(
        "{user} Your image request “{prompt}” was interrupted because I restarted before "
        "it finished. Press the button to run it again."
    ),
    # Translators: {user} is a mention of the member (<@123>), {prompt} their prompt.
    (TAKEN_OVER, False): _(
        "{user} Your image request “{prompt}” was interrupted because the bot process "
        "running it stopped before it finished. Press the button to run it again."
    ),
    # Translators: {user} is a mention of the member (<@123>).
    (RESTARTED, True): _(
        "{user} Your private image request was interrupted because I restarted before it "
        "finished. Press the button to run it again (only you can, and the answer is yours "
        "only)."
    ),
    # Translators: {user} is a mention of the member (<@123>).
    (TAKEN_OVER, True): _(
        "{user} Your private image request was interrupted because the bot process running "
        "it stopped before it finished. Press the button to run it again (only you can, and "
        "the answer is yours only)."
    ),
}


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
    async def interaction_check(self, interaction: discord.Interaction[ImageBot], /) -> bool:
        # discord.py awaits this in the task that then runs the command, its autocomplete
        # or ``on_error`` (``CommandTree._call``): every answer is in the member's language.
        answer_in(interaction)
        return await first_delivery(interaction)

    async def on_error(
        self, interaction: discord.Interaction[ImageBot], error: app_commands.AppCommandError
    ) -> None:
        original: BaseException = getattr(error, "original", error)
        if isinstance(original, app_commands.CheckFailure):
            original = AccessDenied(str(original) or None)
        elif isinstance(original, app_commands.TransformerError):
            original = ImagineError(
                # Translators: {option} is the name of a command's option.
                _(
                    "That value is not valid for {option}.",
                    option=original.transformer._error_display_name,
                )
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
        self.durations = Durations()
        self._announced = False

    async def setup_hook(self) -> None:
        for name in COGS:
            await self.load_extension(name)
        self.add_dynamic_items(*PERSISTENT_ITEMS)
        install_guild_gate(self, self.settings.allowed_guilds)
        await self.tree.set_translator(CatalogTranslator())
        await self._sync_commands()
        runtime = self.runtime
        # This process's previous run (one process); with several, a survivor's reaper
        # finds the jobs of the dead, whose owner ids no process starts with again.
        interrupted = await interrupted_jobs(self.store, runtime.owner)
        if interrupted:
            runtime.tasks.spawn(self._report_interrupted(interrupted), name="interrupted")
        resume_queued(self, await queued_jobs(self.store, runtime.owner))
        runtime.presence.recover(self._report_taken_over, self._run_adopted)
        runtime.tasks.spawn(
            expire_jobs(self.store, self.settings.job_retention_days, runtime.leases),
            name="expire-jobs",
        )

    async def _sync_commands(self) -> None:
        try:
            # Two processes starting together: the second sees the first one's hash.
            async with self.runtime.leases.exclusive(COMMAND_SYNC):
                await sync_commands(self.tree, self.store, self.settings.dev_guild_id)
        except discord.HTTPException as exc:
            if self.settings.dev_guild_id and is_missing_access(exc):
                raise not_in_dev_guild(self.settings.dev_guild_id, self.application_id) from exc
            log.exception("command sync failed; commands may be out of date")

    async def _report_taken_over(self, jobs: Sequence[JobRecord]) -> None:
        """Jobs another process left: its "thinking" answer while the token lasts, else a post."""
        for job in jobs:
            if not await self._edit_original(job):
                await self._report_interrupted([job], TAKEN_OVER)

    async def _run_adopted(self, jobs: Sequence[JobRecord]) -> None:
        """Queued jobs another process left, now this one's: they go on as after a restart."""
        resume_queued(self, jobs)

    async def _edit_original(self, job: JobRecord) -> bool:
        token = job.interaction_token
        if (
            not token
            or time.time() - job.created_at > TOKEN_EDIT_SECONDS
            or not self.application_id
        ):
            return False
        answer = discord.Webhook.partial(self.application_id, token, client=self)
        original: Any = "@original"  # the route's name for an interaction's first answer
        try:
            with speaking(job_locale(job.params)):  # the member's, as they asked
                content, view = render(_interrupted(job, TAKEN_OVER)), rerun_view(job.id)
            await answer.edit_message(
                original,
                content=content,
                view=view,
                allowed_mentions=only_pinging(job.user_id),
            )
        except discord.HTTPException:
            return False
        return True

    async def _report_interrupted(self, jobs: Sequence[JobRecord], why: str = RESTARTED) -> None:
        for job in jobs:
            # The member's language, as they asked: the report names them.
            with speaking(job_locale(job.params)):
                content, view = render(_interrupted(job, why)), rerun_view(job.id)
            try:
                # The nonce: a report sent again (a reaper that died before recording it)
                # is dropped by Discord instead of posted twice (enforce_nonce).
                await self.get_partial_messageable(job.channel_id, guild_id=job.guild_id).send(
                    content,
                    view=view,
                    allowed_mentions=only_pinging(job.user_id),
                    nonce=f"rpt-{job.id}",
                )
            except discord.HTTPException:
                log.warning("could not report interrupted job %s", job.id)

    async def press(
        self, button: JobButton | ImageButton | RegionSelect, interaction: discord.Interaction[Any]
    ) -> None:
        """A result's button was pressed (``bot.discord_bot.buttons.ButtonHandler``)."""
        answer_in(interaction)  # discord.py runs each press in a task of its own
        if await first_delivery(interaction):
            await press(button, interaction)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py's own: 5 s before every IDENTIFY but this process's first, which paces
        # the shards of one process; the runtime's pacer adds the other processes' (an
        # unsharded one too: two on one database during a rolling restart share bucket 0).
        await super().before_identify_hook(shard_id, initial=initial)
        concurrency = await self._session_concurrency()
        await self.runtime.identify.wait(shard_id or 0, max_concurrency=concurrency)

    async def _session_concurrency(self) -> int:
        return 1  # unsharded: shard 0, bucket 0 whatever max_concurrency is

    async def on_ready(self) -> None:
        if not self._announced:
            self._announced = True
            log.info("%s", ready_line(self))

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        answer_in(interaction)  # an event's own task: the locale holds for it alone
        await answer_stale_form(interaction)

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: replies are handled by cogs.edit's listener, and
        # processing mentions as commands would only log CommandNotFound.
        return

    async def close(self) -> None:
        await self.runtime.close()
        await super().close()


def _interrupted(job: JobRecord, why: str = RESTARTED) -> Text:
    private = is_private(job.params)  # the channel may read this: nothing of the request
    message = INTERRUPTED[why, private]
    mention = f"<@{job.user_id}>"
    if private:
        return dataclasses.replace(message, params={"user": mention})
    return dataclasses.replace(message, params={"user": mention, "prompt": trim(job.prompt, 200)})


class ShardedImageBot(ImageBot, commands.AutoShardedBot):
    """``ImageBot`` on shards SHARD_IDS of SHARD_COUNT: one websocket per shard.

    Everything else is ``ImageBot``'s; only connecting differs. Discord sends a server's
    events to shard ``(guild_id >> 22) % SHARD_COUNT``, so this process sees the servers
    of its shards only, and other processes (on one shared database) serve the rest.
    """

    def __init__(self, services: Services, **options: Any) -> None:
        sharding = services.settings.sharding
        if sharding is None:
            raise ValueError("ShardedImageBot needs settings.sharding (SHARD_COUNT)")
        super().__init__(
            services, shard_ids=list(sharding.ids), shard_count=sharding.count, **options
        )
        self.sharding = sharding
        self._max_concurrency: int | None = None

    async def connect(self, *, reconnect: bool = True) -> None:
        log.info("connecting %s", self.sharding.describe())
        await super().connect(reconnect=reconnect)

    async def _session_concurrency(self) -> int:
        """``session_start_limit.max_concurrency`` (GET /gateway/bot), asked once."""
        if self._max_concurrency is not None:
            return self._max_concurrency
        try:
            recommended, _, limits = await self.http.get_bot_gateway()
        except discord.GatewayNotFound:
            # One bucket is never wrong, only slower; ask again at the next IDENTIFY.
            log.warning("GET /gateway/bot failed; pacing IDENTIFY one shard at a time")
            return 1
        if recommended > self.sharding.count:
            log.warning(
                "Discord recommends %d shards for this bot's servers: raise SHARD_COUNT "
                "(now %d) on every process",
                recommended,
                self.sharding.count,
            )
        self._max_concurrency = max(1, int(limits["max_concurrency"]))
        return self._max_concurrency


def make_bot(services: Services, **options: Any) -> ImageBot:
    """The client the settings ask for: sharded with SHARD_COUNT, else one plain connection.

    Unsharded stays ``commands.Bot``: it never asks Discord for a recommended shard count.
    """
    cls = ShardedImageBot if services.settings.sharding is not None else ImageBot
    return cls(services, **options)


@asynccontextmanager
async def open_bot(
    settings: BotSettings,
    *,
    cpu: CpuPool | None = None,
    runtime: Runtime | None = None,
    **bot_options: Any,
) -> AsyncIterator[ImageBot]:
    """Every resource opened once, and a logged-in bot ready to ``connect()``.

    ``cpu`` lets a test suite share one process pool between bots; ``runtime`` replaces
    the in-process one (``open_services``); ``bot_options`` go to ``discord.Client``
    (e.g. a shorter ``guild_ready_timeout``).
    """
    apply_discord_endpoints(settings.api_base, settings.gateway_url)
    keep_freed_memory(MAIN_KEEP_FREED_BYTES, MAIN_MMAP_THRESHOLD)
    quiet_voice()
    install_reconnect_line()
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(
            open_services(settings, cpu=cpu, runtime=runtime, alerts=OperatorAlerts())
        )
        bot = make_bot(services, **bot_options)
        stack.push_async_callback(bot.close)
        try:
            await bot.login(settings.token)
        except (discord.DiscordException, aiohttp.ClientError) as exc:
            explained = explain_start_failure(exc)
            if explained is None:
                raise
            raise explained from exc
        freeze_heap()  # cogs loaded, commands synced (login ran setup_hook)
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
