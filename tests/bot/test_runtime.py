"""The in-process runtime: limiter, model cache (no Discord needed); chains: tests/runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.errors import LimitReached
from bot.runtime.local import LocalAdmissions, LocalModelCache


@asynccontextmanager
async def _slot(rt: LocalAdmissions, **kwargs: Any) -> AsyncIterator[None]:
    slot = await rt.acquire(**kwargs)
    try:
        yield
    finally:
        await rt.release(slot)


async def test_user_limit_answers_busy_instead_of_queueing() -> None:
    rt = LocalAdmissions()
    async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=10):
        async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=10):
            with pytest.raises(LimitReached, match="You already have 2 images generating"):
                async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=10):
                    pass
            # someone else in the same server is not held by this member's limit
            async with _slot(rt, user_id=2, guild_id=10, user_limit=2, guild_limit=10):
                assert rt.in_flight(guild_id=10) == 3
    assert rt.in_flight(user_id=1) == 0 and rt.in_flight(guild_id=10) == 0


async def test_guild_limit_and_release_after_error() -> None:
    rt = LocalAdmissions()
    with pytest.raises(RuntimeError):
        async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=1):
            raise RuntimeError("job failed")
    async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=1):
        with pytest.raises(LimitReached, match="This server already has 1 image generating"):
            await rt.acquire(user_id=2, guild_id=10, user_limit=2, guild_limit=1)
    assert rt.in_flight() == 0


async def test_model_cache_loads_once_per_ttl() -> None:
    rt = LocalModelCache(ttl=60)
    calls = []

    async def load() -> list[str]:
        calls.append(1)
        return ["a", "b"]

    assert await rt.models("gw", load) == ["a", "b"]
    assert await rt.models("gw", load) == ["a", "b"]
    assert len(calls) == 1
    expired = LocalModelCache(ttl=0)
    await expired.models("gw", load)
    await expired.models("gw", load)
    assert len(calls) == 3
