"""What /me and /preferences say: pure functions from records to the sentences a member reads.

They return ``Message`` values (rendered in the member's language by the cog); numbers,
prompts, mentions and timestamps are placeholders, each line one whole sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.costs import money
from bot.discord_bot.delivery import trim
from bot.i18n import Message, _, join, p_
from bot.storage.base import JobRecord, MemberPreferences, UsageRow
from cogs.settings.render import images, tokens

# Translators: what a preference that is not set follows.
SERVER_DEFAULT = _("the server's default")
NO_PREFERENCES = _(
    "You have set no preferences: your images follow this server's defaults. "
    "Set some with /preferences (aspect_ratio, size, model, count, private)."
)
PREFERENCES_CLEARED = _(
    "Cleared your preferences: your images follow this server's defaults again."
)
PREFERENCES_RULE = _("They apply in every server, under the options you give a command.")
NOTHING_IN_PROGRESS = _("Nothing in progress.")
NO_QUOTAS = _("None: no hourly or daily cap in this server.")
# Translators: "private results" preference: yes or no, shown in code style.
YES, NO = p_("preference value", "`yes`"), p_("preference value", "`no`")


@dataclass(frozen=True)
class QuotaLine:
    """One quota as /me shows it: whose, its window, what is left, when one frees up."""

    per_user: bool
    window: float
    limit: int
    used: int
    frees_at: float | None  # the oldest counted job's end of window; None if none counted


def preference_lines(prefs: MemberPreferences) -> list[Message]:
    def shown(value: object) -> Message:
        return f"`{value}`" if value is not None else SERVER_DEFAULT

    private = SERVER_DEFAULT if prefs.private is None else (YES if prefs.private else NO)
    # Translators: {value} is the preference, or "the server's default".
    return [
        _("Aspect ratio: {value}", value=shown(prefs.aspect_ratio)),
        _("Size: {value}", value=shown(prefs.image_size)),
        _("Model: {value}", value=shown(prefs.model)),
        _("Images per job: {value}", value=shown(prefs.count)),
        _("Private results: {value}", value=private),
    ]


def preferences_text(prefs: MemberPreferences, *, saved: bool = False) -> Message:
    if prefs.empty:
        return PREFERENCES_CLEARED if saved else NO_PREFERENCES
    if saved:
        head = _("**Saved. Your preferences** ({rule})", rule=PREFERENCES_RULE)
    else:
        head = _("**Your preferences** ({rule})", rule=PREFERENCES_RULE)
    return join([head, *preference_lines(prefs)], sep="\n")


def usage_line(label: Message, row: UsageRow | None) -> Message:
    count, used, cost = (row.images, row.tokens, row.cost) if row is not None else (0, 0, 0.0)
    # Translators: {period} is "Today (UTC)" or "The last 7 days"; then images, tokens, cost.
    return _(
        "{period}: {images}, {tokens}, {cost}",
        period=label,
        images=images(count),
        tokens=tokens(used),
        cost=money(cost),
    )


def quota_line(q: QuotaLine) -> Message:
    left = max(0, q.limit - q.used)
    numbers = {"left": f"{left:,}", "limit": f"{q.limit:,}"}
    hourly = q.window <= 3600
    if q.per_user:
        line = (
            _("You, per hour: {left} of {limit} images left", **numbers)
            if hourly
            else _("You, per day: {left} of {limit} images left", **numbers)
        )
    else:
        line = (
            _("This server, per hour: {left} of {limit} images left", **numbers)
            if hourly
            else _("This server, per day: {left} of {limit} images left", **numbers)
        )
    if q.frees_at is None:
        return line
    when = f"<t:{int(q.frees_at)}:R>"
    # Translators: follows "…images left"; {when} is a Discord timestamp ("in 20 minutes").
    then = (
        _("; the next one frees up {when}", when=when)
        if left
        else _("; used up until {when}", when=when)
    )
    return join([line, then], sep="")


def job_line(job: JobRecord) -> Message:
    # Translators: a job in progress; {id} its number, {prompt} its prompt, {when} a
    # Discord timestamp ("2 minutes ago").
    if job.state == "running":
        since = job.started_at or job.created_at
        return _("#{id} generating: “{prompt}”, started {when}", **_job(job, since))
    if job.state == "queued":
        return _("#{id} waiting: “{prompt}”, asked {when}", **_job(job, job.created_at))
    return _(
        "#{id} {state}: “{prompt}”, asked {when}", state=job.state, **_job(job, job.created_at)
    )


def _job(job: JobRecord, since: float) -> dict[str, object]:
    return {"id": job.id, "prompt": trim(job.prompt, 80), "when": f"<t:{int(since)}:R>"}


def me_text(
    *,
    today: UsageRow | None,
    week: UsageRow | None,
    quotas: Sequence[QuotaLine],
    jobs: Sequence[JobRecord],
    at_once: int,
    prefs: MemberPreferences,
) -> Message:
    """/me's answer: four sections with a blank line between them (trimmed by the cog)."""
    sections = [
        [
            _("**Your images in this server**"),
            usage_line(_("Today (UTC)"), today),
            usage_line(_("The last 7 days"), week),
        ],
        [
            _("**Quotas** (rolling: each image counts for an hour, or a day)"),
            *([quota_line(q) for q in quotas] or [NO_QUOTAS]),
        ],
        [
            # Translators: {n} is how many of the member's jobs may run at the same time.
            _("**In progress** (up to {n} of yours run at once)", n=at_once),
            *([job_line(j) for j in jobs] or [NOTHING_IN_PROGRESS]),
        ],
        [_("**Your preferences** (/preferences)"), *preference_lines(prefs)],
    ]
    return join([join(lines, sep="\n") for lines in sections], sep="\n\n")
