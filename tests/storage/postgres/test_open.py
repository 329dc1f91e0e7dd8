"""The PostgreSQL driver's URLs, migrations under the advisory lock, and its error lines."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.errors import ConfigError
from bot.storage import open_store
from bot.storage.postgres import PostgresStore, open_postgres
from bot.storage.postgres.migrations import LATEST_VERSION, MIGRATIONS
from bot.storage.postgres.url import describe, dsn, without_password
from tests.postgres import import_asyncpg
from tests.storage.helpers import history_was_a_line

asyncpg = import_asyncpg()
PASSWORD = "hunter2-Secret"


def _with(url: str, *, netloc: str | None = None, database: str | None = None) -> str:
    parts = urlsplit(url)
    path = parts.path if database is None else f"/{database}"
    return urlunsplit((parts.scheme, netloc or parts.netloc, path, parts.query, ""))


async def _versions(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r[0] for r in await conn.fetch("SELECT version FROM schema_version ORDER BY 1")]
    finally:
        await conn.close()


def test_migrations_are_a_plain_ordered_list() -> None:
    versions = [version for version, _ in MIGRATIONS]
    assert versions == list(range(1, len(MIGRATIONS) + 1)) and LATEST_VERSION == versions[-1]
    assert all(isinstance(sql, str) and sql.strip() for _, sql in MIGRATIONS)


async def test_processes_starting_together_migrate_once(postgres_url: str) -> None:
    # Six stores (as six bot processes would) open one fresh database at the same moment.
    stores = await asyncio.gather(*(open_store(postgres_url) for _ in range(6)))
    try:
        await asyncio.gather(*(s.update_settings(1, history_turns=i) for i, s in enumerate(stores)))
        assert await _versions(postgres_url) == list(range(1, LATEST_VERSION + 1))
        assert (await stores[0].get_settings(1)).history_turns in range(6)
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_reopening_does_not_migrate_again(postgres_url: str) -> None:
    first = await open_store(postgres_url)
    await first.set_meta("k", "kept")
    await first.close()
    second = await open_store(postgres_url)
    try:
        assert await second.get_meta("k") == "kept"
        assert await _versions(postgres_url) == list(range(1, LATEST_VERSION + 1))
    finally:
        await second.close()


async def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    await (await open_store(postgres_url)).close()
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("INSERT INTO schema_version (version) VALUES ($1::int)", 99)
    finally:
        await conn.close()
    with pytest.raises(ConfigError, match=f"newer version.*schema 99.*knows {LATEST_VERSION}"):
        await open_store(postgres_url)


async def test_the_store_shares_its_pool_and_dsn(postgres_url: str) -> None:
    store = await open_store(postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        assert isinstance(store, PostgresStore) and store.url == postgres_url
        assert await store.pool.fetchval("SELECT current_database()") == urlsplit(
            postgres_url
        ).path.lstrip("/")
    finally:
        await store.close()


# the operator's lines: host and database named, the password never


async def test_a_wrong_password_is_named_and_not_echoed(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("DROP ROLE IF EXISTS imagine_pw")
        await conn.execute("CREATE ROLE imagine_pw LOGIN PASSWORD 'the-right-one'")
    finally:
        await conn.close()
    host = urlsplit(postgres_url).netloc.rpartition("@")[2]
    url = _with(postgres_url, netloc=f"imagine_pw:{PASSWORD}@{host}")
    try:
        probe = await asyncpg.connect(url)
    except asyncpg.InvalidPasswordError:
        pass
    else:
        await probe.close()
        pytest.skip("this server accepts any password (trust): .ci/with-postgres does not")
    with pytest.raises(ConfigError) as info:
        await open_store(url)
    line = str(info.value)
    assert "the server refused the password" in line and PASSWORD not in line
    assert 'as user "imagine_pw"' in line and "DATABASE_URL" in line


async def test_a_refused_connection_names_host_and_port() -> None:
    url = f"postgresql://bot:{PASSWORD}@127.0.0.1:1/botdb"
    with pytest.raises(ConfigError) as info:
        await open_store(url)
    assert str(info.value) == (
        'cannot connect to the PostgreSQL database "botdb" on 127.0.0.1:1 as user "bot" '
        "(DATABASE_URL): the connection was refused; is PostgreSQL running there, on that port?"
    )


async def test_a_missing_database_is_named(postgres_url: str) -> None:
    url = _with(postgres_url, database="no_such_database")
    with pytest.raises(ConfigError) as info:
        await open_store(url)
    line = str(info.value)
    assert 'database "no_such_database"' in line
    assert "that database does not exist; create it (createdb) or fix DATABASE_URL" in line


async def test_a_socket_folder_without_a_server(tmp_path) -> None:
    url = f"postgresql://bot:{PASSWORD}@/botdb?host={tmp_path}"
    with pytest.raises(ConfigError) as info:
        await open_store(url)
    line = str(info.value)
    assert f'database "botdb" on the socket in {tmp_path}' in line
    assert "no server listens on that socket" in line and PASSWORD not in line


async def test_without_asyncpg_one_line_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # import asyncpg now raises ImportError
    with pytest.raises(ConfigError) as info:
        await open_postgres("postgresql://bot@127.0.0.1:1/bot")
    assert str(info.value) == (
        "DATABASE_URL is PostgreSQL, but its driver asyncpg is not installed: "
        "pip install 'imagine-bot[postgres]'"
    )


def test_urls_are_described_without_their_password() -> None:
    url = f"postgres://bot:{PASSWORD}@db.example:6432/imagine?sslmode=require&password=x2"
    assert describe(url) == 'database "imagine" on db.example:6432 as user "bot"'
    assert without_password(url) == (
        "postgres://bot:***@db.example:6432/imagine?sslmode=require&password=***"
    )
    assert dsn("postgresql+asyncpg://h/db") == "postgresql://h/db"
    assert describe("postgresql:///bot?host=/run/pg") == 'database "bot" on the socket in /run/pg'


async def test_check_names_a_writable_postgresql_database(postgres_url: str) -> None:
    from bot.check import check_database

    line = await check_database({"DATABASE_URL": postgres_url})
    assert (line.passed, line.text) == (
        True,
        f"PostgreSQL {describe(postgres_url)} (schema v{LATEST_VERSION}, writable)",
    )
    refused = await check_database({"DATABASE_URL": f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"})
    assert not refused.passed
    assert refused.text.startswith("cannot connect to the PostgreSQL")
    assert PASSWORD not in refused.text


async def test_a_schema_5_history_becomes_a_line_of_parents(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, sql in MIGRATIONS[:5]:
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1::int)", version)
        for channel, prompt in ((5, "a"), (6, "other"), (5, "b"), (5, "c")):
            await conn.execute(
                "INSERT INTO turns (channel_id, user_id, prompt, created_at)"
                " VALUES ($1::bigint, 2, $2::text, 1)",
                channel,
                prompt,
            )
    finally:
        await conn.close()
    store = await open_store(postgres_url)
    try:
        await history_was_a_line(store)
    finally:
        await store.close()
