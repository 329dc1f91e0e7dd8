"""What the progress message shows of a streamed answer: the model's latest thought.

``Progress.preview`` keeps only the latest state; each edit of the progress message is
at least ``PREVIEW_INTERVAL`` after the one before it once previews show (Discord
allows ~5 edits per 5 s). The image is an attachment (``PREVIEW_FILENAME``) that the
result's own files replace; a failure's edit clears it (``attachments=[]``).
"""

from __future__ import annotations

import io

import discord

from bot.gateway.preview import PREVIEW_INTERVAL
from bot.i18n import _, render
from bot.types import Preview

__all__ = ["PREVIEW_FILENAME", "PREVIEW_INTERVAL", "merged", "preview_file", "thought_line"]

PREVIEW_FILENAME = "thinking.jpg"


def merged(pending: Preview | None, latest: Preview) -> Preview:
    """The state to show: the latest text, and the latest image sent so far."""
    if pending is None or latest.image is not None:
        return latest
    return Preview(image=pending.image, text=latest.text or pending.text)


def thought_line(text: str | None) -> str:
    """The line under the progress, the model's words made inert (no pings, no markup)."""
    if not text:
        return ""
    safe = discord.utils.escape_mentions(discord.utils.escape_markdown(text))
    # Translators: under a progress message; {thought} is the model's own words, as it
    # wrote them (in whatever language).
    return "\n-# " + render(_("Thinking: {thought}", thought=safe))


def preview_file(image: bytes) -> discord.File:
    return discord.File(io.BytesIO(image), filename=PREVIEW_FILENAME)
