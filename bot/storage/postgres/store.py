"""``PostgresStore``: the PostgreSQL driver, and how a ``postgresql://`` DATABASE_URL opens it.

asyncpg is the optional ``[postgres]`` extra: imported here, when such a URL is opened.
Every way the connection can fail becomes one ``ConfigError`` line that names the host
and database (never the password) and says what to fix.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from bot.errors import ConfigError
from bot.secrets import redact
from bot.storage.driver import DEFAULT_BLOB_GRACE
from bot.storage.postgres.history import HistoryTables
from bot.storage.postgres.jobs import JobTables
from bot.storage.postgres.members import MemberTables
from bot.storage.postgres.migrations import migrate
from bot.storage.postgres.references import ReferenceTables
from bot.storage.postgres.settings import SettingsTables
from bot.storage.postgres.url import describe, dsn, passwords

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
# Per process. The runtime shares it (PostgresStore.pool); a 300-connection server
# then holds ~25 bot processes. Jobs never hold a connection while the gateway works.
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
INSTALL = "pip install 'imagine-bot[postgres]'"


class PostgresStore(SettingsTables, HistoryTables, JobTables, MemberTables, ReferenceTables):
    """``Store`` over one PostgreSQL database; open with ``open_postgres``.

    ``pool``: the asyncpg pool, shared with the PostgreSQL runtime (borrowers leave no
    session state on a connection: see ``bot.storage.postgres.connection``). ``url``: the
    DSN it was opened with (it may hold a password: never log it).
    """

    async def writable_schema_version(self) -> int:
        """The schema version, after proving the database takes writes (for ``check``).

        ``ConfigError`` if it does not (a read-only replica, a role without rights).
        """
        import asyncpg

        try:
            # The raw pool: a read-only server is a configuration error here, not an outage.
            async with self.pool.raw.acquire() as conn:
                tx = conn.transaction()
                await tx.start()
                try:
                    version = await conn.fetchval("SELECT MAX(version) FROM schema_version")
                    # A read-only server or role shows only on a write; rolled back at once.
                    await conn.execute("CREATE TEMP TABLE _check_probe (x int) ON COMMIT DROP")
                finally:
                    await tx.rollback()
        except asyncpg.PostgresError as exc:
            raise ConfigError(
                f"the PostgreSQL database takes no writes ({str(exc).rstrip('.')}); "
                "point DATABASE_URL at the primary, with a role that owns the bot's tables"
            ) from exc
        return int(version)


async def _keep_session(conn: Any) -> None:
    """The pool's reset: nothing beyond asyncpg's own rollback (one round trip saved)."""


def _import_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError as exc:
        raise ConfigError(
            f"DATABASE_URL is PostgreSQL, but its driver asyncpg is not installed: {INSTALL}"
        ) from exc
    return asyncpg


async def open_postgres(
    database_url: str,
    *,
    clock: Callable[[], float] = time.time,
    blob_grace: float = DEFAULT_BLOB_GRACE,
) -> PostgresStore:
    """The driver's opener in ``bot.storage.DRIVERS``: connect, migrate, and the store."""
    asyncpg = _import_asyncpg()
    url = dsn(database_url)
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            timeout=CONNECT_TIMEOUT,
            reset=_keep_session,
            server_settings={"application_name": "imagine-bot"},
        )
    except Exception as exc:
        raise _unreachable(asyncpg, database_url, exc) from exc
    try:
        async with pool.acquire() as conn:
            found = await migrate(conn)
    except BaseException:
        await pool.close()
        raise
    log.debug("opened %s (schema was v%s)", describe(database_url), found)
    return PostgresStore(pool, url=url, clock=clock, blob_grace=blob_grace)


def _unreachable(asyncpg: Any, database_url: str, exc: BaseException) -> ConfigError:
    """The one line an operator reads when the database cannot be reached."""
    why = _why(asyncpg, exc, passwords(database_url))
    return ConfigError(
        f"cannot connect to the PostgreSQL {describe(database_url)} (DATABASE_URL): {why}"
    )


def _why(asyncpg: Any, exc: BaseException, secrets: list[str]) -> str:
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return "the server refused the password; fix the user or password in DATABASE_URL"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "that database does not exist; create it (createdb) or fix DATABASE_URL"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return (
            f"the server refused the login ({_said(exc, secrets)}); create the role, or allow it "
            "in the server's pg_hba.conf"
        )
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return "the server has no free connection (max_connections); try again or raise it"
    if isinstance(exc, asyncpg.CannotConnectNowError):
        return "the server is starting up or shutting down; try again in a moment"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused; is PostgreSQL running there, on that port?"
    if isinstance(exc, socket.gaierror):
        return "that host name is unknown; fix the host in DATABASE_URL"
    if isinstance(exc, FileNotFoundError):
        return "no server listens on that socket; is PostgreSQL running?"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return f"no answer within {CONNECT_TIMEOUT:g} s; check the host, port and firewall"
    if isinstance(exc, OSError):
        return f"{(exc.strerror or str(exc)).lower()}; check the host and port in DATABASE_URL"
    if isinstance(exc, (ValueError, asyncpg.ClientConfigurationError)):
        return f"it is not a valid PostgreSQL URL ({_said(exc, secrets)})"
    return _said(exc, secrets)


def _said(exc: BaseException, secrets: list[str]) -> str:
    return redact(str(exc).strip().rstrip("."), secrets) or type(exc).__name__
