"""PostgreSQL schema as forward migrations. Append a new version; never edit a shipped one.

``MIGRATIONS`` is a plain list of ``(version, sql)``; ``migrate`` applies the missing ones
in one transaction after ``pg_advisory_xact_lock(LOCK_NAMESPACE, MIGRATION_LOCK)``, so
processes starting together wait for the first instead of racing it.

Version 1 holds what SQLite's v1-v5 hold, version 2 SQLite's v6, version 3 SQLite's v7,
version 4 SQLite's v8, version 5 SQLite's v9 (``bot/storage/sqlite/migrations.py``). Times
are the store's clock in epoch seconds (``double precision``, as SQLite's REAL), since
``Store`` promises its callers exactly the times its clock gave. The runtime's shared
tables (workers, leases, slots) are ``bot/runtime/postgres``'s own and use ``now()``.
"""

from __future__ import annotations

from typing import Any

from bot.errors import ConfigError

# Advisory locks the store takes, in the two-int key space (which never overlaps the
# one-bigint space the runtime may lock guild, member and channel ids in): ('imag').
LOCK_NAMESPACE = 0x696D6167
MIGRATION_LOCK = 0
# Per channel: history appends and resets take turns, so ids follow commit order.
HISTORY_LOCK_NAMESPACE = LOCK_NAMESPACE + 1

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        -- Only the values an admin set (merged with ||); the key ciphertext in its own column.
        CREATE TABLE guild_settings (
            guild_id bigint PRIMARY KEY,
            overrides jsonb NOT NULL DEFAULT '{}',
            gateway_key_encrypted bytea,
            updated_at double precision NOT NULL
        );

        -- Blob metadata; the bytes are in blob_data (bot.storage.blobs.BlobStore), so the
        -- sweep and every turn or job query read these small rows only.
        CREATE TABLE blobs (
            sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            mime text NOT NULL,
            width integer NOT NULL DEFAULT 0 CHECK (width >= 0),
            height integer NOT NULL DEFAULT 0 CHECK (height >= 0),
            size bigint NOT NULL,
            created_at double precision NOT NULL,
            touched_at double precision NOT NULL
        );
        CREATE INDEX blobs_by_touched ON blobs (touched_at);
        CREATE TABLE blob_data (
            sha256 text PRIMARY KEY REFERENCES blobs ON DELETE CASCADE,
            data bytea NOT NULL
        );
        -- PNG, JPEG and WEBP are compressed already: TOAST would only spend CPU trying.
        ALTER TABLE blob_data ALTER COLUMN data SET STORAGE EXTERNAL;

        -- raw_turn, params and result are json, not jsonb: kept verbatim (key order, and
        -- the \\u0000 a gateway's text may hold, which jsonb refuses).
        CREATE TABLE turns (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            channel_id bigint NOT NULL,
            guild_id bigint,
            user_id bigint NOT NULL,
            prompt text NOT NULL,
            model_text text NOT NULL DEFAULT '',
            raw_turn json,
            job_id bigint,
            created_at double precision NOT NULL
        );
        CREATE INDEX turns_by_channel ON turns (channel_id, id);
        -- Every blob a turn uses: its inputs, outputs, and the {"$blob"} refs in raw_turn.
        CREATE TABLE turn_blobs (
            turn_id bigint NOT NULL REFERENCES turns ON DELETE CASCADE,
            role text NOT NULL CHECK (role IN ('input', 'output', 'raw')),
            position integer NOT NULL,
            sha256 text NOT NULL REFERENCES blobs,
            PRIMARY KEY (turn_id, role, position)
        );
        CREATE INDEX turn_blobs_by_sha ON turn_blobs (sha256);

        -- owner: the instance (INSTANCE_NAME, or a runtime's process id) running the job;
        -- text as in SQLite, with no foreign key: the row outlives its process.
        CREATE TABLE jobs (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL,
            guild_id bigint,
            channel_id bigint NOT NULL,
            user_id bigint NOT NULL,
            prompt text NOT NULL,
            state text NOT NULL
                CHECK (state IN ('queued', 'running', 'done', 'failed', 'interrupted')),
            params json NOT NULL DEFAULT '{}',
            result json NOT NULL DEFAULT '{}',
            interaction_token text,
            message_id bigint,
            created_at double precision NOT NULL,
            started_at double precision,
            finished_at double precision,
            counted boolean NOT NULL DEFAULT true,
            owner text NOT NULL DEFAULT 'default'
        );
        CREATE INDEX jobs_by_guild ON jobs (guild_id, created_at) WHERE counted;
        CREATE INDEX jobs_by_user ON jobs (user_id, created_at) WHERE counted;
        CREATE INDEX jobs_by_created ON jobs (created_at);
        CREATE INDEX jobs_unfinished ON jobs (owner) WHERE state IN ('queued', 'running');
        CREATE INDEX jobs_by_finished ON jobs (finished_at)
            WHERE state IN ('done', 'failed', 'interrupted');
        CREATE TABLE job_blobs (
            job_id bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
            sha256 text NOT NULL REFERENCES blobs,
            PRIMARY KEY (job_id, sha256)
        );
        CREATE INDEX job_blobs_by_sha ON job_blobs (sha256);

        -- guild_id 0 stands for direct messages: NULL would defeat the primary key.
        CREATE TABLE usage (
            guild_id bigint NOT NULL,
            user_id bigint NOT NULL,
            day integer NOT NULL,
            jobs integer NOT NULL DEFAULT 0,
            images bigint NOT NULL DEFAULT 0,
            tokens bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (guild_id, day, user_id)
        );

        CREATE TABLE size_observations (
            gateway text NOT NULL,
            model text NOT NULL,
            dialect text NOT NULL,
            asked text NOT NULL,
            delivered text NOT NULL,
            size_honoured boolean,
            ratio_honoured boolean,
            seen_at double precision NOT NULL,
            PRIMARY KEY (gateway, model, dialect)
        );

        CREATE TABLE meta (
            key text PRIMARY KEY,
            value text NOT NULL,
            updated_at double precision NOT NULL
        );
        """,
    ),
    (
        2,
        """
        -- What a job weighs in the quotas: /imagine count:4 makes four images, so it
        -- counts four (quotas read sum(images) of the counted rows); SQLite's v6.
        ALTER TABLE jobs ADD COLUMN images integer NOT NULL DEFAULT 1 CHECK (images >= 0);
        """,
    ),
    (
        3,
        """
        -- A member's own defaults (/preferences), the same in every server: only those set;
        -- SQLite's v7.
        CREATE TABLE member_preferences (
            user_id bigint PRIMARY KEY,
            preferences jsonb NOT NULL,
            updated_at double precision NOT NULL
        );
        """,
    ),
    (
        4,
        """
        -- The reference library (/ref): a member's images (scope 'member', owner the user
        -- id) and a server's (scope 'server', owner the guild id), by lower-case name. The
        -- blob sweep keeps every blob a row names; SQLite's v8.
        CREATE TABLE reference_images (
            scope text NOT NULL CHECK (scope IN ('member', 'server')),
            owner_id bigint NOT NULL,
            name text NOT NULL,
            sha256 text NOT NULL REFERENCES blobs,
            added_by bigint NOT NULL,
            created_at double precision NOT NULL,
            PRIMARY KEY (scope, owner_id, name)
        );
        CREATE INDEX reference_images_by_sha ON reference_images (sha256);
        """,
    ),
    (
        5,
        """
        -- Costs in money (bot.costs): what a job cost once it ended (NULL: not priced),
        -- and each day's sum in usage, which a monthly budget reads; SQLite's v9.
        ALTER TABLE jobs ADD COLUMN cost double precision CHECK (cost >= 0);
        ALTER TABLE usage ADD COLUMN cost double precision NOT NULL DEFAULT 0;
        """,
    ),
    (
        6,
        """
        -- The edit tree (/history): a turn's parent is the turn it edited; older rows were
        -- a line, so each one's parent is the channel's turn before it. No foreign key: a
        -- pruned parent simply ends the path there. The head is the turn the next edit
        -- continues from; no row (or a gone turn): the newest. SQLite's v10.
        ALTER TABLE turns ADD COLUMN parent_id bigint;
        UPDATE turns SET parent_id = p.prev FROM (SELECT id,
            lag(id) OVER (PARTITION BY channel_id ORDER BY id) AS prev FROM turns) p
            WHERE p.id = turns.id;
        CREATE INDEX turns_by_parent ON turns (parent_id);
        CREATE TABLE channel_heads (
            channel_id bigint PRIMARY KEY,
            turn_id bigint REFERENCES turns ON DELETE CASCADE
        );
        """,
    ),
]

LATEST_VERSION = max(version for version, _ in MIGRATIONS)


async def migrate(conn: Any) -> int:
    """Bring the database to LATEST_VERSION on ``conn``; returns the version found before."""
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1::int, $2::int)", LOCK_NAMESPACE, MIGRATION_LOCK
        )
        # After the lock: a process that waited sees the table the first one committed.
        if await conn.fetchval("SELECT to_regclass('schema_version') IS NULL"):
            await conn.execute(
                "CREATE TABLE schema_version (version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        found = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        if found > LATEST_VERSION:
            raise ConfigError(
                f"The database (DATABASE_URL) was written by a newer version of the bot "
                f"(schema {found}, this version knows {LATEST_VERSION}). Upgrade the bot."
            )
        for version, sql in MIGRATIONS:
            if version > found:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1::int)", version)
    return found
