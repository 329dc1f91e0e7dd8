"""The **Delete** button under a result: the message goes, and the images only it used.

For the member who asked and for members with Manage Messages; anyone else reads one
private sentence. The result's rows (``Store.delete_result``): its turns leave the
channel's history wherever they are, so the next /edit edits the image before it (or,
if it was the only one, asks for /imagine or an image) and never a deleted one; the job
keeps its row without images, so it still counts toward quotas and usage. Images a
later turn or another job used stay theirs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.i18n import _, render
from bot.storage.base import UNFINISHED_STATES

if TYPE_CHECKING:
    from bot.discord_bot.app import ImageBot

log = logging.getLogger(__name__)

NOT_YOURS = _(
    "Only the member who asked for this image, or members with Manage Messages, can delete it."
)
DELETED = _("Deleted: the message is gone, and I no longer keep its images.")
STILL_SAVING = _("That image is still being saved; press Delete again in a moment.")


async def delete_pressed(interaction: discord.Interaction[ImageBot], job_id: int) -> None:
    """Delete the result this button is under, if this member may."""
    bot = interaction.client
    job = await bot.store.get_job(job_id)
    if job is not None and job.guild_id != interaction.guild_id:
        job = None  # a custom_id pointing elsewhere names nothing here
    asker = job is not None and job.user_id == interaction.user.id
    if not (asker or interaction.permissions.manage_messages):
        await interaction.response.send_message(render(NOT_YOURS), ephemeral=True)
        return
    # Nothing changes on screen yet; "@original" is now the message the button is on.
    await interaction.response.defer()
    if job is not None:
        await bot.runtime.barrier.stored(job_id=job_id)  # its rows are all written first
        job = await bot.store.get_job(job_id)
        if job is not None and job.state in UNFINISHED_STATES:
            await interaction.followup.send(render(STILL_SAVING), ephemeral=True)
            return
    try:
        await interaction.delete_original_response()
    except discord.NotFound:
        pass  # deleted already (by a moderator, or a press just before): the rows still go
    if job is not None:
        deleted = await bot.store.delete_result(job_id)
        log.info(
            "job %s: result deleted by %s (%d turns, %d images)",
            job_id,
            interaction.user.id,
            deleted.turns,
            deleted.blobs,
        )
    await interaction.followup.send(render(DELETED), ephemeral=True)
