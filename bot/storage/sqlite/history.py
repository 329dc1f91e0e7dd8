"""SQLite: content-addressed blobs and per-channel history turns."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from bot.storage import codec
from bot.storage.base import StoredImage, TurnRecord
from bot.storage.sqlite.connection import SQLiteBase, fetchall, fetchone, placeholders
from bot.storage.validation import BlobRef


class HistoryTables(SQLiteBase):
    async def _put_blob(
        self, sha: str, data: bytes, mime: str, width: int, height: int, *, now: float
    ) -> StoredImage:
        return await self._transaction(self._put_blob_in, sha, data, mime, width, height, now)

    @staticmethod
    def _put_blob_in(
        conn: sqlite3.Connection,
        sha: str,
        data: bytes,
        mime: str,
        width: int,
        height: int,
        now: float,
    ) -> StoredImage:
        # Look first: binding tens of MB only to discard them on conflict is a waste.
        row = fetchone(
            conn,
            "UPDATE blobs SET touched_at = ?,"
            " width = CASE WHEN width = 0 THEN ? ELSE width END,"
            " height = CASE WHEN height = 0 THEN ? ELSE height END"
            " WHERE sha256 = ? RETURNING mime, width, height",
            (now, width, height, sha),
        )
        if row is None:
            conn.execute(
                "INSERT INTO blobs"
                " (sha256, mime, width, height, size, created_at, touched_at, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sha, mime, width, height, len(data), now, now, data),
            )
            return StoredImage(sha256=sha, mime=mime, width=width, height=height)
        return StoredImage(sha256=sha, mime=row["mime"], width=row["width"], height=row["height"])

    async def _get_blob(self, sha: str) -> bytes | None:
        async with self._read() as db:
            row = await self._fetchone(db, "SELECT data FROM blobs WHERE sha256 = ?", (sha,))
        return None if row is None else row[0]

    async def _blob_info(self, sha: str) -> StoredImage | None:
        async with self._read() as db:
            row = await self._fetchone(
                db, "SELECT mime, width, height FROM blobs WHERE sha256 = ?", (sha,)
            )
        if row is None:
            return None
        return StoredImage(sha256=sha, mime=row["mime"], width=row["width"], height=row["height"])

    @staticmethod
    def _missing_blobs(conn: sqlite3.Connection, shas: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return []
        rows = fetchall(
            conn, f"SELECT sha256 FROM blobs WHERE sha256 IN ({placeholders(len(wanted))})", wanted
        )
        present = {r[0] for r in rows}
        return [s for s in wanted if s not in present]

    async def _append_turn(
        self, turn: TurnRecord, refs: list[BlobRef], keep: int, created: float
    ) -> int:
        raw = None if turn.raw_turn is None else codec.dumps(turn.raw_turn)
        return await self._transaction(self._append_turn_in, turn, refs, keep, created, raw)

    def _append_turn_in(
        self,
        conn: sqlite3.Connection,
        turn: TurnRecord,
        refs: list[BlobRef],
        keep: int,
        created: float,
        raw: str | None,
    ) -> int:
        missing = self._missing_blobs(conn, (sha for _, _, sha in refs))
        if missing:
            raise self._unstored(missing)
        head = fetchone(conn, _HEAD, (turn.channel_id, turn.channel_id))
        row = fetchone(
            conn,
            "INSERT INTO turns (channel_id, guild_id, user_id, prompt, model_text, raw_turn,"
            " job_id, created_at, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                turn.channel_id,
                turn.guild_id,
                turn.user_id,
                turn.prompt,
                turn.model_text,
                raw,
                turn.job_id,
                created,
                None if head is None else head[0],
            ),
        )
        assert row is not None
        turn_id = int(row[0])
        conn.executemany(
            "INSERT INTO turn_blobs (turn_id, role, position, sha256) VALUES (?, ?, ?, ?)",
            [(turn_id, role, pos, sha) for role, pos, sha in refs],
        )
        conn.execute(_SET_HEAD, (turn.channel_id, turn_id))
        cur = conn.execute(
            "DELETE FROM turns WHERE channel_id = ? AND id NOT IN"
            " (SELECT id FROM turns WHERE channel_id = ? ORDER BY id DESC LIMIT ?)",
            (turn.channel_id, turn.channel_id, keep),
        )
        if cur.rowcount:
            self._collect(conn)
        return turn_id

    async def _recent_turns(self, channel_id: int, limit: int) -> Sequence[TurnRecord]:
        async with self._read() as db:
            head = await self._fetchone(db, _HEAD, (channel_id, channel_id))
            if head is None or head[0] is None:
                return []
            return await self._path_in(db, channel_id, int(head[0]), limit)

    async def _turn_path(self, channel_id: int, turn_id: int, limit: int) -> Sequence[TurnRecord]:
        async with self._read() as db:
            return await self._path_in(db, channel_id, turn_id, limit)

    async def _path_in(
        self, db: Any, channel_id: int, turn_id: int, limit: int
    ) -> Sequence[TurnRecord]:
        rows = await self._fetchall(
            db,
            "WITH RECURSIVE path (id, depth) AS (SELECT id, 0 FROM turns"
            " WHERE id = ? AND channel_id = ? UNION ALL SELECT t.parent_id, p.depth + 1"
            " FROM path p JOIN turns t ON t.id = p.id"
            " WHERE t.parent_id IS NOT NULL AND p.depth + 1 < ?)"
            " SELECT t.* FROM path p JOIN turns t ON t.id = p.id AND t.channel_id = ?"
            " ORDER BY p.depth DESC",
            (turn_id, channel_id, limit, channel_id),
        )
        return await self._records(db, rows)

    async def _list_turns(self, channel_id: int, offset: int, limit: int) -> Sequence[TurnRecord]:
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                "SELECT * FROM turns WHERE channel_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                (channel_id, limit, offset),
            )
            return await self._records(db, rows)

    async def _count_turns(self, channel_id: int) -> int:
        async with self._read() as db:
            row = await self._fetchone(
                db, "SELECT COUNT(*) FROM turns WHERE channel_id = ?", (channel_id,)
            )
        return 0 if row is None else int(row[0])

    async def _head_turn(self, channel_id: int) -> int | None:
        async with self._read() as db:
            row = await self._fetchone(db, _HEAD, (channel_id, channel_id))
        return None if row is None or row[0] is None else int(row[0])

    async def _set_head(self, channel_id: int, turn_id: int) -> bool:
        return await self._transaction(self._set_head_in, channel_id, turn_id)

    @staticmethod
    def _set_head_in(conn: sqlite3.Connection, channel_id: int, turn_id: int) -> bool:
        found = fetchone(
            conn, "SELECT 1 FROM turns WHERE id = ? AND channel_id = ?", (turn_id, channel_id)
        )
        if found is None:
            return False
        conn.execute(_SET_HEAD, (channel_id, turn_id))
        return True

    async def _records(self, db: Any, rows: Sequence[Any]) -> list[TurnRecord]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        images = await self._fetchall(
            db,
            "SELECT t.turn_id, t.role, b.sha256, b.mime, b.width, b.height"
            " FROM turn_blobs t JOIN blobs b ON b.sha256 = t.sha256"
            f" WHERE t.turn_id IN ({placeholders(len(ids))}) AND t.role IN ('input', 'output')"
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
                parent_id=r["parent_id"],
            )
            for r in rows
        ]

    async def _reset_history(self, channel_id: int) -> int:
        return await self._transaction(self._reset_history_in, channel_id)

    def _reset_history_in(self, conn: sqlite3.Connection, channel_id: int) -> int:
        conn.execute("DELETE FROM channel_heads WHERE channel_id = ?", (channel_id,))
        removed: int = conn.execute(
            "DELETE FROM turns WHERE channel_id = ?", (channel_id,)
        ).rowcount
        if removed:
            self._collect(conn)
        return removed


# The head: the turn set_head chose while it is kept, else the newest turn.
_HEAD = (
    "SELECT COALESCE((SELECT h.turn_id FROM channel_heads h JOIN turns t ON t.id = h.turn_id"
    " WHERE h.channel_id = ?), (SELECT MAX(id) FROM turns WHERE channel_id = ?))"
)
_SET_HEAD = (
    "INSERT INTO channel_heads (channel_id, turn_id) VALUES (?, ?)"
    " ON CONFLICT (channel_id) DO UPDATE SET turn_id = excluded.turn_id"
)
