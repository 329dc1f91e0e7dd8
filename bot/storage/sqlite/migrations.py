"""SQLite schema as forward migrations. Append a new version; never edit a shipped one."""

from __future__ import annotations

import aiosqlite

from bot.errors import ConfigError

# version -> statements, applied in one transaction with the version row.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        # Only the values an admin set; the key ciphertext gets a real BLOB column.
        """CREATE TABLE guild_settings (
            guild_id INTEGER PRIMARY KEY,
            overrides TEXT NOT NULL DEFAULT '{}',
            gateway_key_encrypted BLOB,
            updated_at REAL NOT NULL
        )""",
        # data last: scanning the metadata columns then never reads the overflow pages.
        """CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            mime TEXT NOT NULL,
            width INTEGER NOT NULL DEFAULT 0,
            height INTEGER NOT NULL DEFAULT 0,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL,
            touched_at REAL NOT NULL,
            data BLOB NOT NULL
        )""",
        # Covers the garbage sweep, so it never reads the rows of blobs it keeps.
        "CREATE INDEX blobs_by_touched ON blobs (touched_at, sha256)",
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel_id INTEGER NOT NULL,
            guild_id INTEGER,
            user_id INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            model_text TEXT NOT NULL DEFAULT '',
            raw_turn TEXT,
            job_id INTEGER,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX turns_by_channel ON turns (channel_id, id)",
        # Every blob a turn uses: its inputs, outputs, and the {"$blob"} refs in raw_turn.
        """CREATE TABLE turn_blobs (
            turn_id INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('input', 'output', 'raw')),
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES blobs (sha256),
            PRIMARY KEY (turn_id, role, position)
        )""",
        "CREATE INDEX turn_blobs_by_sha ON turn_blobs (sha256)",
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            guild_id INTEGER,
            channel_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('queued', 'running', 'done', 'failed', 'interrupted')),
            params TEXT NOT NULL DEFAULT '{}',
            result TEXT NOT NULL DEFAULT '{}',
            interaction_token TEXT,
            message_id INTEGER,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL
        )""",
        "CREATE INDEX jobs_by_guild ON jobs (guild_id, created_at)",
        "CREATE INDEX jobs_by_user ON jobs (user_id, created_at)",
        "CREATE INDEX jobs_by_created ON jobs (created_at)",
        "CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'running')",
        """CREATE TABLE job_blobs (
            job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            sha256 TEXT NOT NULL REFERENCES blobs (sha256),
            PRIMARY KEY (job_id, sha256)
        )""",
        "CREATE INDEX job_blobs_by_sha ON job_blobs (sha256)",
        # guild_id 0 stands for direct messages: NULL would defeat the primary key.
        """CREATE TABLE usage (
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            day INTEGER NOT NULL,
            jobs INTEGER NOT NULL DEFAULT 0,
            images INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (guild_id, day, user_id)
        )""",
    ),
    2: (
        # Whether a job counts toward the hourly/daily quotas: a job the gateway failed
        # (down, timed out, out of credit) cost the member nothing and should not.
        "ALTER TABLE jobs ADD COLUMN counted INTEGER NOT NULL DEFAULT 1",
        "UPDATE jobs SET counted = 0 WHERE state = 'interrupted'",
        # Expiry goes by finish time (see delete_jobs_before).
        "CREATE INDEX jobs_by_finished ON jobs (finished_at)"
        " WHERE state IN ('done', 'failed', 'interrupted')",
    ),
    3: (
        # Whether a gateway honoured image_size / aspect_ratio, the last time per form of
        # request (dialect). ``gateway`` is the base URL without credentials, for admins.
        """CREATE TABLE size_observations (
            gateway TEXT NOT NULL,
            model TEXT NOT NULL,
            dialect TEXT NOT NULL,
            asked TEXT NOT NULL,
            delivered TEXT NOT NULL,
            size_honoured INTEGER,
            ratio_honoured INTEGER,
            seen_at REAL NOT NULL,
            PRIMARY KEY (gateway, model, dialect)
        )""",
    ),
    4: (
        # The instance (INSTANCE_NAME) that runs the job, so a start-up interrupts only
        # its own; every job before this was the one default instance's.
        "ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'default'",
        "DROP INDEX jobs_unfinished",
        "CREATE INDEX jobs_unfinished ON jobs (owner) WHERE state IN ('queued', 'running')",
    ),
    5: (
        # The bot's own bookkeeping: e.g. the hash of the command set last synced to
        # Discord, so a restart does not spend one of Discord's daily command creates.
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
    6: (
        # What a job weighs in the quotas: /imagine count:4 makes four images, so it
        # counts four (quotas read SUM(images) of the counted rows).
        "ALTER TABLE jobs ADD COLUMN images INTEGER NOT NULL DEFAULT 1",
    ),
    7: (
        # A member's own defaults (/preferences), the same in every server: only those set.
        """CREATE TABLE member_preferences (
            user_id INTEGER PRIMARY KEY,
            preferences TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
    8: (
        # The reference library (/ref): a member's images (scope 'member', owner the user
        # id) and a server's (scope 'server', owner the guild id), by lower-case name. The
        # blob sweep keeps every blob a row names, so a reference outlives jobs and history.
        """CREATE TABLE reference_images (
            scope TEXT NOT NULL CHECK (scope IN ('member', 'server')),
            owner_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES blobs (sha256),
            added_by INTEGER NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (scope, owner_id, name)
        )""",
        "CREATE INDEX reference_images_by_sha ON reference_images (sha256)",
    ),
    9: (
        # Costs in money (bot.costs): what a job cost once it ended (NULL: not priced),
        # and each day's sum in usage, which a monthly budget reads (jobs expire sooner).
        "ALTER TABLE jobs ADD COLUMN cost REAL",
        "ALTER TABLE usage ADD COLUMN cost REAL NOT NULL DEFAULT 0",
    ),
    10: (
        # The edit tree (/history): a turn's parent is the turn it edited; older rows were
        # a line, so each one's parent is the channel's turn before it. No foreign key: a
        # pruned parent simply ends the path there.
        "ALTER TABLE turns ADD COLUMN parent_id INTEGER",
        "UPDATE turns SET parent_id = (SELECT MAX(p.id) FROM turns p"
        " WHERE p.channel_id = turns.channel_id AND p.id < turns.id)",
        "CREATE INDEX turns_by_parent ON turns (parent_id)",
        # The turn the next edit continues from; no row (or a gone turn): the newest.
        """CREATE TABLE channel_heads (
            channel_id INTEGER PRIMARY KEY,
            turn_id INTEGER REFERENCES turns (id) ON DELETE CASCADE
        )""",
    ),
}

LATEST_VERSION = max(MIGRATIONS)


async def migrate(db: aiosqlite.Connection, now: float) -> int:
    """Bring the database to LATEST_VERSION; returns the version found before."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        async with db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
            row = await cur.fetchone()
        found = int(row[0]) if row else 0
        if found > LATEST_VERSION:
            raise ConfigError(
                f"The database (DATABASE_URL) was written by a newer version of the bot "
                f"(schema {found}, this version knows {LATEST_VERSION}). Upgrade the bot."
            )
        for version in range(found + 1, LATEST_VERSION + 1):
            for statement in MIGRATIONS[version]:
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now)
            )
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
    return found
