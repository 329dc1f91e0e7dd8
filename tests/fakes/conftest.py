"""Fixtures for tests that drive a real discord.py client against the loopback fake Discord."""

from collections.abc import AsyncIterator

import pytest

from tests.fakes.discord import FakeDiscord, redirect_discord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A running FakeDiscord with discord.py's REST base and gateway pointed at it."""
    async with FakeDiscord.running() as fake:
        with redirect_discord(fake):
            yield fake
