"""PostgreSQL: what /settings reads and writes (guild settings, usage, delivered sizes, meta)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple
from typing import Any

from bot.storage import codec
from bot.storage.base import SizeObservation, UsageRow
from bot.storage.driver import Overrides
from bot.storage.postgres.connection import PostgresBase


def _overrides(row: Any) -> Overrides:
    if row is None:
        return {}, None
    key = row["gateway_key_encrypted"]
    return dict(codec.loads(row["overrides"])), None if key is None else bytes(key)


class SettingsTables(PostgresBase):
    async def _load_settings(self, guild_id: int) -> Overrides:
        # One round trip: the pool does not reset connections (see connection.py).
        row = await self.pool.fetchrow(
            "SELECT overrides, gateway_key_encrypted FROM guild_settings"
            " WHERE guild_id = $1::bigint",
            guild_id,
        )
        return _overrides(row)

    async def _save_settings(self, guild_id: int, changes: dict[str, Any]) -> Overrides:
        changes = dict(changes)
        sets_key = "gateway_key_encrypted" in changes
        key = changes.pop("gateway_key_encrypted", None)
        # One statement merges into whatever is stored (jsonb ||), so two admins saving
        # different settings at once from two processes both keep theirs.
        row = await self.pool.fetchrow(
            "INSERT INTO guild_settings (guild_id, overrides, gateway_key_encrypted, updated_at)"
            " VALUES ($1::bigint, $2::jsonb, $3::bytea, $4::float8)"
            " ON CONFLICT (guild_id) DO UPDATE SET"
            " overrides = guild_settings.overrides || excluded.overrides,"
            " gateway_key_encrypted = CASE WHEN $5::boolean"
            " THEN excluded.gateway_key_encrypted ELSE guild_settings.gateway_key_encrypted END,"
            " updated_at = excluded.updated_at"
            " RETURNING overrides, gateway_key_encrypted",
            guild_id,
            codec.dumps(changes),
            key,
            self._clock(),
            sets_key,
        )
        return _overrides(row)

    async def _rotate_keys(self, rotate: Callable[[bytes], bytes | None]) -> int:
        async with self._tx() as conn:
            rows = await conn.fetch(
                "SELECT guild_id, gateway_key_encrypted FROM guild_settings"
                " WHERE gateway_key_encrypted IS NOT NULL ORDER BY guild_id FOR UPDATE"
            )
            changes = []
            for row in rows:
                new = rotate(bytes(row["gateway_key_encrypted"]))
                if new is not None:
                    changes.append((new, row["guild_id"]))
            await conn.executemany(
                "UPDATE guild_settings SET gateway_key_encrypted = $1::bytea"
                " WHERE guild_id = $2::bigint",
                changes,
            )
        return len(changes)

    async def _record_usage(
        self, guild_id: int | None, user_id: int, day: int, images: int, tokens: int, cost: float
    ) -> None:
        # guild_id 0 stands for direct messages (see the schema).
        await self.pool.execute(
            "INSERT INTO usage (guild_id, user_id, day, jobs, images, tokens, cost)"
            " VALUES ($1::bigint, $2::bigint, $3::int, 1, $4::bigint, $5::bigint, $6::float8)"
            " ON CONFLICT (guild_id, day, user_id) DO UPDATE SET jobs = usage.jobs + 1,"
            " images = usage.images + excluded.images, tokens = usage.tokens + excluded.tokens,"
            " cost = usage.cost + excluded.cost",
            guild_id or 0,
            user_id,
            day,
            images,
            tokens,
            cost,
        )

    async def _usage_summary(self, guild_id: int, first_day: int) -> Sequence[UsageRow]:
        rows = await self.pool.fetch(
            "SELECT user_id, SUM(jobs) AS jobs, SUM(images) AS images, SUM(tokens) AS tokens,"
            " SUM(cost) AS cost"
            " FROM usage WHERE guild_id = $1::bigint AND day >= $2::int GROUP BY user_id"
            " ORDER BY SUM(images) DESC, SUM(tokens) DESC, user_id",
            guild_id,
            first_day,
        )
        return [
            UsageRow(
                user_id=r["user_id"],
                jobs=int(r["jobs"]),
                images=int(r["images"]),
                tokens=int(r["tokens"]),
                cost=round(float(r["cost"]), 6),
            )
            for r in rows
        ]

    async def _spend(self, guild_id: int, first_day: int) -> float:
        total = await self.pool.fetchval(
            "SELECT COALESCE(SUM(cost), 0) FROM usage"
            " WHERE guild_id = $1::bigint AND day >= $2::int",
            guild_id,
            first_day,
        )
        return round(float(total), 6)

    async def _record_size_check(self, seen: SizeObservation) -> None:
        await self.pool.execute(
            "INSERT INTO size_observations (gateway, model, dialect, asked, delivered,"
            " size_honoured, ratio_honoured, seen_at)"
            " VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::boolean,"
            " $7::boolean, $8::float8)"
            " ON CONFLICT (gateway, model, dialect) DO UPDATE SET asked = excluded.asked,"
            " delivered = excluded.delivered, size_honoured = excluded.size_honoured,"
            " ratio_honoured = excluded.ratio_honoured, seen_at = excluded.seen_at",
            *astuple(seen),  # the fields in the columns' order
        )

    async def _size_checks(self, gateway: str, model: str | None) -> list[SizeObservation]:
        rows = await self.pool.fetch(
            "SELECT gateway, model, dialect, asked, delivered, size_honoured, ratio_honoured,"
            " seen_at FROM size_observations"
            " WHERE gateway = $1::text AND ($2::text IS NULL OR model = $2::text)"
            ' ORDER BY seen_at DESC, dialect COLLATE "C"',
            gateway,
            model,
        )
        return [SizeObservation(**dict(r)) for r in rows]

    async def _get_meta(self, key: str) -> str | None:
        value = await self.pool.fetchval("SELECT value FROM meta WHERE key = $1::text", key)
        return None if value is None else str(value)

    async def _set_meta(self, key: str, value: str | None, *, now: float) -> None:
        if value is None:
            await self.pool.execute("DELETE FROM meta WHERE key = $1::text", key)
            return
        await self.pool.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES ($1::text, $2::text, $3::float8)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            key,
            value,
            now,
        )
