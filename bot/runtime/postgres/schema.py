"""The runtime's own tables (apart from the store's), migrated under an advisory lock.

Every process runs ``migrate`` at start; the transaction-level lock makes processes
starting together apply each version once. Times are the database's clock (``now()``):
hosts' clocks disagree, the database's is the one every process reads.
"""

from __future__ import annotations

from typing import Any

from bot.runtime.postgres.keys import lock_key

MIGRATIONS: tuple[str, ...] = (
    """
    -- One row per running process; a new id at every start (INSTANCE_NAME:random).
    CREATE TABLE runtime_workers (
        id           text PRIMARY KEY,
        host         text NOT NULL,
        pid          int  NOT NULL,
        started_at   timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now(),
        reaped_by    text              -- the survivor handing this dead one's jobs on
    );
    -- Admissions: one row per job slot held.
    CREATE TABLE runtime_slots (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        owner       text   NOT NULL,
        guild_id    bigint,
        user_id     bigint NOT NULL,
        job_id      bigint,            -- set once the job row exists: quotas count the row
        acquired_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX runtime_slots_by_user  ON runtime_slots (user_id);
    CREATE INDEX runtime_slots_by_guild ON runtime_slots (guild_id);
    CREATE INDEX runtime_slots_by_owner ON runtime_slots (owner);
    -- Chains: each channel's places still holding others, in submission order (seq,
    -- taken under the channel's lock, so it is also commit order within a channel).
    CREATE TABLE runtime_places (
        seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        channel_id bigint  NOT NULL,
        owner      text    NOT NULL,
        new_chain  boolean NOT NULL,
        unread     boolean NOT NULL,
        void       boolean NOT NULL DEFAULT false,  -- a later new chain was recorded
        writing    boolean NOT NULL DEFAULT false   -- writing its turn: one at a time
    );
    CREATE INDEX runtime_places_by_channel ON runtime_places (channel_id, seq);
    CREATE INDEX runtime_places_by_owner   ON runtime_places (owner);
    -- The store barrier: results posted and still being stored.
    CREATE TABLE runtime_storing (
        job_id     bigint PRIMARY KEY,
        channel_id bigint NOT NULL,
        owner      text   NOT NULL
    );
    CREATE INDEX runtime_storing_by_channel ON runtime_storing (channel_id);
    CREATE INDEX runtime_storing_by_owner   ON runtime_storing (owner);
    -- Events acted on once (a message delivered to two sessions); pruned after a day.
    CREATE TABLE runtime_claims (
        kind       text   NOT NULL,
        id         bigint NOT NULL,
        owner      text   NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX runtime_claims_by_time ON runtime_claims (claimed_at);
    -- Named leases for leader-only work.
    CREATE TABLE runtime_leases (
        name       text PRIMARY KEY,
        holder     text NOT NULL,
        expires_at timestamptz NOT NULL
    );
    """,
    """
    -- IDENTIFY pacing: when each rate-limit bucket (shard_id % max_concurrency) is free.
    CREATE TABLE runtime_identify (
        bucket  int PRIMARY KEY,
        next_at timestamptz NOT NULL
    );
    """,
    """
    -- Budgets: what each slot's job is estimated to cost (dollars) while it is in flight.
    ALTER TABLE runtime_slots ADD COLUMN estimate double precision NOT NULL DEFAULT 0;
    """,
    """
    -- Cancel presses for jobs running on another process, until their owner acts.
    CREATE TABLE runtime_cancels (
        job_id       bigint PRIMARY KEY,
        by           bigint NOT NULL,
        owner        text   NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX runtime_cancels_by_owner ON runtime_cancels (owner);
    """,
    """
    -- The servers' lines: jobs waiting for room, in arrival order (seq, taken under the
    -- server's lock, so it is also commit order within a server). A row names what the
    -- order rule needs (bot.runtime.admission.admissible) and what quotas and budgets
    -- count while it waits: its images until it has a job row, its estimate.
    CREATE TABLE runtime_queue (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        guild_id    bigint,
        user_id     bigint  NOT NULL,
        job_id      bigint,
        owner       text    NOT NULL,
        images      int     NOT NULL,
        user_limit  int     NOT NULL,
        guild_limit int     NOT NULL,
        estimate    double precision NOT NULL DEFAULT 0,
        entered_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX runtime_queue_by_guild ON runtime_queue (guild_id, seq);
    CREATE INDEX runtime_queue_by_user  ON runtime_queue (user_id);
    CREATE INDEX runtime_queue_by_owner ON runtime_queue (owner);
    """,
)

MIGRATION_LOCK = lock_key("migrate", "runtime")


async def migrate(pool: Any) -> int:
    """Apply the missing versions in one transaction; the version the database is at."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS runtime_schema ("
            " version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM runtime_schema")
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            await conn.execute(sql)
            await conn.execute("INSERT INTO runtime_schema (version) VALUES ($1::int)", version)
        return len(MIGRATIONS)
