"""What the persistent components do: a result's buttons, the edit modal, stale forms.

The buttons themselves (their custom_ids and views) are ``bot.discord_bot.buttons``;
a press reaches ``press`` here through the client (``ImageBot.press``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_bot.access import first_delivery
from bot.discord_bot.buttons import (
    CUSTOM_ID_PREFIX,
    NEXT_SIZE,
    ImageButton,
    JobButton,
    RegionSelect,
    region_picker,
)
from bot.discord_bot.errors import reporting
from bot.discord_bot.pipeline import allowed, run_for_interaction
from bot.discord_bot.queueing import cancel_pressed
from bot.discord_bot.removal import delete_pressed
from bot.errors import ImagineError
from bot.i18n import Message, Text, _, render
from bot.images.regions import region_in_sentence
from bot.jobs import IMAGE_GONE, UPSCALE_PROMPT, JobSpec, SourceImage
from bot.jobs.privacy import is_private
from bot.jobs.spec import output_image, variation_of, variation_prompt
from bot.limits import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot
    from bot.storage.base import JobRecord

log = logging.getLogger(__name__)
UPSCALE_SIZES = {"up2k": "2K", "up4k": "4K"}
# A result's rows are written within milliseconds of it being posted; see StoreBarrier.
STORE_WAIT_SECONDS = 2.0
# What a press would have done, when the request made no image: one sentence per action.
NOTHING_TO: dict[str, Text] = {
    "upscale": _(
        "That request made no image, so there is nothing to upscale; try Reroll or /imagine."
    ),
    "vary": _("That request made no image, so there is nothing to vary; try Reroll or /imagine."),
    "edit": _("That request made no image, so there is nothing to edit; try Reroll or /imagine."),
}
IMAGE_VERBS = {
    "upscale": "upscale",
    "vary_subtle": "vary",
    "vary_strong": "vary",
    "edit": "edit",
    "region": "edit",
}
# Translators: the title of a form; at most 45 characters.
MODAL_TITLE = _("Edit image")
PICK_REGION = _("Which part of the image should change? Nothing else in it will.")
PICK_REGIONS = _("Pick the image and the part of it to change; nothing else in it will.")
# Translators: the label of the form's text box; at most 45 characters.
INSTRUCTION_LABEL = _("What should change?")
# Translators: an example in the form's empty text box; at most 100 characters.
INSTRUCTION_EXAMPLE = _("e.g. make the sky stormy and add a lighthouse")
# Translators: an example in the form's empty text box when one part of the image changes.
REGION_EXAMPLE = _("e.g. put a red kite in the sky")

# Our modals' custom_ids start with this, so a submit nobody waits for is recognisably ours.
MODAL_PREFIX = f"{CUSTOM_ID_PREFIX}:modal:"
FORM_EXPIRED = _("That form has expired (I restarted, or it was open too long); open it again.")
NOT_YOUR_PRIVATE = _("That request was private: only the member who made it can run it again.")
# The progress messages of what a press runs (the elapsed time follows them).
REROLLING = _("Rerolling…")
GENERATING = _("Generating…")
EDITING = _("Editing…")
VARYING = {"subtle": _("Varying (subtle)…"), "strong": _("Varying (strong)…")}


async def press(
    button: JobButton | ImageButton | RegionSelect, interaction: discord.Interaction[ImageBot]
) -> None:
    """What a result's button does; errors are reported to the member."""
    if isinstance(button, RegionSelect):
        await reporting(interaction, _region_picked(button, interaction))
    elif isinstance(button, ImageButton):
        await reporting(interaction, _act_on_image(button, interaction))
    else:
        await reporting(interaction, _act(button, interaction))


async def _pressed_job(job_id: int, interaction: discord.Interaction[ImageBot]) -> JobRecord:
    # Bounded: the first answer (a modal, for Edit) must go within Discord's 3 s.
    await interaction.client.runtime.barrier.stored(job_id=job_id, at_most=STORE_WAIT_SECONDS)
    job = await interaction.client.store.get_job(job_id)
    if job is None or job.guild_id != interaction.guild_id:
        raise ImagineError(IMAGE_GONE)
    return job


def _here(interaction: discord.Interaction[ImageBot], job: JobRecord) -> dict[str, Any]:
    # A result made from a private one is private too (only its member sees the buttons).
    return {
        "user_id": interaction.user.id,
        "channel_id": interaction.channel_id or job.channel_id,
        "private": is_private(job.params),
    }


async def _act_on_image(button: ImageButton, interaction: discord.Interaction[ImageBot]) -> None:
    """Upscale, vary or edit image ``button.number`` of a result, on its own."""
    settings = await allowed(interaction)
    job = await _pressed_job(button.job_id, interaction)
    sha = output_image(job, button.number)
    if sha is None:
        raise ImagineError(NOTHING_TO[IMAGE_VERBS[button.action]])
    if button.action == "edit":
        modal = EditModal(input_shas=(sha,), private=is_private(job.params))
        await interaction.response.send_modal(modal)
        return
    if button.action == "region":
        view = region_picker(job.id, (button.number,))
        await interaction.response.send_message(render(PICK_REGION), view=view, ephemeral=True)
        return
    common: dict[str, Any] = {
        "guild_id": job.guild_id,
        "input_shas": (sha,),
        "model": job.params.get("model"),
        "aspect_ratio": job.params.get("aspect_ratio"),
        **_here(interaction, job),
    }
    if button.action == "upscale":
        size = NEXT_SIZE.get(job.params.get("image_size")) or "4K"
        spec = JobSpec(kind="upscale", prompt=UPSCALE_PROMPT, image_size=size, **common)
        # Translators: {number} is the image's number in the result, {size} "2K" or "4K".
        label: Message = _("Upscaling image {number} to {size}…", number=button.number, size=size)
    else:
        strength = "subtle" if button.action == "vary_subtle" else "strong"
        # A variation of a variation varies the member's prompt, not our instruction.
        earlier = variation_of(job.prompt)
        prompt = earlier[1] if earlier is not None else job.prompt
        spec = JobSpec(
            kind="vary",
            prompt=variation_prompt(strength, prompt),
            image_size=job.params.get("image_size"),
            **common,
        )
        label = VARYING[strength]
    await run_for_interaction(interaction, spec, settings=settings, label=label)


async def _act(button: JobButton, interaction: discord.Interaction[ImageBot]) -> None:
    if button.action == "delete":  # allowed wherever the result is, even off the allow-list
        await delete_pressed(interaction, button.job_id)
        return
    if button.action == "cancel":  # the member's own job, or an admin: anywhere
        await cancel_pressed(interaction, button.job_id)
        return
    settings = await allowed(interaction)
    job = await _pressed_job(button.job_id, interaction)
    # Only "Run again" under an interrupted private request is where others can see it.
    if is_private(job.params) and job.user_id != interaction.user.id:
        raise ImagineError(NOT_YOUR_PRIVATE)
    outputs = tuple(job.result.get("outputs", ()))
    here = _here(interaction, job)
    if button.action == "edit":
        if not outputs:
            raise ImagineError(NOTHING_TO["edit"])
        modal = EditModal(input_shas=outputs, private=is_private(job.params))
        await interaction.response.send_modal(modal)
        return
    if button.action == "region":  # a count:N result: a select per image it has
        numbers = [n for n in range(1, job.params.get("count", 1) + 1) if output_image(job, n)]
        if not numbers:
            raise ImagineError(NOTHING_TO["edit"])
        view = region_picker(job.id, numbers)
        await interaction.response.send_message(render(PICK_REGIONS), view=view, ephemeral=True)
        return
    if button.action in UPSCALE_SIZES:
        if not outputs:
            raise ImagineError(NOTHING_TO["upscale"])
        spec = JobSpec(
            kind="upscale",
            guild_id=job.guild_id,
            prompt=UPSCALE_PROMPT,
            input_shas=outputs,
            model=job.params.get("model"),
            aspect_ratio=job.params.get("aspect_ratio"),
            image_size=UPSCALE_SIZES[button.action],
            **here,
        )
        # Translators: {size} is "2K" or "4K".
        label: Message = _("Upscaling to {size}…", size=UPSCALE_SIZES[button.action])
    elif button.action == "reroll":
        # The job's inputs already hold the image it edited, so a reroll needs no history;
        # a reroll of an /imagine starts a new chain, as running that /imagine again would.
        spec = JobSpec.from_job(job, kind="reroll", history=False, **here)
        label = REROLLING
    else:  # rerun an interrupted job as it was asked
        spec = JobSpec.from_job(job, **here)
        label = GENERATING
    await run_for_interaction(interaction, spec, settings=settings, label=label)


async def _region_picked(select: RegionSelect, interaction: discord.Interaction[ImageBot]) -> None:
    """A region was picked: the modal that asks what to change there (Discord allows a
    modal as the answer to a select)."""
    await allowed(interaction)
    job = await _pressed_job(select.job_id, interaction)
    sha = output_image(job, select.number)
    if sha is None:
        raise ImagineError(NOTHING_TO["edit"])
    await interaction.response.send_modal(EditModal(input_shas=(sha,), region=select.region))


class EditModal(discord.ui.Modal):
    """Asks what to change; edits either stored images or a message's attachments."""

    def __init__(
        self,
        *,
        input_shas: Sequence[str] = (),
        sources: Sequence[SourceImage] = (),
        notes: Sequence[Message] = (),
        private: bool = False,
        region: str | None = None,
    ) -> None:
        # Translators: a form's title (at most 45 characters); {region}: "top left", "left half".
        title = _("Edit the {region}", region=region_label(region)) if region else MODAL_TITLE
        super().__init__(
            title=render(title)[:45], timeout=15 * 60, custom_id=MODAL_PREFIX + os.urandom(16).hex()
        )
        # Made per form: its words are in the language of the member it opens for.
        self.instruction: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(INSTRUCTION_LABEL),
            style=discord.TextStyle.paragraph,
            placeholder=render(REGION_EXAMPLE if region else INSTRUCTION_EXAMPLE),
            max_length=MAX_PROMPT_CHARS,
        )
        self.add_item(self.instruction)
        self.region = region
        self.input_shas = tuple(input_shas)
        self.sources = tuple(sources)
        self.notes = tuple(notes)
        self.private = private

    async def on_submit(self, interaction: discord.Interaction[ImageBot]) -> None:  # type: ignore[override]
        # Both sessions of a hand-over get the submit: the one that claims it answers.
        if await first_delivery(interaction):
            await reporting(interaction, self._submit(interaction))

    async def _submit(self, interaction: discord.Interaction[ImageBot]) -> None:
        spec = JobSpec(
            kind="region" if self.region else "edit",
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            prompt=self.instruction.value,
            sources=self.sources,
            input_shas=self.input_shas,
            # A region edit sends the image itself, not the chain: only the region changes.
            history=not self.region,
            private=self.private,
            region=self.region,
        )
        label = editing_label(self.region)
        await run_for_interaction(interaction, spec, label=label, notes=self.notes)


def region_label(name: str | None) -> Message:
    """How a region reads in a sentence: "top left", "left half"."""
    # Translators: the whole image, where a part of it ("top left") could have been named.
    return region_in_sentence(name) if name else _("image")


def editing_label(name: str | None) -> Message:
    """The progress message of an edit: of the whole image, or of region ``name``."""
    if name is None:
        return EDITING
    # Translators: {region} is a part of the image ("top left", "left half").
    return _("Editing the {region}…", region=region_label(name))


def is_stale_form(interaction: discord.Interaction[Any]) -> bool:
    """A submit of one of our modals that no live modal will answer.

    discord.py looks the modal up (``ViewStore.dispatch_modal``) before it dispatches
    ``on_interaction``, and drops an unknown custom_id silently: after a restart, or
    once the modal timed out. A live modal leaves the store only after its
    ``on_submit`` has answered, so "not in the store and not answered" means nobody will.
    """
    if interaction.type is not discord.InteractionType.modal_submit:
        return False
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = str(data.get("custom_id", ""))
    if not custom_id.startswith(MODAL_PREFIX) or interaction.response.is_done():
        return False
    # discord.py has no public lookup for live modals. Should its internals change, no
    # answer is given (its own behaviour) rather than an error; the stale-form test fails.
    store = getattr(interaction.client._connection, "_view_store", None)
    modals = getattr(store, "_modals", None)
    return isinstance(modals, dict) and custom_id not in modals


async def answer_stale_form(interaction: discord.Interaction[Any]) -> None:
    """Without an answer Discord shows the member "interaction failed" and nothing else."""
    if not is_stale_form(interaction):
        return
    try:
        await interaction.response.send_message(render(FORM_EXPIRED), ephemeral=True)
    except discord.HTTPException as exc:
        log.info("could not answer an expired form: %s", exc)
