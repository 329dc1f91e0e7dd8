"""The queue and Cancel as members see them: the place in line, and the Cancel button's press.

A job that waits for room shows "2nd in line · about 40 s" on its progress message
(``place_line``); the estimate is the median of the server's recent job durations in
this process times the place (``Durations``), left out until there are any. **Cancel**
(``imagine:cancel:<job>``) is for the member who asked and for admins (Manage Server);
the job's own message then says "Cancelled by @name.".
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_bot.access import is_admin
from bot.discord_bot.buttons import JobButton
from bot.errors import AccessDenied, ImagineError
from bot.jobs import IMAGE_GONE

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

NOT_YOURS = "Only the member who asked, or an admin, can cancel that."
ALREADY_OVER = "That job has already finished, so there is nothing to cancel."
CANCELLED = "Cancelled."
RECENT_JOBS = 20


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def about(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    return f"about {round(seconds / 60)} min"


def place_line(place: int, median: float | None) -> str:
    line = f"{ordinal(place)} in line"
    return line if median is None else f"{line} · {about(median * place)}"


class Durations:
    """The last jobs' durations per server (this process's), for the estimate."""

    def __init__(self) -> None:
        self._seconds: defaultdict[int | None, deque[float]] = defaultdict(
            lambda: deque(maxlen=RECENT_JOBS)
        )

    def add(self, guild_id: int | None, seconds: float) -> None:
        self._seconds[guild_id].append(seconds)

    def median(self, guild_id: int | None) -> float | None:
        seen = self._seconds.get(guild_id)
        return statistics.median(seen) if seen else None


def cancel_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("cancel", job_id))
    return view


async def cancel_pressed(interaction: discord.Interaction[ImageBot], job_id: int) -> None:
    """Cancel the job for its member or an admin; others are refused privately."""
    bot = interaction.client
    job = await bot.store.get_job(job_id)
    if job is None or job.guild_id != interaction.guild_id:
        raise ImagineError(IMAGE_GONE)
    user_id = interaction.user.id
    if user_id != job.user_id and not is_admin(interaction.permissions):
        raise AccessDenied(NOT_YOURS)
    if not await bot.jobs.cancel(job, by=user_id):
        await interaction.response.send_message(ALREADY_OVER, ephemeral=True)
        return
    message: Any = interaction.message
    if message is not None and message.flags.ephemeral:  # /me: its own message stays
        await interaction.response.send_message(CANCELLED, ephemeral=True)
    else:  # the job's own message says it, by whom
        await interaction.response.defer()
