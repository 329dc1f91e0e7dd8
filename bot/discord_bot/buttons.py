"""The buttons under results: ``DynamicItem``s whose custom_id holds the action and the job.

``imagine:<action>:<job id>``; everything else is read from the job row, so a button
posted before a restart works after it. Registered once with ``bot.add_dynamic_items``
(``bot.discord_bot.app``). What a press does is ``bot.discord_bot.components.press``,
reached through the client (``ButtonHandler``), which keeps this module below the
pipeline that posts these views.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from bot.jobs import supports_sizes

CUSTOM_ID_PREFIX = "imagine"
ACTIONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    # action: (label, emoji, style)
    "reroll": ("Reroll", "🎲", discord.ButtonStyle.secondary),
    "edit": ("Edit", "✏️", discord.ButtonStyle.primary),
    "up2k": ("Upscale 2K", "🔍", discord.ButtonStyle.secondary),
    "up4k": ("Upscale 4K", "🔍", discord.ButtonStyle.secondary),
    "rerun": ("Run again", "🔁", discord.ButtonStyle.primary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
}


class ButtonHandler(Protocol):
    async def press(self, button: JobButton, interaction: discord.Interaction[Any]) -> None: ...


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"{CUSTOM_ID_PREFIX}:(?P<action>{'|'.join(ACTIONS)}):(?P<job>[0-9]{{1,20}})",
):
    def __init__(self, action: str, job_id: int) -> None:
        label, emoji, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                custom_id=f"{CUSTOM_ID_PREFIX}:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(match["action"], int(match["job"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # The action lives in ``components`` (it runs jobs); the client holds it, so
        # this module, which the pipeline imports for the result view, imports neither.
        handler: ButtonHandler = interaction.client
        await handler.press(self, interaction)


PERSISTENT_ITEMS = (JobButton,)


def result_view(job_id: int, model: str, image_size: str | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("reroll", job_id))
    view.add_item(JobButton("edit", job_id))
    if supports_sizes(model):
        if image_size not in ("2K", "4K"):
            view.add_item(JobButton("up2k", job_id))
        if image_size != "4K":
            view.add_item(JobButton("up4k", job_id))
    view.add_item(JobButton("delete", job_id))  # last: away from the buttons that make images
    return view


def rerun_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("rerun", job_id))
    return view
