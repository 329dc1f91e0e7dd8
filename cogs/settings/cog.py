"""/settings: per-server configuration, for members with Manage Server.

Discord hides the group from others (default_member_permissions), but a server can
override that, so every subcommand calls ``ensure_admin`` itself. Every read goes to the
store and every change is written there before it is confirmed: nothing is cached, so a
change applies to the very next job.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import discord
from discord import app_commands
from discord.ext import commands

from bot.costs import month_start
from bot.discord_bot.access import ensure_admin, is_admin
from bot.gateway.addresses import gateway_address
from bot.guild_settings import (
    STREAM_DEFAULT,
    GatewayChoice,
    InvalidSetting,
    add_channel,
    choose_gateway,
    limit_changes,
    parse_budget,
    remove_channel,
    validate_model_name,
)
from bot.jobs.privacy import PRIVACY_LABELS
from bot.limits import (
    AUTOCOMPLETE_LIMIT,
    CHOICE_CHARS,
    MAX_COUNT,
    MAX_DAILY,
    MAX_HISTORY_TURNS,
    MAX_HOURLY,
    MAX_QUEUE,
    MAX_SERVER_JOBS,
    MAX_USER_JOBS,
)
from bot.storage.base import GuildSettings
from bot.types import (
    ASPECT_RATIOS,
    DIALECTS,
    EXTREME_ASPECT_RATIOS,
    IMAGE_SIZES,
    PRIVACY_MODES,
    STREAM_MODES,
)
from cogs.settings import render
from cogs.settings.gateway_modal import GatewayKeyModal

log = logging.getLogger(__name__)

AUTOCOMPLETE_TIMEOUT = 2.0  # the autocomplete answer is due within 3 s
MODEL_CHECK_TIMEOUT = 8.0

DEFAULT = "default"
PRIVACY_CHOICES = [
    app_commands.Choice(name=PRIVACY_LABELS[mode], value=mode) for mode in PRIVACY_MODES
]
RATIO_CHOICES = [app_commands.Choice(name="default (the model decides)", value=DEFAULT)]
RATIO_CHOICES += [app_commands.Choice(name=r, value=r) for r in ASPECT_RATIOS]
RATIO_CHOICES += [
    app_commands.Choice(name=f"{r} (Gemini 3.1 Flash only)", value=r) for r in EXTREME_ASPECT_RATIOS
]
SIZE_CHOICES = [app_commands.Choice(name=s, value=s) for s in IMAGE_SIZES]
SIZE_CHOICES += [app_commands.Choice(name="default (the model decides)", value=DEFAULT)]
DIALECT_CHOICES = [app_commands.Choice(name=d, value=d) for d in DIALECTS]
STREAM_CHOICES = [app_commands.Choice(name=m, value=m) for m in STREAM_MODES]
STREAM_CHOICES += [
    app_commands.Choice(name="default (follow the bot's IMAGE_API_STREAM)", value=STREAM_DEFAULT)
]
CHANNEL_ACTIONS = [
    app_commands.Choice(name="add: allow the bot in a channel", value="add"),
    app_commands.Choice(name="remove: take a channel off the list", value="remove"),
    app_commands.Choice(name="clear: allow every channel", value="clear"),
    app_commands.Choice(name="list: show the allowed channels", value="list"),
]
PERIOD_CHOICES = [app_commands.Choice(name=p, value=p) for p in render.PERIODS]

Channel = app_commands.AppCommandChannel | app_commands.AppCommandThread


class ChannelOption(app_commands.Transformer):
    """A channel members can talk in: not a category. Taken as sent (no cache lookup)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [
            discord.ChannelType.text,
            discord.ChannelType.news,
            discord.ChannelType.voice,
            discord.ChannelType.stage_voice,
            discord.ChannelType.forum,
            discord.ChannelType.media,
            discord.ChannelType.public_thread,
            discord.ChannelType.private_thread,
            discord.ChannelType.news_thread,
        ]

    async def transform(self, interaction: discord.Interaction[Any], value: Any, /) -> Channel:
        return value


async def _confirm(interaction: discord.Interaction[Any], text: str) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SettingsCog(
    commands.GroupCog,
    group_name="settings",
    group_description="Configure the image bot for this server (Manage Server)",
):
    def __init__(self, bot: Any) -> None:
        self.bot = bot
        super().__init__()

    # helpers

    async def _settings(self, interaction: discord.Interaction[Any]) -> GuildSettings:
        await ensure_admin(interaction)
        assert interaction.guild_id is not None  # ensure_admin refuses DMs
        return await self.bot.store.get_settings(interaction.guild_id)

    async def _update(self, interaction: discord.Interaction[Any], **changes: Any) -> GuildSettings:
        assert interaction.guild_id is not None
        settings = await self.bot.store.update_settings(interaction.guild_id, **changes)
        log.info(
            "guild %s: %s changed %s",
            interaction.guild_id,
            interaction.user.id,
            ", ".join(sorted(changes)),  # names only: values may be secret
        )
        return settings

    async def _list_models(self, guild_id: int, wait: float) -> list[str] | None:
        """The gateway's model ids, or None when they could not be fetched."""
        try:
            return await asyncio.wait_for(self.bot.services.gateways.models(guild_id), wait)
        except Exception as exc:  # any failure only means "could not check"
            log.info("guild %s: model list unavailable (%s)", guild_id, type(exc).__name__)
            return None

    def _show_embed(self, s: GuildSettings, sizes: str | None = None) -> discord.Embed:
        image = self.bot.settings.image
        return render.settings_embed(
            s,
            default_model=image.model,
            default_url=image.base_url,
            default_dialect=image.dialect,
            default_stream=image.stream,
            sizes=sizes,
            quotas=self.bot.settings.quotas,
        )

    def _gateway_set(self, choice: GatewayChoice, changes: dict[str, Any]) -> str:
        kept = "kept" if "gateway_key_encrypted" not in changes else "saved encrypted"
        if choice.stream is None:
            streaming = f"`{self.bot.settings.image.stream}`, the bot's IMAGE_API_STREAM"
        else:
            streaming = f"`{choice.stream}`"
        return (
            f"Gateway set to `{choice.base_url}` (dialect `{choice.dialect}`, "
            f"streaming {streaming}). The API key was {kept} and will not be shown again."
        )

    async def _sizes_line(self, s: GuildSettings) -> str | None:
        """What the server's gateway did with sizes lately, for its current model."""
        image = self.bot.settings.image
        # The same choice as Gateways.resolve, without decrypting the key.
        if s.has_own_gateway:
            url, dialect = s.gateway_base_url, s.gateway_dialect or "auto"
        else:
            url, dialect = image.base_url, image.dialect
        if not url:
            return None
        seen = await self.bot.store.size_checks(gateway_address(url), s.model or image.model)
        return render.sizes_text(seen, dialect, time.time())

    # subcommands

    @app_commands.command(name="show")
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        """Show this server's image bot settings."""
        s = await self._settings(interaction)
        sizes = await self._sizes_line(s)
        await interaction.response.send_message(embed=self._show_embed(s, sizes), ephemeral=True)

    @app_commands.command(name="model")
    @app_commands.describe(
        name="Model id from the gateway's list, or 'default' for the bot's default"
    )
    async def model(self, interaction: discord.Interaction[Any], name: str) -> None:
        """Choose the image model for this server."""
        await self._settings(interaction)
        assert interaction.guild_id is not None
        model = validate_model_name(name)
        note = ""
        if model is not None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            models = await self._list_models(interaction.guild_id, MODEL_CHECK_TIMEOUT)
            if models is None:
                note = "\n(I could not fetch the gateway's model list to check the name.)"
            elif model not in models:
                close = difflib.get_close_matches(model, models, n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(f'`{m}`' for m in close)}?" if close else ""
                raise InvalidSetting(f"The gateway does not list a model called `{model}`.{hint}")
        await self._update(interaction, model=model)
        shown = f"`{model}`" if model else f"the bot's default (`{self.bot.settings.image.model}`)"
        await _confirm(interaction, f"Model set to {shown}.{note}")

    @model.autocomplete("name")
    async def _model_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        # Only admins can run /settings, so only they need (and may spend) a model list.
        if interaction.guild_id is None or not is_admin(interaction.permissions):
            return []
        models = await self._list_models(interaction.guild_id, AUTOCOMPLETE_TIMEOUT) or []
        needle = current.strip().lower()
        matches = [m for m in models if needle in m.lower()]
        # Image models first: they are what this bot is for.
        matches.sort(key=lambda m: ("image" not in m.lower(), m))
        names = [DEFAULT] + matches if DEFAULT.startswith(needle) else matches
        return [
            app_commands.Choice(name=m[:CHOICE_CHARS], value=m[:CHOICE_CHARS])
            for m in names[:AUTOCOMPLETE_LIMIT]
        ]

    @app_commands.command(name="aspect_ratio")
    @app_commands.describe(ratio="Default aspect ratio for new images")
    @app_commands.choices(ratio=RATIO_CHOICES)
    async def aspect_ratio(self, interaction: discord.Interaction[Any], ratio: str) -> None:
        """Choose the default aspect ratio."""
        await self._settings(interaction)
        allowed = {c.value for c in RATIO_CHOICES}
        if ratio not in allowed:
            raise InvalidSetting(f"Aspect ratio must be one of: {', '.join(sorted(allowed))}.")
        value = None if ratio == DEFAULT else ratio
        await self._update(interaction, aspect_ratio=value)
        await _confirm(interaction, f"Default aspect ratio set to {value or 'the model default'}.")

    @app_commands.command(name="size")
    @app_commands.describe(size="Default image size (larger sizes cost more)")
    @app_commands.choices(size=SIZE_CHOICES)
    async def size(self, interaction: discord.Interaction[Any], size: str) -> None:
        """Choose the default image size."""
        await self._settings(interaction)
        if size not in {c.value for c in SIZE_CHOICES}:
            raise InvalidSetting(f"Size must be one of: {', '.join(IMAGE_SIZES)} or default.")
        value = None if size == DEFAULT else size
        await self._update(interaction, image_size=value)
        await _confirm(interaction, f"Default size set to {value or 'the model default'}.")

    @app_commands.command(name="privacy")
    @app_commands.describe(mode="Who decides whether a result is seen by its member only")
    @app_commands.choices(mode=PRIVACY_CHOICES)
    async def privacy(self, interaction: discord.Interaction[Any], mode: str) -> None:
        """Let members choose private results, or make every result private or public."""
        await self._settings(interaction)
        settings = await self._update(interaction, privacy=mode)
        await _confirm(interaction, f"Privacy set: {render.privacy_text(settings.privacy)}.")

    @app_commands.command(name="history")
    @app_commands.describe(
        turns=f"Earlier turns kept and sent back when editing (0-{MAX_HISTORY_TURNS})"
    )
    async def history(
        self,
        interaction: discord.Interaction[Any],
        turns: app_commands.Range[int, 0, MAX_HISTORY_TURNS],
    ) -> None:
        """Choose how many turns of each channel's history are kept and replayed."""
        await self._settings(interaction)
        # Discord enforces the range in its client only; a crafted request can send anything.
        if not 0 <= turns <= MAX_HISTORY_TURNS:
            raise InvalidSetting(f"History must be between 0 and {MAX_HISTORY_TURNS} turns.")
        await self._update(interaction, history_turns=turns)
        if turns == 0:
            what = "no earlier turns (every edit starts from the latest image alone)"
        else:
            what = "the last turn" if turns == 1 else f"the last {turns} turns"
        await _confirm(interaction, f"History set: edits will replay {what}.")

    @app_commands.command(name="gateway")
    @app_commands.describe(
        url="Base URL of an OpenAI-compatible gateway, e.g. https://openrouter.ai/api/v1",
        dialect="Request fields it reads (auto sends the openrouter and flat fields together)",
        stream="Ask for streamed answers: auto (switch if it only streams), on, off, default",
        reset="Forget this server's gateway and key, and use the bot's default again",
    )
    @app_commands.choices(dialect=DIALECT_CHOICES, stream=STREAM_CHOICES)
    async def gateway(
        self,
        interaction: discord.Interaction[Any],
        url: str | None = None,
        dialect: str | None = None,
        stream: str | None = None,
        reset: bool = False,
    ) -> None:
        """Use your own image gateway and API key (the key is asked for in a private form)."""
        s = await self._settings(interaction)
        assert interaction.guild_id is not None
        if reset:
            if url or dialect or stream:
                raise InvalidSetting("Use either reset, or url, dialect and stream, not both.")
            await self._update(
                interaction,
                gateway_base_url=None,
                gateway_dialect=None,
                gateway_stream=None,
                gateway_key_encrypted=None,
            )
            await _confirm(
                interaction, "This server now uses the bot's default gateway. Its key was deleted."
            )
            return
        image = self.bot.settings.image
        choice = choose_gateway(
            s,
            url=url,
            dialect=dialect,
            stream=stream,
            allow_private=image.allow_private_gateways,
            bot_stream=image.stream,
        )
        guild_id = interaction.guild_id

        async def on_key(submit: discord.Interaction[Any], typed: str) -> None:
            await ensure_admin(submit)
            changes = choice.changes(typed, self.bot.keybox.encrypt)
            await self.bot.store.update_settings(guild_id, **changes)
            log.info("guild %s: %s set the gateway", guild_id, submit.user.id)
            await _confirm(submit, self._gateway_set(choice, changes))

        if not choice.asks_key:
            await on_key(interaction, "")
            return
        host = urlsplit(choice.base_url).hostname or choice.base_url
        await interaction.response.send_modal(
            GatewayKeyModal(host=host, may_keep_key=choice.may_keep_key, on_key=on_key)
        )

    @app_commands.command(name="channels")
    @app_commands.describe(
        action="add or remove a channel, clear the list, or list it",
        channel="The channel (default: this one)",
    )
    @app_commands.choices(action=CHANNEL_ACTIONS)
    async def channels(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        channel: app_commands.Transform[Channel, ChannelOption] | None = None,
    ) -> None:
        """Choose the channels where members may use the bot (empty list: everywhere)."""
        s = await self._settings(interaction)
        current = list(s.allowed_channels)
        if action == "list":
            await _confirm(interaction, f"Allowed channels: {render.channels_text(current)}")
            return
        if action == "clear":
            await self._update(interaction, allowed_channels=())
            await _confirm(
                interaction, "Channel list cleared: members may use me in every channel."
            )
            return
        if action not in ("add", "remove"):
            raise InvalidSetting("Action must be add, remove, clear or list.")
        # Unresolved channels arrive as a bare discord.Object (id only).
        if getattr(channel, "type", None) == discord.ChannelType.category:
            raise InvalidSetting("Pick a channel, not a category.")
        target = channel.id if channel is not None else interaction.channel_id
        assert target is not None
        if action == "add":
            added = add_channel(s.allowed_channels, target)
            if added is None:
                await _confirm(interaction, f"<#{target}> is already allowed.")
                return
            updated = await self._update(interaction, allowed_channels=added)
            text = f"Members may now use me in <#{target}>."
            if len(updated.allowed_channels) == 1:
                text += " Every other channel is now off limits (admins excepted)."
        else:
            removed = remove_channel(s.allowed_channels, target)
            if removed is None:
                await _confirm(
                    interaction, f"<#{target}> is not on the list. {render.channels_text(current)}"
                )
                return
            updated = await self._update(interaction, allowed_channels=removed)
            text = f"<#{target}> removed."
            if not updated.allowed_channels:
                text += " The list is now empty, so members may use me in every channel."
        await _confirm(
            interaction,
            f"{text}\nAllowed channels: {render.channels_text(updated.allowed_channels)}",
        )

    @app_commands.command(name="limits")
    @app_commands.describe(
        user_jobs=f"Jobs one member may have running at once (1-{MAX_USER_JOBS})",
        server_jobs=f"Jobs the whole server may have running at once (1-{MAX_SERVER_JOBS})",
        user_hourly="Images per member per hour (0 = unlimited)",
        user_daily="Images per member per day (0 = unlimited)",
        server_hourly="Images per server per hour (0 = unlimited)",
        server_daily="Images per server per day (0 = unlimited)",
        max_count=f"Images one /imagine may ask for with count: (1-{MAX_COUNT})",
        queue_limit=f"Jobs that may wait for room, in order (0-{MAX_QUEUE}; 0 refuses at once)",
    )
    async def limits(
        self,
        interaction: discord.Interaction[Any],
        user_jobs: app_commands.Range[int, 1, MAX_USER_JOBS] | None = None,
        server_jobs: app_commands.Range[int, 1, MAX_SERVER_JOBS] | None = None,
        user_hourly: app_commands.Range[int, 0, MAX_HOURLY] | None = None,
        user_daily: app_commands.Range[int, 0, MAX_DAILY] | None = None,
        server_hourly: app_commands.Range[int, 0, MAX_HOURLY] | None = None,
        server_daily: app_commands.Range[int, 0, MAX_DAILY] | None = None,
        max_count: app_commands.Range[int, 1, MAX_COUNT] | None = None,
        queue_limit: app_commands.Range[int, 0, MAX_QUEUE] | None = None,
    ) -> None:
        """Limit jobs in flight and images per hour/day (no options: show the limits)."""
        s = await self._settings(interaction)
        changes = limit_changes(
            s,
            {
                "user_concurrency": user_jobs,
                "guild_concurrency": server_jobs,
                "user_hourly": user_hourly,
                "user_daily": user_daily,
                "guild_hourly": server_hourly,
                "guild_daily": server_daily,
                "max_count": max_count,
                "queue_limit": queue_limit,
            },
            caps=vars(self.bot.settings.quotas),
        )
        if not changes:
            await _confirm(
                interaction, f"Current limits:\n{render.limits_text(s, self.bot.settings.quotas)}"
            )
            return
        updated = await self._update(interaction, **changes)
        await _confirm(
            interaction, f"Limits updated:\n{render.limits_text(updated, self.bot.settings.quotas)}"
        )

    @app_commands.command(name="budget")
    @app_commands.describe(
        amount="Dollars per calendar month (UTC), like 25 or 12.50; `off` for no budget"
    )
    async def budget(
        self, interaction: discord.Interaction[Any], amount: str | None = None
    ) -> None:
        """Cap what this server's images cost per month (no option: show the budget)."""
        s = await self._settings(interaction)
        assert interaction.guild_id is not None
        if amount is not None:
            s = await self._update(interaction, monthly_budget=parse_budget(amount))
        since = month_start(time.time())
        spent = await self.bot.store.spend(guild_id=interaction.guild_id, since=since)
        head = "" if amount is None else "Budget updated. "
        await _confirm(interaction, head + render.budget_text(s.monthly_budget, spent))

    @app_commands.command(name="usage")
    @app_commands.describe(period="How far back to count (default: day)")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def usage(self, interaction: discord.Interaction[Any], period: str = "day") -> None:
        """Show who made how many images, and the tokens spent."""
        await self._settings(interaction)
        assert interaction.guild_id is not None
        if period not in render.PERIODS:
            raise InvalidSetting(f"Period must be one of: {', '.join(render.PERIODS)}.")
        since = time.time() - render.PERIODS[period]
        rows = await self.bot.store.usage_summary(interaction.guild_id, since)
        await interaction.response.send_message(
            render.usage_text(rows, period, since),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
