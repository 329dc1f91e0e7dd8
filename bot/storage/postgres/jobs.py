"""PostgreSQL: jobs, the blobs they name, their owners (and fenced updates), their expiry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.storage import codec
from bot.storage.base import JobRecord
from bot.storage.postgres.blobs import _count
from bot.storage.postgres.connection import PostgresBase

# Column -> the cast its parameter needs (asyncpg is strict about types).
_CASTS = {
    "state": "text",
    "params": "json",
    "result": "json",
    "interaction_token": "text",
    "message_id": "bigint",
    "started_at": "float8",
    "finished_at": "float8",
    "counted": "boolean",
    "images": "int",
    "cost": "float8",
}


_job = codec.job_record


class JobTables(PostgresBase):
    async def _create_job(self, fields: dict[str, Any], *, now: float) -> JobRecord:
        async with self._tx() as conn:
            row = await conn.fetchrow(
                "INSERT INTO jobs (kind, guild_id, channel_id, user_id, prompt, state, params,"
                " interaction_token, owner, images, created_at) VALUES ($1::text, $2::bigint,"
                " $3::bigint, $4::bigint, $5::text, 'queued', $6::json, $7::text, $8::text,"
                " $9::int, $10::float8) RETURNING *",
                fields["kind"],
                fields["guild_id"],
                fields["channel_id"],
                fields["user_id"],
                fields["prompt"],
                codec.dumps(fields["params"]),
                fields["interaction_token"],
                fields["owner"],
                fields["images"],
                now,
            )
            job = _job(row)
            await self._index_job_blobs(conn, job)
        return job

    async def _index_job_blobs(self, conn: Any, job: JobRecord) -> None:
        await conn.execute("DELETE FROM job_blobs WHERE job_id = $1::bigint", job.id)
        shas = codec.sha_candidates((job.params, job.result))
        if shas:
            # Only stored blobs: a sha-shaped string that names nothing is not a reference.
            # FOR KEY SHARE: the sweep skips (never deletes) a blob this job is adopting.
            await conn.execute(
                "INSERT INTO job_blobs (job_id, sha256) SELECT $1::bigint, sha256 FROM"
                " (SELECT sha256 FROM blobs WHERE sha256 = ANY($2::text[]) ORDER BY sha256"
                " FOR KEY SHARE) adopted",
                job.id,
                shas,
            )

    async def _update_job(
        self,
        job_id: int,
        values: dict[str, Any],
        *,
        start_at: float | None,
        finish_at: float | None,
        fence_owner: str | None,
    ) -> JobRecord | None:
        params: list[Any] = [job_id, fence_owner]
        assignments = []
        for name, value in values.items():
            params.append(codec.dumps(value) if name in ("params", "result") else value)
            assignments.append(f"{name} = ${len(params)}::{_CASTS[name]}")
        if start_at is not None:
            params.append(start_at)
            assignments.append(f"started_at = COALESCE(started_at, ${len(params)}::float8)")
        if finish_at is not None:
            params.append(finish_at)
            assignments.append(f"finished_at = ${len(params)}::float8")
        # The fence is part of the one statement: no other process can slip in between.
        where = (
            "id = $1::bigint AND ($2::text IS NULL"
            " OR (owner = $2::text AND state IN ('queued', 'running')))"
        )
        async with self._tx() as conn:
            if assignments:
                sql = f"UPDATE jobs SET {', '.join(assignments)} WHERE {where} RETURNING *"
            else:
                sql = f"SELECT * FROM jobs WHERE {where} FOR UPDATE"
            row = await conn.fetchrow(sql, *params)
            if row is None:
                if fence_owner is not None:
                    current = await conn.fetchrow(
                        "SELECT * FROM jobs WHERE id = $1::bigint", job_id
                    )
                    if current is not None:
                        raise self._fenced(_job(current), fence_owner)
                return None
            job = _job(row)
            if "params" in values or "result" in values:
                await self._index_job_blobs(conn, job)
        return job

    async def _get_job(self, job_id: int) -> JobRecord | None:
        row = await self.pool.fetchrow("SELECT * FROM jobs WHERE id = $1::bigint", job_id)
        return None if row is None else _job(row)

    async def _interrupt_jobs(self, owner: str, *, now: float, queued: bool) -> Sequence[JobRecord]:
        # They no longer count toward quotas: the member got nothing, and running one
        # again is a job of its own. The literal states match the partial index; queued
        # jobs never started, so they go on instead (bot.discord_bot.resume), unless the
        # caller says nobody will resume them.
        rows = await self.pool.fetch(
            "UPDATE jobs SET state = 'interrupted', counted = false, finished_at = $1::float8"
            " WHERE owner = $2::text AND state IN ('queued', 'running')"
            " AND (state = 'running' OR $3::bool)"
            " RETURNING *",
            now,
            owner,
            queued,
        )
        return [_job(r) for r in rows]

    async def _adopt_jobs(self, owner: str, new_owner: str) -> Sequence[JobRecord]:
        # The WHERE is the fence: a row another survivor moved first is no longer owner's.
        rows = await self.pool.fetch(
            "UPDATE jobs SET owner = $2::text WHERE owner = $1::text AND state = 'queued'"
            " RETURNING *",
            owner,
            new_owner,
        )
        return [_job(r) for r in rows]

    async def _delete_finished_jobs(self, before: float, batch: int) -> int:
        # By finish time: a job a restart interrupted has just "finished", and its "Run
        # again" button must keep working. SKIP LOCKED: two processes expiring at once
        # take different batches instead of queueing behind each other.
        async with self._tx() as conn:
            count = _count(
                await conn.execute(
                    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
                    " WHERE state IN ('done', 'failed', 'interrupted')"
                    " AND finished_at < $1::float8 ORDER BY finished_at LIMIT $2::int"
                    " FOR UPDATE SKIP LOCKED)",
                    before,
                    batch,
                )
            )
            if count:
                await self._collect(conn)
        return count

    async def _count_jobs(self, guild_id: int | None, user_id: int | None, since: float) -> int:
        # Literal "counted" and separate shapes, so the partial indexes apply.
        where, params = ["counted", "created_at >= $1::float8"], [since]
        if guild_id is not None:
            params.append(guild_id)
            where.append(f"guild_id = ${len(params)}::bigint")
        if user_id is not None:
            params.append(user_id)
            where.append(f"user_id = ${len(params)}::bigint")
        return int(
            await self.pool.fetchval(
                f"SELECT COALESCE(sum(images), 0) FROM jobs WHERE {' AND '.join(where)}", *params
            )
        )
