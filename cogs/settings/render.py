"""What /settings shows: pure functions from stored values to Discord text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import discord

from bot.config import OperatorQuotas
from bot.costs import money
from bot.gateway.dialects import sends_size_fields
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


def _or_default(value: object, default: str) -> str:
    return f"`{value}`" if value not in (None, "") else default


def _quota(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def channels_text(channels: Sequence[int]) -> str:
    if not channels:
        return "Every channel (no allow-list)."
    return ", ".join(f"<#{c}>" for c in channels)


def _held(s: GuildSettings, caps: OperatorQuotas | None, name: str) -> str:
    """The quota that holds; the operator's default is named as such."""
    own = getattr(s, name)
    cap = getattr(caps, name) if caps is not None else None
    text = _quota(effective_quota(own, cap))
    return f"{text} (the bot's default)" if own is None and cap is not None else text


def limits_text(s: GuildSettings, caps: OperatorQuotas | None = None) -> str:
    return (
        f"Jobs at once: {s.user_concurrency} per member, {s.guild_concurrency} per server, "
        "side by side in a channel\n"
        f"Gateway connections: no cap per gateway, {MAX_HTTP_CONNECTIONS} at once "
        "across all servers\n"
        f"Per member: {_held(s, caps, 'user_hourly')}/hour, {_held(s, caps, 'user_daily')}/day\n"
        f"Per server: {_held(s, caps, 'guild_hourly')}/hour, {_held(s, caps, 'guild_daily')}/day\n"
        f"{count_text(s)}\n"
        f"{queue_text(s)}"
    )


def queue_text(s: GuildSettings) -> str:
    """How many jobs may wait for room here, and in what order."""
    if s.queue_limit == 0:
        return "Queue: none (a job beyond the limits above is refused at once)"
    return (
        f"Queue: up to {s.queue_limit} jobs wait for room, in order (queue_limit); a member "
        "at their own limit does not hold up the others"
    )


def count_text(s: GuildSettings) -> str:
    """What /imagine count: may ask for here, and how its images are counted."""
    line = (
        f"Images per /imagine: up to {s.max_count} (count:), each one image in the jobs at "
        "once and in the quotas"
    )
    if s.user_concurrency < s.max_count:
        line += (
            f"; a member with nothing generating may start any count, which then counts "
            f"against their {s.user_concurrency} at once"
        )
    return line


def references_text(model: str) -> str:
    """How many images the server's model takes in one job (/blend, references)."""
    limit = reference_limit(model)
    blend = min(limit, MAX_BLEND_IMAGES)
    return (
        f"`{model}` takes up to {limit} reference images per job; "
        f"/blend takes {MIN_BLEND_IMAGES} to {blend} images"
    )


def privacy_text(mode: str) -> str:
    """The privacy setting as a sentence (``bot.jobs.privacy``)."""
    label = PRIVACY_LABELS.get(mode, PRIVACY_LABELS["members"])
    if mode == "private":
        return f"{label}: every result is seen by the member who asked only"
    if mode == "public":
        return f"{label}: every result is posted to the channel, even when private:True is asked"
    return f"{label}: results are public unless a member asks private:True (or prefers it)"


def history_text(turns: int) -> str:
    if turns == 0:
        return "Off: each edit sees only the latest image, no earlier turns"
    return f"{_n(turns, 'turn')} kept and replayed when editing"


def gateway_text(
    s: GuildSettings, *, default_url: str | None, default_dialect: str, default_stream: str
) -> str:
    # The key itself is never read here: only whether one is stored.
    if s.gateway_base_url:
        key = (
            "set (encrypted)" if s.gateway_key_encrypted else "**not set** (run /settings gateway)"
        )
        return (
            f"`{s.gateway_base_url}`\nDialect: `{s.gateway_dialect or 'auto'}`\n"
            f"Streaming: `{s.gateway_stream or default_stream}`\nAPI key: {key}"
        )
    where = f"`{default_url}`" if default_url else "the bot's default"
    return f"Bot default: {where}\nDialect: `{default_dialect}`\nStreaming: `{default_stream}`"


def _ago(seconds: float) -> str:
    for unit, length in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{int(seconds // length)} {unit} ago"
    return "just now"


def _ignored_part(o: SizeObservation) -> str:
    """The part of the ask the gateway dropped: "4K", "16:9" or both."""
    dropped = [
        part
        for part in o.asked.split()
        if (o.size_honoured if part.endswith("K") else o.ratio_honoured) is False
    ]
    return " ".join(dropped) or o.asked


def sizes_text(observations: Sequence[SizeObservation], dialect: str, now: float) -> str | None:
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
    if current.honoured:
        return (
            f"Sizes: {current.asked} honoured with dialect `{current.dialect}` "
            f"({current.delivered}, {when})"
        )
    line = (
        f"Sizes: the gateway ignored {_ignored_part(current)} with dialect `{current.dialect}` "
        f"(returned {current.delivered}, {when})"
    )
    better = next((o for o in observations if o.honoured and o.dialect != current.dialect), None)
    return f"{line}; try dialect `{better.dialect}`" if better else line


def settings_embed(
    s: GuildSettings,
    *,
    default_model: str,
    default_url: str | None,
    default_dialect: str,
    default_stream: str,
    sizes: str | None = None,
    quotas: OperatorQuotas | None = None,
) -> discord.Embed:
    embed = discord.Embed(
        title="Image bot settings for this server", colour=discord.Colour.blurple()
    )
    embed.add_field(
        name="Model", value=_or_default(s.model, f"`{default_model}` (bot default)"), inline=True
    )
    embed.add_field(
        name="Aspect ratio",
        value=_or_default(s.aspect_ratio, "not set (the model decides)"),
        inline=True,
    )
    embed.add_field(
        name="Size", value=_or_default(s.image_size, "not set (the model decides)"), inline=True
    )
    embed.add_field(name="History", value=history_text(s.history_turns), inline=False)
    embed.add_field(name="Privacy", value=privacy_text(s.privacy), inline=False)
    embed.add_field(
        name="Reference images", value=references_text(s.model or default_model), inline=False
    )
    gateway = gateway_text(
        s,
        default_url=default_url,
        default_dialect=default_dialect,
        default_stream=default_stream,
    )
    embed.add_field(name="Gateway", value=f"{gateway}\n{sizes}" if sizes else gateway, inline=False)
    embed.add_field(name="Channels", value=channels_text(s.allowed_channels), inline=False)
    embed.add_field(name="Limits and quotas", value=limits_text(s, quotas), inline=False)
    return embed


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def usage_text(rows: Sequence[UsageRow], period: str, since: float) -> str:
    # The store counts whole UTC days, so say from which day rather than "24 hours".
    day = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d")
    if not rows:
        return f"No images were made in this server in the last {period} (since {day} UTC)."
    ranked = sorted(rows, key=lambda r: (r.images, r.tokens, r.jobs), reverse=True)
    lines = [f"**Usage in the last {period}** (since {day} UTC)"]
    for place, row in enumerate(ranked[:USAGE_TOP], 1):
        lines.append(
            f"{place}. <@{row.user_id}>: {_n(row.images, 'image')}, {_n(row.jobs, 'job')}, "
            f"{_n(row.tokens, 'token')}, {money(row.cost)}"
        )
    if len(ranked) > USAGE_TOP:
        lines.append(f"…and {len(ranked) - USAGE_TOP} more members.")
    lines.append(
        f"Total: {_n(sum(r.images for r in rows), 'image')}, "
        f"{_n(sum(r.jobs for r in rows), 'job')}, {_n(sum(r.tokens for r in rows), 'token')}, "
        f"{money(sum(r.cost for r in rows))} by {_n(len(rows), 'member')}."
    )
    return "\n".join(lines)


def budget_text(budget: float | None, spent: float) -> str:
    """The server's monthly budget and this month's spend (calendar month, UTC)."""
    if budget is None:
        return (
            f"No monthly budget: jobs are not refused for cost. Spent this month (UTC): "
            f"{money(spent)}."
        )
    left = max(0.0, budget - spent)
    return (
        f"Monthly budget: {money(budget)} (calendar month, UTC). Spent this month: "
        f"{money(spent)}, {money(left)} left."
    )
