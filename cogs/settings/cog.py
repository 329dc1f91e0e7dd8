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
from discord.app_commands import locale_str
from discord.ext import commands

from bot.costs import month_start
from bot.discord_bot.access import ensure_admin, is_admin
from bot.discord_bot.translator import named
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
from bot.i18n import Message, _, join, n_
from bot.i18n import render as speak
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
PRIVACY_NAMES = {
    # Translators: choices of /settings privacy (at most 100 characters).
    "members": locale_str("members choose"),
    "private": locale_str("always private"),
    "public": locale_str("always public"),
}
assert all(
    PRIVACY_NAMES[mode].message == speak(PRIVACY_LABELS[mode], "en-US") for mode in PRIVACY_MODES
), "a privacy mode whose choice name is not its label"
PRIVACY_CHOICES = [
    app_commands.Choice(name=PRIVACY_NAMES[mode], value=mode) for mode in PRIVACY_MODES
]
# Translators: a choice of /settings aspect_ratio and size (at most 100 characters).
MODEL_DECIDES = app_commands.Choice(name=locale_str("default (the model decides)"), value=DEFAULT)
EXTREME_RATIO_NAMES = {
    # Translators: a choice of /settings aspect_ratio (at most 100 characters): the ratio can
    # be asked for only with the Gemini 3.1 Flash image model.
    "1:4": locale_str("1:4 (Gemini 3.1 Flash only)"),
    "4:1": locale_str("4:1 (Gemini 3.1 Flash only)"),
    "1:8": locale_str("1:8 (Gemini 3.1 Flash only)"),
    "8:1": locale_str("8:1 (Gemini 3.1 Flash only)"),
}
assert tuple(EXTREME_RATIO_NAMES) == EXTREME_ASPECT_RATIOS, "a ratio without its choice name"
# A bare ratio, size, dialect or stream mode is a value, the same in every language.
RATIO_CHOICES = [MODEL_DECIDES]
RATIO_CHOICES += [app_commands.Choice(name=r, value=r) for r in ASPECT_RATIOS]
RATIO_CHOICES += [
    app_commands.Choice(name=EXTREME_RATIO_NAMES[r], value=r) for r in EXTREME_ASPECT_RATIOS
]
SIZE_CHOICES = [app_commands.Choice(name=s, value=s) for s in IMAGE_SIZES]
SIZE_CHOICES += [MODEL_DECIDES]
DIALECT_CHOICES = [app_commands.Choice(name=d, value=d) for d in DIALECTS]
STREAM_CHOICES = [app_commands.Choice(name=m, value=m) for m in STREAM_MODES]
STREAM_CHOICES += [
    app_commands.Choice(
        # Translators: a choice of /settings gateway stream; IMAGE_API_STREAM is a setting's name.
        name=locale_str("default (follow the bot's IMAGE_API_STREAM)"),
        value=STREAM_DEFAULT,
    )
]
CHANNEL_ACTIONS = [
    # Translators: choices of /settings channels action; add, remove, clear and list are
    # what an admin picks (keep them, or translate them as the action's word).
    app_commands.Choice(name=locale_str("add: allow the bot in a channel"), value="add"),
    app_commands.Choice(name=locale_str("remove: take a channel off the list"), value="remove"),
    app_commands.Choice(name=locale_str("clear: allow every channel"), value="clear"),
    app_commands.Choice(name=locale_str("list: show the allowed channels"), value="list"),
]
PERIOD_CHOICES = [
    # Translators: choices of /settings usage period (at most 100 characters).
    app_commands.Choice(name=named("choice", "day"), value="day"),
    app_commands.Choice(name=named("choice", "week"), value="week"),
    app_commands.Choice(name=named("choice", "month"), value="month"),
]
assert [c.value for c in PERIOD_CHOICES] == list(render.PERIODS), "a period without its choice"
# Option descriptions say their limits in words a translator can see whole.
assert (MAX_HISTORY_TURNS, MAX_USER_JOBS, MAX_SERVER_JOBS, MAX_COUNT, MAX_QUEUE) == (
    20,
    20,
    200,
    4,
    100,
), "say the new limit in the /settings option's description"

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


async def _confirm(interaction: discord.Interaction[Any], message: Message) -> None:
    text = speak(message)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SettingsCog(
    commands.GroupCog,
    # Translators: a slash command group's name: lower case, no spaces, at most 32 characters.
    group_name=named("command", "settings"),
    # Translators: a slash command group's description: at most 100 characters.
    group_description=locale_str("Configure the image bot for this server (Manage Server)"),
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

    def _show_embed(self, s: GuildSettings, sizes: Message | None = None) -> discord.Embed:
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

    def _gateway_set(self, choice: GatewayChoice, changes: dict[str, Any]) -> Message:
        if choice.stream is None:
            # Translators: {stream} is a stream mode (`on`); IMAGE_API_STREAM a setting's name.
            streaming: Message = _(
                "`{stream}`, the bot's IMAGE_API_STREAM", stream=self.bot.settings.image.stream
            )
        else:
            streaming = f"`{choice.stream}`"
        where = {"url": choice.base_url, "dialect": choice.dialect, "streaming": streaming}
        if "gateway_key_encrypted" not in changes:
            return _(
                "Gateway set to `{url}` (dialect `{dialect}`, streaming {streaming}). "
                "The API key was kept and will not be shown again.",
                **where,
            )
        return _(
            "Gateway set to `{url}` (dialect `{dialect}`, streaming {streaming}). "
            "The API key was saved encrypted and will not be shown again.",
            **where,
        )

    async def _sizes_line(self, s: GuildSettings) -> Message | None:
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

    @app_commands.command(
        # Translators: a subcommand's name (/settings show): lower case, no spaces, at most
        # 32 characters.
        name=named("command", "show"),
        # Translators: a subcommand's description: at most 100 characters.
        description=locale_str("Show this server's image bot settings."),
    )
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        """Show this server's image bot settings."""
        s = await self._settings(interaction)
        sizes = await self._sizes_line(s)
        await interaction.response.send_message(embed=self._show_embed(s, sizes), ephemeral=True)

    @app_commands.command(
        name=named("command", "model"),
        description=locale_str("Choose the image model for this server."),
    )
    # Translators: an option's name: lower case, no spaces, at most 32 characters.
    @app_commands.rename(name=named("option", "name"))
    @app_commands.describe(
        # Translators: an option's description: at most 100 characters.
        name=locale_str("Model id from the gateway's list, or 'default' for the bot's default")
    )
    async def model(self, interaction: discord.Interaction[Any], name: str) -> None:
        """Choose the image model for this server."""
        await self._settings(interaction)
        assert interaction.guild_id is not None
        model = validate_model_name(name)
        note: Message = ""
        if model is not None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            models = await self._list_models(interaction.guild_id, MODEL_CHECK_TIMEOUT)
            if models is None:
                note = _("(I could not fetch the gateway's model list to check the name.)")
            elif model not in models:
                close = difflib.get_close_matches(model, models, n=3, cutoff=0.5)
                # Translators: {models} lists model ids the admin may have meant.
                hint = _("Did you mean {models}?", models=", ".join(f"`{m}`" for m in close))
                unknown = _("The gateway does not list a model called `{model}`.", model=model)
                raise InvalidSetting(join([unknown, hint if close else None]))
        await self._update(interaction, model=model)
        if model:
            done = _("Model set to `{model}`.", model=model)
        else:
            done = _(
                "Model set to the bot's default (`{model}`).", model=self.bot.settings.image.model
            )
        await _confirm(interaction, join([done, note], sep="\n"))

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

    @app_commands.command(
        name=named("command", "aspect_ratio"),
        description=locale_str("Choose the default aspect ratio."),
    )
    @app_commands.rename(ratio=named("option", "ratio"))
    @app_commands.describe(ratio=locale_str("Default aspect ratio for new images"))
    @app_commands.choices(ratio=RATIO_CHOICES)
    async def aspect_ratio(self, interaction: discord.Interaction[Any], ratio: str) -> None:
        """Choose the default aspect ratio."""
        await self._settings(interaction)
        allowed = {c.value for c in RATIO_CHOICES}
        if ratio not in allowed:
            raise InvalidSetting(
                _("Aspect ratio must be one of: {ratios}.", ratios=", ".join(sorted(allowed)))
            )
        value = None if ratio == DEFAULT else ratio
        await self._update(interaction, aspect_ratio=value)
        if value:
            done = _("Default aspect ratio set to {ratio}.", ratio=value)
        else:
            done = _("Default aspect ratio set to the model default.")
        await _confirm(interaction, done)

    @app_commands.command(
        name=named("command", "size"),
        description=locale_str("Choose the default image size."),
    )
    @app_commands.rename(size=named("option", "size"))
    @app_commands.describe(size=locale_str("Default image size (larger sizes cost more)"))
    @app_commands.choices(size=SIZE_CHOICES)
    async def size(self, interaction: discord.Interaction[Any], size: str) -> None:
        """Choose the default image size."""
        await self._settings(interaction)
        if size not in {c.value for c in SIZE_CHOICES}:
            raise InvalidSetting(
                _("Size must be one of: {sizes} or default.", sizes=", ".join(IMAGE_SIZES))
            )
        value = None if size == DEFAULT else size
        await self._update(interaction, image_size=value)
        if value:
            done = _("Default size set to {size}.", size=value)
        else:
            done = _("Default size set to the model default.")
        await _confirm(interaction, done)

    @app_commands.command(
        name=named("command", "privacy"),
        description=locale_str(
            "Let members choose private results, or make every result private or public."
        ),
    )
    @app_commands.rename(mode=named("option", "mode"))
    @app_commands.describe(
        mode=locale_str("Who decides whether a result is seen by its member only")
    )
    @app_commands.choices(mode=PRIVACY_CHOICES)
    async def privacy(self, interaction: discord.Interaction[Any], mode: str) -> None:
        """Let members choose private results, or make every result private or public."""
        await self._settings(interaction)
        settings = await self._update(interaction, privacy=mode)
        await _confirm(
            interaction, _("Privacy set: {mode}.", mode=render.privacy_text(settings.privacy))
        )

    @app_commands.command(
        name=named("command", "history"),
        description=locale_str(
            "Choose how many turns of each channel's history are kept and replayed."
        ),
    )
    @app_commands.rename(turns=named("option", "turns"))
    @app_commands.describe(turns=locale_str("Earlier turns kept and sent back when editing (0-20)"))
    async def history(
        self,
        interaction: discord.Interaction[Any],
        turns: app_commands.Range[int, 0, MAX_HISTORY_TURNS],
    ) -> None:
        """Choose how many turns of each channel's history are kept and replayed."""
        await self._settings(interaction)
        # Discord enforces the range in its client only; a crafted request can send anything.
        if not 0 <= turns <= MAX_HISTORY_TURNS:
            raise InvalidSetting(
                _("History must be between 0 and {most} turns.", most=MAX_HISTORY_TURNS)
            )
        await self._update(interaction, history_turns=turns)
        if turns == 0:
            done = _(
                "History set: edits will replay no earlier turns "
                "(every edit starts from the latest image alone)."
            )
        else:
            done = n_(
                "History set: edits will replay the last turn.",
                "History set: edits will replay the last {n} turns.",
                turns,
            )
        await _confirm(interaction, done)

    @app_commands.command(
        name=named("command", "gateway"),
        description=locale_str(
            "Use your own image gateway and API key (the key is asked for in a private form)."
        ),
    )
    @app_commands.rename(
        url=named("option", "url"),
        dialect=named("option", "dialect"),
        stream=named("option", "stream"),
        reset=named("option", "reset"),
    )
    @app_commands.describe(
        url=locale_str(
            "Base URL of an OpenAI-compatible gateway, e.g. https://openrouter.ai/api/v1"
        ),
        # Translators: auto, openrouter and flat are dialect names: keep them.
        dialect=locale_str(
            "Request fields it reads (auto sends the openrouter and flat fields together)"
        ),
        # Translators: auto, on, off and default are the choices: keep them.
        stream=locale_str(
            "Ask for streamed answers: auto (switch if it only streams), on, off, default"
        ),
        reset=locale_str("Forget this server's gateway and key, and use the bot's default again"),
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
                raise InvalidSetting(_("Use either reset, or url, dialect and stream, not both."))
            await self._update(
                interaction,
                gateway_base_url=None,
                gateway_dialect=None,
                gateway_stream=None,
                gateway_key_encrypted=None,
            )
            await _confirm(
                interaction,
                _("This server now uses the bot's default gateway. Its key was deleted."),
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

    @app_commands.command(
        name=named("command", "channels"),
        description=locale_str(
            "Choose the channels where members may use the bot (empty list: everywhere)."
        ),
    )
    @app_commands.rename(action=named("option", "action"), channel=named("option", "channel"))
    @app_commands.describe(
        action=locale_str("add or remove a channel, clear the list, or list it"),
        channel=locale_str("The channel (default: this one)"),
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
            await _confirm(
                interaction,
                _("Allowed channels: {channels}", channels=render.channels_text(current)),
            )
            return
        if action == "clear":
            await self._update(interaction, allowed_channels=())
            await _confirm(
                interaction, _("Channel list cleared: members may use me in every channel.")
            )
            return
        if action not in ("add", "remove"):
            raise InvalidSetting(_("Action must be add, remove, clear or list."))
        # Unresolved channels arrive as a bare discord.Object (id only).
        if getattr(channel, "type", None) == discord.ChannelType.category:
            raise InvalidSetting(_("Pick a channel, not a category."))
        target = channel.id if channel is not None else interaction.channel_id
        assert target is not None
        # Translators: {channel} is a mention of a channel (#general).
        where = {"channel": f"<#{target}>"}
        if action == "add":
            added = add_channel(s.allowed_channels, target)
            if added is None:
                await _confirm(interaction, _("{channel} is already allowed.", **where))
                return
            updated = await self._update(interaction, allowed_channels=added)
            done: list[Message] = [_("Members may now use me in {channel}.", **where)]
            if len(updated.allowed_channels) == 1:
                done.append(_("Every other channel is now off limits (admins excepted)."))
        else:
            removed = remove_channel(s.allowed_channels, target)
            if removed is None:
                missing = _("{channel} is not on the list.", **where)
                await _confirm(interaction, join([missing, render.channels_text(current)]))
                return
            updated = await self._update(interaction, allowed_channels=removed)
            done = [_("{channel} removed.", **where)]
            if not updated.allowed_channels:
                done.append(_("The list is now empty, so members may use me in every channel."))
        allowed = _(
            "Allowed channels: {channels}",
            channels=render.channels_text(updated.allowed_channels),
        )
        await _confirm(interaction, join([join(done), allowed], sep="\n"))

    @app_commands.command(
        name=named("command", "limits"),
        description=locale_str(
            "Limit jobs in flight and images per hour/day (no options: show the limits)."
        ),
    )
    @app_commands.rename(
        user_jobs=named("option", "user_jobs"),
        server_jobs=named("option", "server_jobs"),
        user_hourly=named("option", "user_hourly"),
        user_daily=named("option", "user_daily"),
        server_hourly=named("option", "server_hourly"),
        server_daily=named("option", "server_daily"),
        max_count=named("option", "max_count"),
        queue_limit=named("option", "queue_limit"),
    )
    @app_commands.describe(
        user_jobs=locale_str("Jobs one member may have running at once (1-20)"),
        server_jobs=locale_str("Jobs the whole server may have running at once (1-200)"),
        user_hourly=locale_str("Images per member per hour (0 = unlimited)"),
        user_daily=locale_str("Images per member per day (0 = unlimited)"),
        server_hourly=locale_str("Images per server per hour (0 = unlimited)"),
        server_daily=locale_str("Images per server per day (0 = unlimited)"),
        max_count=locale_str("Images one /imagine may ask for with count: (1-4)"),
        queue_limit=locale_str("Jobs that may wait for room, in order (0-100; 0 refuses at once)"),
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
            shown = render.limits_text(s, self.bot.settings.quotas)
            await _confirm(interaction, join([_("Current limits:"), shown], sep="\n"))
            return
        updated = await self._update(interaction, **changes)
        shown = render.limits_text(updated, self.bot.settings.quotas)
        await _confirm(interaction, join([_("Limits updated:"), shown], sep="\n"))

    @app_commands.command(
        name=named("command", "budget"),
        description=locale_str(
            "Cap what this server's images cost per month (no option: show the budget)."
        ),
    )
    @app_commands.rename(amount=named("option", "amount"))
    @app_commands.describe(
        # Translators: `off` is what the admin types: keep it.
        amount=locale_str("Dollars per calendar month (UTC), like 25 or 12.50; `off` for no budget")
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
        head = None if amount is None else _("Budget updated.")
        await _confirm(interaction, join([head, render.budget_text(s.monthly_budget, spent)]))

    @app_commands.command(
        name=named("command", "usage"),
        description=locale_str("Show who made how many images, and the tokens spent."),
    )
    @app_commands.rename(period=named("option", "period"))
    @app_commands.describe(period=locale_str("How far back to count (default: day)"))
    @app_commands.choices(period=PERIOD_CHOICES)
    async def usage(self, interaction: discord.Interaction[Any], period: str = "day") -> None:
        """Show who made how many images, and the tokens spent."""
        await self._settings(interaction)
        assert interaction.guild_id is not None
        if period not in render.PERIODS:
            raise InvalidSetting(
                _("Period must be one of: {periods}.", periods=", ".join(render.PERIODS))
            )
        since = time.time() - render.PERIODS[period]
        rows = await self.bot.store.usage_summary(interaction.guild_id, since)
        await interaction.response.send_message(
            speak(render.usage_text(rows, period, since)),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
