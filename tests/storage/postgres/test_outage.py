"""A database that stops answering once open: one sentence for the member, one line for
the operator, and the pool working again at the next call (a real server throughout)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.storage import StorageUnavailable, open_store
from bot.storage.postgres import PostgresStore
from bot.storage.postgres.migrations import HISTORY_LOCK_NAMESPACE
from bot.storage.postgres.url import describe
from tests.postgres import import_asyncpg
from tests.storage.postgres.roles import PASSWORD, own_role

asyncpg = import_asyncpg()
CHANNEL = 9
NOT_ANSWERING = "The bot's database is not answering; try again in a moment."


@pytest.fixture
async def admin(postgres_url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(postgres_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _blocked_on_the_channel(admin: Any, store: PostgresStore) -> asyncio.Task[int]:
    """A store call in flight: waiting for the channel's lock, which ``admin`` holds."""
    await admin.execute(
        "SELECT pg_advisory_lock($1::int, hashtext($2::bigint::text))",
        HISTORY_LOCK_NAMESPACE,
        CHANNEL,
    )
    task = asyncio.ensure_future(store.reset_history(CHANNEL))
    while not await admin.fetchval(  # noqa: ASYNC110 (a poll of the server)
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'imagine-bot' AND wait_event_type = 'Lock'"
    ):
        await asyncio.sleep(0.02)
    return task


async def _store_backends(admin: Any, how: str) -> int:
    return await admin.fetchval(
        f"SELECT count({how}(pid)) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'imagine-bot'"
    )


def _chain(exc: BaseException | None) -> list[BaseException]:
    found = []
    while exc is not None:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "bot.storage"]


async def test_a_terminated_connection_is_a_sentence_and_the_next_call_works(
    postgres_url: str, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.storage")
    store = await open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    try:
        task = await _blocked_on_the_channel(admin, store)
        assert await _store_backends(admin, "pg_terminate_backend") >= 1
        with pytest.raises(StorageUnavailable) as info:
            await task
        assert str(info.value) == NOT_ANSWERING
        assert any(isinstance(e, asyncpg.AdminShutdownError) for e in _chain(info.value))
        # Every idle connection of the pool was terminated too: the next calls reconnect.
        await admin.execute("SELECT pg_advisory_unlock_all()")
        assert await store.reset_history(CHANNEL) == 0
        await store.set_meta("k", "v")
        assert await store.get_meta("k") == "v"
    finally:
        await store.close()
    # One line when it started failing, one when it answered again: not one per call.
    where = describe(postgres_url)
    [(warning, line), (info_level, back)] = _lines(caplog)
    assert warning == logging.WARNING and line.startswith(f"PostgreSQL {where} is not answering")
    assert "terminating connection due to administrator command" in line
    assert "check that PostgreSQL is running and reachable" in line
    assert "AdminShutdownError" not in line
    assert (info_level, back) == (logging.INFO, f"PostgreSQL {where} answers again")


async def test_a_statement_timeout_is_a_sentence(
    postgres_url: str, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    name = urlsplit(postgres_url).path.lstrip("/")
    await admin.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '300ms'")
    store = await open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    try:
        task = await _blocked_on_the_channel(admin, store)
        with pytest.raises(StorageUnavailable) as info:
            await task
        assert (
            str(info.value) == "The bot's database took too long to answer; try again in a moment."
        )
        await admin.execute("SELECT pg_advisory_unlock_all()")
        assert await store.reset_history(CHANNEL) == 0
    finally:
        await store.close()
    assert "statement_timeout" in _lines(caplog)[0][1]


async def test_too_many_connections_is_a_sentence_and_no_password_is_logged(
    postgres_url: str, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with own_role(admin, postgres_url) as (role, url):
        store = await open_store(url)
        assert isinstance(store, PostgresStore)
        try:
            await admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT 1")
            async with store.pool.acquire():  # the pool's one connection is busy
                with pytest.raises(StorageUnavailable) as info:
                    await store.get_meta("k")
            assert str(info.value) == NOT_ANSWERING
            assert isinstance(info.value.__cause__, asyncpg.TooManyConnectionsError)
            assert await store.get_meta("k") is None  # on the connection that is free again
        finally:
            await store.close()
    [(_, line), *_] = _lines(caplog)
    assert "max_connections" in line and PASSWORD not in line and f'user "{role}"' in line


async def test_a_closed_pool_is_a_sentence(postgres_url: str) -> None:
    store = await open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    await store.pool.close()
    with pytest.raises(StorageUnavailable):
        await store.get_meta("k")
    await store.close()
