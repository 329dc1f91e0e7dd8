"""Settings from the environment (a ``.env`` file is read if present).

One frozen dataclass per concern. ``load_*`` raise ``ConfigError`` naming the
missing or invalid variable; the entry points turn that into one line on stderr.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.costs import DEFAULT_TABLE, PriceTable, load_prices
from bot.errors import ConfigError
from bot.limits import (
    DEFAULT_MAX_INPUT_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_OWNER,
    INSTANCE_PATTERN,
    MAX_DAILY,
    MAX_HOURLY,
    MIN_JOB_RETENTION_DAYS,
)
from bot.types import DIALECTS, STREAM_MODES, GatewayConfig

DEFAULT_DATABASE_URL = "sqlite:///data/bot.db"
REQUIRED_FOR_BOT = ("DISCORD_TOKEN", "IMAGE_API_BASE_URL", "IMAGE_API_KEY", "SECRET_KEY")
DEFAULT_MODEL = "gemini-2.5-flash-image"
DEFAULT_TIMEOUT = 180.0
# Old jobs go, and with them the images nothing else keeps (a 4K job holds ~30 MB):
# without this the database grows with every image ever made. Buttons on results
# older than this answer that the job is gone. Daily quotas count the last day's jobs.
DEFAULT_JOB_RETENTION_DAYS = 30.0


def load_dotenv_file(path: str | os.PathLike[str] = ".env") -> None:
    """Read ``.env`` into the environment without overriding what is already set."""
    if Path(path).is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


def missing_sentence(names: list[str]) -> str:
    """ "X is not set" or "X, Y are not set", pointing at .env.example."""
    if len(names) == 1:
        return f"{names[0]} is not set (see .env.example)"
    return f"{', '.join(names)} are not set (see .env.example)"


def env_file_note(path: str | os.PathLike[str]) -> str:
    """Where ``.env`` was looked for, and whether it was there, for a settings error."""
    where = Path(path).absolute()
    return f".env read from {where}" if where.is_file() else f"no .env at {where}"


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _require(env: Mapping[str, str], name: str) -> str:
    value = _get(env, name)
    if value is None:
        raise ConfigError(f"{name} is not set (see .env.example)")
    return value


# Where each secret that travels in an HTTP header can be copied from again.
_PASTED_FROM = {"DISCORD_TOKEN": "the Developer Portal", "IMAGE_API_KEY": "the gateway's dashboard"}


def header_safe(name: str, value: str) -> str:
    """``value`` if it fits an HTTP header, else a ConfigError naming ``name``.

    A line break (python-dotenv expands ``\\n`` in double quotes) or a non-ASCII character
    cannot be sent, and the HTTP library's own error would quote the secret.
    """
    if not (value.isascii() and value.isprintable()):
        raise ConfigError(
            f"{name} contains a line break or a non-ASCII character; "
            f"paste it again from {_PASTED_FROM.get(name, 'where it came from')}"
        )
    return value


def _digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):  # "nan" would pass every comparison below, silently
        raise ConfigError(f"{name} must be a number, got {raw!r}")
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_float(env, name, default))


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _one_of(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The variable's value, lower-cased, from ``choices``; unset gives the first choice."""
    value = (_get(env, name) or choices[0]).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class ImageSettings:
    """The operator's default gateway and the caps that protect it."""

    base_url: str | None
    api_key: str | None = field(repr=False)
    dialect: str = "auto"
    stream: str = "auto"
    model: str = DEFAULT_MODEL
    timeout: float = DEFAULT_TIMEOUT
    max_image_bytes: int = DEFAULT_MAX_INPUT_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # Per-server gateway URLs set from Discord may reach private addresses only if this is on.
    allow_private_gateways: bool = False

    def gateway(self) -> GatewayConfig:
        # Both at once, as the bot names every missing setting: .env is filled in one go.
        missing = [
            name
            for name, value in (
                ("IMAGE_API_BASE_URL", self.base_url),
                ("IMAGE_API_KEY", self.api_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(missing_sentence(missing))
        header_safe("IMAGE_API_KEY", self.api_key or "")
        assert self.base_url and self.api_key
        return GatewayConfig(
            base_url=self.base_url,
            api_key=self.api_key,
            dialect=self.dialect,
            stream=self.stream,
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class OperatorQuotas:
    """The operator's caps on images per hour/day (None: no cap), named as in GuildSettings.

    They apply to a server that set no quota of its own; a server may set a lower one,
    never a higher one (``/settings limits`` refuses it, the job runner clamps it).
    """

    user_hourly: int | None = None
    user_daily: int | None = None
    guild_hourly: int | None = None
    guild_daily: int | None = None


# Environment variable -> OperatorQuotas field, and its highest value (as /settings limits).
QUOTA_VARIABLES = {
    "DEFAULT_USER_HOURLY": ("user_hourly", MAX_HOURLY),
    "DEFAULT_USER_DAILY": ("user_daily", MAX_DAILY),
    "DEFAULT_SERVER_HOURLY": ("guild_hourly", MAX_HOURLY),
    "DEFAULT_SERVER_DAILY": ("guild_daily", MAX_DAILY),
}


@dataclass(frozen=True)
class Sharding:
    """The shards this process serves (``ids``) out of ``count`` across every process.

    Discord sends each server's events to shard ``(guild_id >> 22) % count``; a process
    that serves only some of them runs beside others on one shared database.
    """

    count: int
    ids: tuple[int, ...]

    @property
    def partial(self) -> bool:
        """Other processes serve the shards this one does not."""
        return len(self.ids) < self.count

    def describe(self) -> str:
        """``shards 0,1 of 4``, for the start line."""
        return f"shard{'' if len(self.ids) == 1 else 's'} {_id_list(self.ids)} of {self.count}"


def _id_list(ids: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in ids)


@dataclass(frozen=True)
class BotSettings:
    token: str = field(repr=False)
    secret_key: str = field(repr=False)
    previous_secret_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    gateway_url: str | None = None
    dev_guild_id: int | None = None
    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "INFO"
    # Reply-to-edit reads other members' messages; needs the privileged intent.
    message_content_intent: bool = True
    job_retention_days: float = DEFAULT_JOB_RETENTION_DAYS
    # Owns the jobs this process runs; a restart under the same name interrupts them.
    instance_name: str = DEFAULT_OWNER
    # Servers the bot may stay in (ALLOWED_GUILDS); None: any server that invites it.
    allowed_guilds: frozenset[int] | None = None
    quotas: OperatorQuotas = field(default_factory=OperatorQuotas)
    image: ImageSettings = field(default_factory=lambda: load_image_settings({}))
    # SHARD_COUNT / SHARD_IDS; None: one unsharded connection, as Discord allows below
    # 2,500 servers.
    sharding: Sharding | None = None
    # What each model costs (bot.prices, with PRICES_FILE's models over it).
    prices: PriceTable = DEFAULT_TABLE


def load_image_settings(env: Mapping[str, str] | None = None) -> ImageSettings:
    env = os.environ if env is None else env
    return ImageSettings(
        base_url=_get(env, "IMAGE_API_BASE_URL"),
        api_key=_get(env, "IMAGE_API_KEY"),
        dialect=_one_of(env, "IMAGE_API_DIALECT", DIALECTS),
        stream=_one_of(env, "IMAGE_API_STREAM", STREAM_MODES),
        model=_get(env, "IMAGE_MODEL") or DEFAULT_MODEL,
        timeout=_float(env, "IMAGE_API_TIMEOUT", DEFAULT_TIMEOUT),
        max_image_bytes=_int(env, "IMAGE_MAX_INPUT_BYTES", DEFAULT_MAX_INPUT_BYTES),
        max_request_bytes=_int(env, "IMAGE_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES),
        max_response_bytes=_int(env, "IMAGE_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES),
        allow_private_gateways=_bool(env, "ALLOW_PRIVATE_GATEWAYS", False),
    )


def _quota(env: Mapping[str, str], name: str, highest: int) -> int | None:
    raw = _get(env, name)
    if raw is None:
        return None
    if not _digits(raw) or int(raw) > highest:
        raise ConfigError(
            f"{name} must be a whole number from 0 (no cap) to {highest}, got {raw!r}"
        )
    return int(raw) or None


def load_quotas(env: Mapping[str, str]) -> OperatorQuotas:
    quotas = {field: _quota(env, name, top) for name, (field, top) in QUOTA_VARIABLES.items()}
    for who, hourly, daily in (
        ("USER", "user_hourly", "user_daily"),
        ("SERVER", "guild_hourly", "guild_daily"),
    ):
        low, high = quotas[hourly], quotas[daily]
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"DEFAULT_{who}_HOURLY ({low}) cannot be more than DEFAULT_{who}_DAILY ({high})"
            )
    return OperatorQuotas(**quotas)


def load_allowed_guilds(env: Mapping[str, str], dev_guild: int | None) -> frozenset[int] | None:
    raw = _get(env, "ALLOWED_GUILDS")
    if raw is None:
        return None
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [part for part in ids if not _digits(part)]
    if bad or not ids:
        raise ConfigError(
            f"ALLOWED_GUILDS must be server ids (digits) separated by commas, got {raw[:80]!r}"
        )
    allowed = frozenset(int(part) for part in ids)
    if dev_guild is not None and dev_guild not in allowed:
        raise ConfigError(
            f"DEV_GUILD_ID {dev_guild} is not in ALLOWED_GUILDS: the bot would leave that server"
        )
    return allowed


def load_sharding(env: Mapping[str, str], database_url: str) -> Sharding | None:
    """SHARD_COUNT and SHARD_IDS; None when neither is set (today's one connection)."""
    raw_count, raw_ids = _get(env, "SHARD_COUNT"), _get(env, "SHARD_IDS")
    if raw_count is None:
        if raw_ids is not None:
            raise ConfigError(
                "SHARD_IDS needs SHARD_COUNT: set SHARD_COUNT to the number of shards "
                "across every process"
            )
        return None
    if not _digits(raw_count) or int(raw_count) < 1:
        raise ConfigError(
            f"SHARD_COUNT must be a whole number of shards, 1 or more, got {raw_count!r}"
        )
    count = int(raw_count)
    ids = tuple(range(count)) if raw_ids is None else _shard_ids(raw_ids, count)
    sharding = Sharding(count=count, ids=ids)
    if count > 1 and urlsplit(database_url).scheme == "sqlite":
        # Even one process serving every shard is refused: a sharded bot is one that may
        # be split across processes at any restart, and they can only share PostgreSQL.
        if sharding.partial:
            raise ConfigError(
                f"SHARD_IDS={_id_list(ids)} leaves the other shards of SHARD_COUNT={count} to "
                "other processes, which need a shared database: set "
                "DATABASE_URL=postgresql://... (SQLite is one process's file)"
            )
        raise ConfigError(
            f"SHARD_COUNT={count} runs the bot as several shards, which share one PostgreSQL "
            "database: set DATABASE_URL=postgresql://... (see Scaling out in the README)"
        )
    return sharding


def _shard_ids(raw: str, count: int) -> tuple[int, ...]:
    parts = [part.strip() for part in raw.split(",")]
    if not all(_digits(part) for part in parts):
        raise ConfigError(
            f"SHARD_IDS must be shard numbers separated by commas, like 0,1, got {raw[:80]!r}"
        )
    ids = tuple(int(part) for part in parts)
    too_high = [i for i in ids if i >= count]
    if too_high:
        raise ConfigError(
            f"SHARD_IDS names shard {too_high[0]}, but SHARD_COUNT={count} numbers them "
            f"0 to {count - 1}"
        )
    twice = [i for n, i in enumerate(ids) if i in ids[:n]]
    if twice:
        raise ConfigError(f"SHARD_IDS names shard {twice[0]} twice")
    return ids


def load_bot_settings(env: Mapping[str, str] | None = None) -> BotSettings:
    env = os.environ if env is None else env
    dev_guild = _get(env, "DEV_GUILD_ID")
    if dev_guild is not None and not _digits(dev_guild):
        raise ConfigError(f"DEV_GUILD_ID must be a server id (digits), got {dev_guild!r}")
    level = (_get(env, "LOG_LEVEL") or "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    # Name every missing setting at once: a new user fills in .env in one go.
    missing = [name for name in REQUIRED_FOR_BOT if _get(env, name) is None]
    if missing:
        raise ConfigError(missing_sentence(missing))
    retention = _float(env, "JOB_RETENTION_DAYS", DEFAULT_JOB_RETENTION_DAYS)
    if retention < MIN_JOB_RETENTION_DAYS:
        raise ConfigError(
            f"JOB_RETENTION_DAYS must be at least {MIN_JOB_RETENTION_DAYS:g}: "
            "daily quotas count the last day's jobs"
        )
    instance = _get(env, "INSTANCE_NAME") or DEFAULT_OWNER
    if not re.fullmatch(INSTANCE_PATTERN, instance):
        raise ConfigError(
            f"INSTANCE_NAME must be 1 to 64 letters, digits, '.', '_' or '-', got {instance[:80]!r}"
        )
    image = load_image_settings(env)
    dev_guild_id = int(dev_guild) if dev_guild else None
    database_url = _get(env, "DATABASE_URL") or DEFAULT_DATABASE_URL
    return BotSettings(
        token=header_safe("DISCORD_TOKEN", _require(env, "DISCORD_TOKEN")),
        secret_key=_require(env, "SECRET_KEY"),
        previous_secret_key=_get(env, "SECRET_KEY_PREVIOUS"),
        api_base=_get(env, "DISCORD_API_BASE"),
        gateway_url=_get(env, "DISCORD_GATEWAY_URL"),
        dev_guild_id=dev_guild_id,
        database_url=database_url,
        log_level=level,
        message_content_intent=_bool(env, "MESSAGE_CONTENT_INTENT", True),
        job_retention_days=retention,
        instance_name=instance,
        allowed_guilds=load_allowed_guilds(env, dev_guild_id),
        quotas=load_quotas(env),
        image=image,
        sharding=load_sharding(env, database_url),
        prices=load_prices(_get(env, "PRICES_FILE")),
    )
