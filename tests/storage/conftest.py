"""Storage fixtures: every test taking ``store`` runs once per registered driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.storage import Store, open_store
from tests.storage.drivers import TEST_DRIVERS, DriverUnderTest, Probe
from tests.storage.helpers import Clock

OpenDB = Callable[..., Awaitable[Store]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=sorted(TEST_DRIVERS))
def driver(request: pytest.FixtureRequest) -> DriverUnderTest:
    return TEST_DRIVERS[request.param]


@pytest.fixture
async def database_url(driver: DriverUnderTest, tmp_path: Path) -> AsyncIterator[str]:
    async with driver.database(tmp_path) as url:
        yield url


@pytest.fixture
def probe(driver: DriverUnderTest, database_url: str) -> Probe:
    return driver.probe(database_url)


@pytest.fixture
async def open_db(database_url: str, clock: Clock) -> AsyncIterator[OpenDB]:
    """Open another store on the test's database (closed at the end if still open)."""
    opened: list[Store] = []

    async def open_(**options: Any) -> Store:
        store = await open_store(database_url, **{"clock": clock, **options})
        opened.append(store)
        return store

    try:
        yield open_
    finally:
        for store in opened:
            await store.close()


@pytest.fixture
async def store(open_db: OpenDB) -> Store:
    # blob_grace=0: collection is immediate, so tests see it; the grace has its own test.
    return await open_db(blob_grace=0)
