"""The one path every interaction-driven job takes: check, acknowledge, run, post.

Slash commands, buttons and modals all end here, so access checks, limits, progress,
expired-token fallback and error reporting behave the same whichever way a member
asked.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from bot.access import ensure_can_use, interaction_parent_id
from bot.delivery import Delivery, Progress, deliver, send_error, trim
from bot.jobs import UPSCALE_PROMPT, JobOutcome, JobSpec, SourceImage
from bot.limits import MAX_SOURCES, MESSAGE_LIMIT
from bot.storage.base import GuildSettings

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

# Discord: "Unknown interaction", the answer to an acknowledgement after the 3 s window.
UNKNOWN_INTERACTION = 10062
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".heic", ".heif")


def source_of(attachment: discord.Attachment) -> SourceImage:
    return SourceImage(
        url=attachment.url,
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
    )


def looks_like_image(attachment: discord.Attachment) -> bool:
    ctype = (attachment.content_type or "").lower()
    if ctype:
        return ctype.startswith("image/") and "svg" not in ctype
    return attachment.filename.lower().endswith(IMAGE_SUFFIXES)


def _embed_source(embed: discord.Embed) -> SourceImage | None:
    """An embed's picture, through Discord's media proxy only.

    A pasted image link embeds as type "image" with the picture as its thumbnail; other
    bots put theirs in ``image``. The embed's own ``url`` can point anywhere, so only the
    ``proxy_url`` Discord serves is ever fetched. Videos and GIF-videos are not images.
    """
    if embed.type in ("video", "gifv"):
        return None
    media = embed.thumbnail if embed.type == "image" else embed.image
    url = media.proxy_url
    if not url:
        return None
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "image"
    return SourceImage(url=url, filename=name)


def image_sources(message: discord.Message) -> tuple[SourceImage, ...]:
    """Attachments that look like images, then embedded pictures."""
    found = [source_of(a) for a in message.attachments if looks_like_image(a)]
    found += [s for s in map(_embed_source, message.embeds) if s is not None]
    return tuple(found)


def capped(sources: tuple[SourceImage, ...]) -> tuple[tuple[SourceImage, ...], tuple[str, ...]]:
    """At most MAX_SOURCES images, and a note for the member when some were left out."""
    if len(sources) <= MAX_SOURCES:
        return sources, ()
    return sources[:MAX_SOURCES], (
        f"That message has {len(sources)} images; I used the first {MAX_SOURCES}.",
    )


async def allowed(interaction: discord.Interaction[ImageBot]) -> GuildSettings:
    return await ensure_can_use(
        interaction.client,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        permissions=interaction.permissions,
        parent_id=interaction_parent_id(interaction),
    )


def describe(kind: str, prompt: str, image_size: str | None) -> str:
    """The first line of a result: what was done, and to what prompt."""
    if prompt == UPSCALE_PROMPT:  # our own instruction, not the member's words
        what = f"upscale to {image_size}" if image_size else "upscale"
        return f"**Upscale to {image_size}**" if kind == "upscale" else f"**Reroll** · {what}"
    # One line: a modal prompt's line breaks would turn the echo into headings and lists.
    return f"**{kind.capitalize()}** · {trim(' '.join(prompt.split()), 300)}"


def result_delivery(
    outcome: JobOutcome, *, mention: int | None = None, notes: Sequence[str] = ()
) -> Delivery:
    """The result message; ``notes`` are the front end's own, after the job's."""
    from cogs.imagine.views import result_view

    job = outcome.job
    image_size = job.params.get("image_size")
    head = f"<@{mention}> " if mention else ""
    first = head + describe(job.kind, job.prompt, image_size)
    notes = [f"-# {note}" for note in (*outcome.notes, *notes)]
    # The model's text gets what room is left, so a long answer never pushes out the notes.
    room = MESSAGE_LIMIT - len("\n".join([first, *notes])) - 1
    lines = [first]
    if outcome.result.text and room > 1:
        lines.append(trim(outcome.result.text, room))
    lines.extend(notes)
    return Delivery(
        content=trim("\n".join(lines)),
        images=outcome.result.images,
        view=result_view(job.id, outcome.model, image_size),
        stem=f"imagine-{job.id}",
    )


async def run_for_interaction(
    interaction: discord.Interaction[ImageBot],
    spec: JobSpec,
    *,
    settings: GuildSettings | None = None,
    label: str = "Generating…",
    notes: Sequence[str] = (),
) -> None:
    """Run ``spec`` for this interaction; errors propagate to the caller's handler."""
    bot = interaction.client
    if settings is None:
        settings = await allowed(interaction)
    spec = replace(
        spec, interaction_token=interaction.token, upload_limit=interaction.filesize_limit
    )
    async with bot.jobs.admit(spec, settings) as job:
        acknowledged = interaction.response.is_done() or await _acknowledge(interaction)
        progress = Progress(interaction, label) if acknowledged else None

        async def publish(outcome: JobOutcome) -> None:
            if progress is not None:
                await progress.stop()  # its last edit must not land on top of the result
            message = await deliver(
                bot, interaction, result_delivery(outcome, notes=notes), token_alive=acknowledged
            )
            if message is not None:
                await record_message(bot, outcome.job.id, message.id)

        on_wait = progress.waiting if progress is not None else None
        async with progress or contextlib.nullcontext():
            await job.run(publish, on_wait=on_wait)


async def record_message(bot: ImageBot, job_id: int, message_id: int) -> None:
    try:
        await bot.store.update_job(job_id, message_id=message_id)
    except Exception:  # the result is out; a missing message id only loses a nicety
        log.warning("could not record the message of job %s", job_id, exc_info=True)


async def _acknowledge(interaction: discord.Interaction[ImageBot]) -> bool:
    """Defer with "thinking"; False when Discord already gave the interaction up (10062).

    A late acknowledgement (a stalled event loop, a slow network) must not lose the
    member's request: the job still runs and its result goes to the channel.
    """
    try:
        await interaction.response.defer(thinking=True)
    except discord.NotFound as exc:
        if exc.code != UNKNOWN_INTERACTION:
            raise
        log.info("interaction %s expired before it was acknowledged", interaction.id)
        return False
    return True


async def answering_errors(interaction: discord.Interaction[Any], work: Awaitable[Any]) -> None:
    """For components and modals, whose errors do not reach the tree's handler."""
    try:
        await work
    except Exception as exc:
        await send_error(interaction, exc)
