"""Fixtures shared by every test folder: one CPU pool, the fakes, and the real bot on them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.workers import CpuPool
from tests.fakes.discord import FakeDiscord, redirect_discord
from tests.fakes.gateway import FakeGateway
from tests.harness import GATEWAY_KEY, BotHarness, make_settings

# postgres_url / postgres_server: a real PostgreSQL for any test (tests/postgres.py).
pytest_plugins = ["tests.postgres"]


@pytest.fixture(scope="session")
def cpu_pool() -> Iterator[CpuPool]:
    """Real worker processes, so everything submitted is proven picklable; started once."""
    pool = CpuPool(max_workers=2)
    yield pool
    asyncio.run(pool.close())


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A running FakeDiscord with discord.py's REST base and gateway pointed at it."""
    async with FakeDiscord.running() as fake:
        with redirect_discord(fake):
            yield fake


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeDiscord, FakeGateway]]:
    async with FakeDiscord.running() as fake, FakeGateway(api_key=GATEWAY_KEY) as gw:
        with redirect_discord(fake):
            yield fake, gw


@pytest.fixture
def bot_dialect() -> str:
    """Override in a module (or parametrize) to run the bot against another dialect."""
    return "auto"


@pytest.fixture
async def running_bot(
    fakes: tuple[FakeDiscord, FakeGateway], tmp_path: Path, cpu_pool: CpuPool, bot_dialect: str
) -> AsyncIterator[BotHarness]:
    """The real bot, connected and READY, on a temporary SQLite database."""
    fake, gw = fakes
    harness = BotHarness(
        fake, gw, make_settings(fake, gw, tmp_path / "bot.db", dialect=bot_dialect), cpu_pool
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
