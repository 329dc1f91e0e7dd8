"""What /settings shows: pure functions from stored values to the sentences an admin reads.

They return ``Message`` values, rendered in the admin's language by the cog (an embed's
fields by ``settings_embed``); values (models, URLs, numbers) are placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import discord

from bot.config import OperatorQuotas
from bot.costs import money
from bot.gateway.dialects import sends_size_fields
from bot.i18n import Message, Text, _, join, n_, p_, render
from bot.jobs.privacy import PRIVACY_LABELS
from bot.jobs.spec import reference_limit
from bot.limits import (
    MAX_BLEND_IMAGES,
    MAX_HTTP_CONNECTIONS,
    MIN_BLEND_IMAGES,
    effective_quota,
)
from bot.storage.base import GuildSettings, SizeObservation, UsageRow

USAGE_TOP = 15
PERIODS = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400}


def _or_default(value: object, default: Message) -> Message:
    return f"`{value}`" if value not in (None, "") else default


def _quota(value: int | None) -> Message:
    return _("unlimited") if value is None else str(value)


def _thousands(n: int) -> str:
    return f"{n:,}"


def images(n: int) -> Text:
    return n_("{n} image", "{n} images", n, n=_thousands(n))


def jobs(n: int) -> Text:
    return n_("{n} job", "{n} jobs", n, n=_thousands(n))


def tokens(n: int) -> Text:
    return n_("{n} token", "{n} tokens", n, n=_thousands(n))


def channels_text(channels: Sequence[int]) -> Message:
    if not channels:
        return _("Every channel (no allow-list).")
    return ", ".join(f"<#{c}>" for c in channels)


def _held(s: GuildSettings, caps: OperatorQuotas | None, name: str) -> Message:
    """The quota that holds; the operator's default is named as such."""
    own = getattr(s, name)
    cap = getattr(caps, name) if caps is not None else None
    text = _quota(effective_quota(own, cap))
    # Translators: {quota} is a number of images or "unlimited".
    return _("{quota} (the bot's default)", quota=text) if own is None and cap is not None else text


def limits_text(s: GuildSettings, caps: OperatorQuotas | None = None) -> Message:
    return join(
        [
            _(
                "Jobs at once: {member} per member, {server} per server, side by side in a channel",
                member=s.user_concurrency,
                server=s.guild_concurrency,
            ),
            _(
                "Gateway connections: no cap per gateway, {n} at once across all servers",
                n=MAX_HTTP_CONNECTIONS,
            ),
            # Translators: {hourly} and {daily} are numbers of images or "unlimited".
            _(
                "Per member: {hourly}/hour, {daily}/day",
                hourly=_held(s, caps, "user_hourly"),
                daily=_held(s, caps, "user_daily"),
            ),
            _(
                "Per server: {hourly}/hour, {daily}/day",
                hourly=_held(s, caps, "guild_hourly"),
                daily=_held(s, caps, "guild_daily"),
            ),
            count_text(s),
            queue_text(s),
        ],
        sep="\n",
    )


def queue_text(s: GuildSettings) -> Message:
    """How many jobs may wait for room here, and in what order."""
    if s.queue_limit == 0:
        return _("Queue: none (a job beyond the limits above is refused at once)")
    return _(
        "Queue: up to {n} jobs wait for room, in order (queue_limit); a member "
        "at their own limit does not hold up the others",
        n=s.queue_limit,
    )


def count_text(s: GuildSettings) -> Message:
    """What /imagine count: may ask for here, and how its images are counted."""
    # Translators: "count:" is the option of /imagine, as a member types it.
    line = _(
        "Images per /imagine: up to {n} (count:), each one image in the jobs at "
        "once and in the quotas",
        n=s.max_count,
    )
    if s.user_concurrency >= s.max_count:
        return line
    # Translators: follows the line about images per /imagine; {n} is the jobs a member
    # may have running at once.
    more = _(
        "; a member with nothing generating may start any count, which then counts "
        "against their {n} at once",
        n=s.user_concurrency,
    )
    return join([line, more], sep="")


def references_text(model: str) -> Message:
    """How many images the server's model takes in one job (/blend, references)."""
    limit = reference_limit(model)
    return _(
        "`{model}` takes up to {limit} reference images per job; "
        "/blend takes {least} to {most} images",
        model=model,
        limit=limit,
        least=MIN_BLEND_IMAGES,
        most=min(limit, MAX_BLEND_IMAGES),
    )


def privacy_text(mode: str) -> Message:
    """The privacy setting as a sentence (``bot.jobs.privacy``)."""
    label = PRIVACY_LABELS.get(mode, PRIVACY_LABELS["members"])
    # Translators: {label} is the privacy mode ("members choose", "always private"…);
    # "private:True" is the option as a member types it.
    if mode == "private":
        return _("{label}: every result is seen by the member who asked only", label=label)
    if mode == "public":
        return _(
            "{label}: every result is posted to the channel, even when private:True is asked",
            label=label,
        )
    return _(
        "{label}: results are public unless a member asks private:True (or prefers it)",
        label=label,
    )


def history_text(turns: int) -> Message:
    if turns == 0:
        return _("Off: each edit sees only the latest image, no earlier turns")
    return n_(
        "{n} turn kept and replayed when editing",
        "{n} turns kept and replayed when editing",
        turns,
        n=_thousands(turns),
    )


def gateway_text(
    s: GuildSettings, *, default_url: str | None, default_dialect: str, default_stream: str
) -> Message:
    # The key itself is never read here: only whether one is stored.
    if s.gateway_base_url:
        key = (
            _("set (encrypted)")
            if s.gateway_key_encrypted
            else _("**not set** (run /settings gateway)")
        )
        # Translators: the server's own gateway: its URL, dialect, stream mode and key.
        return _(
            "`{url}`\nDialect: `{dialect}`\nStreaming: `{stream}`\nAPI key: {key}",
            url=s.gateway_base_url,
            dialect=s.gateway_dialect or "auto",
            stream=s.gateway_stream or default_stream,
            key=key,
        )
    where = f"`{default_url}`" if default_url else _("the bot's default")
    return _(
        "Bot default: {where}\nDialect: `{dialect}`\nStreaming: `{stream}`",
        where=where,
        dialect=default_dialect,
        stream=default_stream,
    )


def _ago(seconds: float) -> Message:
    # Translators: how long ago a size was checked, short ("3 d ago", "5 min ago").
    if seconds >= 86_400:
        return _("{n} d ago", n=int(seconds // 86_400))
    if seconds >= 3600:
        return _("{n} h ago", n=int(seconds // 3600))
    if seconds >= 60:
        return _("{n} min ago", n=int(seconds // 60))
    return _("just now")


def _ignored_part(o: SizeObservation) -> str:
    """The part of the ask the gateway dropped: "4K", "16:9" or both."""
    dropped = [
        part
        for part in o.asked.split()
        if (o.size_honoured if part.endswith("K") else o.ratio_honoured) is False
    ]
    return " ".join(dropped) or o.asked


def sizes_text(observations: Sequence[SizeObservation], dialect: str, now: float) -> Message | None:
    """One line on whether the gateway honoured sizes, from the latest observations.

    The dialect in use comes first; when it was ignored, a dialect that was honoured
    (with the same gateway and model) is the advice.
    """
    # Rows of a dialect that never sent the size (kept by earlier versions) blame no one.
    observations = [o for o in observations if sends_size_fields(o.dialect)]
    if not observations:
        return None
    current = next((o for o in observations if o.dialect == dialect), observations[0])
    when = _ago(max(0.0, now - current.seen_at))
    seen = {"dialect": current.dialect, "delivered": current.delivered, "when": when}
    if current.honoured:
        # Translators: {asked} is the size asked for ("4K 16:9"), {delivered} the pixels
        # returned ("5504×3072"), {when} how long ago ("2 h ago").
        return _(
            "Sizes: {asked} honoured with dialect `{dialect}` ({delivered}, {when})",
            asked=current.asked,
            **seen,
        )
    line = _(
        "Sizes: the gateway ignored {ignored} with dialect `{dialect}` "
        "(returned {delivered}, {when})",
        ignored=_ignored_part(current),
        **seen,
    )
    better = next((o for o in observations if o.honoured and o.dialect != current.dialect), None)
    if better is None:
        return line
    # Translators: follows the line on sizes the gateway ignored.
    return join([line, _("; try dialect `{dialect}`", dialect=better.dialect)], sep="")


def settings_embed(
    s: GuildSettings,
    *,
    default_model: str,
    default_url: str | None,
    default_dialect: str,
    default_stream: str,
    sizes: Message | None = None,
    quotas: OperatorQuotas | None = None,
) -> discord.Embed:
    """``/settings show``: rendered here, in the locale in effect (the admin's)."""
    not_set = _("not set (the model decides)")
    gateway = gateway_text(
        s,
        default_url=default_url,
        default_dialect=default_dialect,
        default_stream=default_stream,
    )
    # Translators: the fields of /settings show (titles at most 256 characters).
    fields: list[tuple[Message, Message, bool]] = [
        (
            p_("settings field", "Model"),
            _or_default(s.model, _("`{model}` (bot default)", model=default_model)),
            True,
        ),
        (p_("settings field", "Aspect ratio"), _or_default(s.aspect_ratio, not_set), True),
        (p_("settings field", "Size"), _or_default(s.image_size, not_set), True),
        (p_("settings field", "History"), history_text(s.history_turns), False),
        (p_("settings field", "Privacy"), privacy_text(s.privacy), False),
        (
            p_("settings field", "Reference images"),
            references_text(s.model or default_model),
            False,
        ),
        (p_("settings field", "Gateway"), join([gateway, sizes], sep="\n"), False),
        (p_("settings field", "Channels"), channels_text(s.allowed_channels), False),
        (p_("settings field", "Limits and quotas"), limits_text(s, quotas), False),
    ]
    embed = discord.Embed(
        title=render(_("Image bot settings for this server")), colour=discord.Colour.blurple()
    )
    for name, value, inline in fields:
        embed.add_field(name=render(name), value=render(value), inline=inline)
    return embed


def _no_usage(period: str, day: str) -> Message:
    # Translators: {day} is a date (2026-01-31).
    if period == "week":
        return _("No images were made in this server in the last week (since {day} UTC).", day=day)
    if period == "month":
        return _("No images were made in this server in the last month (since {day} UTC).", day=day)
    return _("No images were made in this server in the last day (since {day} UTC).", day=day)


def _usage_head(period: str, day: str) -> Message:
    if period == "week":
        return _("**Usage in the last week** (since {day} UTC)", day=day)
    if period == "month":
        return _("**Usage in the last month** (since {day} UTC)", day=day)
    return _("**Usage in the last day** (since {day} UTC)", day=day)


def usage_text(rows: Sequence[UsageRow], period: str, since: float) -> Message:
    # The store counts whole UTC days, so say from which day rather than "24 hours".
    day = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d")
    if not rows:
        return _no_usage(period, day)
    ranked = sorted(rows, key=lambda r: (r.images, r.tokens, r.jobs), reverse=True)
    lines: list[Message] = [_usage_head(period, day)]
    for place, row in enumerate(ranked[:USAGE_TOP], 1):
        # Translators: a line of the usage ranking: {place} its rank, {member} a mention.
        member = f"<@{row.user_id}>"
        lines.append(
            _(
                "{place}. {member}: {images}, {jobs}, {tokens}, {cost}",
                place=place,
                member=member,
                images=images(row.images),
                jobs=jobs(row.jobs),
                tokens=tokens(row.tokens),
                cost=money(row.cost),
            )
        )
    if len(ranked) > USAGE_TOP:
        lines.append(n_("…and {n} more member.", "…and {n} more members.", len(ranked) - USAGE_TOP))
    lines.append(
        _(
            "Total: {images}, {jobs}, {tokens}, {cost} by {members}.",
            images=images(sum(r.images for r in rows)),
            jobs=jobs(sum(r.jobs for r in rows)),
            tokens=tokens(sum(r.tokens for r in rows)),
            cost=money(sum(r.cost for r in rows)),
            members=n_("{n} member", "{n} members", len(rows), n=_thousands(len(rows))),
        )
    )
    return join(lines, sep="\n")


def budget_text(budget: float | None, spent: float) -> Message:
    """The server's monthly budget and this month's spend (calendar month, UTC)."""
    if budget is None:
        return _(
            "No monthly budget: jobs are not refused for cost. Spent this month (UTC): {spent}.",
            spent=money(spent),
        )
    # Translators: {budget}, {spent} and {left} are amounts of money ("$25.00").
    return _(
        "Monthly budget: {budget} (calendar month, UTC). Spent this month: {spent}, {left} left.",
        budget=money(budget),
        spent=money(spent),
        left=money(max(0.0, budget - spent)),
    )
