"""Checks on values an admin types into /settings. Pure functions; errors are user-safe."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from bot.errors import ImagineError, UnsafeGatewayURL
from bot.gateway.netguard import is_public_address
from bot.limits import MAX_API_KEY_CHARS, MAX_MODEL_NAME_CHARS, MAX_URL_CHARS, is_model_name

# Names that resolve to the host itself or a cloud metadata service without any DNS record
# an admin controls; checked here because the literal-IP check cannot see them.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata.google.internal", "metadata")


class InvalidSetting(ImagineError):
    """A /settings value was refused; the message says why and what is allowed."""

    default_message = "That value is not allowed."


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
            "Give the gateway's base URL, for example https://openrouter.ai/api/v1."
        )
    if len(text) > MAX_URL_CHARS:
        raise InvalidSetting(f"That URL is too long (at most {MAX_URL_CHARS} characters).")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidSetting("That is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidSetting("The gateway URL must start with https:// (or http://).")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidSetting("The gateway URL has no host name.")
    if parts.username is not None or parts.password is not None:
        # Credentials in the URL would be shown by /settings show; the key belongs in the modal.
        raise InvalidSetting(
            "Do not put credentials in the URL; the API key is asked for separately."
        )
    if parts.query or parts.fragment:
        raise InvalidSetting("The gateway URL must not have a query string or fragment.")
    if any(c.isspace() for c in text):
        raise InvalidSetting("The gateway URL must not contain spaces.")
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


def validate_model_name(raw: str) -> str | None:
    """The model id to store; None means the bot's default model."""
    name = raw.strip()
    if not name:
        raise InvalidSetting("Give a model name, or `default` for the bot's default model.")
    if name.lower() == "default":
        return None
    if not is_model_name(name):
        raise InvalidSetting(
            f"A model name is one word of at most {MAX_MODEL_NAME_CHARS} characters, "
            "for example google/gemini-2.5-flash-image."
        )
    return name


def validate_api_key(raw: str) -> str:
    """The key as typed minus surrounding space; never included in any message."""
    key = raw.strip()
    if not key:
        raise InvalidSetting("The API key is empty.")
    if len(key) > MAX_API_KEY_CHARS or any(c.isspace() for c in key):
        raise InvalidSetting("That does not look like an API key (it has spaces or is too long).")
    return key


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
            f"Jobs per member ({user_jobs}) cannot be more than jobs per server ({server_jobs})."
        )
    for who, hourly, daily in (
        ("member", user_hourly, user_daily),
        ("server", server_hourly, server_daily),
    ):
        if hourly is not None and daily is not None and hourly > daily:
            raise InvalidSetting(
                f"The hourly quota per {who} ({hourly}) cannot be more than "
                f"the daily one ({daily})."
            )
