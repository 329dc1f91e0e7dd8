"""PostgreSQL: the reference library (``/ref``), named images that keep their blobs alive."""

from __future__ import annotations

from collections.abc import Sequence

from bot.storage.base import ReferenceImage
from bot.storage.codec import SELECT_REFERENCES, reference_record
from bot.storage.postgres.blobs import _count
from bot.storage.postgres.connection import PostgresBase
from bot.storage.postgres.migrations import LOCK_NAMESPACE

# Per owner: two adds at once must not both pass the count below the limit.
REFERENCE_LOCK_NAMESPACE = LOCK_NAMESPACE + 2
_OWNER = "r.scope = $1::text AND r.owner_id = $2::bigint"


class ReferenceTables(PostgresBase):
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
        async with self._tx() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))",
                REFERENCE_LOCK_NAMESPACE,
                f"{scope}:{owner_id}",
            )
            names = [
                r[0]
                for r in await conn.fetch(
                    "SELECT name FROM reference_images r WHERE " + _OWNER, scope, owner_id
                )
            ]
            if name in names:
                return "exists"
            if len(names) >= limit:
                return "full"
            # FOR KEY SHARE: the sweep skips (never deletes) the blob this row adopts.
            stored = await conn.fetchval(
                "SELECT sha256 FROM blobs WHERE sha256 = $1::text FOR KEY SHARE", sha
            )
            if stored is None:
                return None
            await conn.execute(
                "INSERT INTO reference_images (scope, owner_id, name, sha256, added_by,"
                " created_at) VALUES ($1::text, $2::bigint, $3::text, $4::text, $5::bigint,"
                " $6::float8)",
                scope,
                owner_id,
                name,
                sha,
                added_by,
                now,
            )
            row = await conn.fetchrow(
                f"{SELECT_REFERENCES} WHERE {_OWNER} AND r.name = $3::text", scope, owner_id, name
            )
        return reference_record(row)

    async def _list_references(self, scope: str, owner_id: int) -> Sequence[ReferenceImage]:
        rows = await self.pool.fetch(
            f"{SELECT_REFERENCES} WHERE {_OWNER} ORDER BY r.name", scope, owner_id
        )
        return [reference_record(r) for r in rows]

    async def _remove_reference(self, scope: str, owner_id: int, name: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM reference_images r WHERE " + _OWNER + " AND r.name = $3::text",
            scope,
            owner_id,
            name,
        )
        return _count(status) > 0

    async def _find_references(
        self, owners: Sequence[tuple[str, int]], names: Sequence[str]
    ) -> Sequence[ReferenceImage]:
        rows = await self.pool.fetch(
            f"{SELECT_REFERENCES} WHERE (r.scope, r.owner_id) IN"
            " (SELECT * FROM unnest($1::text[], $2::bigint[])) AND r.name = ANY($3::text[])",
            [scope for scope, _ in owners],
            [owner for _, owner in owners],
            list(names),
        )
        return [reference_record(r) for r in rows]
