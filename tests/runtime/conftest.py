"""Runtime fixtures: a fresh PostgreSQL database per test, and "processes" on it.

A process here is what one ``python -m bot`` holds: its own asyncpg pool, its own
LISTEN connection and its own owner id, all in this test process; several of them on
one database behave as several bot processes do (real processes: tests/multiprocess).
Until the store's ``tests/postgres.py`` is merged, ``pg_url`` makes the database itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.runtime import Runtime
from bot.storage import open_store
from bot.storage.base import Store

SKIP_REASON = (
    "PostgreSQL tests need TEST_DATABASE_URL "
    "(run them under /work/shared/scale/with-postgres.sh or .ci/with-postgres)"
)

# Short, so a test that waits for a death waits about a second (no assertion on it).
TEST_LEASE = 1.0
TEST_HEARTBEAT = 0.2


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
        pytest.skip(SKIP_REASON)
    asyncpg = pytest.importorskip("asyncpg")
    name = f"rt_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(base, name)
    finally:
        admin = await asyncpg.connect(base)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """The job rows every process counts and interrupts (one store, as on one database)."""
    store = await open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        yield store
    finally:
        await store.close()


OpenProcess = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def processes(pg_url: str, store: Store) -> AsyncIterator[OpenProcess]:
    """``await processes(name, **options)``: a new process on the test's database."""
    import asyncpg

    from bot.runtime.postgres import open_postgres_runtime

    opened: list[tuple[Runtime, Any]] = []

    async def open_process(name: str = "bot", *, pool_size: int = 6, **options: Any) -> Runtime:
        pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=pool_size)
        options = {"lease": TEST_LEASE, "heartbeat": TEST_HEARTBEAT, **options}
        runtime = await open_postgres_runtime(
            pool=pool,
            connect=lambda: asyncpg.connect(pg_url),
            store=store,
            instance_name=name,
            **options,
        )
        opened.append((runtime, pool))
        return runtime

    try:
        yield open_process
    finally:
        for runtime, pool in reversed(opened):
            await runtime.close()
            await pool.close()


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Any]:
    """A connection of the test's own, to look at the tables apart from the runtime."""
    import asyncpg

    conn = await asyncpg.connect(pg_url)
    try:
        yield conn
    finally:
        await conn.close()
