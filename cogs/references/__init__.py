"""/ref add, /ref list, /ref remove: the reference library a prompt uses as ``[name]``.

A member's references (``scope: me``) are theirs in every server the bot is in; a
server's (``scope: server``) are for all its members, and only admins (Manage Server)
add or remove them. Every answer is private. How prompts use them:
``bot.jobs.reference_names``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_bot.access import in_server, is_admin
from bot.discord_bot.delivery import trim
from bot.discord_bot.sources import source_of
from bot.errors import AccessDenied, ImagineError
from bot.jobs.references import LIMITS, store_reference
from bot.limits import AUTOCOMPLETE_LIMIT, MAX_REFERENCE_NAME_CHARS, REFERENCE_NAME_PATTERN

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

SCOPES = [
    app_commands.Choice(name="me (yours, in every server)", value="member"),
    app_commands.Choice(name="server (every member here; admins)", value="server"),
]
NOT_ADMIN_REFS = (
    "Only members with Manage Server can change this server's references: ask an admin, "
    "or leave scope: out to keep the image as your own."
)
BAD_NAME = (
    f"A reference name is one word of 1-{MAX_REFERENCE_NAME_CHARS} letters, digits, _ or - "
    "(e.g. rex or my-logo)."
)
HOW_TO_USE = (
    "Write [name] in a prompt of /imagine, /edit or /blend to add that image; "
    "yours come before the server's of the same name."
)
_NAME = re.compile(REFERENCE_NAME_PATTERN)
Name = app_commands.Range[str, 1, MAX_REFERENCE_NAME_CHARS]


def _owner(interaction: discord.Interaction[ImageBot], scope: str) -> int:
    """Whose library ``scope`` is here; a server's only for its admins."""
    guild_id = in_server(interaction)
    if scope == "member":
        return interaction.user.id
    if not is_admin(interaction.permissions):
        raise AccessDenied(NOT_ADMIN_REFS)
    return guild_id


def _checked(name: str) -> str:
    name = name.strip().strip("[]").lower()
    if not _NAME.fullmatch(name):
        raise ImagineError(BAD_NAME)
    return name


class References(commands.GroupCog, group_name="ref", group_description="Your reference images"):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="add")
    @app_commands.guild_only()
    @app_commands.describe(
        name="One word to call it by in prompts, as [name]",
        image="The image (PNG, JPEG, WEBP, GIF or HEIC)",
        scope="Yours (default), or the whole server's (Manage Server)",
    )
    @app_commands.choices(scope=SCOPES)
    async def add(
        self,
        interaction: discord.Interaction[ImageBot],
        name: Name,
        image: discord.Attachment,
        scope: str = "member",
    ) -> None:
        """Store an image under a name; [name] in a prompt then adds it as a reference."""
        owner = _owner(interaction, scope)
        name = _checked(name)
        await interaction.response.defer(ephemeral=True, thinking=True)
        ref = await store_reference(
            self.bot.services,
            source_of(image),
            scope=scope,
            owner_id=owner,
            name=name,
            added_by=interaction.user.id,
        )
        whose = "your references" if scope == "member" else "this server's references"
        size = f"{ref.image.width}×{ref.image.height}"
        await interaction.followup.send(
            f"Saved [{ref.name}] ({size}) in {whose}. {HOW_TO_USE}", ephemeral=True
        )

    @app_commands.command(name="list")
    @app_commands.guild_only()
    async def list_(self, interaction: discord.Interaction[ImageBot]) -> None:
        """Your reference images and this server's."""
        guild_id = in_server(interaction)
        store = self.bot.store
        mine = await store.list_references(scope="member", owner_id=interaction.user.id)
        server = await store.list_references(scope="server", owner_id=guild_id)

        def shown(refs: list, scope: str) -> str:
            names = ", ".join(f"[{r.name}]" for r in refs) or "none yet"
            return f"{names} ({len(refs)} of {LIMITS[scope]})"

        text = "\n".join(
            [
                f"**Yours** (in every server): {shown(list(mine), 'member')}",
                f"**This server's**: {shown(list(server), 'server')}",
                HOW_TO_USE,
            ]
        )
        await interaction.response.send_message(trim(text), ephemeral=True)

    @app_commands.command(name="remove")
    @app_commands.guild_only()
    @app_commands.describe(
        name="The reference to forget", scope="Yours (default), or the server's (Manage Server)"
    )
    @app_commands.choices(scope=SCOPES)
    async def remove(
        self, interaction: discord.Interaction[ImageBot], name: Name, scope: str = "member"
    ) -> None:
        """Forget one of your reference images (or, for admins, one of the server's)."""
        owner = _owner(interaction, scope)
        name = _checked(name)
        removed = await self.bot.store.remove_reference(scope=scope, owner_id=owner, name=name)
        whose = "You have" if scope == "member" else "This server has"
        if not removed:
            raise ImagineError(f"{whose} no reference named [{name}]; /ref list shows them.")
        where = "your references" if scope == "member" else "this server's references"
        await interaction.response.send_message(f"Removed [{name}] from {where}.", ephemeral=True)

    @remove.autocomplete("name")
    async def name_autocomplete(
        self, interaction: discord.Interaction[ImageBot], current: str
    ) -> list[app_commands.Choice[str]]:
        scope = getattr(interaction.namespace, "scope", None) or "member"
        if interaction.guild_id is None or scope not in LIMITS:
            return []
        owner = interaction.user.id if scope == "member" else interaction.guild_id
        refs = await self.bot.store.list_references(scope=scope, owner_id=owner)
        needle = current.strip().lower()
        names = [r.name for r in refs if needle in r.name][:AUTOCOMPLETE_LIMIT]
        return [app_commands.Choice(name=n, value=n) for n in names]


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(References(bot))
