"""/history: the channel's edit tree as a private, paged gallery, one step a page.

Each step is a turn of the channel's history (``Store.list_turns``, newest first). The
buttons are ``DynamicItem``s holding a page or a turn id, so a gallery keeps working
after a restart. **Continue from here** moves the channel's head to the step quietly:
the next /edit (anyone's) edits that step's image, with its model turn replayed, and
becomes a new branch beside the steps that followed it, which are kept. **Restore**
moves the head the same way and posts the step's image in the channel again, so every
member sees which image /edit edits now (privately where ``/settings privacy`` keeps
every result private).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord_bot.errors import reporting
from bot.discord_bot.pipeline import allowed
from bot.discord_bot.translator import named
from bot.i18n import Message, _, join, p_, render, use_locale
from bot.storage.base import Store, TurnRecord

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

ACTIONS = ("page", "continue", "restore")
EMPTY = _("This channel has no image history yet. Start one with /imagine.")
GONE = _("That step is no longer in this channel's history (it was pruned, deleted or /reset).")
NO_MENTIONS = discord.AllowedMentions.none()
PROMPT_CHARS = 1000
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@dataclass(frozen=True)
class Gallery:
    """The channel's steps oldest first, and which of them lie on the head's path."""

    steps: Sequence[TurnRecord]
    head: int | None
    line: frozenset[int]

    def number(self, turn_id: int) -> int | None:
        return next((n for n, t in enumerate(self.steps, 1) if t.id == turn_id), None)

    def marker(self, step: TurnRecord) -> Message:
        # Two sentences, each whole: where the step lies, and what it edits.
        if step.id == self.head:
            where = _("Latest: the next /edit edits this step.")
        elif step.id in self.line:
            where = _("On the current line.")
        else:
            # Translators: "Continue from here" is the label of the button under the step.
            where = _("On another branch (Continue from here to edit it).")
        if step.parent_id is None:
            return join([where, _("Starts the history.")])
        parent = self.number(step.parent_id)
        # Translators: {step} is the number of the step this one changed.
        edits = (
            _("Edits step {step}.", step=parent) if parent else _("Edits a step no longer kept.")
        )
        return join([where, edits])


async def gallery(store: Store, channel_id: int) -> Gallery:
    count = await store.count_turns(channel_id)
    steps = list(reversed(await store.list_turns(channel_id, offset=0, limit=max(count, 1))))
    head = await store.head_turn(channel_id)
    path = await store.turn_path(channel_id, head, len(steps)) if head is not None else ()
    return Gallery(steps, head, frozenset(t.id for t in path if t.id is not None))


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"imagine:hist:(?P<action>{'|'.join(ACTIONS)}):(?P<n>[0-9]{{1,20}})",
):
    """``page``: show page n (0: the newest step); ``continue``/``restore``: turn n."""

    # Translators: buttons under a /history step (at most 80 characters).
    LABELS: dict[str, tuple[Message, str]] = {
        "continue": (p_("button", "Continue from here"), "🌿"),
        "restore": (p_("button", "Restore"), "⏪"),
    }

    def __init__(
        self, action: str, n: int, *, label: Message | None = None, disabled: bool = False
    ) -> None:
        text, emoji = self.LABELS.get(action, (label or "", None))
        super().__init__(
            discord.ui.Button(
                label=render(text),
                emoji=emoji,
                disabled=disabled,
                style=discord.ButtonStyle.primary
                if action == "continue"
                else discord.ButtonStyle.secondary,
                custom_id=f"imagine:hist:{action}:{n}",
            )
        )
        self.action = action
        self.n = n

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> HistoryButton:
        return cls(match["action"], int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        use_locale(interaction.locale)
        await reporting(interaction, _press(self.action, self.n, interaction))


async def _press(action: str, n: int, interaction: discord.Interaction[ImageBot]) -> None:
    settings = await allowed(interaction)
    store = interaction.client.store
    channel_id = interaction.channel_id or 0
    if action == "page":
        shown = await _page(store, channel_id, n)
        if shown is None:
            await interaction.response.edit_message(content=render(EMPTY), embed=None, view=None)
            return
        embed, file, view = shown
        await interaction.response.edit_message(
            embed=embed, attachments=[file] if file else [], view=view
        )
        return
    if not await store.set_head(channel_id, n):
        await interaction.response.send_message(render(GONE), ephemeral=True)
        return
    found = await gallery(store, channel_id)
    number, total = found.number(n), len(found.steps)
    if action == "continue":
        continued = _(
            "The next /edit continues from step {number} of {total}: it edits that step's "
            "image, and the steps after it stay as another branch.",
            number=number,
            total=total,
        )
        await interaction.response.send_message(render(continued), ephemeral=True)
        return
    step = found.steps[(number or 1) - 1]
    file = await _image_file(store, step)
    mention = f"<@{interaction.user.id}>"
    # Translators: {member} is a mention of the member; {prompt} the step's prompt, quoted.
    restored = _(
        "{member} restored step {number} of {total}: “{prompt}”. The next /edit edits this image.",
        member=mention,
        number=number,
        total=total,
        prompt=_short(step.prompt, 200),
    )
    await interaction.response.send_message(
        render(restored),
        file=file or discord.utils.MISSING,
        allowed_mentions=NO_MENTIONS,
        # A server that keeps every result private keeps a restored one private too.
        ephemeral=settings.privacy == "private",
    )


async def _image_file(store: Store, step: TurnRecord) -> discord.File | None:
    if not step.outputs:
        return None
    image = step.outputs[0]
    data = await store.get_blob(image.sha256)
    return discord.File(io.BytesIO(data), filename=f"step.{_EXT.get(image.mime, 'png')}")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _page(
    store: Store, channel_id: int, page: int
) -> tuple[discord.Embed, discord.File | None, discord.ui.View] | None:
    found = await gallery(store, channel_id)
    total = len(found.steps)
    if not total:
        return None
    page = min(max(page, 0), total - 1)
    step = found.steps[total - 1 - page]
    assert step.id is not None
    embed = discord.Embed(
        title=render(_("Step {number} of {total}", number=total - page, total=total)),
        description=_short(step.prompt, PROMPT_CHARS),
    )
    # Translators: the titles of a /history step's fields: who asked, when, which branch.
    embed.add_field(name=render(p_("history field", "Who")), value=f"<@{step.user_id}>")
    if step.created_at is not None:
        embed.add_field(
            name=render(p_("history field", "When")), value=f"<t:{int(step.created_at)}:R>"
        )
    embed.add_field(
        name=render(p_("history field", "Branch")), value=render(found.marker(step)), inline=False
    )
    file = await _image_file(store, step)
    if file is not None:
        embed.set_image(url=f"attachment://{file.filename}")
    view = discord.ui.View(timeout=None)
    # Translators: paging buttons of /history (at most 80 characters).
    newer, older = p_("button", "◀ Newer"), p_("button", "Older ▶")
    view.add_item(HistoryButton("page", max(page - 1, 0), label=newer, disabled=page == 0))
    view.add_item(HistoryButton("page", page + 1, label=older, disabled=page >= total - 1))
    view.add_item(HistoryButton("continue", step.id))
    view.add_item(HistoryButton("restore", step.id))
    # Answered through the dynamic-item registry: discord.py need not keep the view.
    view.stop()
    return embed, file, view


class History(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(
        # Translators: a slash command's name: lower case, no spaces, at most 32 characters.
        name=named("command", "history"),
        # Translators: a slash command's description: at most 100 characters.
        description=locale_str(
            "Browse this channel's image history; continue or restore any step."
        ),
    )
    @app_commands.guild_only()
    async def history(self, interaction: discord.Interaction[ImageBot]) -> None:
        """Browse this channel's image history; continue or restore any step."""
        await allowed(interaction)
        shown = await _page(self.bot.store, interaction.channel_id or 0, 0)
        if shown is None:
            await interaction.response.send_message(render(EMPTY), ephemeral=True)
            return
        embed, file, view = shown
        await interaction.response.send_message(
            embed=embed, file=file or discord.utils.MISSING, view=view, ephemeral=True
        )


async def setup(bot: ImageBot) -> None:
    bot.add_dynamic_items(HistoryButton)
    await bot.add_cog(History(bot))
