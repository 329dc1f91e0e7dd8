"""The buttons under results: ``DynamicItem``s whose custom_id holds the action and the job.

``imagine:<action>:<job id>`` (``JobButton``: the whole result) and
``imagine:<action>:<job id>:<n>`` (``ImageButton``: image n of it, for the Vary buttons
and the per-image rows of a count:N result); everything else is read from the job row,
so a button posted before a restart works after it. Registered once with ``bot.add_dynamic_items``
(``bot.discord_bot.app``). What a press does is ``bot.discord_bot.components.press``,
reached through the client (``ButtonHandler``), which keeps this module below the
pipeline that posts these views.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import discord

from bot.i18n import Message, Text, _, p_, render
from bot.images.regions import REGIONS, region_label
from bot.jobs import supports_sizes

CUSTOM_ID_PREFIX = "imagine"
# Button labels, rendered when a view is made (in the language of whoever it is for).
# Translators: button labels here and below: short, at most 80 characters.
EDIT = p_("button", "Edit")
EDIT_REGION = p_("button", "Edit region")
ACTIONS: dict[str, tuple[Text, str, discord.ButtonStyle]] = {
    # action: (label, emoji, style)
    "reroll": (p_("button", "Reroll"), "🎲", discord.ButtonStyle.secondary),
    "edit": (EDIT, "✏️", discord.ButtonStyle.primary),
    "up2k": (p_("button", "Upscale 2K"), "🔍", discord.ButtonStyle.secondary),
    "up4k": (p_("button", "Upscale 4K"), "🔍", discord.ButtonStyle.secondary),
    "rerun": (p_("button", "Run again"), "🔁", discord.ButtonStyle.primary),
    "delete": (p_("button", "Delete"), "🗑️", discord.ButtonStyle.danger),
    "cancel": (p_("button", "Cancel"), "✖️", discord.ButtonStyle.danger),
    # A count:N result whose grid has no row left: asks which image, then where.
    "region": (EDIT_REGION, "🎯", discord.ButtonStyle.secondary),
}


# Actions on one image of a result: (label alone, row header of a count:N result, emoji).
VARY_SUBTLE = p_("button", "Vary (Subtle)")
VARY_STRONG = p_("button", "Vary (Strong)")
IMAGE_ACTIONS: dict[str, tuple[Text, Text, str]] = {
    "upscale": (p_("button", "Upscale"), p_("button", "Upscale"), "🔍"),
    "vary_subtle": (VARY_SUBTLE, VARY_SUBTLE, "🌱"),
    "vary_strong": (VARY_STRONG, VARY_STRONG, "🌀"),
    "edit": (EDIT, EDIT, "✏️"),
    "region": (EDIT_REGION, EDIT_REGION, "🎯"),
}
# Translators: a select menu's prompt; at most 150 characters.
WHICH_PART = _("Which part should change?")
# What the per-image Upscale makes, from the job's size: one step up.
NEXT_SIZE = {None: "2K", "1K": "2K", "2K": "4K"}


class ButtonHandler(Protocol):
    async def press(
        self, button: JobButton | ImageButton | RegionSelect, interaction: discord.Interaction[Any]
    ) -> None: ...


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"{CUSTOM_ID_PREFIX}:(?P<action>{'|'.join(ACTIONS)}):(?P<job>[0-9]{{1,20}})",
):
    def __init__(self, action: str, job_id: int) -> None:
        label, emoji, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=render(label),
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


class ImageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"{CUSTOM_ID_PREFIX}:(?P<action>{'|'.join(IMAGE_ACTIONS)})"
    r":(?P<job>[0-9]{1,20}):(?P<n>[1-9])",
):
    """An action on image ``number`` of a job's result (1 for a one-image result)."""

    def __init__(
        self, action: str, job_id: int, number: int, *, label: str | None = None, row: int = 0
    ) -> None:
        alone, _, emoji = IMAGE_ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label or render(alone),
                emoji=None if label and label.isdigit() else emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=f"{CUSTOM_ID_PREFIX}:{action}:{job_id}:{number}",
                row=row,
            )
        )
        self.action = action
        self.job_id = job_id
        self.number = number

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ImageButton:
        return cls(match["action"], int(match["job"]), int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ButtonHandler = interaction.client
        await handler.press(self, interaction)


class RegionSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=rf"{CUSTOM_ID_PREFIX}:area:(?P<job>[0-9]{{1,20}}):(?P<n>[1-9])",
):
    """Where image ``number`` of a job is to change: one of ``REGIONS``; a modal follows."""

    def __init__(self, job_id: int, number: int, *, placeholder: Message | None = None) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"{CUSTOM_ID_PREFIX}:area:{job_id}:{number}",
                placeholder=render(placeholder or WHICH_PART),
                options=[
                    discord.SelectOption(
                        label=render(region_label(r.name)),
                        value=r.name,
                        description=render(_shape(r.box)),
                    )
                    for r in REGIONS.values()
                ],
            )
        )
        self.job_id = job_id
        self.number = number

    @property
    def region(self) -> str:
        """The region picked (the interaction's value, as discord.py filled it in)."""
        return self.item.values[0]

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RegionSelect:
        return cls(int(match["job"]), int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ButtonHandler = interaction.client
        await handler.press(self, interaction)


# How much of the image a region is (a select option's description), by its size in sixths.
SHARES: dict[tuple[int, int], Text] = {
    (2, 2): _("A ninth of the image"),
    (6, 3): _("Half of the image"),
    (3, 6): _("Half of the image"),
    (3, 3): _("A quarter of the image"),
}


def _shape(box: tuple[int, int, int, int]) -> Text:
    x0, y0, x1, y1 = box
    return SHARES[(x1 - x0, y1 - y0)]


def region_picker(job_id: int, numbers: Sequence[int]) -> discord.ui.View:
    """The selects of an Edit region press: one per image (Discord: one select per row)."""
    view = discord.ui.View(timeout=None)
    for n in numbers[:5]:
        # Translators: a select menu's prompt; {n} is the image's number in the result.
        where = _("Image {n}: which part should change?", n=n) if len(numbers) > 1 else None
        view.add_item(RegionSelect(job_id, n, placeholder=where))
    # Stopped before it is sent: its selects are dynamic items, answered through the
    # registry, so discord.py need not keep it; kept, an ephemeral view gets a 15-minute
    # timeout task per press that outlives the answer.
    view.stop()
    return view


PERSISTENT_ITEMS = (JobButton, ImageButton, RegionSelect)


def result_view(
    job_id: int, model: str, image_size: str | None = None, numbers: Sequence[int] = ()
) -> discord.ui.View:
    """The buttons under a result; ``numbers``: its images' numbers when it has several."""
    if len(numbers) > 1:
        return _grid_view(job_id, model, image_size, numbers)
    number = numbers[0] if numbers else 1
    view = discord.ui.View(timeout=None)
    view.add_item(ImageButton("vary_subtle", job_id, number, row=0))
    view.add_item(ImageButton("vary_strong", job_id, number, row=0))
    view.add_item(_row(JobButton("reroll", job_id), 0))
    view.add_item(_row(JobButton("edit", job_id), 1))
    view.add_item(ImageButton("region", job_id, number, row=1))
    if supports_sizes(model):
        if image_size not in ("2K", "4K"):
            view.add_item(_row(JobButton("up2k", job_id), 1))
        if image_size != "4K":
            view.add_item(_row(JobButton("up4k", job_id), 1))
    # Last: away from the buttons that make images.
    view.add_item(_row(JobButton("delete", job_id), 1))
    return view


def _grid_view(
    job_id: int, model: str, image_size: str | None, numbers: Sequence[int]
) -> discord.ui.View:
    """A row per action, a button per image: "Vary (Subtle) | 1 | 2 | 3 | 4".

    The row's first button is its label (disabled), so four numbered buttons read as
    the action they do without a legend; four actions and Reroll fill Discord's five
    rows of five. Upscale goes one size up (1K to 2K, 2K to 4K). Edit region gets a row
    of its own where there is one (no Upscale row); else it is one button beside Reroll,
    which asks for the image in its select menus (``region_picker``).
    """
    view = discord.ui.View(timeout=None)
    actions = ["vary_subtle", "vary_strong", "edit"]
    upscale_to = NEXT_SIZE.get(image_size) if supports_sizes(model) else None
    if upscale_to is not None:
        actions.insert(0, "upscale")
    else:
        actions.append("region")
    for row, action in enumerate(actions):
        _, header, emoji = IMAGE_ACTIONS[action]
        if action == "upscale":
            # Translators: a button's label; {size} is "2K" or "4K".
            header = p_("button", "Upscale {size}", size=upscale_to)
        view.add_item(
            discord.ui.Button(
                label=render(header),
                emoji=emoji,
                disabled=True,
                style=discord.ButtonStyle.secondary,
                custom_id=f"{CUSTOM_ID_PREFIX}:row:{action}:{job_id}",
                row=row,
            )
        )
        for n in numbers:
            view.add_item(ImageButton(action, job_id, n, label=str(n), row=row))
    view.add_item(_row(JobButton("reroll", job_id), len(actions)))
    if "region" not in actions:
        view.add_item(_row(JobButton("region", job_id), len(actions)))
    view.add_item(_row(JobButton("delete", job_id), len(actions)))
    return view


def _row(item: discord.ui.DynamicItem[Any], row: int) -> discord.ui.DynamicItem[Any]:
    item.row = row
    return item


def rerun_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("rerun", job_id))
    return view
