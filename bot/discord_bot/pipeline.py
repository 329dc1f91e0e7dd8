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
from bot.discord_bot.errors import PRIVATE, error_message
from bot.discord_bot.queueing import cancel_view, place_line
from bot.discord_bot.speech import member_locale
from bot.i18n import Joined, Message, Text, _, join, p_, render, supported, use_locale
from bot.images.regions import REGIONS, region_in_sentence
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
# Translators: the end of a sentence, after "…so the gateway made 1K;".
ADMIN_DIALECT_FIX = _("an admin can pick another dialect with /settings gateway")
# Translators: the end of a sentence, after "…so the gateway made 1K;".
OPERATOR_DIALECT_FIX = _("the bot's operator can pick another with IMAGE_API_DIALECT")
GENERATING = _("Generating…")
# A result's first line names what was done, in bold: by the job's kind.
# Translators: what a result was made by (its first line, in bold); a button's words.
KINDS: dict[str, Text] = {
    "imagine": p_("result", "Imagine"),
    "edit": p_("result", "Edit"),
    "blend": p_("result", "Blend"),
    "region": p_("result", "Region"),
    "vary": p_("result", "Vary"),
    "upscale": p_("result", "Upscale"),
    "reroll": p_("result", "Reroll"),
}
REROLL = KINDS["reroll"]
# Translators: a variation's strength, in "Vary (Subtle)".
STRENGTHS = {"subtle": p_("variation", "Subtle"), "strong": p_("variation", "Strong")}


async def allowed(interaction: discord.Interaction[ImageBot]) -> GuildSettings:
    return await ensure_can_use(
        interaction.client,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        permissions=interaction.permissions,
        parent_id=interaction_parent_id(interaction),
    )


def _bold(words: Message) -> Joined:
    return join(["**", words, "**"], sep="")


def _dotted(*parts: Message) -> Joined:
    return join(parts, sep=" · ")


def _echo(prompt: str) -> str:
    # One line: a modal prompt's line breaks would turn the echo into headings and lists.
    return trim(" ".join(prompt.split()), 300)


def describe(kind: str, prompt: str, image_size: str | None, region: str | None = None) -> Message:
    """The first line of a result: what was done, and to what prompt."""
    if region is not None and region in REGIONS:
        # Translators: {region} is a part of the image, in lower case ("top right").
        where = _("Edit region ({region})", region=region_in_sentence(region))
        head = _bold(where) if kind == "region" else _dotted(_bold(REROLL), where)
        return _dotted(head, _echo(prompt))
    if prompt == UPSCALE_PROMPT:  # our own instruction, not the member's words
        if kind == "upscale":
            # Translators: {size} is "2K" or "4K".
            return _bold(_("Upscale to {size}", size=image_size))
        # Translators: {size} is "2K" or "4K".
        what = _("upscale to {size}", size=image_size) if image_size else p_("result", "upscale")
        return _dotted(_bold(REROLL), what)
    variation = variation_of(prompt)
    if variation is not None:  # the instruction is ours: show how, and the member's prompt
        strength, prompt = variation
        # Translators: {strength} is "Subtle" or "Strong".
        what = _("Vary ({strength})", strength=STRENGTHS.get(strength, strength.capitalize()))
        head = _bold(what) if kind == "vary" else _dotted(_bold(REROLL), what)
        return _dotted(head, _echo(prompt))
    if prompt == BLEND_PROMPT:
        if kind == "blend":
            return _bold(KINDS["blend"])
        return _dotted(_bold(REROLL), p_("result", "blend"))
    return _dotted(_bold(KINDS.get(kind, kind.capitalize())), _echo(prompt))


def _dialect_note(outcome: JobOutcome) -> tuple[Message, ...]:
    """The size the dialect could not ask for, and who can choose another dialect."""
    if outcome.unsent is None:
        return ()
    fix = ADMIN_DIALECT_FIX if outcome.own_gateway else OPERATOR_DIALECT_FIX
    return (outcome.unsent.note(fix),)


def result_delivery(outcome: JobOutcome, *, notes: Sequence[Message] = ()) -> Delivery:
    """The result message, rendered in the locale in effect (its length is Discord's
    limit); ``notes`` are the front end's own, after the job's."""
    job = outcome.job
    image_size = job.params.get("image_size")
    first = render(describe(job.kind, job.prompt, image_size, job.params.get("region")))
    # Each image that failed, by its number, in the words its own failure would have had.
    failed = (
        # Translators: {n} is the image's number in the result; {reason} the error's sentence.
        render(_("Image {n} failed: {reason}", n=n, reason=error_message(exc)))
        for n, exc in outcome.failed
    )
    first = "\n".join([first, *failed])
    shown = [f"-# {render(note)}" for note in (*outcome.notes, *_dialect_note(outcome), *notes)]
    # The model's text gets what room is left, so a long answer never pushes out the notes.
    room = MESSAGE_LIMIT - len("\n".join([first, *shown])) - 1
    lines = [first]
    if outcome.result.text and room > 1:
        lines.append(trim(outcome.result.text, room))
    lines.extend(shown)
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
    label: Message = GENERATING,
    notes: Sequence[Message] = (),
) -> None:
    """Run ``spec`` for this interaction; errors propagate to the caller's handler.

    The job keeps the member's locale (``JobSpec.locale``): what it says later, after a
    restart or from another process, is in their language too.
    """
    bot = interaction.client
    if settings is None:
        settings = await allowed(interaction)
    spec, overridden = enforce_privacy(spec, settings)  # the server's setting wins
    # An error after the token expired must not name the member in the channel either.
    interaction.extras[PRIVATE] = spec.private
    if overridden is not None:
        notes = (*notes, overridden)
    spec = replace(
        spec,
        interaction_token=interaction.token,
        upload_limit=interaction.filesize_limit,
        locale=member_locale(interaction),
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
    """Run ``spec`` for a message (reply-to-edit); the result is a reply to it.

    A message tells no locale of its author's: the server's preferred one is spoken.
    """
    if spec.locale is None:
        guild = message.guild
        spec = replace(spec, locale=supported(guild.preferred_locale if guild else None))
    use_locale(spec.locale)
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
