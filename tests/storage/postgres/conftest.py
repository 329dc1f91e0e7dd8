"""PostgreSQL-only fixtures: the driver's own database, opened directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.storage.postgres import PostgresStore, open_postgres
from tests.storage.helpers import Clock


@pytest.fixture
async def pg_store(postgres_url: str, clock: Clock) -> AsyncIterator[PostgresStore]:
    store = await open_postgres(postgres_url, clock=clock, blob_grace=0)
    try:
        yield store
    finally:
        await store.close()
