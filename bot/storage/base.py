"""The one storage interface. SQLite implements it today; PostgreSQL will be a new driver.

Everything the bot persists goes through ``Store``: per-guild settings, per-channel
edit history, content-addressed image blobs, jobs and usage. Nothing outside
``bot/storage`` writes SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Registered defaults: a guild with no row gets exactly these.
DEFAULT_HISTORY_TURNS = 6


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    model: str | None = None  # None: the bot's IMAGE_MODEL
    aspect_ratio: str | None = None
    image_size: str | None = None
    history_turns: int = DEFAULT_HISTORY_TURNS
    gateway_base_url: str | None = None  # None: the bot's default gateway
    gateway_dialect: str | None = None
    gateway_stream: str | None = None  # None: the bot's IMAGE_API_STREAM
    gateway_key_encrypted: bytes | None = field(default=None, repr=False)
    allowed_channels: tuple[int, ...] = ()  # empty: everywhere
    user_concurrency: int = 2
    guild_concurrency: int = 10
    user_hourly: int | None = None  # None: unlimited
    user_daily: int | None = None
    guild_hourly: int | None = None
    guild_daily: int | None = None

    @property
    def has_own_gateway(self) -> bool:
        return bool(self.gateway_base_url and self.gateway_key_encrypted)


SETTING_NAMES = frozenset(GuildSettings.__dataclass_fields__) - {"guild_id"}


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    mime: str
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class TurnRecord:
    """One turn of a channel's history as stored (images by reference)."""

    channel_id: int
    guild_id: int | None
    user_id: int
    prompt: str
    inputs: tuple[StoredImage, ...] = ()
    outputs: tuple[StoredImage, ...] = ()
    model_text: str = ""
    raw_turn: Mapping[str, Any] | None = None  # with {"$blob": sha} references
    job_id: int | None = None
    id: int | None = None
    created_at: float | None = None


JOB_STATES = ("queued", "running", "done", "failed", "interrupted")


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str  # imagine | edit | reroll | upscale
    guild_id: int | None
    channel_id: int
    user_id: int
    prompt: str
    state: str
    params: Mapping[str, Any] = field(default_factory=dict)  # model, ratio, size, inputs (shas)
    result: Mapping[str, Any] = field(default_factory=dict)  # output shas, text, error
    interaction_token: str | None = field(default=None, repr=False)
    message_id: int | None = None  # the Discord message holding the result
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    counted: bool = True  # toward the member's and the server's quotas


@dataclass(frozen=True)
class UsageRow:
    user_id: int
    jobs: int
    images: int
    tokens: int


@dataclass(frozen=True)
class SizeObservation:
    """What a gateway delivered for a size/ratio request: the latest per model and dialect."""

    gateway: str  # the base URL without credentials or query (bot.gateway.sizes)
    model: str
    dialect: str
    asked: str  # "4K 16:9"
    delivered: str  # "1024×1024"
    size_honoured: bool | None  # None: no size was asked
    ratio_honoured: bool | None
    seen_at: float

    @property
    def honoured(self) -> bool:
        return self.size_honoured is not False and self.ratio_honoured is not False


class Store(Protocol):
    """What the bot needs from a database. All methods are coroutine functions."""

    async def close(self) -> None: ...

    # settings
    async def get_settings(self, guild_id: int) -> GuildSettings: ...
    async def update_settings(self, guild_id: int, **changes: Any) -> GuildSettings: ...
    async def rotate_gateway_keys(self, rotate: Callable[[bytes], bytes | None]) -> int: ...

    # content-addressed images
    async def put_blob(
        self, data: bytes, mime: str, width: int = 0, height: int = 0
    ) -> StoredImage: ...
    async def get_blob(self, sha256: str) -> bytes: ...
    async def blob_info(self, sha256: str) -> StoredImage: ...  # KeyError if unknown

    # per-channel history
    async def append_turn(self, turn: TurnRecord, keep: int) -> int: ...
    async def recent_turns(self, channel_id: int, limit: int) -> Sequence[TurnRecord]: ...
    async def reset_history(self, channel_id: int) -> int: ...

    # jobs
    async def create_job(
        self,
        *,
        kind: str,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        prompt: str,
        params: Mapping[str, Any],
        interaction_token: str | None = None,
    ) -> JobRecord: ...
    async def update_job(self, job_id: int, **changes: Any) -> JobRecord: ...
    async def get_job(self, job_id: int) -> JobRecord | None: ...
    async def interrupt_running_jobs(self) -> Sequence[JobRecord]: ...
    async def delete_jobs_before(self, before: float) -> int: ...
    async def count_jobs(
        self, *, guild_id: int | None, user_id: int | None, since: float
    ) -> int: ...

    # usage
    async def record_usage(
        self, *, guild_id: int | None, user_id: int, images: int, tokens: int
    ) -> None: ...
    async def usage_summary(self, guild_id: int, since: float) -> Sequence[UsageRow]: ...

    # delivered sizes
    async def record_size_check(
        self,
        *,
        gateway: str,
        model: str,
        dialect: str,
        asked: str,
        delivered: str,
        size_honoured: bool | None,
        ratio_honoured: bool | None,
    ) -> None:
        """Keep this as the latest observation for its gateway, model and dialect (now)."""
        ...

    async def size_checks(self, gateway: str, model: str | None = None) -> list[SizeObservation]:
        """The gateway's observations (one model's, if given), newest first."""
        ...
