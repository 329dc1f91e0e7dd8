"""Validation of per-guild settings, shared by every Store driver.

A guild's row holds only the values an admin set ("overrides"); everything else is
the registered default from ``GuildSettings``, so changing a default in code reaches
every guild that never chose otherwise (Red's Config does the same).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from bot.limits import (
    MAX_ALLOWED_CHANNELS,
    MAX_COUNT,
    MAX_DAILY,
    MAX_HISTORY_TURNS,
    MAX_HOURLY,
    MAX_KEY_CIPHERTEXT,
    MAX_MONTHLY_BUDGET,
    MAX_QUEUE,
    MAX_SERVER_JOBS,
    MAX_URL_CHARS,
    MAX_USER_JOBS,
    is_amount,
    is_model_name,
)
from bot.storage.base import SETTING_NAMES, GuildSettings
from bot.storage.errors import InvalidSetting
from bot.types import (
    ASPECT_RATIOS,
    DIALECTS,
    EXTREME_ASPECT_RATIOS,
    IMAGE_SIZES,
    PRIVACY_MODES,
    STREAM_MODES,
)

log = logging.getLogger(__name__)

Validator = Callable[[str, Any], Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def int_range(lo: int, hi: int, *, nullable: bool = False) -> Validator:
    def check(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if not _is_int(value) or not lo <= value <= hi:
            extra = " or None" if nullable else ""
            raise InvalidSetting(
                f"{name} must be a whole number from {lo} to {hi}{extra}, got {value!r}"
            )
        return value

    return check


def _choice(choices: tuple[str, ...]) -> Validator:
    def check(name: str, value: Any) -> Any:
        if value is None or value in choices:
            return value
        raise InvalidSetting(f"{name} must be one of {', '.join(choices)} or None, got {value!r}")

    return check


def _privacy(name: str, value: Any) -> Any:
    if value is None:  # back to the default: members choose
        return PRIVACY_MODES[0]
    if value in PRIVACY_MODES:
        return value
    raise InvalidSetting(f"{name} must be one of {', '.join(PRIVACY_MODES)}, got {value!r}")


def _model(name: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not is_model_name(value):
        raise InvalidSetting(f"{name} must be a model name without spaces, got {value!r}")
    return value


def _url(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_URL_CHARS and value.isprintable():
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.hostname and " " not in value:
            return value
    # The value may be a mistyped key: never echo it.
    raise InvalidSetting(f"{name} must be an http:// or https:// URL")


def _ciphertext(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)) and 0 < len(value) <= MAX_KEY_CIPHERTEXT:
        return bytes(value)
    raise InvalidSetting(f"{name} must be encrypted bytes (see bot.secrets.KeyBox)")


def _channels(name: str, value: Any) -> Any:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise InvalidSetting(f"{name} must be a list of channel ids")
    ids = tuple(dict.fromkeys(value))
    if not all(_is_int(i) and i > 0 for i in ids):
        raise InvalidSetting(f"{name} must be a list of channel ids (positive whole numbers)")
    if len(ids) > MAX_ALLOWED_CHANNELS:
        raise InvalidSetting(f"{name} may hold at most {MAX_ALLOWED_CHANNELS} channels")
    return ids


def _dollars(name: str, value: Any) -> Any:
    """An amount of dollars, to the cent (a budget), or None."""
    if value is None:
        return None
    if not is_amount(value, MAX_MONTHLY_BUDGET):
        raise InvalidSetting(
            f"{name} must be an amount of dollars from 0 to {MAX_MONTHLY_BUDGET:,} or None, "
            f"got {value!r}"
        )
    return round(float(value), 2)


VALIDATORS: dict[str, Validator] = {
    "model": _model,
    "aspect_ratio": _choice(ASPECT_RATIOS + EXTREME_ASPECT_RATIOS),
    "image_size": _choice(IMAGE_SIZES),
    "history_turns": int_range(0, MAX_HISTORY_TURNS),
    "gateway_base_url": _url,
    "gateway_dialect": _choice(DIALECTS),
    "gateway_stream": _choice(STREAM_MODES),
    "gateway_key_encrypted": _ciphertext,
    "allowed_channels": _channels,
    "user_concurrency": int_range(1, MAX_USER_JOBS),
    "guild_concurrency": int_range(1, MAX_SERVER_JOBS),
    "user_hourly": int_range(0, MAX_HOURLY, nullable=True),
    "user_daily": int_range(0, MAX_DAILY, nullable=True),
    "guild_hourly": int_range(0, MAX_HOURLY, nullable=True),
    "guild_daily": int_range(0, MAX_DAILY, nullable=True),
    "max_count": int_range(1, MAX_COUNT),
    "privacy": _privacy,
    "queue_limit": int_range(0, MAX_QUEUE),
    "monthly_budget": _dollars,
}


def validate_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised copies of the changes; InvalidSetting on an unknown name or a bad value."""
    unknown = sorted(set(changes) - SETTING_NAMES)
    if unknown:
        raise InvalidSetting(f"unknown setting(s): {', '.join(unknown)}")
    missing = sorted(set(changes) - set(VALIDATORS))
    if missing:  # a field was added to GuildSettings without a validator here
        raise InvalidSetting(f"setting(s) without validation: {', '.join(missing)}")
    return {name: VALIDATORS[name](name, value) for name, value in changes.items()}


def build_settings(guild_id: int, overrides: Mapping[str, Any]) -> GuildSettings:
    """Defaults with the stored overrides applied; a stored value no longer valid falls back."""
    kept: dict[str, Any] = {}
    for name, value in overrides.items():
        try:
            kept.update(validate_changes({name: value}))
        except InvalidSetting:
            # Settings removed or narrowed in a newer version must not break the guild.
            log.warning(
                "guild %s: ignoring stored setting %s that is no longer valid", guild_id, name
            )
    return replace(GuildSettings(guild_id=guild_id), **kept)
