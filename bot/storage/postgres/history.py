"""PostgreSQL: content-addressed blobs (metadata here, bytes in ``TableBlobs``) and turns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.storage import codec
from bot.storage.base import StoredImage, TurnRecord
from bot.storage.errors import BlobNotFound
from bot.storage.postgres.blobs import TableBlobs, _count
from bot.storage.postgres.connection import PostgresBase
from bot.storage.postgres.migrations import HISTORY_LOCK_NAMESPACE
from bot.storage.validation import BlobRef

# A turn's images in one round trip with the turn rows: [[role, sha, mime, w, h], ...].
_IMAGES = (
    "(SELECT COALESCE(json_agg(json_build_array(tb.role, b.sha256, b.mime, b.width, b.height)"
    " ORDER BY tb.role, tb.position), '[]') FROM turn_blobs tb JOIN blobs b USING (sha256)"
    " WHERE tb.turn_id = t.id AND tb.role IN ('input', 'output')) AS images"
)


def _image(row: Any, sha: str) -> StoredImage:
    return StoredImage(sha256=sha, mime=row["mime"], width=row["width"], height=row["height"])


class HistoryTables(PostgresBase):
    async def _put_blob(
        self, sha: str, data: bytes, mime: str, width: int, height: int, *, now: float
    ) -> StoredImage:
        async with self._tx() as conn:
            # Look first: sending tens of MB only to discard them on conflict is a waste.
            row = await conn.fetchrow(
                "UPDATE blobs SET touched_at = $2::float8,"
                " width = CASE WHEN width = 0 THEN $3::int ELSE width END,"
                " height = CASE WHEN height = 0 THEN $4::int ELSE height END"
                " WHERE sha256 = $1::text RETURNING mime, width, height",
                sha,
                now,
                width,
                height,
            )
            if row is not None:
                return _image(row, sha)
            # Another process may be inserting the same bytes: its row wins, ours merges.
            row = await conn.fetchrow(
                "INSERT INTO blobs (sha256, mime, width, height, size, created_at, touched_at)"
                " VALUES ($1::text, $2::text, $3::int, $4::int, $5::bigint, $6::float8,"
                " $6::float8) ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at,"
                " width = CASE WHEN blobs.width = 0 THEN excluded.width ELSE blobs.width END,"
                " height = CASE WHEN blobs.height = 0 THEN excluded.height ELSE blobs.height END"
                " RETURNING mime, width, height",
                sha,
                mime,
                width,
                height,
                len(data),
                now,
            )
            await TableBlobs(conn).put(sha, data)
        return _image(row, sha)

    async def _get_blob(self, sha: str) -> bytes | None:
        try:
            return await self.blobs.get(sha)
        except BlobNotFound:
            return None

    async def _blob_info(self, sha: str) -> StoredImage | None:
        row = await self.pool.fetchrow(
            "SELECT mime, width, height FROM blobs WHERE sha256 = $1::text", sha
        )
        return None if row is None else _image(row, sha)

    async def _adopt_blobs(self, conn: Any, shas: Iterable[str]) -> list[str]:
        """Lock the named blobs against the sweep until commit; the ones not stored."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return []
        rows = await conn.fetch(
            "SELECT sha256 FROM blobs WHERE sha256 = ANY($1::text[]) ORDER BY sha256 FOR KEY SHARE",
            wanted,
        )
        present = {r["sha256"] for r in rows}
        return [s for s in wanted if s not in present]

    async def _lock_channel(self, conn: Any, channel_id: int) -> None:
        # Appends and resets of one channel take turns, so its ids follow commit order
        # and a prune sees every turn before it (two-int key space: see migrations.py).
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1::int, hashtext($2::bigint::text))",
            HISTORY_LOCK_NAMESPACE,
            channel_id,
        )

    async def _append_turn(
        self, turn: TurnRecord, refs: list[BlobRef], keep: int, created: float
    ) -> int:
        raw = None if turn.raw_turn is None else codec.dumps(turn.raw_turn)
        async with self._tx() as conn:
            await self._lock_channel(conn, turn.channel_id)
            missing = await self._adopt_blobs(conn, (sha for _, _, sha in refs))
            if missing:
                raise self._unstored(missing)
            turn_id = int(
                await conn.fetchval(
                    "INSERT INTO turns (channel_id, guild_id, user_id, prompt, model_text,"
                    " raw_turn, job_id, created_at, parent_id) VALUES ($1::bigint, $2::bigint,"
                    " $3::bigint, $4::text, $5::text, $6::json, $7::bigint, $8::float8,"
                    f" ({_HEAD})) RETURNING id",
                    turn.channel_id,
                    turn.guild_id,
                    turn.user_id,
                    turn.prompt,
                    turn.model_text,
                    raw,
                    turn.job_id,
                    created,
                )
            )
            if refs:
                await conn.executemany(
                    "INSERT INTO turn_blobs (turn_id, role, position, sha256)"
                    " VALUES ($1::bigint, $2::text, $3::int, $4::text)",
                    [(turn_id, role, pos, sha) for role, pos, sha in refs],
                )
            await conn.execute(_SET_HEAD, turn.channel_id, turn_id)
            status = await conn.execute(
                "DELETE FROM turns WHERE channel_id = $1::bigint AND id NOT IN"
                " (SELECT id FROM turns WHERE channel_id = $1::bigint ORDER BY id DESC"
                " LIMIT $2::int)",
                turn.channel_id,
                keep,
            )
            if _count(status):
                await self._collect(conn)
        return turn_id

    async def _recent_turns(self, channel_id: int, limit: int) -> Sequence[TurnRecord]:
        # One statement, so the head, the turns and their images are one snapshot.
        return await self._path(f"({_HEAD})", channel_id, limit)

    async def _turn_path(self, channel_id: int, turn_id: int, limit: int) -> Sequence[TurnRecord]:
        return await self._path("$3::bigint", channel_id, limit, turn_id)

    async def _path(self, start: str, channel_id: int, limit: int, *args: Any) -> list[TurnRecord]:
        rows = await self.pool.fetch(
            "WITH RECURSIVE path (id, depth) AS (SELECT id, 0 FROM turns"
            f" WHERE id = {start} AND channel_id = $1::bigint"
            " UNION ALL SELECT t.parent_id, p.depth + 1 FROM path p JOIN turns t ON t.id = p.id"
            " WHERE t.parent_id IS NOT NULL AND p.depth + 1 < $2::int)"
            f" SELECT t.*, {_IMAGES} FROM path p JOIN turns t ON t.id = p.id"
            " AND t.channel_id = $1::bigint ORDER BY p.depth DESC",
            channel_id,
            limit,
            *args,
        )
        return [_record(r) for r in rows]

    async def _list_turns(self, channel_id: int, offset: int, limit: int) -> Sequence[TurnRecord]:
        rows = await self.pool.fetch(
            f"SELECT t.*, {_IMAGES} FROM turns t WHERE t.channel_id = $1::bigint"
            " ORDER BY t.id DESC LIMIT $2::int OFFSET $3::int",
            channel_id,
            limit,
            offset,
        )
        return [_record(r) for r in rows]

    async def _count_turns(self, channel_id: int) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM turns WHERE channel_id = $1::bigint", channel_id
            )
        )

    async def _head_turn(self, channel_id: int) -> int | None:
        head = await self.pool.fetchval(_HEAD, channel_id)
        return None if head is None else int(head)

    async def _set_head(self, channel_id: int, turn_id: int) -> bool:
        async with self._tx() as conn:
            await self._lock_channel(conn, channel_id)
            found = await conn.fetchval(
                "SELECT 1 FROM turns WHERE id = $2::bigint AND channel_id = $1::bigint",
                channel_id,
                turn_id,
            )
            if found is None:
                return False
            await conn.execute(_SET_HEAD, channel_id, turn_id)
        return True

    async def _reset_history(self, channel_id: int) -> int:
        async with self._tx() as conn:
            await self._lock_channel(conn, channel_id)
            await conn.execute(
                "DELETE FROM channel_heads WHERE channel_id = $1::bigint", channel_id
            )
            removed = _count(
                await conn.execute("DELETE FROM turns WHERE channel_id = $1::bigint", channel_id)
            )
            if removed:
                await self._collect(conn)
        return removed


# The head of channel $1: the turn set_head chose while it is kept, else the newest turn.
_HEAD = (
    "SELECT COALESCE((SELECT h.turn_id FROM channel_heads h JOIN turns ht ON ht.id = h.turn_id"
    " WHERE h.channel_id = $1::bigint),"
    " (SELECT max(id) FROM turns WHERE channel_id = $1::bigint))"
)
_SET_HEAD = (
    "INSERT INTO channel_heads (channel_id, turn_id) VALUES ($1::bigint, $2::bigint)"
    " ON CONFLICT (channel_id) DO UPDATE SET turn_id = excluded.turn_id"
)


def _record(r: Any) -> TurnRecord:
    images: dict[str, list[StoredImage]] = {"input": [], "output": []}
    for role, sha, mime, width, height in codec.loads(r["images"]):
        images[role].append(StoredImage(sha, mime, width, height))
    return TurnRecord(
        channel_id=r["channel_id"],
        guild_id=r["guild_id"],
        user_id=r["user_id"],
        prompt=r["prompt"],
        inputs=tuple(images["input"]),
        outputs=tuple(images["output"]),
        model_text=r["model_text"],
        raw_turn=codec.loads(r["raw_turn"]),
        job_id=r["job_id"],
        id=r["id"],
        created_at=r["created_at"],
        parent_id=r["parent_id"],
    )
