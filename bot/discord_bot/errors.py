"""The one error reporter of the Discord layer: ``report(target, exc)``.

Every failure a member can meet ends here, whatever raised it: slash commands (the
tree's ``on_error``), buttons and modals (``reporting``, since discord.py sends their
errors elsewhere), and replies (``reporting`` with the message). Dispatch order:
an interaction not yet answered gets a private answer; one whose token expired, or that
cannot be edited, gets a channel message naming the member; errors that concern only
the member (``PRIVATE_ERRORS``) replace the public "thinking…" with a private follow-up;
the rest replace the original response. A message gets a reply. Anything that is not
an ``ImagineError`` is logged with its traceback and shown as ``GENERIC_FAILURE``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

import discord

from bot.discord_bot.delivery import new_nonce, only_pinging, token_usable, trim
from bot.discord_bot.speech import answer_in
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
    message_of,
)
from bot.i18n import Message, _, render, use_locale
from bot.limits import MESSAGE_LIMIT

log = logging.getLogger(__name__)

# ``interaction.extras[PRIVATE]`` is true for a private job's interaction (set by the
# pipeline): an error it cannot answer in place goes to the member's DMs, never the channel.
PRIVATE = "imagine-private"
# Translators: {channel} is a channel's mention (<#123>); the error's sentence follows.
PRIVATE_ERROR_IN_DMS = _(
    "Your private request in {channel} could not be answered there (Discord keeps the "
    "answer open 15 minutes), so this comes here:"
)

__all__ = [
    "GENERIC_FAILURE",
    "MESSAGE_LIMIT",
    "error_message",
    "error_to_dms",
    "report",
    "reporting",
    "user_message",
]

GENERIC_FAILURE = _(
    "Something went wrong on my side while doing that. "
    "The admins can find the details in the bot's log."
)
# Errors that concern only the member who asked: answered privately where possible.
PRIVATE_ERRORS = (InputImageError, LimitReached, AccessDenied)

# What a member (or the admins) can do next, by kind of error; the first match wins, so
# subclasses come before their bases. Sentences that already say what to do keep theirs.
DISCORD_ADVICE: dict[type[ImagineError], Message] = {
    GatewayAuthError: _("A server admin needs to set a valid key with /settings gateway."),
    PaymentRequired: _("A server admin needs to top it up, or switch with /settings gateway."),
    UnsafeGatewayURL: _("A server admin needs to set a public address with /settings gateway."),
    ModelNotAvailable: _(
        "Pick another model in /imagine, or ask a server admin to change the default "
        "with /settings model."
    ),
    ContentBlocked: _("Try rewording the prompt or using another image."),
    NoImageReturned: _("Try rewording the prompt, e.g. say what the image should show."),
    GatewayTimeout: _("Try again in a moment; 1K images are the quickest."),
    ResponseTooLarge: _("Try again with a smaller size."),
    MalformedResponse: _(
        "Try again; if it keeps happening, ask a server admin to check /settings gateway."
    ),
    GatewayRejected: _(
        "Try rewording the prompt or changing the options; if it keeps happening, "
        "ask a server admin to check /settings gateway."
    ),
    GatewayError: _("Try again in a minute."),
    ImageTooLarge: _("Send a smaller image."),
    InputImageError: _("Send a PNG, JPEG, WEBP, GIF or HEIC image."),
    AccessDenied: _("Ask a server admin if you think you should be allowed."),
    LimitReached: _("Try again later."),
    ConfigError: _("Ask the bot's operator to check its configuration."),
}
# On the bot's own gateway only its owner can act: the key and the account are in .env.
BOT_GATEWAY_ADVICE: dict[type[ImagineError], Message] = {
    GatewayAuthError: _("The bot's owner needs to set a valid key for the bot's gateway."),
    PaymentRequired: _("The bot's owner needs to top it up."),
    MalformedResponse: _(
        "Try again; if it keeps happening, ask the bot's owner to check the bot's gateway."
    ),
    GatewayRejected: _(
        "Try rewording the prompt or changing the options; if it keeps happening, "
        "ask the bot's owner to check the bot's gateway."
    ),
}
ADVICE_ON_BOT_GATEWAY = {k: BOT_GATEWAY_ADVICE.get(k, v) for k, v in DISCORD_ADVICE.items()}
_HAS_NEXT_STEP = re.compile(r"\b(try|send|use|ask|pick|wait|attach|run)\b|/settings", re.I)


def error_message(exc: BaseException) -> Message:
    """What the member reads for ``exc``: its sentence and, unless it says one, a next step."""
    if isinstance(exc, ImagineError):
        # Whether it already says what to do is judged on the English (``str(exc)``); only
        # our own sentence counts: the gateway's words ("please try later") are no advice.
        text = str(exc)
        own = text.replace(exc.gateway_message, "") if exc.gateway_message else text
        if _HAS_NEXT_STEP.search(own):
            return message_of(exc)
        bots = isinstance(exc, GatewayError) and exc.own_gateway is False
        return advice_for(exc, ADVICE_ON_BOT_GATEWAY if bots else DISCORD_ADVICE)
    return GENERIC_FAILURE


def user_message(exc: BaseException) -> str:
    """``error_message`` in the locale in effect, within Discord's message limit."""
    return trim(render(error_message(exc)))


async def report(target: discord.Interaction[Any] | discord.Message, exc: BaseException) -> None:
    """Tell the member what went wrong, in whatever way the interaction (or message) allows."""
    if isinstance(target, discord.Message):
        await _reply(target, exc)
        return
    interaction = target
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
    if interaction.extras.get(PRIVATE):
        channel_id = interaction.channel_id or 0
        await error_to_dms(interaction.client, interaction.user.id, channel_id, message)
        return
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


async def error_to_dms(
    client: discord.Client, user_id: int, channel_id: int, message: str, *, nonce: str | None = None
) -> None:
    """A private job's error (asked in ``channel_id``), to the member's DMs; if they are
    closed, nowhere public."""
    intro = render(replace(PRIVATE_ERROR_IN_DMS, params={"channel": f"<#{channel_id}>"}))
    try:
        dm = await client.create_dm(discord.Object(user_id))
        await dm.send(trim(f"{intro}\n{message}"), nonce=nonce or new_nonce())
    except discord.HTTPException as exc:
        log.info("a private job's error could not go to the member's DMs (%s)", exc.code)


async def _reply(message: discord.Message, exc: BaseException) -> None:
    if not isinstance(exc, ImagineError):
        log.error("reply-to-edit failed", exc_info=exc)
    try:
        await message.reply(user_message(exc), mention_author=False)
    except discord.HTTPException:
        log.warning("could not answer a reply in channel %s", message.channel.id)


async def reporting(
    target: discord.Interaction[Any] | discord.Message, work: Awaitable[Any]
) -> None:
    """Run ``work``; any failure is reported to ``target`` (components, modals, replies).

    The answer, and whatever ``work`` says, is in the member's language (an interaction),
    or the server's (a message, which carries no locale of its author's).
    """
    if isinstance(target, discord.Message):
        use_locale(target.guild.preferred_locale if target.guild else None)
    else:
        answer_in(target)
    try:
        await work
    except Exception as exc:
        await report(target, exc)
