"""A member's preferences (``/preferences``) applied to what they asked for.

Precedence, highest first: an option given in the command, the member's preference,
the server's default (applied later, by the runner, to whatever is still unset). A
preference never lifts a server's limit: ``count`` is held to the server's maximum
(``max_count``). Forced settings (a server that forces private or public results) are
applied after this, by whoever enforces them, so they win over a preference too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from bot.jobs.spec import JobSpec
from bot.limits import MAX_IMAGES_PER_JOB
from bot.storage.base import MemberPreferences

# Preferences that fill a spec field only while it is unset (None): the server's default
# would fill it otherwise. ``count`` and ``private`` have plain defaults, so only the
# command says whether they were given.
_FILLS = ("aspect_ratio", "image_size", "model")


def apply_preferences(
    spec: JobSpec,
    prefs: MemberPreferences,
    *,
    given: Collection[str] = (),
    max_count: int = MAX_IMAGES_PER_JOB,
    skip: Collection[str] = (),
) -> JobSpec:
    """``spec`` with the member's preferences where the command gave no option.

    ``given``: the spec fields the member set in the command (``image_size``, not "size");
    ``skip``: preferences the command does not take (an /edit makes one image).
    """
    changes: dict[str, Any] = {}
    for name in _FILLS:
        value = getattr(prefs, name)
        if value is not None and name not in given and getattr(spec, name) is None:
            changes[name] = value
    for name in ("count", "private"):
        value = getattr(prefs, name)
        if value is not None and name not in given:
            changes[name] = value
    changes = {name: value for name, value in changes.items() if name not in skip}
    if changes.get("count", 0) > max_count:  # the server's maximum, not the member's wish
        changes["count"] = max_count
    return replace(spec, **changes) if changes else spec
