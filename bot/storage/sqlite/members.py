"""SQLite: what a member's own commands read and write (/me, /preferences, Delete)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.storage import codec
from bot.storage.base import DeletedResult, JobRecord
from bot.storage.sqlite.connection import SQLiteBase, placeholders

_COLUMNS = {"user_id": "user_id = ?", "guild_id": "guild_id = ?", "since": "created_at >= ?"}


class MemberTables(SQLiteBase):
    async def _list_jobs(
        self, filters: dict[str, Any], states: tuple[str, ...], limit: int
    ) -> Sequence[JobRecord]:
        where, params = ["1"], []
        for name, value in filters.items():
            if name == "counted":
                where.append("counted = 1" if value else "counted = 0")
            else:
                where.append(_COLUMNS[name])
                params.append(value)
        if states:
            where.append(f"state IN ({placeholders(len(states))})")
            params.extend(states)
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                (*params, limit),
            )
        return [codec.job_record(r) for r in rows]

    async def _delete_result(self, job_id: int, *, now: float) -> DeletedResult | None:
        async with self._write() as db:
            row = await self._fetchone(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
            if row is None:
                return None
            job = codec.job_record(row)
            used = [
                r[0]
                for r in await self._fetchall(
                    db,
                    "SELECT sha256 FROM job_blobs WHERE job_id = ? UNION SELECT tb.sha256"
                    " FROM turn_blobs tb JOIN turns t ON t.id = tb.turn_id WHERE t.job_id = ?",
                    (job_id, job_id),
                )
            ]
            # The history goes on from the turn before: children and heads move up to it.
            await db.execute(
                "UPDATE turns SET parent_id = (SELECT d.parent_id FROM turns d"
                " WHERE d.id = turns.parent_id)"
                " WHERE parent_id IN (SELECT id FROM turns WHERE job_id = ?)",
                (job_id,),
            )
            await db.execute(
                "UPDATE channel_heads SET turn_id = (SELECT d.parent_id FROM turns d"
                " WHERE d.id = channel_heads.turn_id)"
                " WHERE turn_id IN (SELECT id FROM turns WHERE job_id = ?)",
                (job_id,),
            )
            cur = await db.execute("DELETE FROM turns WHERE job_id = ?", (job_id,))
            turns = cur.rowcount
            row = await self._fetchone(
                db,
                "UPDATE jobs SET params = ?, result = ? WHERE id = ? RETURNING *",
                (codec.dumps(codec.without_shas(job.params)), '{"deleted":true}', job_id),
            )
            assert row is not None
            await db.execute("DELETE FROM job_blobs WHERE job_id = ?", (job_id,))
            blobs = 0
            if used:
                cur = await db.execute(
                    f"DELETE FROM blobs WHERE sha256 IN ({placeholders(len(used))})"
                    " AND touched_at <= ?"
                    " AND NOT EXISTS (SELECT 1 FROM turn_blobs t WHERE t.sha256 = blobs.sha256)"
                    " AND NOT EXISTS (SELECT 1 FROM job_blobs j WHERE j.sha256 = blobs.sha256)"
                    " AND NOT EXISTS"
                    " (SELECT 1 FROM reference_images r WHERE r.sha256 = blobs.sha256)",
                    (*used, job.finished_at if job.finished_at is not None else now),
                )
                blobs = cur.rowcount
        return DeletedResult(job=codec.job_record(row), turns=turns, blobs=blobs)

    async def _load_preferences(self, user_id: int) -> dict[str, Any]:
        async with self._read() as db:
            row = await self._fetchone(
                db, "SELECT preferences FROM member_preferences WHERE user_id = ?", (user_id,)
            )
        return {} if row is None else dict(codec.loads(row[0]))

    async def _save_preferences(self, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        async with self._write() as db:
            row = await self._fetchone(
                db, "SELECT preferences FROM member_preferences WHERE user_id = ?", (user_id,)
            )
            stored = {} if row is None else dict(codec.loads(row[0]))
            stored.update(changes)
            stored = {k: v for k, v in stored.items() if v is not None}
            if not stored:
                await db.execute("DELETE FROM member_preferences WHERE user_id = ?", (user_id,))
                return {}
            await db.execute(
                "INSERT INTO member_preferences (user_id, preferences, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET preferences = excluded.preferences,"
                " updated_at = excluded.updated_at",
                (user_id, codec.dumps(stored), self._clock()),
            )
        return stored
