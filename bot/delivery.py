"""Posting results and errors to Discord.

Results go on the interaction's original response while its token lives, and to the
channel (as a reply or a mention) once it has expired, so a long job is never
dropped. Files never exceed the upload limit Discord gave us: the original bytes
when they fit, else one re-encode in the CPU pool that keeps the dimensions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import (
    AccessDenied,
    ConfigError,
    ContentBlocked,
    GatewayAuthError,
    GatewayError,
    GatewayRejected,
    GatewayTimeout,
    ImageTooLarge,
    ImagineError,
    InputImageError,
    LimitReached,
    MalformedResponse,
    ModelNotAvailable,
    NoImageReturned,
    PaymentRequired,
    ResponseTooLarge,
    UnsafeGatewayURL,
    advice_for,
)
from bot.limits import MESSAGE_LIMIT
from bot.types import GeneratedImage

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

# Discord: an interaction token is valid for 15 minutes (discord.py's `expires_at`); keep a
# margin for the upload.
TOKEN_MARGIN = 60
PROGRESS_INTERVAL = 5.0
# How long a finished job waits for a progress edit in flight before dropping it.
PROGRESS_CLOSE_WAIT = 5.0
WAITING_FOR_CHANNEL = "Waiting for the edit in progress in this channel…"
# Discord error codes meaning the interaction token can no longer be used.
EXPIRED_CODES = {10062, 10015, 50027}
GENERIC_FAILURE = (
    "Something went wrong on my side while doing that. "
    "The admins can find the details in the bot's log."
)
# Errors that concern only the member who asked: answered privately where possible.
PRIVATE_ERRORS = (InputImageError, LimitReached, AccessDenied)


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


async def fit_images(
    bot: ImageBot, images: Sequence[GeneratedImage], limit: int
) -> list[GeneratedImage]:
    """Each image under the per-file limit Discord announced for this destination."""
    from bot.images.outputs import fit_for_upload

    fitted = []
    for image in images:
        if len(image.data) <= limit:
            fitted.append(image)
        elif image.fitted is not None and len(image.fitted.data) <= limit:
            fitted.append(image.fitted)  # re-encoded already, by the worker that parsed it
        else:
            original = replace(image, fitted=None)
            fitted.append(await bot.cpu.run(fit_for_upload, original, limit))
    return fitted


def _files(images: Sequence[GeneratedImage], stem: str) -> list[discord.File]:
    import io

    return [
        discord.File(io.BytesIO(img.data), filename=f"{stem}-{i + 1}.{img.extension}")
        for i, img in enumerate(images)
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
        "files": _files(images, delivery.stem),
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
                "attachments": _files(images, delivery.stem),
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


# What a member (or the admins) can do next, by kind of error; the first match wins, so
# subclasses come before their bases. Sentences that already say what to do keep theirs.
DISCORD_ADVICE: dict[type[ImagineError], str] = {
    GatewayAuthError: "A server admin needs to set a valid key with /settings gateway.",
    PaymentRequired: "A server admin needs to top it up, or switch with /settings gateway.",
    UnsafeGatewayURL: "A server admin needs to set a public address with /settings gateway.",
    ModelNotAvailable: (
        "Pick another model in /imagine, or ask a server admin to change the default "
        "with /settings model."
    ),
    ContentBlocked: "Try rewording the prompt or using another image.",
    NoImageReturned: "Try rewording the prompt, e.g. say what the image should show.",
    GatewayTimeout: "Try again in a moment; 1K images are the quickest.",
    ResponseTooLarge: "Try again with a smaller size.",
    MalformedResponse: (
        "Try again; if it keeps happening, ask a server admin to check /settings gateway."
    ),
    GatewayRejected: (
        "Try rewording the prompt or changing the options; if it keeps happening, "
        "ask a server admin to check /settings gateway."
    ),
    GatewayError: "Try again in a minute.",
    ImageTooLarge: "Send a smaller image.",
    InputImageError: "Send a PNG, JPEG, WEBP, GIF or HEIC image.",
    AccessDenied: "Ask a server admin if you think you should be allowed.",
    LimitReached: "Try again later.",
    ConfigError: "Ask the bot's operator to check its configuration.",
}
_HAS_NEXT_STEP = re.compile(r"\b(try|send|use|ask|pick|wait|attach|run)\b|/settings", re.I)


def user_message(exc: BaseException) -> str:
    if isinstance(exc, ImagineError):
        text = str(exc)
        # Only our own sentence counts: the gateway's words ("please try later") are no advice.
        own = text.replace(exc.gateway_message, "") if exc.gateway_message else text
        if _HAS_NEXT_STEP.search(own):
            return trim(text)
        return trim(advice_for(exc, DISCORD_ADVICE))
    return GENERIC_FAILURE


async def send_error(interaction: discord.Interaction[Any], exc: BaseException) -> None:
    """Tell the member what went wrong, in whatever way the interaction still allows."""
    if not isinstance(exc, ImagineError):
        log.error("unhandled error in an interaction", exc_info=exc)
    message = user_message(exc)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(message, ephemeral=True)
            return
        if not token_usable(interaction, margin=5):
            await _error_to_channel(interaction, message)
            return
        if isinstance(exc, PRIVATE_ERRORS):
            # The public "thinking…" message would only say what concerns one member.
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                pass
            else:
                await interaction.followup.send(message, ephemeral=True)
                return
        await interaction.edit_original_response(content=message, attachments=[], view=None)
    except discord.HTTPException as send_exc:
        log.info("could not answer the interaction (%s); telling the channel", send_exc)
        await _error_to_channel(interaction, message)


async def _error_to_channel(interaction: discord.Interaction[Any], message: str) -> None:
    channel = interaction.channel
    if channel is None or not hasattr(channel, "send"):
        return
    try:
        await channel.send(  # type: ignore[union-attr]
            trim(f"<@{interaction.user.id}> {message}"),
            allowed_mentions=only_pinging(interaction.user.id),
        )
    except discord.HTTPException:
        log.warning("could not report an error to channel %s", interaction.channel_id)
