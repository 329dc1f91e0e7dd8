"""PostgreSQL: what a member's own commands read and write (/me, /preferences, Delete)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.storage import codec
from bot.storage.base import DeletedResult, JobRecord
from bot.storage.postgres.blobs import _count
from bot.storage.postgres.connection import PostgresBase

_COLUMNS = {
    "user_id": "user_id = ${}::bigint",
    "guild_id": "guild_id = ${}::bigint",
    "since": "created_at >= ${}::float8",
}


class MemberTables(PostgresBase):
    async def _list_jobs(
        self, filters: dict[str, Any], states: tuple[str, ...], limit: int
    ) -> Sequence[JobRecord]:
        where, params = ["true"], []
        for name, value in filters.items():
            if name == "counted":
                where.append("counted" if value else "NOT counted")
            else:
                params.append(value)
                where.append(_COLUMNS[name].format(len(params)))
        if states:
            params.append(list(states))
            where.append(f"state = ANY(${len(params)}::text[])")
        params.append(limit)
        rows = await self.pool.fetch(
            f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY id LIMIT ${len(params)}::int",
            *params,
        )
        return [codec.job_record(r) for r in rows]

    async def _delete_result(self, job_id: int, *, now: float) -> DeletedResult | None:
        async with self._tx() as conn:
            row = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1::bigint FOR UPDATE", job_id)
            if row is None:
                return None
            job = codec.job_record(row)
            used = [
                r[0]
                for r in await conn.fetch(
                    "SELECT sha256 FROM job_blobs WHERE job_id = $1::bigint UNION SELECT tb.sha256"
                    " FROM turn_blobs tb JOIN turns t ON t.id = tb.turn_id"
                    " WHERE t.job_id = $1::bigint",
                    job_id,
                )
            ]
            # The history goes on from the turn before: children and heads move up to it.
            await conn.execute(
                "UPDATE turns SET parent_id = d.parent_id FROM turns d"
                " WHERE d.id = turns.parent_id AND d.job_id = $1::bigint",
                job_id,
            )
            await conn.execute(
                "UPDATE channel_heads SET turn_id = d.parent_id FROM turns d"
                " WHERE d.id = channel_heads.turn_id AND d.job_id = $1::bigint",
                job_id,
            )
            turns = _count(
                await conn.execute("DELETE FROM turns WHERE job_id = $1::bigint", job_id)
            )
            row = await conn.fetchrow(
                "UPDATE jobs SET params = $2::json, result = $3::json WHERE id = $1::bigint"
                " RETURNING *",
                job_id,
                codec.dumps(codec.without_shas(job.params)),
                '{"deleted":true}',
            )
            await conn.execute("DELETE FROM job_blobs WHERE job_id = $1::bigint", job_id)
            blobs = 0
            if used:
                # As the sweep: a blob another writer is adopting (FOR KEY SHARE) is skipped.
                blobs = _count(
                    await conn.execute(
                        "DELETE FROM blobs WHERE sha256 IN (SELECT b.sha256 FROM blobs b"
                        " WHERE b.sha256 = ANY($1::text[]) AND b.touched_at <= $2::float8"
                        " AND NOT EXISTS (SELECT 1 FROM turn_blobs t WHERE t.sha256 = b.sha256)"
                        " AND NOT EXISTS (SELECT 1 FROM job_blobs j WHERE j.sha256 = b.sha256)"
                        " AND NOT EXISTS"
                        " (SELECT 1 FROM reference_images r WHERE r.sha256 = b.sha256)"
                        " FOR UPDATE SKIP LOCKED)",
                        used,
                        job.finished_at if job.finished_at is not None else now,
                    )
                )
        return DeletedResult(job=codec.job_record(row), turns=turns, blobs=blobs)

    async def _load_preferences(self, user_id: int) -> dict[str, Any]:
        value = await self.pool.fetchval(
            "SELECT preferences FROM member_preferences WHERE user_id = $1::bigint", user_id
        )
        return {} if value is None else dict(codec.loads(value))

    async def _save_preferences(self, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        set_ = {k: v for k, v in changes.items() if v is not None}
        unset = [k for k, v in changes.items() if v is None]
        async with self._tx() as conn:
            # One statement merges (jsonb ||, minus the names unset), as guild settings do.
            value = await conn.fetchval(
                "INSERT INTO member_preferences (user_id, preferences, updated_at)"
                " VALUES ($1::bigint, $2::jsonb - $3::text[], $4::float8)"
                " ON CONFLICT (user_id) DO UPDATE SET"
                " preferences = (member_preferences.preferences || excluded.preferences)"
                " - $3::text[], updated_at = excluded.updated_at RETURNING preferences",
                user_id,
                codec.dumps(set_),
                unset,
                self._clock(),
            )
            stored = dict(codec.loads(value))
            if not stored:
                await conn.execute(
                    "DELETE FROM member_preferences WHERE user_id = $1::bigint", user_id
                )
        return stored
