"""/me and /preferences: a member's own usage, quotas, jobs in progress and defaults.

Every answer is private (ephemeral) and read from the store when asked, so it is the
same whichever process answers. Neither needs the channel allow-list: they show or
change only the member's own things.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord_bot.access import in_server as _in_server
from bot.discord_bot.buttons import JobButton
from bot.discord_bot.delivery import trim
from bot.discord_bot.translator import named
from bot.guild_settings import validate_model_name
from bot.i18n import render as speak
from bot.limits import MAX_IMAGES_PER_JOB
from bot.storage.base import PREFERENCE_NAMES, UNFINISHED_STATES, JobRecord
from bot.storage.driver import utc_day
from cogs.imagine import RATIO_CHOICES, SIZE_CHOICES, model_choices
from cogs.member import render

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

log = logging.getLogger(__name__)

DEFAULT = "default"
# Translators: a choice of /preferences (at most 100 characters): follow the server's setting.
SERVER_DEFAULT_CHOICE = app_commands.Choice(name=locale_str("the server's default"), value=DEFAULT)
PREF_RATIOS = [SERVER_DEFAULT_CHOICE, *RATIO_CHOICES]
PREF_SIZES = [*SIZE_CHOICES, SERVER_DEFAULT_CHOICE]
DAY = 86_400
WEEK_DAYS = 7
# Queued and running jobs /me lists; a member has at most MAX_USER_JOBS running.
LISTED_JOBS = 25
# The count option's description says the limit in words a translator can see whole.
assert MAX_IMAGES_PER_JOB == 4, "say the new limit in /preferences' count description"


def job_controls(job: JobRecord) -> Sequence[discord.ui.Item[Any]]:
    """The buttons /me shows for one job in progress: its **Cancel**."""
    return (JobButton("cancel", job.id),)


def in_progress_view(jobs: Sequence[JobRecord]) -> discord.ui.View | None:
    items = [item for job in jobs for item in job_controls(job)]
    if not items:
        return None
    view = discord.ui.View(timeout=None)
    for item in items[:25]:  # Discord: 25 components per message
        view.add_item(item)
    return view


class Member(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(
        # Translators: a slash command's name: lower case, no spaces, at most 32 characters.
        name=named("command", "me"),
        # Translators: a slash command's description: at most 100 characters.
        description=locale_str(
            "Your images and tokens, what is left of your quotas, your jobs and preferences."
        ),
    )
    @app_commands.guild_only()
    async def me(self, interaction: discord.Interaction[ImageBot]) -> None:
        """Your images and tokens, what is left of your quotas, your jobs and preferences."""
        guild_id = _in_server(interaction)
        user_id = interaction.user.id
        store = self.bot.store
        settings = await store.get_settings(guild_id)
        now = time.time()
        today = utc_day(now) * DAY
        week = today - (WEEK_DAYS - 1) * DAY
        mine = lambda rows: next((r for r in rows if r.user_id == user_id), None)  # noqa: E731
        quotas = []
        for quota in self.bot.jobs.quotas(settings):
            whose = user_id if quota.per_user else None
            since = now - quota.window
            used = await store.count_jobs(guild_id=guild_id, user_id=whose, since=since)
            oldest = await store.list_jobs(
                user_id=whose, guild_id=guild_id, since=since, counted=True, limit=1
            )
            quotas.append(
                render.QuotaLine(
                    per_user=quota.per_user,
                    window=quota.window,
                    limit=quota.limit,
                    used=used,
                    frees_at=oldest[0].created_at + quota.window if oldest else None,
                )
            )
        jobs = await store.list_jobs(
            user_id=user_id, guild_id=guild_id, states=UNFINISHED_STATES, limit=LISTED_JOBS
        )
        words = render.me_text(
            today=mine(await store.usage_summary(guild_id, today)),
            week=mine(await store.usage_summary(guild_id, week)),
            quotas=quotas,
            jobs=jobs,
            at_once=settings.user_concurrency,
            prefs=await store.get_preferences(user_id),
        )
        text = trim(speak(words))
        view = in_progress_view(jobs)
        if view is None:
            await interaction.response.send_message(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True, view=view)

    @app_commands.command(
        name=named("command", "preferences"),
        description=locale_str("Your own defaults, in every server: with no option, shows them."),
    )
    @app_commands.guild_only()
    @app_commands.rename(
        # Translators: an option's name: lower case, no spaces, at most 32 characters.
        aspect_ratio=named("option", "aspect_ratio"),
        size=named("option", "size"),
        model=named("option", "model"),
        count=named("option", "count"),
        private=named("option", "private"),
        reset=named("option", "reset"),
    )
    @app_commands.describe(
        # Translators: an option's description: at most 100 characters.
        aspect_ratio=locale_str("Your default shape for /imagine and /edit"),
        size=locale_str("Your default resolution (2K/4K need a Gemini 3 image model)"),
        model=locale_str("Your default image model (`default`: the server's)"),
        count=locale_str("Images per /imagine (1-4; the server may allow fewer)"),
        private=locale_str("Results only you see"),
        reset=locale_str("Clear every preference"),
    )
    @app_commands.choices(aspect_ratio=PREF_RATIOS, size=PREF_SIZES)
    async def preferences(
        self,
        interaction: discord.Interaction[ImageBot],
        aspect_ratio: str | None = None,
        size: str | None = None,
        model: str | None = None,
        count: app_commands.Range[int, 1, MAX_IMAGES_PER_JOB] | None = None,
        private: bool | None = None,
        reset: bool = False,
    ) -> None:
        """Your own defaults, in every server: with no option, shows them."""
        _in_server(interaction)
        store = self.bot.store
        user_id = interaction.user.id
        if reset:
            await store.update_preferences(user_id, **dict.fromkeys(PREFERENCE_NAMES))
            await interaction.response.send_message(
                speak(render.PREFERENCES_CLEARED), ephemeral=True
            )
            return
        changes: dict[str, Any] = {}
        if aspect_ratio is not None:
            changes["aspect_ratio"] = None if aspect_ratio == DEFAULT else aspect_ratio
        if size is not None:
            changes["image_size"] = None if size == DEFAULT else size
        if model is not None:
            changes["model"] = validate_model_name(model)
        if count is not None:
            changes["count"] = count
        if private is not None:
            changes["private"] = private
        if not changes:
            prefs = await store.get_preferences(user_id)
        else:
            prefs = await store.update_preferences(user_id, **changes)
            log.info("member %s changed preferences %s", user_id, ", ".join(sorted(changes)))
        text = render.preferences_text(prefs, saved=bool(changes))
        await interaction.response.send_message(speak(text), ephemeral=True)

    @preferences.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction[ImageBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await model_choices(self.bot, interaction.guild_id, current, first=(DEFAULT,))
