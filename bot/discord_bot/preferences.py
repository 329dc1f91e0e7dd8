"""A member's ``/preferences`` applied to the command they typed (``bot.jobs.preferences``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import discord

from bot.jobs import JobSpec
from bot.jobs.preferences import apply_preferences
from bot.limits import MAX_IMAGES_PER_JOB

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

# A command option's name -> the JobSpec field it sets.
OPTION_FIELDS = {
    "aspect_ratio": "aspect_ratio",
    "size": "image_size",
    "model": "model",
    "count": "count",
    "private": "private",
}


def given_options(interaction: discord.Interaction[Any]) -> set[str]:
    """The names of the options the member typed (Discord sends only those)."""
    data: Mapping[str, Any] = interaction.data or {}
    return {option["name"] for option in _leaf_options(data.get("options", ()))}


def _leaf_options(options: Any) -> Iterator[Mapping[str, Any]]:
    for option in options:
        if "options" in option:  # a subcommand (group): its options are the member's
            yield from _leaf_options(option["options"])
        else:
            yield option


async def with_preferences(
    interaction: discord.Interaction[ImageBot],
    spec: JobSpec,
    *,
    max_count: int = MAX_IMAGES_PER_JOB,
    skip: Collection[str] = (),
) -> JobSpec:
    """``spec`` with the member's preferences where the command gave no option.

    ``max_count``: the server's maximum images per job (a setting the count option brings);
    ``skip``: preferences the command does not take.
    """
    prefs = await interaction.client.store.get_preferences(interaction.user.id)
    if prefs.empty:
        return spec
    given = {OPTION_FIELDS[name] for name in given_options(interaction) if name in OPTION_FIELDS}
    return apply_preferences(spec, prefs, given=given, max_count=max_count, skip=skip)
