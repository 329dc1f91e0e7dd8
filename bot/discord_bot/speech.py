"""Which language the Discord layer answers in: the member's, the job's, or the server's.

Every entry point that answers an interaction calls ``answer_in(interaction)`` before it
builds a reply (the command tree's ``interaction_check``, a component's press, a modal's
submit, ``reporting``); discord.py runs each interaction in a task of its own, so the
locale set there holds for that answer only. Work done for a job later (a resumed job,
an interrupted report) speaks the job's stored locale (``job_locale``); a channel post
that answers nobody in particular speaks the server's (``guild_locale``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord

from bot.i18n import supported, use_locale

__all__ = ["answer_in", "guild_locale", "job_locale", "member_locale"]


def member_locale(interaction: discord.Interaction[Any]) -> str:
    """The shipped locale nearest the member's client language (a Discord code)."""
    return supported(interaction.locale)


def answer_in(interaction: discord.Interaction[Any]) -> str:
    """Speak the member's language for the rest of this interaction's task."""
    code = member_locale(interaction)
    use_locale(code)
    return code


def job_locale(params: Mapping[str, Any]) -> str:
    """The locale a job was asked in (its params), English for jobs from before locales."""
    return supported(params.get("locale"))


def guild_locale(bot: Any, guild_id: int | None) -> str:
    """The server's preferred locale, for posts that answer nobody in particular."""
    guild = bot.get_guild(guild_id) if guild_id else None
    return supported(getattr(guild, "preferred_locale", None))
