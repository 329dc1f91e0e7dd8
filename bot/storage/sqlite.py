"""The SQLite driver of ``Store``, over aiosqlite.

aiosqlite runs every statement on its own thread, so the event loop never waits on
disk. One connection writes; an asyncio lock keeps one coroutine's transaction from
interleaving with another's on it, and ``BEGIN IMMEDIATE`` plus ``busy_timeout``
handle a second process (the CLI) on the same file. Reads go to a second, read-only
connection (WAL), so they never queue behind a multi-MB blob write.

Blob garbage collection runs inside the transaction that deletes turns (prune or
reset): a blob goes when no turn and no job refers to it and nobody has put it for
``blob_grace`` seconds. The grace covers the gap between ``put_blob`` and the
``append_turn`` / ``update_job`` that will refer to it, which a concurrent reset in
another channel could otherwise fall into. The sweep uses the reference indexes and
never reads blob data, so it stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any, Self

import aiosqlite

from bot.gateway.turns import blob_refs
from bot.storage import codec
from bot.storage.base import (
    JOB_STATES,
    GuildSettings,
    JobRecord,
    SizeObservation,
    StoredImage,
    TurnRecord,
    UsageRow,
)
from bot.storage.schema import migrate
from bot.storage.settings import build_settings, validate_changes

log = logging.getLogger(__name__)

# Long enough for a job to finish after its images were put, short enough that
# orphans from a crash do not linger for days.
DEFAULT_BLOB_GRACE = 3600.0
BUSY_TIMEOUT_MS = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
# Hash big payloads off the loop; below this hashing is faster than a thread hop.
_HASH_IN_THREAD_BYTES = 1 << 20
_FINISHED = ("done", "failed", "interrupted")
_UNFINISHED = ("queued", "running")
_JOB_FIELDS = frozenset(
    {
        "state",
        "params",
        "result",
        "interaction_token",
        "message_id",
        "started_at",
        "finished_at",
        "counted",
    }
)
_SECONDS_PER_DAY = 86400
Params = Sequence[Any] | Mapping[str, Any]


def utc_day(timestamp: float) -> int:
    """Days since the epoch (UTC): the bucket usage is counted in."""
    return int(timestamp // _SECONDS_PER_DAY)


async def _sha256(data: bytes) -> str:
    if len(data) >= _HASH_IN_THREAD_BYTES:
        return (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        kind=row["kind"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        prompt=row["prompt"],
        state=row["state"],
        params=codec.loads(row["params"]),
        result=codec.loads(row["result"]),
        interaction_token=row["interaction_token"],
        message_id=row["message_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        counted=bool(row["counted"]),
    )


def _build_settings(
    guild_id: int, overrides: Mapping[str, Any], key: bytes | None
) -> GuildSettings:
    if key is not None:
        overrides = {**overrides, "gateway_key_encrypted": key}
    return build_settings(guild_id, overrides)


def _check_state(state: Any) -> str:
    if state not in JOB_STATES:
        raise ValueError(f"job state must be one of {', '.join(JOB_STATES)}, got {state!r}")
    return state


def _check_optional(name: str, value: Any, kinds: type | tuple[type, ...]) -> Any:
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        raise ValueError(f"{name} has the wrong type: {type(value).__name__}")
    return value


def _read_only_uri(path: str | os.PathLike[str]) -> str:
    # Read-only: a bug that writes through the reader fails loudly instead of racing the writer.
    return f"{PurePath(os.path.abspath(path)).as_uri()}?mode=ro"


async def _open_reader(uri: str) -> aiosqlite.Connection:
    reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    try:
        reader.row_factory = sqlite3.Row
        await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await reader.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await reader.close()
        raise
    return reader


class SQLiteStore:
    """``Store`` over one SQLite file (or ``:memory:``)."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        reader: aiosqlite.Connection | None = None,
        clock: Callable[[], float] = time.time,
        blob_grace: float = DEFAULT_BLOB_GRACE,
    ) -> None:
        self._db = db
        # aiosqlite runs each connection's statements one after another on its own
        # thread, so on a single connection a cheap read (a member's /settings show)
        # waits behind a 20 MB blob insert. WAL lets a second connection read the last
        # committed state meanwhile. ``:memory:`` databases cannot be shared: one connection.
        self._reader = reader or db
        self._clock = clock
        self._blob_grace = blob_grace
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        blob_grace: float = DEFAULT_BLOB_GRACE,
    ) -> SQLiteStore:
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), not the module's.
        db = await aiosqlite.connect(os.fspath(path), isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA journal_mode = WAL")
            # NORMAL is crash-safe in WAL mode; only a power cut can lose the last commits.
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            # Many builds (Debian's among them) zero every freed page: deleting one 20 MB
            # blob then wrote 20 MB through the WAL, and an expiry batch of 10 MB blobs
            # held the writer 12.8 s instead of 0.33 s. Images are not secrets (API keys
            # are encrypted), so freed pages are left as they are until reused.
            await db.execute("PRAGMA secure_delete = FAST")
            # After a checkpoint the WAL shrinks back to this, instead of keeping its peak.
            await db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
            found = await migrate(db, clock())
        except BaseException:
            await db.close()
            raise
        reader = None
        if os.fspath(path) != ":memory:":
            try:
                reader = await _open_reader(_read_only_uri(path))
            except BaseException:
                await db.close()
                raise
        log.debug("opened %s (schema was v%s)", path, found)
        return cls(db, reader=reader, clock=clock, blob_grace=blob_grace)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            if self._reader is not self._db:
                await self._reader.close()
            await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._reader is not self._db:
            # Each statement on the reader sees everything committed before it started.
            yield self._reader
            return
        async with self._lock:
            yield self._db

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            if self._db.in_transaction:  # left open by a cancelled rollback
                await self._rollback()
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # Shielded: a second cancellation must not leave the transaction open.
                await asyncio.shield(self._rollback())
                raise
            await self._db.execute("COMMIT")

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # nothing to roll back
            await self._db.execute("ROLLBACK")

    async def _fetchone(
        self, db: aiosqlite.Connection, sql: str, params: Params = ()
    ) -> sqlite3.Row | None:
        async with db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _fetchall(
        self, db: aiosqlite.Connection, sql: str, params: Params = ()
    ) -> list[sqlite3.Row]:
        async with db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    # settings

    async def get_settings(self, guild_id: int) -> GuildSettings:
        async with self._read() as db:
            overrides, key = await self._overrides(db, guild_id)
        return _build_settings(guild_id, overrides, key)

    async def _overrides(
        self, db: aiosqlite.Connection, guild_id: int
    ) -> tuple[dict[str, Any], bytes | None]:
        """The values an admin set, and the key ciphertext (kept in its own column)."""
        row = await self._fetchone(
            db,
            "SELECT overrides, gateway_key_encrypted FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        )
        if row is None:
            return {}, None
        return dict(codec.loads(row["overrides"])), row["gateway_key_encrypted"]

    async def update_settings(self, guild_id: int, **changes: Any) -> GuildSettings:
        valid = validate_changes(changes)
        async with self._write() as db:
            overrides, key = await self._overrides(db, guild_id)
            if "gateway_key_encrypted" in valid:
                key = valid.pop("gateway_key_encrypted")
            overrides.update(valid)
            await db.execute(
                "INSERT INTO guild_settings"
                " (guild_id, overrides, gateway_key_encrypted, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET"
                " overrides = excluded.overrides,"
                " gateway_key_encrypted = excluded.gateway_key_encrypted,"
                " updated_at = excluded.updated_at",
                (guild_id, codec.dumps(overrides), key, self._clock()),
            )
        return _build_settings(guild_id, overrides, key)

    async def rotate_gateway_keys(self, rotate: Callable[[bytes], bytes | None]) -> int:
        """Replace each stored gateway key by ``rotate(key)`` (None: leave it); returns how many."""
        changed = 0
        async with self._write() as db:
            rows = await self._fetchall(
                db,
                "SELECT guild_id, gateway_key_encrypted FROM guild_settings"
                " WHERE gateway_key_encrypted IS NOT NULL",
            )
            for guild_id, key in rows:
                new = rotate(bytes(key))
                if new is not None:
                    await db.execute(
                        "UPDATE guild_settings SET gateway_key_encrypted = ? WHERE guild_id = ?",
                        (new, guild_id),
                    )
                    changed += 1
        return changed

    # content-addressed images

    async def put_blob(
        self, data: bytes, mime: str, width: int = 0, height: int = 0
    ) -> StoredImage:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("blob data must be bytes")
        if not isinstance(mime, str) or not mime:
            raise ValueError("blob mime type must be a non-empty string")
        width, height = int(width), int(height)
        if width < 0 or height < 0:
            raise ValueError("blob dimensions must not be negative")
        sha = await _sha256(data)
        now = self._clock()
        async with self._write() as db:
            # Look first: binding tens of MB only to discard them on conflict is a waste.
            row = await self._fetchone(
                db,
                "UPDATE blobs SET touched_at = ?,"
                " width = CASE WHEN width = 0 THEN ? ELSE width END,"
                " height = CASE WHEN height = 0 THEN ? ELSE height END"
                " WHERE sha256 = ? RETURNING mime, width, height",
                (now, width, height, sha),
            )
            if row is None:
                await db.execute(
                    "INSERT INTO blobs"
                    " (sha256, mime, width, height, size, created_at, touched_at, data)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (sha, mime, width, height, len(data), now, now, bytes(data)),
                )
                return StoredImage(sha256=sha, mime=mime, width=width, height=height)
        return StoredImage(sha256=sha, mime=row["mime"], width=row["width"], height=row["height"])

    async def get_blob(self, sha256: str) -> bytes:
        async with self._read() as db:
            row = await self._fetchone(db, "SELECT data FROM blobs WHERE sha256 = ?", (sha256,))
        if row is None:
            raise KeyError(sha256)
        return row[0]

    async def blob_info(self, sha256: str) -> StoredImage:
        async with self._read() as db:
            row = await self._fetchone(
                db, "SELECT mime, width, height FROM blobs WHERE sha256 = ?", (sha256,)
            )
        if row is None:
            raise KeyError(sha256)
        return StoredImage(
            sha256=sha256, mime=row["mime"], width=row["width"], height=row["height"]
        )

    async def collect_garbage(self) -> int:
        """Delete unreferenced blobs past their grace; returns how many went."""
        async with self._write() as db:
            return await self._collect(db)

    async def _collect(self, db: aiosqlite.Connection) -> int:
        cur = await db.execute(
            "DELETE FROM blobs WHERE touched_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM turn_blobs t WHERE t.sha256 = blobs.sha256)"
            " AND NOT EXISTS (SELECT 1 FROM job_blobs j WHERE j.sha256 = blobs.sha256)",
            (self._clock() - self._blob_grace,),
        )
        if cur.rowcount:
            log.debug("collected %d unreferenced blobs", cur.rowcount)
        return cur.rowcount

    async def _missing_blobs(self, db: aiosqlite.Connection, shas: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return []
        rows = await self._fetchall(
            db, f"SELECT sha256 FROM blobs WHERE sha256 IN ({_placeholders(len(wanted))})", wanted
        )
        present = {r[0] for r in rows}
        return [s for s in wanted if s not in present]

    # per-channel history

    async def append_turn(self, turn: TurnRecord, keep: int) -> int:
        """Store the turn, then drop the channel's turns beyond the newest ``keep``."""
        if not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep must be a whole number >= 0, got {keep!r}")
        refs = [
            *(("input", i, img.sha256) for i, img in enumerate(turn.inputs)),
            *(("output", i, img.sha256) for i, img in enumerate(turn.outputs)),
            *(("raw", i, sha) for i, sha in enumerate(sorted(blob_refs(turn.raw_turn)))),
        ]
        raw = None if turn.raw_turn is None else codec.dumps(turn.raw_turn)
        created = turn.created_at if turn.created_at is not None else self._clock()
        async with self._write() as db:
            missing = await self._missing_blobs(db, (sha for _, _, sha in refs))
            if missing:
                raise KeyError(f"turn refers to blobs that were never stored: {', '.join(missing)}")
            row = await self._fetchone(
                db,
                "INSERT INTO turns (channel_id, guild_id, user_id, prompt, model_text, raw_turn,"
                " job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    turn.channel_id,
                    turn.guild_id,
                    turn.user_id,
                    turn.prompt,
                    turn.model_text,
                    raw,
                    turn.job_id,
                    created,
                ),
            )
            assert row is not None
            turn_id = int(row[0])
            await db.executemany(
                "INSERT INTO turn_blobs (turn_id, role, position, sha256) VALUES (?, ?, ?, ?)",
                [(turn_id, role, pos, sha) for role, pos, sha in refs],
            )
            cur = await db.execute(
                "DELETE FROM turns WHERE channel_id = ? AND id NOT IN"
                " (SELECT id FROM turns WHERE channel_id = ? ORDER BY id DESC LIMIT ?)",
                (turn.channel_id, turn.channel_id, keep),
            )
            if cur.rowcount:
                await self._collect(db)
        return turn_id

    async def recent_turns(self, channel_id: int, limit: int) -> Sequence[TurnRecord]:
        """The channel's last ``limit`` turns, oldest first."""
        if limit <= 0:
            return []
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                "SELECT * FROM (SELECT * FROM turns WHERE channel_id = ? ORDER BY id DESC LIMIT ?)"
                " ORDER BY id",
                (channel_id, limit),
            )
            if not rows:
                return []
            ids = [r["id"] for r in rows]
            images = await self._fetchall(
                db,
                "SELECT t.turn_id, t.role, b.sha256, b.mime, b.width, b.height"
                " FROM turn_blobs t JOIN blobs b ON b.sha256 = t.sha256"
                f" WHERE t.turn_id IN ({_placeholders(len(ids))}) AND t.role IN ('input', 'output')"
                " ORDER BY t.turn_id, t.role, t.position",
                ids,
            )
        by_turn: dict[tuple[int, str], list[StoredImage]] = {}
        for img in images:
            by_turn.setdefault((img["turn_id"], img["role"]), []).append(
                StoredImage(
                    sha256=img["sha256"], mime=img["mime"], width=img["width"], height=img["height"]
                )
            )
        return [
            TurnRecord(
                channel_id=r["channel_id"],
                guild_id=r["guild_id"],
                user_id=r["user_id"],
                prompt=r["prompt"],
                inputs=tuple(by_turn.get((r["id"], "input"), ())),
                outputs=tuple(by_turn.get((r["id"], "output"), ())),
                model_text=r["model_text"],
                raw_turn=codec.loads(r["raw_turn"]),
                job_id=r["job_id"],
                id=r["id"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def reset_history(self, channel_id: int) -> int:
        async with self._write() as db:
            cur = await db.execute("DELETE FROM turns WHERE channel_id = ?", (channel_id,))
            removed = cur.rowcount
            if removed:
                await self._collect(db)
        return removed

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
    ) -> JobRecord:
        if not isinstance(kind, str) or not kind:
            raise ValueError("job kind must be a non-empty string")
        _check_optional("interaction_token", interaction_token, str)
        params_json = codec.dumps(params)
        async with self._write() as db:
            row = await self._fetchone(
                db,
                "INSERT INTO jobs (kind, guild_id, channel_id, user_id, prompt, state, params,"
                " interaction_token, created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)"
                " RETURNING *",
                (
                    kind,
                    guild_id,
                    channel_id,
                    user_id,
                    prompt,
                    params_json,
                    interaction_token,
                    self._clock(),
                ),
            )
            assert row is not None
            job = _job(row)
            await self._index_job_blobs(db, job)
        return job

    async def _index_job_blobs(self, db: aiosqlite.Connection, job: JobRecord) -> None:
        await db.execute("DELETE FROM job_blobs WHERE job_id = ?", (job.id,))
        shas = codec.sha_candidates((job.params, job.result))
        if shas:
            # Only stored blobs: a sha-shaped string that names nothing is not a reference.
            await db.execute(
                "INSERT INTO job_blobs (job_id, sha256) SELECT ?, sha256 FROM blobs"
                f" WHERE sha256 IN ({_placeholders(len(shas))})",
                (job.id, *shas),
            )

    async def update_job(self, job_id: int, **changes: Any) -> JobRecord:
        """Change a job; ``started_at``/``finished_at`` are stamped on entering those states."""
        unknown = sorted(set(changes) - _JOB_FIELDS)
        if unknown:
            raise ValueError(f"unknown job field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "state":
                values[name] = _check_state(value)
            elif name in ("params", "result"):
                if not isinstance(value, Mapping):
                    raise ValueError(f"{name} must be a mapping")
                values[name] = codec.dumps(value)
            elif name == "interaction_token":
                values[name] = _check_optional(name, value, str)
            elif name == "message_id":
                values[name] = _check_optional(name, value, int)
            elif name == "counted":
                if not isinstance(value, bool):
                    raise ValueError("counted must be True or False")
                values[name] = int(value)
            else:
                values[name] = _check_optional(name, value, (int, float))
        now = self._clock()
        assignments = [f"{name} = :{name}" for name in values]
        state = values.get("state")
        if state == "running" and "started_at" not in values:
            assignments.append("started_at = COALESCE(started_at, :now)")
        if state in _FINISHED and "finished_at" not in values:
            assignments.append("finished_at = :now")
        async with self._write() as db:
            if assignments:
                row = await self._fetchone(
                    db,
                    f"UPDATE jobs SET {', '.join(assignments)} WHERE id = :id RETURNING *",
                    {**values, "now": now, "id": job_id},
                )
            else:
                row = await self._fetchone(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
            if row is None:
                raise KeyError(f"no job {job_id}")
            job = _job(row)
            if "params" in values or "result" in values:
                await self._index_job_blobs(db, job)
        return job

    async def get_job(self, job_id: int) -> JobRecord | None:
        async with self._read() as db:
            row = await self._fetchone(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else _job(row)

    async def interrupt_running_jobs(self) -> Sequence[JobRecord]:
        """Mark jobs a crash left queued or running as interrupted; returns them by id.

        They no longer count toward quotas: the member got nothing, and running one
        again is a job of its own.
        """
        async with self._write() as db:
            rows = await self._fetchall(
                db,
                "UPDATE jobs SET state = 'interrupted', counted = 0, finished_at = ?"
                f" WHERE state IN ({_placeholders(len(_UNFINISHED))}) RETURNING *",
                (self._clock(), *_UNFINISHED),
            )
        return sorted((_job(r) for r in rows), key=lambda j: j.id)

    async def delete_jobs_before(self, before: float, *, batch: int = 20) -> int:
        """Jobs that finished before ``before``, and the images only they kept.

        By finish time: a job a restart interrupted has just "finished", and its "Run
        again" button must keep working. In batches, each its own transaction, so a
        backlog never holds the writer for long (a 4K job frees ~30 MB).
        """
        removed = 0
        while True:
            async with self._write() as db:
                # The states are spelled out (not _FINISHED as parameters): SQLite uses
                # the partial index jobs_by_finished only for literal terms that match it.
                cur = await db.execute(
                    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
                    " WHERE state IN ('done', 'failed', 'interrupted') AND finished_at < ?"
                    " ORDER BY finished_at LIMIT ?)",
                    (before, batch),
                )
                count = cur.rowcount
                if count:
                    await self._collect(db)
            removed += count
            if count < batch:
                return removed

    async def count_jobs(self, *, guild_id: int | None, user_id: int | None, since: float) -> int:
        """Counted jobs created at or after ``since``; None filters match all."""
        where, params = ["created_at >= ?", "counted = 1"], [since]
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        async with self._read() as db:
            row = await self._fetchone(
                db, f"SELECT COUNT(*) FROM jobs WHERE {' AND '.join(where)}", params
            )
        return int(row[0]) if row else 0

    # usage

    async def record_usage(
        self, *, guild_id: int | None, user_id: int, images: int, tokens: int
    ) -> None:
        """Add one job's images and tokens to the user's total for today (UTC)."""
        for name, value in (("images", images), ("tokens", tokens)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        async with self._write() as db:
            await db.execute(
                "INSERT INTO usage (guild_id, user_id, day, jobs, images, tokens)"
                " VALUES (?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (guild_id, day, user_id) DO UPDATE SET jobs = jobs + 1,"
                " images = images + excluded.images, tokens = tokens + excluded.tokens",
                (guild_id or 0, user_id, utc_day(self._clock()), images, tokens),
            )

    async def usage_summary(self, guild_id: int, since: float) -> Sequence[UsageRow]:
        """Per-user totals over whole UTC days from the day holding ``since``, most images first."""
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                "SELECT user_id, SUM(jobs), SUM(images), SUM(tokens) FROM usage"
                " WHERE guild_id = ? AND day >= ? GROUP BY user_id"
                " ORDER BY SUM(images) DESC, SUM(tokens) DESC, user_id",
                (guild_id, utc_day(since)),
            )
        return [UsageRow(user_id=r[0], jobs=r[1], images=r[2], tokens=r[3]) for r in rows]

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
        for name, value in (("size_honoured", size_honoured), ("ratio_honoured", ratio_honoured)):
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be True, False or None, got {value!r}")
        async with self._write() as db:
            await db.execute(
                "INSERT INTO size_observations (gateway, model, dialect, asked, delivered,"
                " size_honoured, ratio_honoured, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (gateway, model, dialect) DO UPDATE SET asked = excluded.asked,"
                " delivered = excluded.delivered, size_honoured = excluded.size_honoured,"
                " ratio_honoured = excluded.ratio_honoured, seen_at = excluded.seen_at",
                (
                    gateway,
                    model,
                    dialect,
                    asked,
                    delivered,
                    size_honoured,
                    ratio_honoured,
                    self._clock(),
                ),
            )

    async def size_checks(self, gateway: str, model: str | None = None) -> list[SizeObservation]:
        """The gateway's observations (one model's, if given), newest first."""
        where, params = "gateway = ?", [gateway]
        if model is not None:
            where, params = "gateway = ? AND model = ?", [gateway, model]
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                "SELECT gateway, model, dialect, asked, delivered, size_honoured,"
                f" ratio_honoured, seen_at FROM size_observations WHERE {where}"
                " ORDER BY seen_at DESC, dialect",
                params,
            )
        return [
            SizeObservation(
                gateway=r[0],
                model=r[1],
                dialect=r[2],
                asked=r[3],
                delivered=r[4],
                size_honoured=None if r[5] is None else bool(r[5]),
                ratio_honoured=None if r[6] is None else bool(r[6]),
                seen_at=r[7],
            )
            for r in rows
        ]
