"""The queue and Cancel as members see them: the place in line, and the Cancel button's press.

A job that waits for room shows "2nd in line · about 40 s" on its progress message
(``place_line``); the estimate is the median of the server's recent job durations in
this process times the place (``Durations``), left out until there are any. **Cancel**
(``imagine:cancel:<job>``) is for the member who asked and for admins (Manage Server);
the job's own message then says "Cancelled by @name.".
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_bot.access import is_admin
from bot.discord_bot.buttons import JobButton
from bot.errors import AccessDenied, ImagineError
from bot.i18n import Message, Text, _, join, render
from bot.jobs import IMAGE_GONE

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

NOT_YOURS = _("Only the member who asked, or an admin, can cancel that.")
ALREADY_OVER = _("That job has already finished, so there is nothing to cancel.")
CANCELLED = _("Cancelled.")
RECENT_JOBS = 20

# A job's place in the server's line, one whole message per English ordinal suffix.
IN_LINE: dict[str, Text] = {
    # Translators: the four "{place}… in line" messages are one sentence, a job's place in
    # the line (1st, 2nd, 3rd, 4th…): English needs a suffix per number, your language may
    # not; translate all four alike ("第 {place} 位", "Platz {place}") where it does not.
    "st": _("{place}st in line"),
    # Translators: a job's place in the line; see "{place}st in line".
    "nd": _("{place}nd in line"),
    # Translators: a job's place in the line; see "{place}st in line".
    "rd": _("{place}rd in line"),
    # Translators: a job's place in the line (4th, 11th, 12th…); see "{place}st in line".
    "th": _("{place}th in line"),
}


def ordinal_suffix(n: int) -> str:
    """English's suffix for ``n`` ("st" for 1 and 21, "th" for 11 and 12)."""
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def in_line(place: int) -> Text:
    """ "2nd in line", as a whole message with the number in it."""
    return dataclasses.replace(IN_LINE[ordinal_suffix(place)], params={"place": place})


def about(seconds: float) -> Text:
    if seconds < 90:
        # Translators: an estimate of the time left, in seconds.
        return _("about {seconds} s", seconds=max(5, round(seconds / 5) * 5))
    # Translators: an estimate of the time left, in minutes.
    return _("about {minutes} min", minutes=round(seconds / 60))


def place_line(place: int, median: float | None) -> Message:
    """ "2nd in line · about 40 s": the place, and an estimate once there is one."""
    line = in_line(place)
    return line if median is None else join([line, about(median * place)], sep=" · ")


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
        await interaction.response.send_message(render(ALREADY_OVER), ephemeral=True)
        return
    message: Any = interaction.message
    if message is not None and message.flags.ephemeral:  # /me: its own message stays
        await interaction.response.send_message(render(CANCELLED), ephemeral=True)
    else:  # the job's own message says it, by whom
        await interaction.response.defer()
