"""The in-process runtime: limiter, chain locks, model cache (no Discord needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.errors import LimitReached
from bot.runtime.local import LocalAdmissions, LocalChainLocks, LocalModelCache


@asynccontextmanager
async def _slot(rt: LocalAdmissions, **kwargs: Any) -> AsyncIterator[None]:
    rt.acquire(**kwargs)
    try:
        yield
    finally:
        rt.release(user_id=kwargs["user_id"], guild_id=kwargs["guild_id"])


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
            rt.acquire(user_id=2, guild_id=10, user_limit=2, guild_limit=1)
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


def test_channel_locks_are_per_channel() -> None:
    rt = LocalChainLocks()
    assert rt.lock(1) is rt.lock(1)
    assert rt.lock(1) is not rt.lock(2)


async def test_channel_locks_are_shared_while_used_and_dropped_after() -> None:
    rt = LocalChainLocks()
    for channel_id in range(100):
        lock = rt.lock(channel_id)
        async with lock:
            assert rt.lock(channel_id) is lock
        del lock
    assert len(rt) == 0

    held = rt.lock(7)
    await held.acquire()
    waiter = asyncio.ensure_future(_take(rt, 7))
    await asyncio.sleep(0)  # let the waiter queue on the very same lock
    assert not waiter.done() and rt.lock(7) is held
    held.release()
    await waiter
    del held, waiter
    assert len(rt) == 0


async def _take(rt: LocalChainLocks, channel_id: int) -> None:
    async with rt.lock(channel_id):
        pass
