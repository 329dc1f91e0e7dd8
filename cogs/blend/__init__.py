"""/blend: one new image from 2 to 6 of the member's images (a new edit chain here).

Two options are required and four more optional (``bot.limits``: MIN_BLEND_IMAGES,
MAX_BLEND_IMAGES); how many the model takes is checked with the job, once the server's
model is known (``bot.jobs.spec.check_references``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord_bot.pipeline import allowed, run_for_interaction
from bot.discord_bot.preferences import with_preferences
from bot.discord_bot.sources import source_of
from bot.discord_bot.translator import named
from bot.i18n import _, render, supported
from bot.jobs import JobSpec
from bot.jobs.references import with_references
from bot.jobs.spec import BLEND_PROMPT
from bot.limits import MAX_PROMPT_CHARS
from cogs.imagine import PRIVATE_HELP, RATIO_CHOICES

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

Prompt = app_commands.Range[str, 1, MAX_PROMPT_CHARS]
Image = discord.Attachment | None
# Translators: the progress line while a /blend runs.
BLENDING = _("Blending…")


class Blend(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(
        # Translators: a slash command's name: lower case, no spaces, at most 32 characters.
        name=named("command", "blend"),
        # Translators: a slash command's description: at most 100 characters.
        description=locale_str(
            "Blend 2 to 6 images into one new image. Starts a new edit chain here."
        ),
    )
    @app_commands.guild_only()
    @app_commands.rename(
        # Translators: an option's name: lower case, no spaces, at most 32 characters.
        image1=named("option", "image1"),
        image2=named("option", "image2"),
        image3=named("option", "image3"),
        image4=named("option", "image4"),
        image5=named("option", "image5"),
        image6=named("option", "image6"),
        prompt=named("option", "prompt"),
        aspect_ratio=named("option", "aspect_ratio"),
        private=named("option", "private"),
    )
    @app_commands.describe(
        # Translators: an option's description: at most 100 characters.
        image1=locale_str("The first image"),
        image2=locale_str("The second image"),
        image3=locale_str("A third image"),
        image4=locale_str("A fourth image"),
        image5=locale_str("A fifth image"),
        image6=locale_str("A sixth image"),
        prompt=locale_str(
            "How to combine them (default: one scene); [name] adds a stored reference (/ref)"
        ),
        aspect_ratio=locale_str(
            "Shape of the image (default: the server's setting, else the model's)"
        ),
        private=PRIVATE_HELP,
    )
    @app_commands.choices(aspect_ratio=RATIO_CHOICES)
    async def blend(
        self,
        interaction: discord.Interaction[ImageBot],
        image1: discord.Attachment,
        image2: discord.Attachment,
        image3: Image = None,
        image4: Image = None,
        image5: Image = None,
        image6: Image = None,
        prompt: Prompt | None = None,
        aspect_ratio: str | None = None,
        private: bool = False,
    ) -> None:
        """Blend 2 to 6 images into one new image. Starts a new edit chain here."""
        images = [a for a in (image1, image2, image3, image4, image5, image6) if a is not None]
        words = prompt.strip() if prompt else ""
        spec = JobSpec(
            kind="blend",
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            prompt=words or BLEND_PROMPT,
            sources=tuple(source_of(a) for a in images),
            aspect_ratio=aspect_ratio,
            new_chain=True,
            private=private,
            locale=supported(interaction.locale),
        )
        settings = await allowed(interaction)  # before a [name] in the prompt is looked up
        spec = await with_preferences(interaction, spec, skip=("count",))  # one blended image
        spec = await with_references(self.bot.store, spec)
        await run_for_interaction(interaction, spec, settings=settings, label=render(BLENDING))


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Blend(bot))
