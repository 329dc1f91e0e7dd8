"""/blend: one new image from 2 to 6 of the member's images (a new edit chain here).

Two options are required and four more optional (``bot.limits``: MIN_BLEND_IMAGES,
MAX_BLEND_IMAGES); how many the model takes is checked with the job, once the server's
model is known (``bot.jobs.spec.check_references``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_bot.pipeline import allowed, run_for_interaction
from bot.discord_bot.preferences import with_preferences
from bot.discord_bot.sources import source_of
from bot.jobs import JobSpec
from bot.jobs.references import with_references
from bot.jobs.spec import BLEND_PROMPT
from bot.limits import MAX_PROMPT_CHARS
from cogs.imagine import PRIVATE_HELP, RATIO_CHOICES

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

Prompt = app_commands.Range[str, 1, MAX_PROMPT_CHARS]
Image = discord.Attachment | None


class Blend(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(name="blend")
    @app_commands.guild_only()
    @app_commands.describe(
        image1="The first image",
        image2="The second image",
        image3="A third image",
        image4="A fourth image",
        image5="A fifth image",
        image6="A sixth image",
        prompt="How to combine them (default: one scene); [name] adds a stored reference (/ref)",
        aspect_ratio="Shape of the image (default: the server's setting, else the model's)",
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
        )
        settings = await allowed(interaction)  # before a [name] in the prompt is looked up
        spec = await with_preferences(interaction, spec, skip=("count",))  # one blended image
        spec = await with_references(self.bot.store, spec)
        await run_for_interaction(interaction, spec, settings=settings, label="Blending…")


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Blend(bot))
