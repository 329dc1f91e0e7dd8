"""Posting results to Discord (errors: ``bot.discord_bot.errors``).

Results go on the interaction's original response while its token lives, and to the
channel (as a reply or a mention) once it has expired, so a long job is never
dropped. Files never exceed the upload limit Discord gave us, which holds for all of a
message's files together: the original bytes when they fit, else one re-encode in the
CPU pool that keeps the dimensions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_bot.uploads import UploadBytes
from bot.limits import MESSAGE_LIMIT
from bot.types import GeneratedImage

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

log = logging.getLogger(__name__)

# Discord: an interaction token is valid for 15 minutes (discord.py's `expires_at`); keep a
# margin for the upload.
TOKEN_MARGIN = 60
PROGRESS_INTERVAL = 5.0
# How long a finished job waits for a progress edit in flight before dropping it.
PROGRESS_CLOSE_WAIT = 5.0
WAITING_FOR_CHANNEL = "Waiting for the images in progress in this channel…"
# Discord error codes meaning the interaction token can no longer be used.
EXPIRED_CODES = {10062, 10015, 50027}


def trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Delivery:
    """What to post: text, images and the buttons under them."""

    content: str
    images: Sequence[GeneratedImage] = ()
    view: discord.ui.View | None = None
    stem: str = "image"
    # The number each image is known by (count:N, when one failed: 1, 2, 4); default 1..N.
    numbers: Sequence[int] = ()


async def fit_images(
    bot: ImageBot, images: Sequence[GeneratedImage], limit: int
) -> list[GeneratedImage]:
    """The images, together under the limit Discord announced for one message here.

    Smallest first, each within an even share of what is left, so what a small image
    leaves over goes to the bigger ones; one image gets the whole limit.
    """
    fitted: dict[int, GeneratedImage] = {}
    budget = limit
    order = sorted(range(len(images)), key=lambda i: len(images[i].data))
    for done, i in enumerate(order):
        share = max(1, budget // (len(order) - done))
        fitted[i] = await _fit(bot, images[i], share)
        budget -= len(fitted[i].data)
    return [fitted[i] for i in range(len(images))]


async def _fit(bot: ImageBot, image: GeneratedImage, limit: int) -> GeneratedImage:
    from bot.images.outputs import fit_for_upload

    if len(image.data) <= limit:
        return image
    if image.fitted is not None and len(image.fitted.data) <= limit:
        return image.fitted  # re-encoded already, by the worker that parsed it
    return await bot.cpu.run(fit_for_upload, replace(image, fitted=None), limit)


def _files(
    images: Sequence[GeneratedImage], stem: str, numbers: Sequence[int] = ()
) -> list[discord.File]:
    numbers = numbers or range(1, len(images) + 1)
    return [
        discord.File(UploadBytes(img.data), filename=f"{stem}-{n}.{img.extension}")
        for n, img in zip(numbers, images, strict=True)
    ]


def token_usable(interaction: discord.Interaction[Any], margin: float = TOKEN_MARGIN) -> bool:
    remaining = (interaction.expires_at - discord.utils.utcnow()).total_seconds()
    return remaining > margin


def _expired(exc: discord.HTTPException) -> bool:
    return exc.code in EXPIRED_CODES or (exc.status == 401 and exc.code == 50027)


async def post_to_channel(
    bot: ImageBot,
    channel_id: int,
    delivery: Delivery,
    *,
    limit: int,
    reply_to: discord.Message | discord.MessageReference | None = None,
    mention: int | None = None,
) -> discord.Message:
    """Post a result as a channel message (a reply when there is a message to reply to)."""
    images = await fit_images(bot, delivery.images, limit)
    content = delivery.content
    if mention is not None and reply_to is None:
        content = trim(f"<@{mention}> {content}")
    channel = bot.get_channel(channel_id) or bot.get_partial_messageable(channel_id)
    kwargs: dict[str, Any] = {
        "content": content or None,
        "files": _files(images, delivery.stem, delivery.numbers),
        # Only the requester is pinged: a prompt echo or model text naming others must not.
        "allowed_mentions": only_pinging(mention),
    }
    if delivery.view is not None:
        kwargs["view"] = delivery.view
    if reply_to is not None:
        kwargs["reference"] = reply_to
        kwargs["mention_author"] = True
    return await channel.send(**kwargs)  # type: ignore[union-attr]


def only_pinging(user_id: int | None) -> discord.AllowedMentions:
    """Mentions that ping ``user_id`` (and a replied-to author) and nobody else."""
    users = [discord.Object(id=user_id)] if user_id is not None else False
    return discord.AllowedMentions(users=users, roles=False, everyone=False, replied_user=True)


def channel_limit(bot: ImageBot, guild_id: int | None) -> int:
    guild = bot.get_guild(guild_id) if guild_id else None
    return (
        guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
    )


async def deliver(
    bot: ImageBot,
    interaction: discord.Interaction[Any],
    delivery: Delivery,
    *,
    token_alive: bool = True,
) -> discord.Message | None:
    """Put the result on the original response, or in the channel if the token is gone."""
    if token_alive and token_usable(interaction):
        images = await fit_images(bot, delivery.images, interaction.filesize_limit)
        try:
            kwargs: dict[str, Any] = {
                "content": delivery.content or None,
                "attachments": _files(images, delivery.stem, delivery.numbers),
            }
            if delivery.view is not None:
                kwargs["view"] = delivery.view
            # discord.py already retries 5xx on webhook routes (5 attempts, backing off).
            return await interaction.edit_original_response(**kwargs)
        except discord.HTTPException as exc:
            if not (_expired(exc) or exc.status >= 500):
                raise
            log.info(
                "interaction token unusable (%s %s); posting to the channel", exc.status, exc.code
            )
    return await post_to_channel(
        bot,
        interaction.channel_id or 0,
        delivery,
        limit=channel_limit(bot, interaction.guild_id),
        mention=interaction.user.id,
    )


class Progress:
    """Edits the original response with the elapsed time while a job runs.

    ``waiting(True)`` shows that the job waits for another one in the channel, and
    ``waiting(False)`` switches back to the elapsed time; both are shown at once.
    """

    def __init__(
        self,
        interaction: discord.Interaction[Any],
        label: str = "Generating…",
        interval: float | None = None,
    ) -> None:
        self.interaction = interaction
        self.label = label
        self.interval = interval or PROGRESS_INTERVAL
        self._task: asyncio.Task[None] | None = None
        self._start = time.monotonic()
        self._waiting = False
        self._changed = asyncio.Event()
        self._closing = False

    def waiting(self, waiting: bool) -> None:
        self._waiting = waiting
        if not waiting:
            self._start = time.monotonic()  # the time shown is the job's own
        self._changed.set()

    def content(self) -> str:
        # The label first: the member sees what was asked, then why nothing moves yet.
        if self._waiting:
            return f"{self.label} {WAITING_FOR_CHANNEL}"
        return f"{self.label} {int(time.monotonic() - self._start)} s"

    async def _tick(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._changed.wait()
            self._changed.clear()
            if self._closing or not token_usable(self.interaction):
                return
            try:
                await self.interaction.edit_original_response(content=self.content())
            except discord.HTTPException as exc:
                log.debug("progress edit failed: %s", exc)
                if _expired(exc):
                    return

    async def __aenter__(self) -> Progress:
        self._start = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._tick(), name="progress")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """No more edits; safe to call before the context ends, and more than once."""
        task, self._task = self._task, None
        if task is None:
            return
        # Let an edit already on its way land first, so it cannot overwrite the result.
        self._closing = True
        self._changed.set()
        await asyncio.wait({task}, timeout=PROGRESS_CLOSE_WAIT)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def typing_in(channel: Any) -> AsyncIterator[None]:
    """Show "is typing…" while a reply job runs; a refused indicator is no reason to fail."""
    indicator = channel.typing()
    try:
        await indicator.__aenter__()
    except discord.HTTPException:
        yield
        return
    try:
        yield
    finally:
        await indicator.__aexit__(None, None, None)
