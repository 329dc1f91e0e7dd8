"""SQLite: jobs, the blobs they name, their owners and their expiry."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.storage import codec
from bot.storage.base import JobRecord
from bot.storage.sqlite.connection import SQLiteBase, fetchone, placeholders

_job = codec.job_record


class JobTables(SQLiteBase):
    async def _create_job(self, fields: dict[str, Any], *, now: float) -> JobRecord:
        return await self._transaction(self._create_job_in, fields, now)

    def _create_job_in(
        self, conn: sqlite3.Connection, fields: dict[str, Any], now: float
    ) -> JobRecord:
        row = fetchone(
            conn,
            "INSERT INTO jobs (kind, guild_id, channel_id, user_id, prompt, state, params,"
            " interaction_token, owner, images, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING *",
            (
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
            ),
        )
        assert row is not None
        job = _job(row)
        self._index_job_blobs(conn, job)
        return job

    @staticmethod
    def _index_job_blobs(conn: sqlite3.Connection, job: JobRecord) -> None:
        conn.execute("DELETE FROM job_blobs WHERE job_id = ?", (job.id,))
        shas = codec.sha_candidates((job.params, job.result))
        if shas:
            # Only stored blobs: a sha-shaped string that names nothing is not a reference.
            conn.execute(
                "INSERT INTO job_blobs (job_id, sha256) SELECT ?, sha256 FROM blobs"
                f" WHERE sha256 IN ({placeholders(len(shas))})",
                (job.id, *shas),
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
        columns = dict(values)
        for name in ("params", "result"):
            if name in columns:
                columns[name] = codec.dumps(columns[name])
        if "counted" in columns:
            columns["counted"] = int(columns["counted"])
        assignments = [f"{name} = :{name}" for name in columns]
        if start_at is not None:
            assignments.append("started_at = COALESCE(started_at, :start_at)")
        if finish_at is not None:
            assignments.append("finished_at = :finish_at")
        params = {**columns, "start_at": start_at, "finish_at": finish_at, "id": job_id}
        reindex = "params" in values or "result" in values
        return await self._transaction(
            self._update_job_in, assignments, params | {"fence": fence_owner}, reindex
        )

    def _update_job_in(
        self,
        conn: sqlite3.Connection,
        assignments: list[str],
        params: dict[str, Any],
        reindex: bool,
    ) -> JobRecord | None:
        where = "id = :id"
        fence_owner = params["fence"]
        if fence_owner is not None:
            where += " AND owner = :fence AND state IN ('queued', 'running')"
        if assignments:
            row = fetchone(
                conn, f"UPDATE jobs SET {', '.join(assignments)} WHERE {where} RETURNING *", params
            )
        else:
            row = fetchone(conn, f"SELECT * FROM jobs WHERE {where}", params)
        if row is None and fence_owner is not None:
            current = fetchone(conn, "SELECT * FROM jobs WHERE id = ?", (params["id"],))
            if current is not None:
                raise self._fenced(_job(current), fence_owner)
        if row is None:
            return None
        job = _job(row)
        if reindex:
            self._index_job_blobs(conn, job)
        return job

    async def _get_job(self, job_id: int) -> JobRecord | None:
        async with self._read() as db:
            row = await self._fetchone(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else _job(row)

    async def _interrupt_jobs(self, owner: str, *, now: float, queued: bool) -> Sequence[JobRecord]:
        # They no longer count toward quotas: the member got nothing, and running one
        # again is a job of its own. The states are literals, as the partial index
        # jobs_unfinished needs (see below). Queued jobs never started: they go on
        # instead (bot.discord_bot.resume), unless the caller says nobody will resume them.
        async with self._write() as db:
            rows = await self._fetchall(
                db,
                "UPDATE jobs SET state = 'interrupted', counted = 0, finished_at = ?"
                " WHERE owner = ? AND state IN ('queued', 'running')"
                " AND (state = 'running' OR ?)"
                " RETURNING *",
                (now, owner, queued),
            )
        return [_job(r) for r in rows]

    async def _adopt_jobs(self, owner: str, new_owner: str) -> Sequence[JobRecord]:
        async with self._write() as db:
            rows = await self._fetchall(
                db,
                "UPDATE jobs SET owner = ? WHERE owner = ? AND state = 'queued' RETURNING *",
                (new_owner, owner),
            )
        return [_job(r) for r in rows]

    async def _delete_finished_jobs(self, before: float, batch: int) -> int:
        return await self._transaction(self._delete_finished_jobs_in, before, batch)

    def _delete_finished_jobs_in(self, conn: sqlite3.Connection, before: float, batch: int) -> int:
        # By finish time: a job a restart interrupted has just "finished", and its "Run
        # again" button must keep working (a 4K job frees ~30 MB).
        # The states are spelled out (not FINISHED_STATES as parameters): SQLite uses
        # the partial index jobs_by_finished only for literal terms that match it.
        count: int = conn.execute(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
            " WHERE state IN ('done', 'failed', 'interrupted') AND finished_at < ?"
            " ORDER BY finished_at LIMIT ?)",
            (before, batch),
        ).rowcount
        if count:
            self._collect(conn)
        return count

    async def _count_jobs(self, guild_id: int | None, user_id: int | None, since: float) -> int:
        where, params = ["created_at >= ?", "counted = 1"], [since]
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        async with self._read() as db:
            row = await self._fetchone(
                db, f"SELECT COALESCE(SUM(images), 0) FROM jobs WHERE {' AND '.join(where)}", params
            )
        return int(row[0]) if row else 0
