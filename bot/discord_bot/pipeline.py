"""The one path every Discord-driven job takes: check, acknowledge, run, post.

Slash commands, buttons and modals end in ``run_for_interaction``, replies in
``run_for_message``, so access checks, limits, progress,
expired-token fallback and error reporting behave the same whichever way a member
asked.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import discord

from bot.discord_bot.access import ensure_can_use, interaction_parent_id
from bot.discord_bot.buttons import result_view
from bot.discord_bot.delivery import (
    Delivery,
    Progress,
    channel_limit,
    deliver,
    post_to_channel,
    trim,
    typing_in,
)
from bot.discord_bot.errors import user_message
from bot.discord_bot.queueing import cancel_view, place_line
from bot.i18n import Message, render
from bot.images.regions import REGIONS
from bot.jobs import UPSCALE_PROMPT, JobOutcome, JobSpec
from bot.jobs.privacy import enforce_privacy
from bot.jobs.spec import BLEND_PROMPT, variation_of
from bot.limits import MESSAGE_LIMIT
from bot.storage.base import GuildSettings

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

log = logging.getLogger(__name__)

# Discord: "Unknown interaction", the answer to an acknowledgement after the 3 s window.
UNKNOWN_INTERACTION = 10062
# Who picks another dialect: a server's admin for its own gateway, else the operator.
ADMIN_DIALECT_FIX = "an admin can pick another dialect with /settings gateway"
OPERATOR_DIALECT_FIX = "the bot's operator can pick another with IMAGE_API_DIALECT"


async def allowed(interaction: discord.Interaction[ImageBot]) -> GuildSettings:
    return await ensure_can_use(
        interaction.client,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        permissions=interaction.permissions,
        parent_id=interaction_parent_id(interaction),
    )


def describe(kind: str, prompt: str, image_size: str | None, region: str | None = None) -> str:
    """The first line of a result: what was done, and to what prompt."""
    if region is not None and region in REGIONS:
        where = f"Edit region ({REGIONS[region].label.lower()})"
        head = f"**{where}**" if kind == "region" else f"**Reroll** · {where}"
        return f"{head} · {trim(' '.join(prompt.split()), 300)}"
    if prompt == UPSCALE_PROMPT:  # our own instruction, not the member's words
        what = f"upscale to {image_size}" if image_size else "upscale"
        return f"**Upscale to {image_size}**" if kind == "upscale" else f"**Reroll** · {what}"
    variation = variation_of(prompt)
    if variation is not None:  # the instruction is ours: show how, and the member's prompt
        strength, prompt = variation
        what = f"Vary ({strength.capitalize()})"
        head = f"**{what}**" if kind == "vary" else f"**Reroll** · {what}"
        return f"{head} · {trim(' '.join(prompt.split()), 300)}"
    if prompt == BLEND_PROMPT:
        return "**Blend**" if kind == "blend" else "**Reroll** · blend"
    # One line: a modal prompt's line breaks would turn the echo into headings and lists.
    return f"**{kind.capitalize()}** · {trim(' '.join(prompt.split()), 300)}"


def _dialect_note(outcome: JobOutcome) -> tuple[Message, ...]:
    """The size the dialect could not ask for, and who can choose another dialect."""
    if outcome.unsent is None:
        return ()
    fix = ADMIN_DIALECT_FIX if outcome.own_gateway else OPERATOR_DIALECT_FIX
    return (outcome.unsent.note(fix),)


def result_delivery(
    outcome: JobOutcome, *, mention: int | None = None, notes: Sequence[Message] = ()
) -> Delivery:
    """The result message; ``notes`` are the front end's own, after the job's."""
    job = outcome.job
    image_size = job.params.get("image_size")
    head = f"<@{mention}> " if mention else ""
    first = head + describe(job.kind, job.prompt, image_size, job.params.get("region"))
    # Each image that failed, by its number, in the words its own failure would have had.
    first = "\n".join(
        [first, *(f"Image {n} failed: {user_message(exc)}" for n, exc in outcome.failed)]
    )
    noted = [f"-# {render(note)}" for note in (*outcome.notes, *_dialect_note(outcome), *notes)]
    # The model's text gets what room is left, so a long answer never pushes out the notes.
    room = MESSAGE_LIMIT - len("\n".join([first, *noted])) - 1
    lines = [first]
    if outcome.result.text and room > 1:
        lines.append(trim(outcome.result.text, room))
    lines.extend(noted)
    return Delivery(
        content=trim("\n".join(lines)),
        images=outcome.result.images,
        view=result_view(job.id, outcome.model, image_size, outcome.numbers),
        stem=f"imagine-{job.id}",
        numbers=outcome.numbers,
    )


async def run_for_interaction(
    interaction: discord.Interaction[ImageBot],
    spec: JobSpec,
    *,
    settings: GuildSettings | None = None,
    label: str = "Generating…",
    notes: Sequence[Message] = (),
) -> None:
    """Run ``spec`` for this interaction; errors propagate to the caller's handler."""
    bot = interaction.client
    if settings is None:
        settings = await allowed(interaction)
    spec, overridden = enforce_privacy(spec, settings)  # the server's setting wins
    if overridden is not None:
        notes = (*notes, overridden)
    spec = replace(
        spec, interaction_token=interaction.token, upload_limit=interaction.filesize_limit
    )
    async with bot.jobs.admit(spec, settings) as job:
        acknowledged = interaction.response.is_done() or await _acknowledge(
            interaction, ephemeral=spec.private
        )
        progress = (
            Progress(interaction, label, view=cancel_view(job.record.id), note=job.estimate_line)
            if acknowledged
            else None
        )

        async def publish(outcome: JobOutcome) -> None:
            if progress is not None:
                await progress.stop()  # its last edit must not land on top of the result
            message = await deliver(
                bot,
                interaction,
                result_delivery(outcome, notes=notes),
                token_alive=acknowledged,
                private=spec.private,
            )
            if message is not None:
                await record_message(bot, outcome.job.id, message.id)

        on_wait = progress.waiting if progress is not None else None
        on_place = _shown_place(bot, spec.guild_id, progress)
        # The model's interim thoughts on the progress message, while a stream arrives.
        on_preview = progress.preview if progress is not None else None
        async with progress or contextlib.nullcontext():
            outcome = await job.run(
                publish, on_wait=on_wait, on_place=on_place, on_preview=on_preview
            )
        _timed(bot, outcome)


def _shown_place(
    bot: ImageBot, guild_id: int | None, progress: Progress | None
) -> Callable[[int], None] | None:
    """The place in line on the progress message, with an estimate from recent jobs."""
    if progress is None:
        return None

    def shown(place: int) -> None:
        line = place_line(place, bot.durations.median(guild_id)) if place else None
        progress.queued(line)

    return shown


def _timed(bot: ImageBot, outcome: JobOutcome) -> None:
    job = outcome.job
    if job.started_at is not None and job.finished_at is not None:
        bot.durations.add(job.guild_id, job.finished_at - job.started_at)


async def run_for_message(
    bot: ImageBot,
    message: discord.Message,
    spec: JobSpec,
    settings: GuildSettings,
    *,
    notes: Sequence[Message] = (),
) -> None:
    """Run ``spec`` for a message (reply-to-edit); the result is a reply to it."""
    limit = spec.upload_limit or channel_limit(bot, settings.guild_id)

    async def publish(outcome: JobOutcome) -> None:
        posted = await post_to_channel(
            bot,
            message.channel.id,
            result_delivery(outcome, notes=notes),
            limit=limit,
            reply_to=message,
        )
        await record_message(bot, outcome.job.id, posted.id)

    async with bot.jobs.admit(spec, settings) as job, typing_in(message.channel):
        await job.run(publish)


async def record_message(bot: ImageBot, job_id: int, message_id: int) -> None:
    try:
        await bot.store.update_job(job_id, message_id=message_id)
    except Exception:  # the result is out; a missing message id only loses a nicety
        log.warning("could not record the message of job %s", job_id, exc_info=True)


async def _acknowledge(
    interaction: discord.Interaction[ImageBot], *, ephemeral: bool = False
) -> bool:
    """Defer with "thinking"; False when Discord already gave the interaction up (10062).

    A late acknowledgement (a stalled event loop, a slow network) must not lose the
    member's request: the job still runs and its result goes to the channel (to the
    member's DMs when private). ``ephemeral``: the progress and the result are only the
    member's, which only the deferral can decide.
    """
    try:
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    except discord.NotFound as exc:
        if exc.code != UNKNOWN_INTERACTION:
            raise
        log.info("interaction %s expired before it was acknowledged", interaction.id)
        return False
    return True
