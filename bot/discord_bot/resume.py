"""Queued jobs go on after a restart (or after the process that queued them died).

A job that was still waiting for room never reached the gateway, so it is not
"interrupted": the process that finds it (its own next start; with several processes,
the survivor that adopted it) runs it as it was asked, counted once. Its result goes to
the channel naming the member, since the interaction that asked may be gone (Discord's
tokens last 15 minutes); while the token lasts, the original "thinking" answer says so.
A private job's result and error go to the member's DMs instead, never the channel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_bot.delivery import (
    channel_limit,
    only_pinging,
    post_privately,
    post_to_channel,
    trim,
)
from bot.discord_bot.errors import error_message, error_to_dms
from bot.discord_bot.pipeline import record_message, result_delivery
from bot.discord_bot.speech import job_locale
from bot.i18n import Message, _, render, use_locale
from bot.jobs import JobOutcome, JobSpec
from bot.storage.base import JobRecord

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

log = logging.getLogger(__name__)

TOKEN_EDIT_SECONDS = 14 * 60
GOES_ON = _(
    "I restarted while this waited in line; it goes on, and the result will be posted below."
)
# A private job's result never comes below (the channel): it goes to the member's DMs.
GOES_ON_PRIVATELY = _(
    "I restarted while this waited in line; it goes on, and the result will be sent to your DMs."
)


def resume_queued(bot: ImageBot, jobs: Sequence[JobRecord]) -> None:
    """Run each waiting job again in the background, in the order they came.

    Each takes its place in line only once the one before it has (or has ended): the
    tasks run side by side, and an older job must not fall behind a newer one.
    """
    before: asyncio.Event | None = None
    for job in sorted(jobs, key=lambda j: j.id):
        entered = asyncio.Event()
        bot.runtime.tasks.spawn(
            run_queued(bot, job, after=before, entered=entered), name=f"resume-{job.id}"
        )
        before = entered


async def run_queued(
    bot: ImageBot,
    job: JobRecord,
    *,
    after: asyncio.Event | None = None,
    entered: asyncio.Event | None = None,
) -> None:
    """``after``: wait for it before entering the line; ``entered``: set once in it."""
    try:
        if after is not None:
            await after.wait()
        await _run_queued(bot, job, entered)
    finally:
        if entered is not None:
            entered.set()  # ended before entering: the next one must not wait forever


async def _run_queued(bot: ImageBot, job: JobRecord, entered: asyncio.Event | None) -> None:
    # Its own task (``resume_queued``): all it says is in the language the member asked in.
    use_locale(job_locale(job.params))
    spec = JobSpec.from_queued(job, upload_limit=channel_limit(bot, job.guild_id))
    settings = await bot.store.get_settings(job.guild_id or 0)

    async def publish(outcome: JobOutcome) -> None:
        if spec.private:  # never the channel: the DMs, as for an expired private answer
            delivery = result_delivery(outcome)
            dm = await post_privately(
                bot, job.user_id, job.channel_id, job.guild_id, delivery, nonce=f"rsm-{job.id}"
            )
            if dm is not None:
                await record_message(bot, job.id, dm.id)
            return
        posted = await post_to_channel(
            bot,
            job.channel_id,
            result_delivery(outcome),  # post_to_channel puts the mention first
            limit=spec.upload_limit or channel_limit(bot, job.guild_id),
            mention=job.user_id,
            nonce=f"rsm-{job.id}",
        )
        await record_message(bot, job.id, posted.id)

    try:
        async with bot.jobs.admit(spec, settings, queued=job) as admitted:
            if entered is not None:
                entered.set()  # in line now: the next job may take the place after it
            # Only once it is admitted again (quotas and the budget may have run out while
            # it waited): a refusal is the answer then, not "it goes on".
            await _tell_original(bot, job, GOES_ON_PRIVATELY if spec.private else GOES_ON)
            await admitted.run(publish)
    except Exception as exc:
        mention = f"<@{job.user_id}>"
        if not isinstance(exc, discord.HTTPException):
            log.info("queued job %s ended in %s", job.id, type(exc).__name__)
        if spec.private:
            reason = trim(render(error_message(exc)))
            await error_to_dms(bot, job.user_id, job.channel_id, reason, nonce=f"rse-{job.id}")
            return
        try:
            await bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id).send(
                # Translators: {user} is the member's mention (<@123>), {prompt} their
                # prompt, {reason} what went wrong.
                trim(
                    render(
                        _(
                            "{user} “{prompt}”: {reason}",
                            user=mention,
                            prompt=trim(job.prompt, 200),
                            reason=error_message(exc),
                        )
                    )
                ),
                allowed_mentions=only_pinging(job.user_id),
                nonce=f"rse-{job.id}",
            )
        except discord.HTTPException:
            log.warning("could not tell the channel about queued job %s", job.id)


async def _tell_original(bot: ImageBot, job: JobRecord, message: Message) -> None:
    token = job.interaction_token
    if not token or time.time() - job.created_at > TOKEN_EDIT_SECONDS or not bot.application_id:
        return
    answer = discord.Webhook.partial(bot.application_id, token, client=bot)
    original: Any = "@original"
    try:
        await answer.edit_message(original, content=render(message), view=None)
    except discord.HTTPException:
        log.info("could not edit the answer of queued job %s", job.id)
