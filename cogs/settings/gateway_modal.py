"""The modal that asks for a server's gateway API key.

The key is typed into Discord, never passed as a slash option (options are echoed in the
client's "used /settings" line), never shown back, and its text input's custom_id carries
``SECRET_PREFIX`` so discord.py's DEBUG log of the raw event is redacted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.discord_bot.components import MODAL_PREFIX
from bot.discord_bot.speech import answer_in
from bot.errors import ImagineError
from bot.i18n import Message, _, render
from bot.limits import MAX_API_KEY_CHARS
from cogs.settings.redaction import SECRET_PREFIX

log = logging.getLogger(__name__)

# An unanswered modal keeps its View registered; drop it after Discord's own 15 minutes.
MODAL_TIMEOUT = 15 * 60
KEY_INPUT_ID = f"{SECRET_PREFIX}gateway_api_key"

SAVE_FAILED = _("Saving the gateway failed. Nothing was changed; try again.")

OnKey = Callable[[discord.Interaction[Any], str], Awaitable[None]]


class GatewayKeyModal(discord.ui.Modal):
    """Collects the key, then hands it to ``on_key``; errors are answered ephemerally."""

    def __init__(self, *, host: str, may_keep_key: bool, on_key: OnKey) -> None:
        super().__init__(
            # Translators: the title of the form that asks for a key (at most 45 characters).
            title=render(_("Gateway API key")),
            timeout=MODAL_TIMEOUT,
            # cogs/imagine answers a submit of an "imagine:modal:" form no live modal
            # holds (after a restart, or once it timed out), instead of leaving it silent.
            custom_id=f"{MODAL_PREFIX}settings-gateway:{os.urandom(8).hex()}",
        )
        # Translators: the key field's placeholder (at most 100 characters).
        hint = (
            _("Leave empty to keep the current key")
            if may_keep_key
            else _("Paste the key; it is stored encrypted")
        )
        self.key: discord.ui.TextInput[GatewayKeyModal] = discord.ui.TextInput(
            # Translators: the key field's label (at most 45 characters); {host} is the
            # gateway's host name (openrouter.ai).
            label=render(_("API key for {host}", host=host))[:45],
            custom_id=KEY_INPUT_ID,
            placeholder=render(hint),
            required=not may_keep_key,
            max_length=MAX_API_KEY_CHARS,
        )
        self.add_item(self.key)
        self._on_key = on_key

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        # Modal errors do not reach the CommandTree handler, so they are answered here.
        answer_in(interaction)
        try:
            await self._on_key(interaction, self.key.value)
        except ImagineError as exc:
            await _answer(interaction, exc.message)

    async def on_error(  # type: ignore[override]  # discord.py types Modal.on_error as View.on_error
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        # No exc_info: a traceback's locals-free frames are safe, but the modal's repr and
        # arguments are not worth the risk next to a key; the type is enough to debug.
        log.error("gateway key modal failed: %s", type(error).__name__)
        answer_in(interaction)
        await _answer(interaction, SAVE_FAILED)


async def _answer(interaction: discord.Interaction[Any], message: Message) -> None:
    text = render(message)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
