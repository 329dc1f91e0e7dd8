"""``Driver``: the one path into every storage driver.

Its public methods are the ``Store`` protocol: each checks its arguments
(``bot.storage.validation``), replaces NUL in every string it stores (``without_nul``:
PostgreSQL refuses it, and every driver must store the same), takes the time from the
store's clock, calls one ``_hook`` the driver implements, and turns a missing record
into the typed error.
A driver may not override a public method (``__init_subclass__`` refuses), so a
second driver cannot skip a check or raise a different error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from bot.storage import validation as v
from bot.storage.base import (
    DEFAULT_OWNER,
    FINISHED_STATES,
    JOB_STATES,
    DeletedResult,
    GuildSettings,
    JobRecord,
    MemberPreferences,
    ReferenceImage,
    SizeObservation,
    Store,
    StoredImage,
    TurnRecord,
    UsageRow,
)
from bot.storage.errors import (
    BlobNotFound,
    InvalidValue,
    JobFenced,
    JobNotFound,
    ReferenceExists,
    TooManyReferences,
)
from bot.storage.preferences import build_preferences, validate_preferences
from bot.storage.settings import build_settings, validate_changes

# Long enough for a job to finish after its images were put, short enough that
# orphans from a crash do not linger for days.
DEFAULT_BLOB_GRACE = 3600.0
# Hash big payloads off the loop; below this hashing is faster than a thread hop.
_HASH_IN_THREAD_BYTES = 1 << 20
_SECONDS_PER_DAY = 86400
MAX_LISTED_JOBS = 100
_PUBLIC = frozenset(name for name in vars(Store) if not name.startswith("_")) | {"close"}
# What a driver's settings hooks return: the values an admin set, and the key ciphertext.
Overrides = tuple[dict[str, Any], bytes | None]


def utc_day(timestamp: float) -> int:
    """Days since the epoch (UTC): the bucket usage is counted in."""
    return int(timestamp // _SECONDS_PER_DAY)


async def _sha256(data: bytes) -> str:
    if len(data) >= _HASH_IN_THREAD_BYTES:
        return (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _turn_without_nul(turn: TurnRecord) -> TurnRecord:
    cleaned = {
        "prompt": v.without_nul(turn.prompt),
        "model_text": v.without_nul(turn.model_text),
        "raw_turn": v.doc_without_nul(turn.raw_turn),
    }
    if all(value is getattr(turn, name) for name, value in cleaned.items()):
        return turn
    return dataclasses.replace(turn, **cleaned)


def _settings(guild_id: int, stored: Overrides) -> GuildSettings:
    overrides, key = stored
    if key is not None:
        overrides = {**overrides, "gateway_key_encrypted": key}
    return build_settings(guild_id, overrides)


class Driver(ABC):
    """``Store`` for a subclass that implements the ``_hooks`` below (see ``base.Store``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = sorted(_PUBLIC & set(vars(cls)))
        if overridden:
            raise TypeError(
                f"{cls.__name__} overrides {', '.join(overridden)}: implement the _hooks instead"
            )

    def __init__(
        self, *, clock: Callable[[], float] = time.time, blob_grace: float = DEFAULT_BLOB_GRACE
    ) -> None:
        self._clock = clock
        self._blob_grace = blob_grace
        self._closed = False

    def _grace_cutoff(self) -> float:
        """Blobs put at or before this, and used by nothing, may be collected."""
        return self._clock() - self._blob_grace

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # settings

    async def get_settings(self, guild_id: int) -> GuildSettings:
        v.check_id("guild_id", guild_id)
        return _settings(guild_id, await self._load_settings(guild_id))

    async def update_settings(self, guild_id: int, **changes: Any) -> GuildSettings:
        v.check_id("guild_id", guild_id)
        valid = validate_changes(changes)
        return _settings(guild_id, await self._save_settings(guild_id, valid))

    async def rotate_gateway_keys(self, rotate: Callable[[bytes], bytes | None]) -> int:
        def checked(key: bytes) -> bytes | None:
            new = rotate(key)
            if new is None:
                return None
            return validate_changes({"gateway_key_encrypted": new})["gateway_key_encrypted"]

        return await self._rotate_keys(checked)

    # content-addressed images

    async def put_blob(
        self, data: bytes, mime: str, width: int = 0, height: int = 0, *, sha256: str | None = None
    ) -> StoredImage:
        data, mime, width, height = v.check_blob(data, mime, width, height)
        mime = v.without_nul(mime)
        sha = v.check_sha256(sha256) if sha256 is not None else await _sha256(data)
        return await self._put_blob(sha, data, mime, width, height, now=self._clock())

    async def get_blob(self, sha256: str) -> bytes:
        data = await self._get_blob(sha256) if isinstance(sha256, str) else None
        if data is None:
            raise BlobNotFound(str(sha256))
        return data

    async def blob_info(self, sha256: str) -> StoredImage:
        info = await self._blob_info(sha256) if isinstance(sha256, str) else None
        if info is None:
            raise BlobNotFound(str(sha256))
        return info

    async def collect_garbage(self) -> int:
        return await self._collect_garbage()

    # per-channel history

    async def append_turn(self, turn: TurnRecord, keep: int) -> int:
        refs = v.check_turn(turn)
        keep = v.check_keep(keep)
        turn = _turn_without_nul(turn)
        created = turn.created_at if turn.created_at is not None else self._clock()
        return await self._append_turn(turn, refs, keep, created)

    @staticmethod
    def _fenced(job: JobRecord, fence_owner: str) -> JobFenced:
        """What ``_update_job`` raises when the fence held: the job as it stays."""
        return JobFenced(job.id, owner=job.owner, state=job.state, fence_owner=fence_owner)

    @staticmethod
    def _unstored(missing: Sequence[str]) -> BlobNotFound:
        """What ``_append_turn`` raises when the turn names blobs that were never put."""
        return BlobNotFound(
            missing, f"The turn refers to images that were never stored: {', '.join(missing)}"
        )

    async def recent_turns(self, channel_id: int, limit: int) -> Sequence[TurnRecord]:
        v.check_id("channel_id", channel_id)
        if _count_arg("limit", limit) <= 0:
            return []
        return await self._recent_turns(channel_id, limit)

    async def turn_path(self, channel_id: int, turn_id: int, limit: int) -> Sequence[TurnRecord]:
        v.check_id("channel_id", channel_id)
        v.check_id("turn_id", turn_id)
        if _count_arg("limit", limit) <= 0:
            return []
        return await self._turn_path(channel_id, turn_id, limit)

    async def set_head(self, channel_id: int, turn_id: int) -> bool:
        return await self._set_head(
            v.check_id("channel_id", channel_id), v.check_id("turn_id", turn_id)
        )

    async def head_turn(self, channel_id: int) -> int | None:
        return await self._head_turn(v.check_id("channel_id", channel_id))

    async def list_turns(self, channel_id: int, *, offset: int, limit: int) -> Sequence[TurnRecord]:
        v.check_id("channel_id", channel_id)
        if _count_arg("limit", limit) <= 0:
            return []
        return await self._list_turns(channel_id, max(0, _count_arg("offset", offset)), limit)

    async def count_turns(self, channel_id: int) -> int:
        return await self._count_turns(v.check_id("channel_id", channel_id))

    async def reset_history(self, channel_id: int) -> int:
        return await self._reset_history(v.check_id("channel_id", channel_id))

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
        owner: str = DEFAULT_OWNER,
        images: int = 1,
    ) -> JobRecord:
        fields = {
            "kind": kind,
            "guild_id": guild_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "prompt": prompt,
            "params": params,
            "interaction_token": interaction_token,
            "owner": owner,
            "images": images,
        }
        v.check_new_job(**fields)
        for name in ("kind", "prompt", "params", "interaction_token"):
            fields[name] = v.doc_without_nul(fields[name])
        return await self._create_job(fields, now=self._clock())

    async def update_job(
        self, job_id: int, *, fence_owner: str | None = None, **changes: Any
    ) -> JobRecord:
        v.check_id("job_id", job_id)
        if fence_owner is not None:
            v.check_owner(fence_owner)
        values = {
            name: v.doc_without_nul(value) for name, value in v.check_job_changes(changes).items()
        }
        now = self._clock()
        state = values.get("state")
        start_at = now if state == "running" and "started_at" not in values else None
        finish_at = now if state in FINISHED_STATES and "finished_at" not in values else None
        job = await self._update_job(
            job_id, values, start_at=start_at, finish_at=finish_at, fence_owner=fence_owner
        )
        if job is None:
            raise JobNotFound(job_id)
        return job

    async def get_job(self, job_id: int) -> JobRecord | None:
        return await self._get_job(v.check_id("job_id", job_id))

    async def interrupt_running_jobs(
        self, owner: str, *, queued: bool = False
    ) -> Sequence[JobRecord]:
        if not isinstance(queued, bool):
            raise InvalidValue("queued must be true or false")
        jobs = await self._interrupt_jobs(v.check_owner(owner), now=self._clock(), queued=queued)
        return sorted(jobs, key=lambda job: job.id)

    async def adopt_queued_jobs(self, owner: str, new_owner: str) -> Sequence[JobRecord]:
        jobs = await self._adopt_jobs(v.check_owner(owner), v.check_owner(new_owner))
        return sorted(jobs, key=lambda job: job.id)

    async def delete_jobs_before(self, before: float, *, batch: int = 20) -> int:
        """In batches, each its own transaction: a backlog never holds the writer long."""
        before, batch = v.check_time("before", before), v.check_batch(batch)
        removed = 0
        while True:
            count = await self._delete_finished_jobs(before, batch)
            removed += count
            if count < batch:
                return removed

    async def count_jobs(self, *, guild_id: int | None, user_id: int | None, since: float) -> int:
        v.check_id("guild_id", guild_id, nullable=True)
        v.check_id("user_id", user_id, nullable=True)
        return await self._count_jobs(guild_id, user_id, v.check_time("since", since))

    async def list_jobs(
        self,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        states: Sequence[str] = (),
        since: float | None = None,
        counted: bool | None = None,
        limit: int = 25,
    ) -> Sequence[JobRecord]:
        v.check_id("user_id", user_id, nullable=True)
        v.check_id("guild_id", guild_id, nullable=True)
        if isinstance(states, str) or not all(s in JOB_STATES for s in states):
            raise InvalidValue(f"states must be some of {', '.join(JOB_STATES)}, got {states!r}")
        if since is not None:
            since = v.check_time("since", since)
        if counted is not None and not isinstance(counted, bool):
            raise InvalidValue(f"counted must be True, False or None, got {counted!r}")
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 1 <= limit <= MAX_LISTED_JOBS
        ):
            raise InvalidValue(f"limit must be a whole number from 1 to {MAX_LISTED_JOBS}")
        filters = {"user_id": user_id, "guild_id": guild_id, "since": since, "counted": counted}
        return await self._list_jobs(
            {k: val for k, val in filters.items() if val is not None}, tuple(states), limit
        )

    async def delete_result(self, job_id: int) -> DeletedResult:
        deleted = await self._delete_result(v.check_id("job_id", job_id), now=self._clock())
        if deleted is None:
            raise JobNotFound(job_id)
        return deleted

    # member preferences

    async def get_preferences(self, user_id: int) -> MemberPreferences:
        v.check_id("user_id", user_id)
        return build_preferences(user_id, await self._load_preferences(user_id))

    async def update_preferences(self, user_id: int, **changes: Any) -> MemberPreferences:
        v.check_id("user_id", user_id)
        valid = validate_preferences(changes)
        return build_preferences(user_id, await self._save_preferences(user_id, valid))

    # the reference library

    async def add_reference(
        self, *, scope: str, owner_id: int, name: str, sha256: str, added_by: int, limit: int
    ) -> ReferenceImage:
        scope, name = v.check_reference_scope(scope), v.check_reference_name(name)
        v.check_id("owner_id", owner_id)
        v.check_id("added_by", added_by)
        sha = v.check_sha256(sha256)
        limit = v.check_count("limit", limit)
        added = await self._add_reference(
            scope, owner_id, name, sha, added_by, limit, now=self._clock()
        )
        if added == "exists":
            raise ReferenceExists(f"There is a reference named {name} already.")
        if added == "full":
            raise TooManyReferences(f"There are {limit} references already, the most allowed.")
        if not isinstance(added, ReferenceImage):
            raise BlobNotFound(sha)
        return added

    async def list_references(self, *, scope: str, owner_id: int) -> Sequence[ReferenceImage]:
        scope = v.check_reference_scope(scope)
        return await self._list_references(scope, v.check_id("owner_id", owner_id))

    async def remove_reference(self, *, scope: str, owner_id: int, name: str) -> bool:
        scope, name = v.check_reference_scope(scope), v.check_reference_name(name)
        return await self._remove_reference(scope, v.check_id("owner_id", owner_id), name)

    async def resolve_references(
        self, *, guild_id: int, user_id: int, names: Sequence[str]
    ) -> Mapping[str, ReferenceImage]:
        v.check_id("guild_id", guild_id)
        v.check_id("user_id", user_id)
        if isinstance(names, str):
            raise InvalidValue("names must be a sequence of names, not one string")
        wanted = sorted({v.check_reference_name(n) for n in names})
        if not wanted:
            return {}
        found = await self._find_references((("member", user_id), ("server", guild_id)), wanted)
        resolved: dict[str, ReferenceImage] = {}
        for ref in found:  # the member's own first: a server's one of that name waits behind
            if ref.scope == "member" or ref.name not in resolved:
                resolved[ref.name] = ref
        return resolved

    # usage

    async def record_usage(
        self, *, guild_id: int | None, user_id: int, images: int, tokens: int, cost: float = 0.0
    ) -> None:
        v.check_id("guild_id", guild_id, nullable=True)
        v.check_id("user_id", user_id)
        images, tokens = v.check_count("images", images), v.check_count("tokens", tokens)
        cost = v.check_cost("cost", cost)
        day = utc_day(self._clock())
        await self._record_usage(guild_id, user_id, day, images, tokens, cost)

    async def spend(self, *, guild_id: int, since: float) -> float:
        v.check_id("guild_id", guild_id)
        return await self._spend(guild_id, utc_day(v.check_time("since", since)))

    async def usage_summary(self, guild_id: int, since: float) -> Sequence[UsageRow]:
        v.check_id("guild_id", guild_id)
        return await self._usage_summary(guild_id, utc_day(v.check_time("since", since)))

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
        texts = {"gateway": gateway, "model": model, "dialect": dialect}
        texts |= {"asked": asked, "delivered": delivered}
        for name, value in texts.items():
            texts[name] = v.without_nul(v.check_text(name, value))
        await self._record_size_check(
            SizeObservation(
                **texts,
                size_honoured=v.check_verdict("size_honoured", size_honoured),
                ratio_honoured=v.check_verdict("ratio_honoured", ratio_honoured),
                seen_at=self._clock(),
            )
        )

    async def size_checks(self, gateway: str, model: str | None = None) -> list[SizeObservation]:
        gateway = v.without_nul(v.check_text("gateway", gateway))
        model = v.doc_without_nul(v.check_optional("model", model, str))
        return await self._size_checks(gateway, model)

    async def get_meta(self, key: str) -> str | None:
        return await self._get_meta(v.without_nul(v.check_meta_key(key)))

    async def set_meta(self, key: str, value: str | None) -> None:
        key, value = v.without_nul(v.check_meta_key(key)), v.check_meta_value(value)
        value = None if value is None else v.without_nul(value)
        await self._set_meta(key, value, now=self._clock())

    # the hooks: each one transaction; arguments already checked

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _load_settings(self, guild_id: int) -> Overrides:
        """The guild's stored overrides and key ciphertext ({}, None when it has no row)."""

    @abstractmethod
    async def _save_settings(self, guild_id: int, changes: dict[str, Any]) -> Overrides:
        """Merge the changes into the stored overrides (the key in its slot); the result."""

    @abstractmethod
    async def _rotate_keys(self, rotate: Callable[[bytes], bytes | None]) -> int: ...

    @abstractmethod
    async def _put_blob(
        self, sha: str, data: bytes, mime: str, width: int, height: int, *, now: float
    ) -> StoredImage:
        """Insert, or touch the existing row (filling unknown dimensions): as stored."""

    @abstractmethod
    async def _get_blob(self, sha: str) -> bytes | None: ...

    @abstractmethod
    async def _blob_info(self, sha: str) -> StoredImage | None: ...

    @abstractmethod
    async def _collect_garbage(self) -> int:
        """Delete blobs nothing refers to, touched at or before ``_grace_cutoff()``."""

    @abstractmethod
    async def _append_turn(
        self, turn: TurnRecord, refs: list[v.BlobRef], keep: int, created: float
    ) -> int:
        """Insert, prune beyond ``keep`` and collect; ``raise self._unstored(missing)``."""

    @abstractmethod
    async def _recent_turns(self, channel_id: int, limit: int) -> Sequence[TurnRecord]: ...

    @abstractmethod
    async def _turn_path(self, channel_id: int, turn_id: int, limit: int) -> Sequence[TurnRecord]:
        """The path root..turn_id (the last ``limit``), oldest first."""

    @abstractmethod
    async def _set_head(self, channel_id: int, turn_id: int) -> bool: ...

    @abstractmethod
    async def _head_turn(self, channel_id: int) -> int | None: ...

    @abstractmethod
    async def _list_turns(
        self, channel_id: int, offset: int, limit: int
    ) -> Sequence[TurnRecord]: ...

    @abstractmethod
    async def _count_turns(self, channel_id: int) -> int: ...

    @abstractmethod
    async def _reset_history(self, channel_id: int) -> int: ...

    @abstractmethod
    async def _create_job(self, fields: dict[str, Any], *, now: float) -> JobRecord:
        """Insert a queued job, counted, and index the blobs its params name."""

    @abstractmethod
    async def _update_job(
        self,
        job_id: int,
        values: dict[str, Any],
        *,
        start_at: float | None,
        finish_at: float | None,
        fence_owner: str | None,
    ) -> JobRecord | None:
        """Apply the values (``started_at`` to ``start_at`` only if unset); None if no job.

        With ``fence_owner``, only to a queued or running job of that owner (one statement);
        otherwise ``raise self._fenced(job, fence_owner)`` and change nothing.
        """

    @abstractmethod
    async def _get_job(self, job_id: int) -> JobRecord | None: ...

    @abstractmethod
    async def _interrupt_jobs(self, owner: str, *, now: float, queued: bool) -> Sequence[JobRecord]:
        """The owner's running jobs (and queued ones too with ``queued``), interrupted."""

    @abstractmethod
    async def _adopt_jobs(self, owner: str, new_owner: str) -> Sequence[JobRecord]:
        """The owner's queued jobs, now ``new_owner``'s (one fenced UPDATE)."""

    @abstractmethod
    async def _delete_finished_jobs(self, before: float, batch: int) -> int:
        """Delete up to ``batch`` of the oldest jobs finished before ``before``, and collect."""

    @abstractmethod
    async def _count_jobs(self, guild_id: int | None, user_id: int | None, since: float) -> int: ...

    @abstractmethod
    async def _list_jobs(
        self, filters: dict[str, Any], states: tuple[str, ...], limit: int
    ) -> Sequence[JobRecord]:
        """Jobs matching ``filters`` (user_id, guild_id, since, counted: each optional) and
        ``states`` (empty: any), by id, at most ``limit``."""

    @abstractmethod
    async def _delete_result(self, job_id: int, *, now: float) -> DeletedResult | None:
        """See ``Store.delete_result``: one transaction; None if there is no such job.

        An image goes if nothing refers to it any more and nobody put it after the job
        finished (``touched_at`` at or before ``finished_at``, else ``now``): a job that is
        just adopting the same bytes keeps them.
        """

    @abstractmethod
    async def _load_preferences(self, user_id: int) -> dict[str, Any]:
        """The member's stored preferences ({} when there is no row)."""

    @abstractmethod
    async def _save_preferences(self, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge the changes (None: drop the name); no row once nothing is left. The result."""

    @abstractmethod
    async def _add_reference(
        self,
        scope: str,
        owner_id: int,
        name: str,
        sha: str,
        added_by: int,
        limit: int,
        *,
        now: float,
    ) -> ReferenceImage | str | None:
        """Insert in one transaction: "exists" or "full" (nothing written), None when the
        blob was never put, else the reference."""

    @abstractmethod
    async def _list_references(self, scope: str, owner_id: int) -> Sequence[ReferenceImage]:
        """By name."""

    @abstractmethod
    async def _remove_reference(self, scope: str, owner_id: int, name: str) -> bool: ...

    @abstractmethod
    async def _find_references(
        self, owners: Sequence[tuple[str, int]], names: Sequence[str]
    ) -> Sequence[ReferenceImage]:
        """The references of any of the (scope, owner_id) pairs named any of ``names``."""

    @abstractmethod
    async def _record_usage(
        self, guild_id: int | None, user_id: int, day: int, images: int, tokens: int, cost: float
    ) -> None: ...

    @abstractmethod
    async def _usage_summary(self, guild_id: int, first_day: int) -> Sequence[UsageRow]: ...

    @abstractmethod
    async def _spend(self, guild_id: int, first_day: int) -> float: ...

    @abstractmethod
    async def _record_size_check(self, seen: SizeObservation) -> None: ...

    @abstractmethod
    async def _size_checks(self, gateway: str, model: str | None) -> list[SizeObservation]: ...

    @abstractmethod
    async def _get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    async def _set_meta(self, key: str, value: str | None, *, now: float) -> None:
        """Upsert the row, or delete it for None."""


def _count_arg(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue(f"{name} must be a whole number, got {value!r}")
    return value
