"""/ref add, /ref list, /ref remove: the reference library a prompt uses as ``[name]``.

A member's references (``scope: me``) are theirs in every server the bot is in; a
server's (``scope: server``) are for all its members, and only admins (Manage Server)
add or remove them. Every answer is private. How prompts use them:
``bot.jobs.reference_names``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord_bot.access import in_server, is_admin
from bot.discord_bot.delivery import trim
from bot.discord_bot.sources import source_of
from bot.discord_bot.translator import named
from bot.errors import AccessDenied, ImagineError
from bot.i18n import _, join, render
from bot.jobs.references import LIMITS, store_reference
from bot.limits import AUTOCOMPLETE_LIMIT, MAX_REFERENCE_NAME_CHARS, REFERENCE_NAME_PATTERN

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot
    from bot.storage.base import ReferenceImage

SCOPES = [
    # Translators: choices of the scope option (at most 100 characters); "me" and "server"
    # are what a member types, the words in brackets say what they mean.
    app_commands.Choice(name=locale_str("me (yours, in every server)"), value="member"),
    app_commands.Choice(name=locale_str("server (every member here; admins)"), value="server"),
]
NOT_ADMIN_REFS = _(
    "Only members with Manage Server can change this server's references: ask an admin, "
    "or leave scope: out to keep the image as your own."
)
# Translators: {max} is the longest a name may be, in characters.
BAD_NAME = _(
    "A reference name is one word of 1-{max} letters, digits, _ or - (e.g. rex or my-logo).",
    max=MAX_REFERENCE_NAME_CHARS,
)
HOW_TO_USE = _(
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


class References(
    commands.GroupCog,
    # Translators: a slash command group's name: lower case, no spaces, at most 32 characters.
    group_name=named("command", "ref"),
    # Translators: a slash command group's description: at most 100 characters.
    group_description=locale_str("Your reference images"),
):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        # Translators: a subcommand's name (/ref add): lower case, no spaces, at most 32
        # characters.
        name=named("command", "add"),
        # Translators: a subcommand's description: at most 100 characters.
        description=locale_str(
            "Store an image under a name; [name] in a prompt then adds it as a reference."
        ),
    )
    @app_commands.guild_only()
    @app_commands.rename(
        # Translators: an option's name: lower case, no spaces, at most 32 characters.
        name=named("option", "name"),
        image=named("option", "image"),
        scope=named("option", "scope"),
    )
    @app_commands.describe(
        # Translators: an option's description: at most 100 characters.
        name=locale_str("One word to call it by in prompts, as [name]"),
        image=locale_str("The image (PNG, JPEG, WEBP, GIF or HEIC)"),
        scope=locale_str("Yours (default), or the whole server's (Manage Server)"),
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
        # Translators: {name} is the reference's name, {size} its width×height in pixels.
        found = {"name": ref.name, "size": f"{ref.image.width}×{ref.image.height}"}
        if scope == "member":
            saved = _("Saved [{name}] ({size}) in your references.", **found)
        else:
            saved = _("Saved [{name}] ({size}) in this server's references.", **found)
        await interaction.followup.send(render(join([saved, HOW_TO_USE])), ephemeral=True)

    @app_commands.command(
        name=named("command", "list"),
        description=locale_str("Your reference images and this server's."),
    )
    @app_commands.guild_only()
    async def list_(self, interaction: discord.Interaction[ImageBot]) -> None:
        """Your reference images and this server's."""
        guild_id = in_server(interaction)
        store = self.bot.store
        mine = await store.list_references(scope="member", owner_id=interaction.user.id)
        server = await store.list_references(scope="server", owner_id=guild_id)

        def shown(refs: Sequence[ReferenceImage], scope: str) -> dict[str, object]:
            names = ", ".join(f"[{r.name}]" for r in refs) or _("none yet")
            return {"names": names, "count": len(refs), "limit": LIMITS[scope]}

        # Translators: {names} lists the references ("[rex], [logo]" or "none yet");
        # {count} of {limit} is how many are stored of how many may be.
        text = join(
            [
                _(
                    "**Yours** (in every server): {names} ({count} of {limit})",
                    **shown(mine, "member"),
                ),
                _("**This server's**: {names} ({count} of {limit})", **shown(server, "server")),
                HOW_TO_USE,
            ],
            sep="\n",
        )
        await interaction.response.send_message(trim(render(text)), ephemeral=True)

    @app_commands.command(
        name=named("command", "remove"),
        description=locale_str(
            "Forget one of your reference images (or, for admins, one of the server's)."
        ),
    )
    @app_commands.guild_only()
    @app_commands.rename(name=named("option", "name"), scope=named("option", "scope"))
    @app_commands.describe(
        name=locale_str("The reference to forget"),
        scope=locale_str("Yours (default), or the server's (Manage Server)"),
    )
    @app_commands.choices(scope=SCOPES)
    async def remove(
        self, interaction: discord.Interaction[ImageBot], name: Name, scope: str = "member"
    ) -> None:
        """Forget one of your reference images (or, for admins, one of the server's)."""
        owner = _owner(interaction, scope)
        name = _checked(name)
        removed = await self.bot.store.remove_reference(scope=scope, owner_id=owner, name=name)
        mine = scope == "member"
        if not removed:
            raise ImagineError(
                _("You have no reference named [{name}]; /ref list shows them.", name=name)
                if mine
                else _(
                    "This server has no reference named [{name}]; /ref list shows them.", name=name
                )
            )
        done = (
            _("Removed [{name}] from your references.", name=name)
            if mine
            else _("Removed [{name}] from this server's references.", name=name)
        )
        await interaction.response.send_message(render(done), ephemeral=True)

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
        # Reference names are the members' own words: shown as they are.
        return [app_commands.Choice(name=n, value=n) for n in names]


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(References(bot))
