"""Runtime fixtures: "processes" on one fresh PostgreSQL database (``tests/postgres.py``).

A process here is what one ``python -m bot`` holds: its own PostgresStore (its own
asyncpg pool), its own LISTEN connection and its own owner id, all in this test
process; several on one database behave as several bot processes do (real
processes: the multi-process tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.storage import open_store
from bot.storage.base import Store

# Short, so a test that waits for a death waits about a second (no assertion on it).
TEST_LEASE = 1.0
TEST_HEARTBEAT = 0.2


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[Store]:
    """The job rows, as a process of the test's own sees them."""
    store = await open_store(pg_url)
    try:
        yield store
    finally:
        await store.close()


OpenProcess = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def processes(pg_url: str, store: Store) -> AsyncIterator[OpenProcess]:
    """``await processes(name, **options)``: a new process on the test's database."""
    from bot.runtime.postgres import runtime_on_store

    opened: list[tuple[Runtime, Store]] = []

    async def open_process(name: str = "bot", **options: Any) -> Runtime:
        own = await open_store(pg_url)
        options = {"lease": TEST_LEASE, "heartbeat": TEST_HEARTBEAT, **options}
        runtime = await runtime_on_store(own, instance_name=name, **options)
        opened.append((runtime, own))
        return runtime

    try:
        yield open_process
    finally:
        for runtime, own in reversed(opened):
            await runtime.close()
            await own.close()


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Any]:
    """A connection of the test's own, to look at the tables apart from the runtime."""
    import asyncpg

    conn = await asyncpg.connect(pg_url)
    try:
        yield conn
    finally:
        await conn.close()
