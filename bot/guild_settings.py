"""A server's settings rules: what an admin may set, and how a change is worked out.

Pure functions over ``GuildSettings``; every refusal is ``InvalidSetting`` (the storage
error of the same name: a value the rules refuse, whoever checks it first) or
``UnsafeGatewayURL``, with a sentence the admin reads. Front ends (the /settings cog
today) only parse their input and print the answers.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.errors import UnsafeGatewayURL
from bot.gateway.netguard import is_public_address
from bot.i18n import Message, _
from bot.limits import (
    MAX_ALLOWED_CHANNELS,
    MAX_API_KEY_CHARS,
    MAX_COUNT,
    MAX_DAILY,
    MAX_HOURLY,
    MAX_MODEL_NAME_CHARS,
    MAX_MONTHLY_BUDGET,
    MAX_QUEUE,
    MAX_SERVER_JOBS,
    MAX_URL_CHARS,
    MAX_USER_JOBS,
    is_model_name,
)
from bot.storage.base import GuildSettings
from bot.storage.errors import InvalidSetting
from bot.types import DIALECTS, STREAM_MODES

__all__ = [
    "STREAM_DEFAULT",
    "STREAM_OPTIONS",
    "GatewayChoice",
    "InvalidSetting",
    "add_channel",
    "check_limits",
    "choose_gateway",
    "limit_changes",
    "parse_budget",
    "remove_channel",
    "validate_api_key",
    "validate_gateway_url",
    "validate_model_name",
]

# Names that resolve to the host itself or a cloud metadata service without any DNS record
# an admin controls; checked here because the literal-IP check cannot see them.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata.google.internal", "metadata")


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    # inet_aton accepts the shorthand forms getaddrinfo does ("2130706433", "0x7f.1",
    # "127.1"), which would otherwise slip past ipaddress and still reach loopback.
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def validate_gateway_url(raw: str, *, allow_private: bool) -> str:
    """The normalised base URL, or InvalidSetting / UnsafeGatewayURL saying what is wrong."""
    text = raw.strip()
    if not text:
        raise InvalidSetting(
            _("Give the gateway's base URL, for example https://openrouter.ai/api/v1.")
        )
    if len(text) > MAX_URL_CHARS:
        raise InvalidSetting(
            _("That URL is too long (at most {most} characters).", most=MAX_URL_CHARS)
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidSetting(_("That is not a valid URL.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidSetting(_("The gateway URL must start with https:// (or http://)."))
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidSetting(_("The gateway URL has no host name."))
    if parts.username is not None or parts.password is not None:
        # Credentials in the URL would be shown by /settings show; the key belongs in the modal.
        raise InvalidSetting(
            _("Do not put credentials in the URL; the API key is asked for separately.")
        )
    if parts.query or parts.fragment:
        raise InvalidSetting(_("The gateway URL must not have a query string or fragment."))
    if any(c.isspace() for c in text):
        raise InvalidSetting(_("The gateway URL must not contain spaces."))
    if not allow_private:
        ip = _literal_ip(host)
        # Same rule as the request-time check after DNS (bot.gateway.netguard).
        if ip is not None and not is_public_address(str(ip)):
            raise UnsafeGatewayURL()
        if host in _LOCAL_NAMES or host.endswith((".localhost", ".internal")):
            raise UnsafeGatewayURL()
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if port is None:
        netloc = netloc.rstrip(":")
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


BUDGET_OFF = "off"


def parse_budget(raw: str) -> float | None:
    """A monthly budget an admin typed ("25", "$12.50"), in dollars; None for ``off``."""
    text = raw.strip().lower()
    if text == BUDGET_OFF:
        return None
    try:
        amount = float(text.removeprefix("$").replace(",", ""))
    except ValueError:
        amount = math.nan
    if not math.isfinite(amount) or not 0 <= amount <= MAX_MONTHLY_BUDGET:
        # Translators: {most} is a number of dollars; `{off}` is the word to type for
        # no budget (keep it as is).
        raise InvalidSetting(
            _(
                "Give the budget in dollars, from 0 to {most} (like `25` or "
                "`12.50`), or `{off}` for no budget.",
                most=f"{MAX_MONTHLY_BUDGET:,}",
                off=BUDGET_OFF,
            )
        )
    return round(amount, 2)


def validate_model_name(raw: str) -> str | None:
    """The model id to store; None means the bot's default model."""
    name = raw.strip()
    if not name:
        # Translators: `default` is the word to type (keep it as is).
        raise InvalidSetting(_("Give a model name, or `default` for the bot's default model."))
    if name.lower() == "default":
        return None
    if not is_model_name(name):
        raise InvalidSetting(
            _(
                "A model name is one word of at most {most} characters, "
                "for example google/gemini-2.5-flash-image.",
                most=MAX_MODEL_NAME_CHARS,
            )
        )
    return name


def validate_api_key(raw: str) -> str:
    """The key as typed minus surrounding space; never included in any message."""
    key = raw.strip()
    if not key:
        raise InvalidSetting(_("The API key is empty."))
    if len(key) > MAX_API_KEY_CHARS or any(c.isspace() for c in key):
        raise InvalidSetting(
            _("That does not look like an API key (it has spaces or is too long).")
        )
    return key


# Each filled with the two quotas when refused.
_HOURLY_OVER_DAILY = {
    "member": _(
        "The hourly quota per member ({hourly}) cannot be more than the daily one ({daily})."
    ),
    "server": _(
        "The hourly quota per server ({hourly}) cannot be more than the daily one ({daily})."
    ),
}


def check_limits(
    *,
    user_jobs: int,
    server_jobs: int,
    user_hourly: int | None,
    user_daily: int | None,
    server_hourly: int | None,
    server_daily: int | None,
) -> None:
    """Refuse combinations that could never be reached as configured."""
    if user_jobs > server_jobs:
        raise InvalidSetting(
            _(
                "Jobs per member ({member}) cannot be more than jobs per server ({server}).",
                member=user_jobs,
                server=server_jobs,
            )
        )
    for hourly, daily, sentence in (
        (user_hourly, user_daily, _HOURLY_OVER_DAILY["member"]),
        (server_hourly, server_daily, _HOURLY_OVER_DAILY["server"]),
    ):
        if hourly is not None and daily is not None and hourly > daily:
            raise InvalidSetting(replace(sentence, params={"hourly": hourly, "daily": daily}))


# Setting name: (lowest, highest); 0 means unlimited for quotas, concurrency has no zero.
LIMIT_RANGES: dict[str, tuple[int, int]] = {
    "user_concurrency": (1, MAX_USER_JOBS),
    "guild_concurrency": (1, MAX_SERVER_JOBS),
    "user_hourly": (0, MAX_HOURLY),
    "user_daily": (0, MAX_DAILY),
    "guild_hourly": (0, MAX_HOURLY),
    "guild_daily": (0, MAX_DAILY),
    "max_count": (1, MAX_COUNT),
    "queue_limit": (0, MAX_QUEUE),
}


def _above_cap(name: str, cap: int) -> Message:
    """The refusal of a quota above the operator's cap, in the words of what it counts."""
    # Translators: {cap} is a number of images, the most the bot's owner allows.
    if name == "user_hourly":
        return _(
            "The bot's owner caps images per member per hour at {cap}: set {cap} or less.",
            cap=cap,
        )
    if name == "user_daily":
        return _(
            "The bot's owner caps images per member per day at {cap}: set {cap} or less.",
            cap=cap,
        )
    if name == "guild_hourly":
        return _(
            "The bot's owner caps images per server per hour at {cap}: set {cap} or less.",
            cap=cap,
        )
    return _("The bot's owner caps images per server per day at {cap}: set {cap} or less.", cap=cap)


def limit_changes(
    current: GuildSettings,
    given: dict[str, int | None],
    caps: Mapping[str, int | None] | None = None,
) -> dict[str, int | None]:
    """The settings to write for the limits given (None: unchanged), checked merged.

    ``caps`` are the operator's quotas by setting name: a server may go lower, not higher
    (0, unlimited, is higher than any cap).
    """
    changes: dict[str, int | None] = {}
    for name, value in given.items():
        if value is None:
            continue
        low, high = LIMIT_RANGES[name]
        if not low <= value <= high:
            # Translators: {setting} is the option's name as the admin typed it (user
            # concurrency, max count); {low} and {high} are numbers.
            raise InvalidSetting(
                _(
                    "{setting} must be between {low} and {high}.",
                    setting=name.replace("_", " "),
                    low=low,
                    high=high,
                )
            )
        cap = (caps or {}).get(name)
        if cap is not None and (value == 0 or value > cap):
            raise InvalidSetting(_above_cap(name, cap))
        # 0 is "unlimited" for a quota, but "no line" for the queue.
        changes[name] = None if value == 0 and name != "queue_limit" else value
    if changes:
        merged = {f: changes.get(f, getattr(current, f)) for f in LIMIT_RANGES}
        check_limits(
            user_jobs=merged["user_concurrency"] or 1,
            server_jobs=merged["guild_concurrency"] or 1,
            user_hourly=merged["user_hourly"],
            user_daily=merged["user_daily"],
            server_hourly=merged["guild_hourly"],
            server_daily=merged["guild_daily"],
        )
    return changes


def add_channel(current: tuple[int, ...], channel_id: int) -> tuple[int, ...] | None:
    """The allow-list with the channel added; None when it is already there."""
    if channel_id in current:
        return None
    if len(current) >= MAX_ALLOWED_CHANNELS:
        raise InvalidSetting(_("At most {most} channels can be listed.", most=MAX_ALLOWED_CHANNELS))
    return (*current, channel_id)


def remove_channel(current: tuple[int, ...], channel_id: int) -> tuple[int, ...] | None:
    """The allow-list without the channel; None when it was not on it."""
    if channel_id not in current:
        return None
    return tuple(c for c in current if c != channel_id)


# The stream option's fourth value: drop the server's choice and follow IMAGE_API_STREAM.
STREAM_DEFAULT = "default"
STREAM_OPTIONS = (*STREAM_MODES, STREAM_DEFAULT)


@dataclass(frozen=True)
class GatewayChoice:
    """A server's gateway as an admin asked for it, before the key is typed."""

    base_url: str
    dialect: str
    stream: str | None  # None: follow the bot's IMAGE_API_STREAM
    may_keep_key: bool  # an empty key form keeps the stored key
    # False when only the stream mode changes on a gateway with a key: nothing to type,
    # so the change is written at once (``changes("", ...)`` keeps the key).
    asks_key: bool = True

    def changes(self, typed_key: str, encrypt: Any) -> dict[str, Any]:
        """The settings to write once the key form is submitted (``encrypt``: the key box's)."""
        changes: dict[str, Any] = {
            "gateway_base_url": self.base_url,
            "gateway_dialect": self.dialect,
            "gateway_stream": self.stream,
        }
        if typed_key.strip() or not self.may_keep_key:
            changes["gateway_key_encrypted"] = encrypt(validate_api_key(typed_key))
        return changes


def choose_gateway(
    current: GuildSettings,
    *,
    url: str | None,
    dialect: str | None,
    stream: str | None,
    allow_private: bool,
    bot_stream: str,
) -> GatewayChoice:
    """What a /settings gateway change means; unset options keep what the same URL had.

    ``stream`` is a mode, ``STREAM_DEFAULT`` (follow the bot's ``bot_stream``) or None
    (unchanged). On the bot's own gateway the operator's IMAGE_API_STREAM applies: a
    server chooses a stream mode for its own gateway only.
    """
    if dialect is not None and dialect not in DIALECTS:
        # Translators: {choices} are the values to type, as they are (auto, openai, google).
        raise InvalidSetting(_("Dialect must be one of: {choices}.", choices=", ".join(DIALECTS)))
    if stream is not None and stream not in STREAM_OPTIONS:
        raise InvalidSetting(
            _("Stream must be one of: {choices}.", choices=", ".join(STREAM_OPTIONS))
        )
    # Only the stream mode: URL, dialect and key stay, so there is no key form to open.
    stream_only = url is None and dialect is None and stream is not None
    if url is None:
        if not current.gateway_base_url:
            if stream_only:
                # Translators: {mode} is the stream mode the operator set (auto, on, off).
                raise InvalidSetting(
                    _(
                        "This server uses the bot's gateway, whose streaming the bot's operator "
                        "sets with IMAGE_API_STREAM (now `{mode}`). To choose it for this "
                        "server, give it its own gateway with /settings gateway url: and "
                        "stream:.",
                        mode=bot_stream,
                    )
                )
            raise InvalidSetting(
                _(
                    "Give the gateway's url (and optionally its dialect and stream); "
                    "the API key is asked for next, in a private form."
                )
            )
        url = current.gateway_base_url
    base_url = validate_gateway_url(url, allow_private=allow_private)
    same_url = base_url == current.gateway_base_url
    # A stored key may only be kept for the address it was given for.
    may_keep_key = same_url and current.gateway_key_encrypted is not None
    if stream == STREAM_DEFAULT:
        chosen_stream = None
    else:
        chosen_stream = stream or (current.gateway_stream if same_url else None)
    return GatewayChoice(
        base_url=base_url,
        dialect=dialect or (current.gateway_dialect if same_url else None) or "auto",
        stream=chosen_stream,
        may_keep_key=may_keep_key,
        asks_key=not (stream_only and may_keep_key),
    )
