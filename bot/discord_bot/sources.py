"""Images a member points at: attachments and embedded pictures, as ``SourceImage``s."""

from __future__ import annotations

import discord

from bot.i18n import Message, n_
from bot.jobs import SourceImage
from bot.limits import MAX_SOURCES

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


def capped(
    sources: tuple[SourceImage, ...],
) -> tuple[tuple[SourceImage, ...], tuple[Message, ...]]:
    """At most MAX_SOURCES images, and a note for the member when some were left out."""
    if len(sources) <= MAX_SOURCES:
        return sources, ()
    # Translators: {n} is how many images the message has, {used} how many were used.
    note = n_(
        "That message has {n} image; I used the first {used}.",
        "That message has {n} images; I used the first {used}.",
        len(sources),
        used=MAX_SOURCES,
    )
    return sources[:MAX_SOURCES], (note,)
