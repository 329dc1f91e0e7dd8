"""Validation of member preferences, shared by every Store driver (as ``settings`` is for guilds).

A member's row holds only the preferences set; a stored value a newer version no
longer accepts reads as unset, so a narrowed rule never breaks a member's commands.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.limits import MAX_IMAGES_PER_JOB
from bot.storage.base import PREFERENCE_NAMES, MemberPreferences
from bot.storage.errors import InvalidSetting
from bot.storage.settings import VALIDATORS as SETTING_VALIDATORS
from bot.storage.settings import Validator, int_range

log = logging.getLogger(__name__)


def _flag(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidSetting(f"{name} must be True, False or None, got {value!r}")


VALIDATORS: dict[str, Validator] = {
    "aspect_ratio": SETTING_VALIDATORS["aspect_ratio"],
    "image_size": SETTING_VALIDATORS["image_size"],
    "model": SETTING_VALIDATORS["model"],
    "count": int_range(1, MAX_IMAGES_PER_JOB, nullable=True),
    "private": _flag,
}
assert set(VALIDATORS) == set(PREFERENCE_NAMES)


def validate_preferences(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised copies of the changes; InvalidSetting on an unknown name or a bad value."""
    unknown = sorted(set(changes) - set(PREFERENCE_NAMES))
    if unknown:
        raise InvalidSetting(f"unknown preference(s): {', '.join(unknown)}")
    return {name: VALIDATORS[name](name, value) for name, value in changes.items()}


def build_preferences(user_id: int, stored: Mapping[str, Any]) -> MemberPreferences:
    kept: dict[str, Any] = {}
    for name, value in stored.items():
        try:
            kept.update(validate_preferences({name: value}))
        except InvalidSetting:
            log.warning("member %s: ignoring stored preference %s, no longer valid", user_id, name)
    return MemberPreferences(user_id=user_id, **kept)
