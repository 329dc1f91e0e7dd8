"""SQLite: what /settings reads and writes (guild settings, usage, delivered sizes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from bot.storage import codec
from bot.storage.base import SizeObservation, UsageRow
from bot.storage.driver import Overrides
from bot.storage.sqlite.connection import SQLiteBase


class SettingsTables(SQLiteBase):
    async def _load_settings(self, guild_id: int) -> Overrides:
        async with self._read() as db:
            return await self._overrides(db, guild_id)

    async def _overrides(self, db: aiosqlite.Connection, guild_id: int) -> Overrides:
        # The key ciphertext has its own BLOB column; JSON would need it encoded.
        row = await self._fetchone(
            db,
            "SELECT overrides, gateway_key_encrypted FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        )
        if row is None:
            return {}, None
        return dict(codec.loads(row["overrides"])), row["gateway_key_encrypted"]

    async def _save_settings(self, guild_id: int, changes: dict[str, Any]) -> Overrides:
        changes = dict(changes)
        async with self._write() as db:
            overrides, key = await self._overrides(db, guild_id)
            if "gateway_key_encrypted" in changes:
                key = changes.pop("gateway_key_encrypted")
            overrides.update(changes)
            await db.execute(
                "INSERT INTO guild_settings"
                " (guild_id, overrides, gateway_key_encrypted, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET"
                " overrides = excluded.overrides,"
                " gateway_key_encrypted = excluded.gateway_key_encrypted,"
                " updated_at = excluded.updated_at",
                (guild_id, codec.dumps(overrides), key, self._clock()),
            )
        return overrides, key

    async def _rotate_keys(self, rotate: Callable[[bytes], bytes | None]) -> int:
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

    async def _record_usage(
        self, guild_id: int | None, user_id: int, day: int, images: int, tokens: int, cost: float
    ) -> None:
        # guild_id 0 stands for direct messages (see the schema).
        await self._transaction(
            _execute,
            "INSERT INTO usage (guild_id, user_id, day, jobs, images, tokens, cost)"
            " VALUES (?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (guild_id, day, user_id) DO UPDATE SET jobs = jobs + 1,"
            " images = images + excluded.images, tokens = tokens + excluded.tokens,"
            " cost = cost + excluded.cost",
            (guild_id or 0, user_id, day, images, tokens, cost),
        )

    async def _usage_summary(self, guild_id: int, first_day: int) -> Sequence[UsageRow]:
        async with self._read() as db:
            rows = await self._fetchall(
                db,
                "SELECT user_id, SUM(jobs), SUM(images), SUM(tokens), SUM(cost) FROM usage"
                " WHERE guild_id = ? AND day >= ? GROUP BY user_id"
                " ORDER BY SUM(images) DESC, SUM(tokens) DESC, user_id",
                (guild_id, first_day),
            )
        return [
            UsageRow(user_id=r[0], jobs=r[1], images=r[2], tokens=r[3], cost=round(r[4], 6))
            for r in rows
        ]

    async def _spend(self, guild_id: int, first_day: int) -> float:
        async with self._read() as db:
            row = await self._fetchone(
                db,
                "SELECT COALESCE(SUM(cost), 0) FROM usage WHERE guild_id = ? AND day >= ?",
                (guild_id, first_day),
            )
        return round(float(row[0]), 6) if row else 0.0

    async def _record_size_check(self, seen: SizeObservation) -> None:
        await self._transaction(
            _execute,
            "INSERT INTO size_observations (gateway, model, dialect, asked, delivered,"
            " size_honoured, ratio_honoured, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (gateway, model, dialect) DO UPDATE SET asked = excluded.asked,"
            " delivered = excluded.delivered, size_honoured = excluded.size_honoured,"
            " ratio_honoured = excluded.ratio_honoured, seen_at = excluded.seen_at",
            (
                seen.gateway,
                seen.model,
                seen.dialect,
                seen.asked,
                seen.delivered,
                seen.size_honoured,
                seen.ratio_honoured,
                seen.seen_at,
            ),
        )

    async def _size_checks(self, gateway: str, model: str | None) -> list[SizeObservation]:
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

    async def _get_meta(self, key: str) -> str | None:
        async with self._read() as db:
            rows = await self._fetchall(db, "SELECT value FROM meta WHERE key = ?", [key])
        return rows[0][0] if rows else None

    async def _set_meta(self, key: str, value: str | None, *, now: float) -> None:
        async with self._write() as db:
            if value is None:
                await db.execute("DELETE FROM meta WHERE key = ?", (key,))
                return
            await db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, value, now),
            )


def _execute(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> None:
    conn.execute(sql, params)
