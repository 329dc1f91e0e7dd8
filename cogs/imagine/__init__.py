"""/imagine and /reset: start a new image (and edit chain) in a channel, or forget it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord_bot.pipeline import allowed, run_for_interaction
from bot.discord_bot.preferences import with_preferences
from bot.discord_bot.sources import source_of
from bot.discord_bot.translator import named
from bot.i18n import _, n_, render, supported
from bot.jobs import JobSpec
from bot.jobs.references import with_references
from bot.limits import AUTOCOMPLETE_LIMIT, CHOICE_CHARS, MAX_COUNT, MAX_PROMPT_CHARS
from bot.types import ASPECT_RATIOS, EXTREME_ASPECT_RATIOS, IMAGE_SIZES

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

log = logging.getLogger(__name__)

# Discord: the autocomplete answer is due within 3 s.
AUTOCOMPLETE_TIMEOUT = 2.0

EXTREME_RATIO_NAMES = {
    # Translators: a choice of the aspect_ratio option (at most 100 characters): the ratio
    # can be asked for only with the Gemini 3.1 Flash image model.
    "1:4": locale_str("1:4 (3.1 Flash only)"),
    "4:1": locale_str("4:1 (3.1 Flash only)"),
    "1:8": locale_str("1:8 (3.1 Flash only)"),
    "8:1": locale_str("8:1 (3.1 Flash only)"),
}
assert tuple(EXTREME_RATIO_NAMES) == EXTREME_ASPECT_RATIOS, "a ratio without its choice name"
# A bare ratio ("16:9") or size ("2K") reads the same in every language: not marked.
RATIO_CHOICES = [app_commands.Choice(name=r, value=r) for r in ASPECT_RATIOS] + [
    app_commands.Choice(name=EXTREME_RATIO_NAMES[r], value=r) for r in EXTREME_ASPECT_RATIOS
]
SIZE_CHOICES = [app_commands.Choice(name=s, value=s) for s in IMAGE_SIZES]
Prompt = app_commands.Range[str, 1, MAX_PROMPT_CHARS]
# The count option's description says the limit in words a translator can see whole.
assert MAX_COUNT == 4, "say the new limit in /imagine's count description"
# Translators: an option's description (at most 100 characters).
PRIVATE_HELP = locale_str("Only you see the answer and its buttons (default: your /preferences)")


def rank_models(models: list[str], current: str) -> list[str]:
    """Image models first, then the rest; filtered by what the member typed."""
    needle = current.strip().lower()
    matching = [m for m in models if needle in m.lower()]
    return sorted(matching, key=lambda m: ("image" not in m.lower(), m))[:AUTOCOMPLETE_LIMIT]


async def model_choices(
    bot: ImageBot, guild_id: int | None, current: str, *, first: tuple[str, ...] = ()
) -> list[app_commands.Choice[str]]:
    """The gateway's models for an autocomplete, ``first`` (e.g. "default") ahead of them."""
    try:
        models = await asyncio.wait_for(
            bot.services.gateways.models(guild_id), AUTOCOMPLETE_TIMEOUT
        )
    except Exception as exc:  # autocomplete must answer something; an error helps nobody
        log.info("model list unavailable for autocomplete: %s", exc)
        models = []
    names = [*first, *rank_models(models, current)][:AUTOCOMPLETE_LIMIT]
    # Model ids are the gateway's words: shown as they are, in every language.
    return [app_commands.Choice(name=m[:CHOICE_CHARS], value=m[:CHOICE_CHARS]) for m in names]


NOTHING_TO_FORGET = _(
    "There was no image history in this channel to forget. "
    "Start with /imagine, or attach an image to /edit."
)


class Imagine(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(
        # Translators: a slash command's name: lower case, no spaces, at most 32 characters.
        name=named("command", "imagine"),
        # Translators: a slash command's description: at most 100 characters.
        description=locale_str(
            "Generate an image, optionally from reference images. Starts a new edit chain here."
        ),
    )
    @app_commands.guild_only()
    @app_commands.rename(
        # Translators: an option's name: lower case, no spaces, at most 32 characters.
        prompt=named("option", "prompt"),
        image=named("option", "image"),
        image2=named("option", "image2"),
        image3=named("option", "image3"),
        aspect_ratio=named("option", "aspect_ratio"),
        size=named("option", "size"),
        model=named("option", "model"),
        count=named("option", "count"),
        private=named("option", "private"),
    )
    @app_commands.describe(
        # Translators: an option's description: at most 100 characters.
        prompt=locale_str(
            "What to draw; [name] adds your stored reference image of that name (/ref)"
        ),
        image=locale_str("A reference image (optional)"),
        image2=locale_str("A second reference image"),
        image3=locale_str("A third reference image"),
        aspect_ratio=locale_str("Shape of the image (default: the server's setting, else 1:1)"),
        size=locale_str("Resolution: 1K, 2K or 4K (2K/4K need a Gemini 3 image model)"),
        model=locale_str("Image model (default: the server's setting)"),
        count=locale_str("How many images, each made on its own (1-4; each counts as one image)"),
        private=PRIVATE_HELP,
    )
    @app_commands.choices(aspect_ratio=RATIO_CHOICES, size=SIZE_CHOICES)
    async def imagine(
        self,
        interaction: discord.Interaction[ImageBot],
        prompt: Prompt,
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        aspect_ratio: str | None = None,
        size: str | None = None,
        model: str | None = None,
        count: app_commands.Range[int, 1, MAX_COUNT] = 1,
        private: bool = False,
    ) -> None:
        """Generate an image, optionally from reference images. Starts a new edit chain here."""
        attachments = [a for a in (image, image2, image3) if a is not None]
        spec = JobSpec(
            kind="imagine",
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            prompt=prompt,
            sources=tuple(source_of(a) for a in attachments),
            model=model.strip() if model and model.strip() else None,
            aspect_ratio=aspect_ratio,
            image_size=size,
            new_chain=True,
            count=count,
            private=private,
            locale=supported(interaction.locale),
        )
        spec = await with_preferences(interaction, spec)  # under the options given here
        settings = await allowed(interaction)  # before a [name] in the prompt is looked up
        spec = await with_references(self.bot.store, spec)
        await run_for_interaction(interaction, spec, settings=settings)

    @imagine.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction[ImageBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await model_choices(self.bot, interaction.guild_id, current)

    @app_commands.command(
        name=named("command", "reset"),
        description=locale_str(
            "Forget this channel's image history; the next /edit starts from a new image."
        ),
    )
    @app_commands.guild_only()
    async def reset(self, interaction: discord.Interaction[ImageBot]) -> None:
        """Forget this channel's image history; the next /edit starts from a new image."""
        await allowed(interaction)
        channel_id = interaction.channel_id or 0
        removed = await self.bot.jobs.reset_chain(channel_id)
        if not removed:
            await interaction.response.send_message(
                render(NOTHING_TO_FORGET),
                ephemeral=True,
            )
            return
        # Posted in the channel: everyone there reads it, so it speaks the asker's language
        # (they chose to say it there).
        forgot = n_(
            "Forgot this channel's image history ({n} turn). "
            "Start again with /imagine or attach an image to /edit.",
            "Forgot this channel's image history ({n} turns). "
            "Start again with /imagine or attach an image to /edit.",
            removed,
        )
        await interaction.response.send_message(render(forgot))


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Imagine(bot))
