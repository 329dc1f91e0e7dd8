"""Posting results to Discord (errors: ``bot.discord_bot.errors``).

Results go on the interaction's original response while its token lives, and to the
channel (as a reply or a mention) once it has expired, so a long job is never
dropped. Files never exceed the upload limit Discord gave us, which holds for all of a
message's files together: the original bytes when they fit, else one re-encode in the
CPU pool that keeps the dimensions.

Exactly once: Discord can apply an upload and still answer 5xx (or never answer).
Editing the original response is idempotent, so an edit whose outcome is unknown is
checked (GET the original response: does it carry this job's files?) and, if it did
not land, sent again; only an original response known not to carry the result, or
whose token is gone, falls back to a channel post. A channel post is not idempotent,
so it carries a nonce Discord enforces (``enforce_nonce``: a second post with the same
nonce returns the first message instead of creating one), and is sent again with the
same nonce when its outcome is unknown. A second copy can only appear if every check
of the original response failed too (Discord's webhooks down throughout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.discord_bot import live_preview
from bot.discord_bot.uploads import UploadBytes
from bot.i18n import Message, _, join, render
from bot.limits import MESSAGE_LIMIT
from bot.types import GeneratedImage, Preview

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

log = logging.getLogger(__name__)

# Discord: an interaction token is valid for 15 minutes (discord.py's `expires_at`); keep a
# margin for the upload.
TOKEN_MARGIN = 60
PROGRESS_INTERVAL = 5.0
# How long a finished job waits for a progress edit in flight before dropping it.
PROGRESS_CLOSE_WAIT = 5.0
WAITING_FOR_CHANNEL = _("Waiting for the images in progress in this channel…")
GENERATING = _("Generating…")
# Discord allows about 5 edits per 5 s per message: we make at most 4 in any 5 s (the
# result's own edit is the fifth), so a line moving fast shows its latest place.
PROGRESS_BURST = 4
PROGRESS_WINDOW = 5.0
# Discord error codes meaning the interaction token can no longer be used.
EXPIRED_CODES = {10062, 10015, 50027}
# One upload, discord.py's own retries of a 5xx included (they back off 25 s in all), may
# take this long before its outcome is checked instead of awaited; room for 100 MB slowly.
UPLOAD_TIMEOUT = 180.0
CHECK_TIMEOUT = 60.0
# Our tries of an upload whose outcome stayed unknown, each one after discord.py's five.
UPLOAD_ATTEMPTS = 2
# What an upload whose answer was lost raises: the request may or may not have applied.
UNSURE = (TimeoutError, aiohttp.ClientError)
# The webhook route's name for an interaction's first answer.
ORIGINAL: Any = "@original"
# A private result whose answer expired goes to the member's DMs, introduced by this.
# Translators: {channel} is a channel's mention (<#123>).
PRIVATE_IN_DMS = _(
    "Your private result from {channel}: the answer there had expired (Discord keeps "
    "it open 15 minutes), so it comes here. Its buttons work only under the answer itself."
)
# What the channel reads instead when the member's DMs are closed: no image, no prompt.
# Translators: it follows a mention of the member (<@123>), hence the lower case.
PRIVATE_UNDELIVERED = _(
    "your private result is done, but I could not show it to you: the answer expired "
    "before it was ready and your DMs are closed to me. It is not posted here; allow "
    "direct messages from this server's members and ask again."
)


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


def _filenames(
    images: Sequence[GeneratedImage], stem: str, numbers: Sequence[int] = ()
) -> list[str]:
    """The result's file names: the job id in the stem makes them the result's marker."""
    numbers = numbers or range(1, len(images) + 1)
    return [f"{stem}-{n}.{img.extension}" for n, img in zip(numbers, images, strict=True)]


def _files(
    images: Sequence[GeneratedImage], stem: str, numbers: Sequence[int] = ()
) -> list[discord.File]:
    return [
        discord.File(UploadBytes(img.data), filename=name)
        for img, name in zip(images, _filenames(images, stem, numbers), strict=True)
    ]


def carries(message: discord.Message, filenames: Sequence[str]) -> bool:
    """Whether ``message`` shows the result whose files are named ``filenames``."""
    return bool(filenames) and [a.filename for a in message.attachments] == list(filenames)


def new_nonce() -> str:
    """A message nonce: Discord takes at most 25 characters."""
    return secrets.token_hex(10)


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
    nonce: str | None = None,
) -> discord.Message:
    """Post a result as a channel message (a reply when there is a message to reply to).

    Once: every try carries the same ``nonce`` (one is made if none is given), and
    Discord answers a repeated one with the message the first try created.
    """
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
    kwargs["nonce"] = nonce or new_nonce()
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        try:
            async with asyncio.timeout(UPLOAD_TIMEOUT):
                return await channel.send(**kwargs)  # type: ignore[union-attr]
        except discord.HTTPException as exc:
            if exc.status < 500 or attempt == UPLOAD_ATTEMPTS:
                raise
            why = f"{exc.status} {exc.code}"
        except UNSURE as exc:
            if attempt == UPLOAD_ATTEMPTS:
                raise
            why = type(exc).__name__
        log.info("posting to channel %s failed (%s); again, with the same nonce", channel_id, why)
        kwargs["files"] = _files(images, delivery.stem, delivery.numbers)  # the last try read them
    raise AssertionError("unreachable")  # the last attempt returns or raises


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
    private: bool = False,
) -> discord.Message | None:
    """Put the result on the original response, or in the channel if the token is gone.

    Exactly once (see the module's docstring). ``private``: the original response is
    ephemeral, and the fallback is the member's DMs, never the channel.
    """
    if token_alive and token_usable(interaction):
        images = await fit_images(bot, delivery.images, interaction.filesize_limit)
        landed = await _edit_original(interaction, delivery, images)
        if landed is not None:
            return landed
    if private:
        return await _post_privately(bot, interaction, delivery)
    return await post_to_channel(
        bot,
        interaction.channel_id or 0,
        delivery,
        limit=channel_limit(bot, interaction.guild_id),
        mention=interaction.user.id,
    )


async def _post_privately(
    bot: ImageBot, interaction: discord.Interaction[Any], delivery: Delivery
) -> discord.Message | None:
    """A private result the original response cannot carry: to the member's DMs."""
    channel_id = interaction.channel_id or 0
    return await post_privately(
        bot, interaction.user.id, channel_id, interaction.guild_id, delivery
    )


async def post_privately(
    bot: ImageBot,
    user_id: int,
    channel_id: int,
    guild_id: int | None,
    delivery: Delivery,
    *,
    nonce: str | None = None,
) -> discord.Message | None:
    """A private result for member ``user_id`` (asked in ``channel_id``), to their DMs.

    Without buttons (a press from a DM has no server to check access against). If the
    DMs are closed, the channel is told that, and nothing of the result.
    """
    intro = render(replace(PRIVATE_IN_DMS, params={"channel": f"<#{channel_id}>"}))
    direct = replace(delivery, content=trim(f"{intro}\n{delivery.content}"), view=None)
    try:
        dm = await bot.create_dm(discord.Object(user_id))
        return await post_to_channel(
            bot, dm.id, direct, limit=discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES, nonce=nonce
        )
    except discord.Forbidden as exc:
        log.info("a private result could not go to the member's DMs (%s)", exc.code)
    await post_to_channel(
        bot,
        channel_id,
        Delivery(content=render(PRIVATE_UNDELIVERED)),
        limit=channel_limit(bot, guild_id),
        mention=user_id,
    )
    return None


async def _edit_original(
    interaction: discord.Interaction[Any],
    delivery: Delivery,
    images: Sequence[GeneratedImage],
) -> discord.Message | None:
    """The original response with the result on it; None: it is not there, post instead."""
    filenames = _filenames(images, delivery.stem, delivery.numbers)
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        if attempt > 1 and not token_usable(interaction):
            break
        kwargs: dict[str, Any] = {
            "content": delivery.content or None,
            "attachments": _files(images, delivery.stem, delivery.numbers),
        }
        if delivery.view is not None:
            kwargs["view"] = delivery.view
        try:
            # discord.py already retries 5xx on webhook routes (5 attempts, backing off).
            async with asyncio.timeout(UPLOAD_TIMEOUT):
                return await interaction.edit_original_response(**kwargs)
        except discord.HTTPException as exc:
            if _expired(exc):
                log.info(
                    "interaction token unusable (%s %s); posting to the channel",
                    exc.status,
                    exc.code,
                )
                return None
            if exc.status < 500:
                raise
            why = f"{exc.status} {exc.code}"
        except UNSURE as exc:
            why = type(exc).__name__
        log.info("the result upload's outcome is unknown (%s); checking the original response", why)
        original = await _original_response(interaction)
        if original is not None and carries(original, filenames):
            return original
    log.info("the result is not on the original response; posting to the channel")
    return None


async def _original_response(interaction: discord.Interaction[Any]) -> discord.Message | None:
    """The original response as Discord has it now (no cached copy); None if unknown."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await interaction.followup.fetch_message(ORIGINAL)
    except (discord.HTTPException, *UNSURE) as exc:
        log.info("could not read the original response: %s", exc)
        return None


class Progress:
    """Edits the original response with the elapsed time while a job runs.

    ``waiting(True)`` shows that the job waits for another one in the channel, and
    ``waiting(False)`` switches back to the elapsed time; both are shown at once.
    ``queued(text)`` shows the job's place in the server's line (``queued(None)``: it
    started). ``view`` (the Cancel button) goes with the first edit, made at once, as
    does ``note`` (the estimated cost), a line kept under the place or the elapsed time.
    ``preview(p)``: the model's latest thought (``bot.discord_bot.live_preview``); once
    one shows, edits keep ``PREVIEW_INTERVAL`` apart and only the latest state is sent.
    """

    def __init__(
        self,
        interaction: discord.Interaction[Any],
        label: Message = GENERATING,
        interval: float | None = None,
        view: discord.ui.View | None = None,
        *,
        note: Message | None = None,
    ) -> None:
        self.interaction = interaction
        self.label = label
        # A line under the elapsed time (the estimated cost), shown from the first edit.
        self.note = note
        self.interval = interval or PROGRESS_INTERVAL
        self._task: asyncio.Task[None] | None = None
        self._start = time.monotonic()
        self._waiting = False
        self._line: Message | None = None
        self._view = view
        self._changed = asyncio.Event()
        self._closing = False
        self._edits: deque[float] = deque(maxlen=PROGRESS_BURST)
        self._closed = asyncio.Event()
        self._pending: Preview | None = None  # not yet sent
        self._thought: str | None = None  # the line shown
        self._last_edit: float | None = None  # once previews show

    def queued(self, line: Message | None) -> None:
        self._line = line
        if line is None:
            self._start = time.monotonic()
        self._changed.set()

    def preview(self, preview: Preview) -> None:
        if self._closing:
            return
        self._pending = live_preview.merged(self._pending, preview)
        self._changed.set()

    def waiting(self, waiting: bool) -> None:
        self._waiting = waiting
        if not waiting:
            self._start = time.monotonic()  # the time shown is the job's own
        self._changed.set()

    def content(self) -> str:
        """The progress message, rendered (in the locale of the task that runs the job)."""
        # The label first: the member sees what was asked, then why nothing moves yet; the
        # note (the estimated cost) under it from the first edit, in line or running.
        if self._line is not None:
            return render(join([self.label, self._line])) + self._note()
        if self._waiting:
            return render(join([self.label, WAITING_FOR_CHANNEL])) + self._note()
        # Translators: a progress message: {label} says what is done ("Generating…"),
        # {seconds} how long it has taken so far.
        elapsed = _("{label} {seconds} s", label=self.label, seconds=self._elapsed())
        return render(elapsed) + self._note() + live_preview.thought_line(self._thought)

    def _elapsed(self) -> int:
        return int(time.monotonic() - self._start)

    def _note(self) -> str:
        return f"\n-# {render(self.note)}" if self.note else ""

    async def _spaced(self) -> None:
        """Once previews show, not before ``PREVIEW_INTERVAL`` after the last edit."""
        while self._last_edit is not None and not self._closing:
            left = self._last_edit + live_preview.PREVIEW_INTERVAL - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._closed.wait()

    def _edit(self) -> dict[str, Any]:
        pending, self._pending = self._pending, None
        if pending is None:
            return {"content": self.content()}
        self._thought = pending.text or self._thought
        self._last_edit = time.monotonic()
        edit: dict[str, Any] = {"content": self.content()}
        if pending.image is not None:
            edit["attachments"] = [live_preview.preview_file(pending.image)]
        return edit

    async def _tick(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._changed.wait()
            full = len(self._edits) == PROGRESS_BURST
            gap = self._edits[0] + PROGRESS_WINDOW - time.monotonic() if full else 0.0
            if gap > 0 and not self._closing:
                await asyncio.sleep(gap)  # changes meanwhile are shown together
            self._changed.clear()
            await self._spaced()
            if self._closing or not token_usable(self.interaction):
                return
            self._edits.append(time.monotonic())
            edit = self._edit()
            if self._view is not None:
                edit["view"], self._view = self._view, None
            try:
                await self.interaction.edit_original_response(**edit)
            except discord.HTTPException as exc:
                log.debug("progress edit failed: %s", exc)
                if _expired(exc):
                    return
            if self._last_edit is not None:
                self._last_edit = time.monotonic()  # spaced from when it landed

    async def __aenter__(self) -> Progress:
        self._start = time.monotonic()
        if self._view is not None or self.note:
            self._changed.set()  # the Cancel button and the estimate at once
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
        self._closed.set()
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
