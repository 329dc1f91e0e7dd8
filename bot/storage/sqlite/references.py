"""SQLite: the reference library (``/ref``), named images that keep their blobs alive."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.storage.base import ReferenceImage
from bot.storage.codec import SELECT_REFERENCES as _SELECT
from bot.storage.codec import reference_record as reference
from bot.storage.sqlite.connection import SQLiteBase, fetchone, placeholders


class ReferenceTables(SQLiteBase):
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
        return await self._transaction(
            self._add_reference_in, scope, owner_id, name, sha, added_by, limit, now
        )

    @staticmethod
    def _add_reference_in(
        conn: sqlite3.Connection,
        scope: str,
        owner_id: int,
        name: str,
        sha: str,
        added_by: int,
        limit: int,
        now: float,
    ) -> ReferenceImage | str | None:
        owner = (scope, owner_id)
        taken = "SELECT 1 FROM reference_images WHERE scope = ? AND owner_id = ? AND name = ?"
        if fetchone(conn, taken, (*owner, name)) is not None:
            return "exists"
        counted = "SELECT COUNT(*) FROM reference_images WHERE scope = ? AND owner_id = ?"
        row = fetchone(conn, counted, owner)
        if row is not None and row[0] >= limit:
            return "full"
        if fetchone(conn, "SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)) is None:
            return None
        conn.execute(
            "INSERT INTO reference_images (scope, owner_id, name, sha256, added_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (*owner, name, sha, added_by, now),
        )
        found = fetchone(
            conn, f"{_SELECT} WHERE r.scope = ? AND r.owner_id = ? AND r.name = ?", (*owner, name)
        )
        assert found is not None
        return reference(found)

    async def _list_references(self, scope: str, owner_id: int) -> Sequence[ReferenceImage]:
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                f"{_SELECT} WHERE r.scope = ? AND r.owner_id = ? ORDER BY r.name",
                (scope, owner_id),
            )
        return [reference(r) for r in rows]

    async def _remove_reference(self, scope: str, owner_id: int, name: str) -> bool:
        async with self._write() as db:
            cur = await db.execute(
                "DELETE FROM reference_images WHERE scope = ? AND owner_id = ? AND name = ?",
                (scope, owner_id, name),
            )
            return cur.rowcount > 0

    async def _find_references(
        self, owners: Sequence[tuple[str, int]], names: Sequence[str]
    ) -> Sequence[ReferenceImage]:
        whose = " OR ".join("(r.scope = ? AND r.owner_id = ?)" for _ in owners)
        params = [value for owner in owners for value in owner]
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                f"{_SELECT} WHERE ({whose}) AND r.name IN ({placeholders(len(names))})",
                (*params, *names),
            )
        return [reference(r) for r in rows]
