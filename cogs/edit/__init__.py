"""Editing: /edit, the "Edit image" message menu, and replying to an image.

All three continue the channel's history, so each edit builds on the last.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord_bot.access import ensure_can_use
from bot.discord_bot.components import EditModal, region_label
from bot.discord_bot.delivery import channel_limit
from bot.discord_bot.errors import reporting
from bot.discord_bot.pipeline import allowed, run_for_interaction, run_for_message
from bot.discord_bot.preferences import with_preferences
from bot.discord_bot.sources import capped, image_sources, source_of
from bot.discord_bot.translator import named
from bot.errors import AccessDenied, ImagineError
from bot.i18n import Message, _, render, supported, use_locale
from bot.images.regions import REGIONS
from bot.jobs import JobSpec, SourceImage
from bot.jobs.references import with_references
from bot.limits import MAX_PROMPT_CHARS
from cogs.imagine import PRIVATE_HELP

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot
    from bot.storage.base import GuildSettings

log = logging.getLogger(__name__)

NO_IMAGE_IN_MESSAGE = _(
    "That message has no image I can edit. Attach a PNG, JPEG, WEBP, GIF or HEIC image."
)
NO_STICKER_EDITS = _("Stickers can't be edited. Attach a PNG, JPEG, WEBP, GIF or HEIC image.")
# A reply is answered in the channel; a server that keeps every result private says so.
REPLY_PRIVATE = _(
    "This server keeps every result private, and a reply is answered in the channel: "
    "use /edit with the image attached, or the Edit button under your result."
)
# Translators: “@me make it night” is an example of a message mentioning the bot.
REPLY_HINT = _("Tell me what to change along with the mention, e.g. “@me make it night”.")
MENTION_HINT = _(
    "To edit a picture, attach it (or reply to one) and mention me with what to change, "
    "e.g. “@me make it a watercolor”. To make a new one, use /imagine."
)
# Translators: the progress line while an /edit runs.
EDITING = _("Editing…")
REGION_CHOICE_NAMES = {
    # Translators: a choice of /edit's region option (at most 100 characters): the part of
    # the image that changes.
    "top-left": locale_str("Top left"),
    "top-center": locale_str("Top center"),
    "top-right": locale_str("Top right"),
    "middle-left": locale_str("Middle left"),
    "center": locale_str("Center"),
    "middle-right": locale_str("Middle right"),
    "bottom-left": locale_str("Bottom left"),
    "bottom-center": locale_str("Bottom center"),
    "bottom-right": locale_str("Bottom right"),
    "top-half": locale_str("Top half"),
    "bottom-half": locale_str("Bottom half"),
    "left-half": locale_str("Left half"),
    "right-half": locale_str("Right half"),
    "top-left-quarter": locale_str("Top left quarter"),
    "top-right-quarter": locale_str("Top right quarter"),
    "bottom-left-quarter": locale_str("Bottom left quarter"),
    "bottom-right-quarter": locale_str("Bottom right quarter"),
}
Prompt = app_commands.Range[str, 1, MAX_PROMPT_CHARS]


def no_image_in(message: discord.Message) -> Message:
    if message.stickers and not message.attachments:
        return NO_STICKER_EDITS
    return NO_IMAGE_IN_MESSAGE


def region_choice_name(region: str) -> locale_str | str:
    """A region's name in /edit's choices: marked for translation, as REGIONS spells it."""
    label = REGIONS[region].label
    marked = REGION_CHOICE_NAMES.get(region)
    # A region added to REGIONS without a marked name still shows, in English.
    return marked if marked is not None and marked.message == label else label


def readable_prompt(message: discord.Message, bot_id: int) -> str:
    """The reply's words for the model: without the bot's mention, other mentions as names.

    The model cannot resolve ``<@123>``; "@alice" is what the member meant.
    """
    text = re.sub(rf"<@!?{bot_id}>", "", message.content)
    users = {u.id: u.display_name for u in message.mentions}
    roles = {r.id: r.name for r in message.role_mentions}
    channels = {c.id: c.name for c in message.channel_mentions}
    text = re.sub(r"<@!?(\d+)>", lambda m: "@" + users.get(int(m[1]), "someone"), text)
    text = re.sub(r"<@&(\d+)>", lambda m: "@" + roles.get(int(m[1]), "role"), text)
    text = re.sub(r"<#(\d+)>", lambda m: "#" + channels.get(int(m[1]), "channel"), text)
    text = re.sub(r"<a?:(\w+):\d+>", r":\1:", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


class Edit(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(
            # Translators: a message menu's name (may have spaces and capitals; at most 32
            # characters).
            name=named("context menu", "Edit image"),
            callback=self.edit_image_menu,
        )
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(
        # Translators: a slash command's name: lower case, no spaces, at most 32 characters.
        name=named("command", "edit"),
        # Translators: a slash command's description: at most 100 characters.
        description=locale_str(
            "Edit the channel's latest image (or the one you attach), continuing the conversation."
        ),
    )
    @app_commands.guild_only()
    @app_commands.rename(
        # Translators: an option's name: lower case, no spaces, at most 32 characters.
        prompt=named("option", "prompt"),
        image=named("option", "image"),
        private=named("option", "private"),
        region=named("option", "region"),
    )
    @app_commands.describe(
        # Translators: an option's description: at most 100 characters.
        prompt=locale_str(
            "What to change; [name] adds your stored reference image of that name (/ref)"
        ),
        image=locale_str("The image to edit (default: the latest image in this channel)"),
        private=PRIVATE_HELP,
        region=locale_str("Change only this part of the image; every other pixel stays as it is"),
    )
    @app_commands.choices(
        region=[
            app_commands.Choice(name=region_choice_name(r.name), value=r.name)
            for r in REGIONS.values()
        ]
    )
    async def edit(
        self,
        interaction: discord.Interaction[ImageBot],
        prompt: Prompt,
        image: discord.Attachment | None = None,
        private: bool = False,
        region: str | None = None,
    ) -> None:
        """Edit the channel's latest image (or the one you attach), continuing the conversation."""
        spec = JobSpec(
            kind="region" if region else "edit",
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            prompt=prompt,
            sources=(source_of(image),) if image is not None else (),
            # A region edit sends the image itself, not the chain: only the region changes.
            history=region is None,
            use_latest=image is None,
            private=private,
            region=region,
            locale=supported(interaction.locale),
        )
        spec = await with_preferences(interaction, spec, skip=("count",))  # one edited image
        settings = await allowed(interaction)  # before a [name] in the prompt is looked up
        spec = await with_references(self.bot.store, spec)
        # Translators: the progress line while a region edit runs; {region} is the part of
        # the image that changes ("top left", "left half").
        label = _("Editing the {region}…", region=region_label(region)) if region else EDITING
        await run_for_interaction(interaction, spec, settings=settings, label=render(label))

    async def edit_image_menu(
        self, interaction: discord.Interaction[ImageBot], message: discord.Message
    ) -> None:
        await allowed(interaction)
        sources, notes = capped(image_sources(message))
        if not sources:
            raise ImagineError(no_image_in(message))
        prefs = await self.bot.store.get_preferences(interaction.user.id)
        modal = EditModal(sources=sources, notes=notes, private=prefs.private is True)
        await interaction.response.send_modal(modal)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.guild is None:
            return
        # A message carries no locale of its own: the answer speaks the server's language.
        use_locale(message.guild.preferred_locale)
        mentioned = me.id in message.raw_mentions
        if message.reference is None:
            if mentioned and await self._first(message):
                await self._answering(message, self._edit_attached(message))
            return
        target = message.reference.resolved
        if not isinstance(target, discord.Message):
            if message.reference.message_id is None:
                return
            try:
                target = await message.channel.fetch_message(message.reference.message_id)
            except discord.HTTPException:
                return
        own_result = target.author.id == me.id
        sources = image_sources(target)
        if not (mentioned or (own_result and sources)):
            return
        if not sources and mentioned:
            # A reply to a text message that carries its own picture means that picture.
            sources = image_sources(message)
        if await self._first(message):
            await self._answering(message, self._edit_reply(message, target, sources))

    async def _first(self, message: discord.Message) -> bool:
        """Whether this process acts on the message: two sessions of a shard can both get it."""
        return await self.bot.runtime.claims.first("message", message.id)

    async def _answering(self, message: discord.Message, work: Awaitable[None]) -> None:
        """Run ``work``; any failure is answered as a reply the member can read."""
        await reporting(message, work)

    async def _edit_attached(self, message: discord.Message) -> None:
        """A mention that is not a reply: edit its own images, or say how to use the bot."""
        sources = image_sources(message)
        if sources:
            await self._edit_reply(message, message, sources)
            return
        try:
            await self._settings_for(message)
        except AccessDenied:
            return  # where the bot is not enabled, a bare mention is not for us
        await message.reply(render(MENTION_HINT), mention_author=False)

    async def _settings_for(self, message: discord.Message) -> GuildSettings:
        member = message.author
        permissions = (
            message.channel.permissions_for(member)  # type: ignore[arg-type]
            if isinstance(member, discord.Member)
            else discord.Permissions.none()
        )
        return await ensure_can_use(
            self.bot,
            guild_id=message.guild.id if message.guild else None,
            channel_id=message.channel.id,
            permissions=permissions,
            parent_id=getattr(message.channel, "parent_id", None)
            if isinstance(message.channel, discord.Thread)
            else None,
        )

    async def _edit_reply(
        self,
        message: discord.Message,
        target: discord.Message,
        sources: tuple[SourceImage, ...],
    ) -> None:
        me = self.bot.user
        assert me is not None
        member = message.author
        settings = await self._settings_for(message)
        # Only after the access check: a channel the bot is not enabled in learns nothing else.
        if settings.privacy == "private":
            raise ImagineError(REPLY_PRIVATE)
        if not sources:
            raise ImagineError(no_image_in(target))
        sources, notes = capped(sources)
        prompt = readable_prompt(message, me.id)
        if not prompt:
            raise ImagineError(REPLY_HINT)
        spec = JobSpec(
            kind="edit",
            guild_id=settings.guild_id,
            channel_id=message.channel.id,
            user_id=member.id,
            prompt=prompt,
            sources=sources,
            history=True,
            upload_limit=channel_limit(self.bot, settings.guild_id),
            locale=supported(message.guild.preferred_locale if message.guild else None),
        )
        await run_for_message(self.bot, message, spec, settings, notes=notes)


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Edit(bot))
