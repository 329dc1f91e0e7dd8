"""Private results: who decides, and what a private job leaves out.

``JobSpec.private`` comes from the command's ``private:`` option, else the member's
preference (``bot.jobs.preferences``), else a private result it was made from (its
buttons); a server's ``privacy`` setting is applied last and wins (``enforce_privacy``).

Decision, the channel's history: a private result never enters the channel's chain.
Its turn is not written (an ``/edit`` without an image, by anyone, never edits an image
only one member can see), a private ``/imagine`` does not replace the chain, and it
holds no other job's place in it. It can still read the chain: a private ``/edit``
without an image edits the channel's latest (public) image, and only its answer is
private. To go on from a private image, its own buttons (Edit, Vary, Upscale, Reroll)
work for the member who sees it, and their results are private too (``private`` is kept
in the job's params, so it survives a restart and a Reroll).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.i18n import Message, _
from bot.jobs.spec import JobSpec
from bot.storage.base import GuildSettings

# Shown with a result a member asked to keep private, in a server that shows them all.
FORCED_PUBLIC_NOTE = _(
    "This server shows every result to the channel, so this one is public "
    "(its admins chose that with /settings privacy)."
)
FORCED_PUBLIC = FORCED_PUBLIC_NOTE.msgid  # its English
# Words for each mode, in /settings and the README.
# The same ids as /settings privacy's choices (cogs/settings): one translation for both.
PRIVACY_LABELS: dict[str, Message] = {
    # Translators: a server's privacy mode, also in a sentence ("always private: every…").
    "members": _("members choose"),
    "private": _("always private"),
    "public": _("always public"),
}


def enforce_privacy(spec: JobSpec, settings: GuildSettings) -> tuple[JobSpec, Message | None]:
    """``spec`` under the server's privacy setting, and the note for a wish it overrode.

    Only a member who asked for private and is answered in public is told: a result
    made private against a member's wish is seen by nobody else, so it needs no note.
    """
    if settings.privacy == "private" and not spec.private:
        return replace(spec, private=True), None
    if settings.privacy == "public" and spec.private:
        return replace(spec, private=False), FORCED_PUBLIC_NOTE
    return spec, None


def is_private(params: Mapping[str, object]) -> bool:
    """Whether a stored job's params say its result was private."""
    return params.get("private") is True
