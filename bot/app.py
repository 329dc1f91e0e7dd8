"""The Discord bot: resources in, cogs loaded, commands synced, crashed jobs reported.

``open_bot`` opens every resource once (httpx client, CPU pool, database) and yields a
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
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import discord
import httpx
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import BotSettings
from bot.delivery import only_pinging, send_error, trim
from bot.errors import AccessDenied, ConfigError, ImagineError
from bot.jobs import JobRunner
from bot.logging_setup import remember_secret
from bot.runtime import Runtime, gateway_key
from bot.storage.base import GuildSettings, JobRecord, Store
from bot.transport import http_client
from bot.types import GatewayConfig
from bot.workers import CpuPool

log = logging.getLogger(__name__)

COGS = ("cogs.imagine", "cogs.edit", "cogs.settings")
# Discord CDN downloads and the gateway share one client; gateway calls set their own
# (longer) timeouts per request.
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DAY_SECONDS = 86400
EXPIRE_INTERVAL_SECONDS = 3600.0


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
        await send_error(interaction, original)


class ImageBot(commands.Bot):
    def __init__(
        self,
        settings: BotSettings,
        *,
        store: Store,
        http: httpx.AsyncClient,
        cpu: CpuPool,
        gateway: Any,
        keybox: Any,
        **options: Any,
    ) -> None:
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
        self.settings = settings
        self.store = store
        # ``self.http`` is discord.py's own REST client (Client uses it internally),
        # so the httpx client for CDN downloads and the gateway is ``self.web``.
        self.web = http
        self.cpu = cpu
        self.gateway = gateway
        self.keybox = keybox
        self.runtime = Runtime()
        self.jobs = JobRunner(self)

    async def setup_hook(self) -> None:
        for name in COGS:
            await self.load_extension(name)
        from cogs.imagine.views import PERSISTENT_ITEMS

        self.add_dynamic_items(*PERSISTENT_ITEMS)
        await self._sync_commands()
        interrupted = await self.store.interrupt_running_jobs(self.settings.instance_name)
        if interrupted:
            self.runtime.spawn(self._report_interrupted(list(interrupted)), name="interrupted")
        self.runtime.spawn(self._expire_jobs(), name="expire-jobs")

    async def _expire_jobs(self) -> None:
        days = self.settings.job_retention_days
        while True:
            try:
                removed = await self.store.delete_jobs_before(time.time() - days * DAY_SECONDS)
            except Exception:  # a busy or broken database: try again next round
                log.exception("could not remove old jobs")
            else:
                if removed:
                    log.info("removed %d jobs older than %g days", removed, days)
            await asyncio.sleep(EXPIRE_INTERVAL_SECONDS)

    async def _sync_commands(self) -> None:
        try:
            if self.settings.dev_guild_id:
                guild = discord.Object(id=self.settings.dev_guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            else:
                synced = await self.tree.sync()
        except discord.HTTPException:
            log.exception("command sync failed; commands may be out of date")
            return
        log.info("synced %d commands", len(synced))

    async def _report_interrupted(self, jobs: list[JobRecord]) -> None:
        from cogs.imagine.views import rerun_view

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

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: replies are handled by cogs.edit's listener, and
        # processing mentions as commands would only log CommandNotFound.
        return

    async def resolve_gateway(
        self, guild_id: int | None, *, settings: GuildSettings | None = None
    ) -> tuple[GatewayConfig, str]:
        """The guild's own gateway if it set one, else the operator's; and the model to use."""
        if settings is None and guild_id is not None:
            settings = await self.store.get_settings(guild_id)
        image = self.settings.image
        model = (settings.model if settings else None) or image.model
        if settings is not None and settings.has_own_gateway:
            key = self.keybox.decrypt(settings.gateway_key_encrypted)
            # Shaped like any credential or none: the log filter has to be told.
            remember_secret(key)
            config = GatewayConfig(
                base_url=settings.gateway_base_url or "",
                api_key=key,
                dialect=settings.gateway_dialect or "auto",
                stream=settings.gateway_stream or image.stream,
                timeout=image.timeout,
                allow_private_network=image.allow_private_gateways,
            )
            return config, model
        return image.gateway(), model

    async def model_list(self, guild_id: int | None) -> list[str]:
        """The model ids of the gateway this guild uses, from the runtime's cache.

        Keyed by address, dialect and key digest, so a changed gateway is never
        answered from the old one's list.
        """
        config, _ = await self.resolve_gateway(guild_id)
        return await self.runtime.models(
            gateway_key(config), lambda: self.gateway.list_models(config)
        )

    async def close(self) -> None:
        await self.runtime.close()
        await super().close()


async def rotate_gateway_keys(store: Store, keybox: Any) -> None:
    """Re-encrypt every stored server key with SECRET_KEY, so the previous one can go."""

    unreadable = 0

    def rotate(token: bytes) -> bytes | None:
        nonlocal unreadable
        try:
            return keybox.rotate(token)
        except ConfigError:
            unreadable += 1  # made with neither key: its server's admin must enter it again
            return None

    rotated = await store.rotate_gateway_keys(rotate)
    log.info(
        "re-encrypted %d server API keys with SECRET_KEY; SECRET_KEY_PREVIOUS can be removed",
        rotated,
    )
    if unreadable:
        log.warning(
            "%d server API keys were made with neither SECRET_KEY nor SECRET_KEY_PREVIOUS; "
            "those servers' admins must enter theirs again with /settings gateway",
            unreadable,
        )


@asynccontextmanager
async def open_bot(
    settings: BotSettings, *, cpu: CpuPool | None = None, **bot_options: Any
) -> AsyncIterator[ImageBot]:
    """Every resource opened once, and a logged-in bot ready to ``connect()``.

    ``cpu`` lets a test suite share one process pool between bots; ``bot_options`` go
    to ``discord.Client`` (e.g. a shorter ``guild_ready_timeout``).
    """
    from bot.gateway.client import GatewayClient
    from bot.gateway.warmup import warm_up_worker
    from bot.secrets import KeyBox
    from bot.storage import open_store

    apply_discord_endpoints(settings.api_base, settings.gateway_url)
    image = settings.image
    image.gateway()  # fail at start-up, not on the first /imagine
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(http_client(timeout=HTTP_TIMEOUT))
        if cpu is None:
            cpu = await stack.enter_async_context(CpuPool(warm_up=warm_up_worker))
        store = await open_store(settings.database_url)
        stack.push_async_callback(store.close)
        gateway = GatewayClient.from_settings(http, cpu, image)
        # scrypt is ~0.1 s and 32 MiB by design: not on the event loop.
        previous = settings.previous_secret_key
        older = [previous] if previous and previous != settings.secret_key else []
        keybox = await asyncio.to_thread(KeyBox, settings.secret_key, older)
        if keybox.rotating:
            await rotate_gateway_keys(store, keybox)
        bot = ImageBot(
            settings,
            store=store,
            http=http,
            cpu=cpu,
            gateway=gateway,
            keybox=keybox,
            **bot_options,
        )
        stack.push_async_callback(bot.close)
        try:
            await bot.login(settings.token)
        except discord.LoginFailure as exc:
            raise ConfigError("DISCORD_TOKEN was rejected by Discord") from exc
        yield bot


async def run(settings: BotSettings) -> None:
    """``python -m bot``: run until Discord fails us or SIGINT / SIGTERM asks us to stop.

    A signal closes the bot cleanly (exit 0): the websocket, the database and the
    workers. Jobs still in flight stay "running" in the database and are reported to
    their users, with a "Run again" button, at the next start.
    """
    async with open_bot(settings) as bot:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        connection = asyncio.create_task(bot.connect(reconnect=True), name="discord-connection")
        stop_requested = asyncio.create_task(stop.wait(), name="stop-signal")
        try:
            await asyncio.wait({connection, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            stop_requested.cancel()
        if connection.done():
            connection.result()  # Discord ended the session: let its error surface
            return
        log.info("stopping: signal received")
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await connection
