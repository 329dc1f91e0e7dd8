"""What /me and /preferences say: pure functions from records to the sentences a member reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.costs import money
from bot.discord_bot.delivery import trim
from bot.storage.base import JobRecord, MemberPreferences, UsageRow

SERVER_DEFAULT = "the server's default"
NO_PREFERENCES = (
    "You have set no preferences: your images follow this server's defaults. "
    "Set some with /preferences (aspect_ratio, size, model, count, private)."
)
PREFERENCES_CLEARED = "Cleared your preferences: your images follow this server's defaults again."
PREFERENCES_RULE = "They apply in every server, under the options you give a command."
NOTHING_IN_PROGRESS = "Nothing in progress."
STATES = {"queued": "waiting", "running": "generating"}


@dataclass(frozen=True)
class QuotaLine:
    """One quota as /me shows it: whose, its window, what is left, when one frees up."""

    per_user: bool
    window: float
    limit: int
    used: int
    frees_at: float | None  # the oldest counted job's end of window; None if none counted


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def preference_lines(prefs: MemberPreferences) -> list[str]:
    def shown(value: object) -> str:
        return f"`{value}`" if value is not None else SERVER_DEFAULT

    private = None if prefs.private is None else ("yes" if prefs.private else "no")
    return [
        f"Aspect ratio: {shown(prefs.aspect_ratio)}",
        f"Size: {shown(prefs.image_size)}",
        f"Model: {shown(prefs.model)}",
        f"Images per job: {shown(prefs.count)}",
        f"Private results: {shown(private)}",
    ]


def preferences_text(prefs: MemberPreferences, *, saved: bool = False) -> str:
    if prefs.empty:
        return PREFERENCES_CLEARED if saved else NO_PREFERENCES
    head = "Saved. Your preferences" if saved else "Your preferences"
    return "\n".join([f"**{head}** ({PREFERENCES_RULE})", *preference_lines(prefs)])


def usage_line(label: str, row: UsageRow | None) -> str:
    images, tokens, cost = (row.images, row.tokens, row.cost) if row is not None else (0, 0, 0.0)
    return f"{label}: {_n(images, 'image')}, {_n(tokens, 'token')}, {money(cost)}"


def quota_line(q: QuotaLine) -> str:
    whose = "You" if q.per_user else "This server"
    per = "hour" if q.window <= 3600 else "day"
    left = max(0, q.limit - q.used)
    line = f"{whose}, per {per}: {left:,} of {q.limit:,} images left"
    if q.frees_at is not None:
        when = f"<t:{int(q.frees_at)}:R>"
        line += f"; the next one frees up {when}" if left else f"; used up until {when}"
    return line


def job_line(job: JobRecord) -> str:
    since = job.started_at if job.state == "running" and job.started_at else job.created_at
    verb = "started" if job.state == "running" else "asked"
    state = STATES.get(job.state, job.state)
    return f"#{job.id} {state}: “{trim(job.prompt, 80)}”, {verb} <t:{int(since)}:R>"


def me_text(
    *,
    today: UsageRow | None,
    week: UsageRow | None,
    quotas: Sequence[QuotaLine],
    jobs: Sequence[JobRecord],
    at_once: int,
    prefs: MemberPreferences,
) -> str:
    lines = [
        "**Your images in this server**",
        usage_line("Today (UTC)", today),
        usage_line("The last 7 days", week),
        "",
        "**Quotas** (rolling: each image counts for an hour, or a day)",
        *([quota_line(q) for q in quotas] or ["None: no hourly or daily cap in this server."]),
        "",
        f"**In progress** (up to {at_once} of yours run at once)",
        *([job_line(j) for j in jobs] or [NOTHING_IN_PROGRESS]),
        "",
        "**Your preferences** (/preferences)",
        *preference_lines(prefs),
    ]
    return trim("\n".join(lines))
